"""MQTT sink (paho-mqtt 2.x): events, retained state, availability, camera, stats, Home Assistant discovery.

Topics under ``<prefix>`` (default ``edge-lrcn/<device_id>``):
  availability  ``online``/``offline``, retained, QoS 1; ``offline`` is the last will and is published on clean stop
  activity      retained current state ``{"label", "confidence", "since"}`` (``none`` when idle), QoS 1
  events        activity_start / activity_end, QoS ``qos`` (default 1), not retained
  camera        retained ``camera`` objects (online/offline), QoS 1
  stats         periodic health, QoS 0;  scores (optional), QoS 0
  snapshot      retained JPEG (raw bytes) of the frame at the last activity_start, QoS 1 (``snapshots``)

The connection lives on its own thread (:class:`~.connection.Connection`: connect, run paho's ``loop()`` until the
link drops, back off with jitter, repeat; ``availability``, the last will and ``offline`` at a clean stop are its
job too). The frame loop only calls ``publish``, which never blocks: QoS 1 messages wait in
paho's queue while the broker is away (``queue_limit`` of them unacknowledged at most; what does not fit is dropped
and counted). What the connection itself sends (availability, discovery) is never bounded nor dropped.
After a reconnect, once paho's backlog is delivered, :meth:`MqttSink.replay_due` tells the fan-out to send the
retained state and camera objects again (a queued older state must not be the last word).
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from ..config.sections import FleetSettings, MqttSettings
from ..errors import UsageError
from ..events import utc_now
from .acks import Acks
from .connection import TAKEOVER_MAX_DELAY_S, TAKEOVER_MIN_DELAY_S, TAKEOVERS, Connection
from .discovery import DeviceDiscovery
from .sink import Kind, Sink, SinkContext
from .urls import SinkSpec

log = logging.getLogger(__name__)
NO_REGION: list[str | None] = [None]  # the one stream without regions

SUBTOPIC = {Kind.EVENT: "events", Kind.STATE: "activity", Kind.STATS: "stats", Kind.SCORES: "scores",
            Kind.CAMERA: "camera", Kind.SNAPSHOT: "snapshot"}


def read_password(settings: MqttSettings, environ=None) -> str | None:
    """The MQTT password from a file, an environment variable or a systemd credential; never from argv."""
    env = os.environ if environ is None else environ
    if settings.password_file:
        return _read_secret(Path(settings.password_file), "the MQTT password file")
    if settings.password_env:
        name = settings.password_env
        if name not in env:
            raise UsageError(f"password_env names {name}, which is not set")
        return env[name]
    if env.get("EDGE_LRCN_MQTT_PASSWORD"):
        return env["EDGE_LRCN_MQTT_PASSWORD"]
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    if cred_dir and settings.password_credential:
        path = Path(cred_dir) / settings.password_credential
        if path.exists():
            return _read_secret(path, "the MQTT password credential") or None  # empty until a password is set
    return None


def new_client(target: SinkSpec, settings: MqttSettings, password: str | None, client_id: str,
               v5: bool = False) -> mqtt.Client:
    """A paho client with the settings' queue bound, user name and TLS: the sink's, the fleet control's (MQTT 5:
    ``v5``) and ``edge-lrcn push``'s."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5) if v5 else \
        mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    c.max_queued_messages_set(0)  # no bound in paho: availability and discovery at a reconnect must never be
    # refused; the sink's bound (queue_limit) applies to what the daemon publishes, in MqttSink.publish()
    c.max_inflight_messages_set(50)
    username = target.username or settings.username
    if username:
        c.username_pw_set(username, password)
    if target.tls:
        try:
            c.tls_set(ca_certs=settings.ca_file, certfile=settings.cert_file, keyfile=settings.key_file,
                      cert_reqs=ssl.CERT_REQUIRED)
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise UsageError(f"MQTT TLS settings: {exc}") from None
        if settings.tls_insecure:
            c.tls_insecure_set(True)
    elif settings.ca_file or settings.cert_file:
        log.warning("ca_file/cert_file are set but the sink is mqtt://, not mqtts://: TLS is off")
    return c


def authenticates(target: SinkSpec, settings: MqttSettings) -> bool:
    """Whether a connection to ``target`` proves who it is to the broker: a user name (with its password), or a TLS
    client certificate. A broker that asks for neither usually has no ACLs either."""
    return bool(target.username or settings.username) or bool(target.tls and settings.cert_file)


def remote_on(fleet: FleetSettings, settings: MqttSettings, target: SinkSpec) -> bool:
    """``remote_settings``: ``true``/``false`` as set; ``auto`` is on only when the daemon authenticates to the
    broker (docs/fleet.md, "Who may pause a device")."""
    value = fleet.remote_settings
    return value if isinstance(value, bool) else authenticates(target, settings)


def _read_secret(path: Path, what: str) -> str:
    """A password from a file: UTF-8 text of at most 4096 bytes; anything else is a UsageError naming it."""
    try:
        if not path.is_file():  # a FIFO would block, a directory or a device is no password
            raise UsageError(f"{what} {path} is not a regular file")
        with open(path, "rb") as f:
            text = f.read(4097).decode("utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{what} {path} is not UTF-8 text") from None
    if len(text) > 4096 or "\0" in text:
        raise UsageError(f"{what} {path} is not a password (over 4096 bytes, or binary)")
    return text.strip()


class MqttSink(Sink):
    name = "mqtt"

    def __init__(self, target: SinkSpec, settings: MqttSettings, ctx: SinkContext, password: str | None = None,
                 controls: bool = False):
        self.host, self.port, self.tls = target.host, target.port, target.tls
        self.device_id, self.labels = ctx.device_id, ctx.labels
        self.ctx = ctx
        self.prefix = (settings.topic_prefix or f"edge-lrcn/{self.device_id}").rstrip("/")
        self.qos = settings.qos
        self.queue_limit = int(settings.queue_limit)
        self.ha = settings.ha_discovery
        self.ha_prefix = settings.ha_prefix or "homeassistant"
        self.idle_labels = list(settings.idle_labels)
        self.controls = controls  # remote settings on: Home Assistant's numbers and switch for them
        self.snapshots = settings.snapshots
        self.discovery = DeviceDiscovery(self.prefix, ctx, self.ha_prefix, self.idle_labels, self.controls,
                                         self.snapshots) if self.ha else None
        self.dropped = 0
        self.acks = Acks()
        self._replay_wanted = False
        self._camera: dict | None = None  # the last camera object published (its state is retained)
        self.client_id = settings.client_id or f"edge-lrcn-{self.device_id}"
        self.client = new_client(target, settings, password, self.client_id)
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.connection = Connection(self.client, self.host, self.port, int(settings.keepalive), tls=self.tls,
                                     availability=self.topic("availability"), on_connect=self._on_connect,
                                     on_takeover=self._on_takeover)
        self.connection.start()

    @property
    def connects(self) -> int:
        return self.connection.connects

    def relabel(self, ctx: SinkContext) -> None:
        """A new model with other labels, or other regions: its discovery config is published again (entities that
        went are removed), and the retained state and snapshot topics no region uses any more are cleared."""
        old = {self._retained_topic(k, r) for k in (Kind.STATE, Kind.SNAPSHOT) for r in (self.ctx.regions or NO_REGION)}
        self.ctx, self.labels = ctx, ctx.labels
        if self.discovery:
            self.discovery.relabel(ctx)
        if not self.connection.connected.is_set():
            return  # the next connection publishes the config
        if self.discovery:
            self.discovery.publish(self.client)
        new = {self._retained_topic(k, r) for k in (Kind.STATE, Kind.SNAPSHOT) for r in (ctx.regions or NO_REGION)}
        for topic in old - new:
            self.client.publish(topic, b"", qos=1, retain=True)

    def _retained_topic(self, kind: Kind, region: str | None) -> str:
        """Where a state or snapshot goes: with several regions each has its own (``activity/<region>``)."""
        sub = SUBTOPIC[kind]
        return self.topic(f"{sub}/{region}" if region and self.ctx.per_region else sub)

    def topic(self, sub: str) -> str:
        return f"{self.prefix}/{sub}"

    # ---- the connection's callbacks (its thread) -------------------------------------------------------------
    def _on_connect(self, client: mqtt.Client) -> None:
        if self.discovery:  # its config; the per-entity configs of earlier versions are migrated
            self.discovery.connected(client)
        # the first connection sends what was queued since the start, the retained objects included; after a
        # reconnect paho resends the QoS 1 backlog first, oldest first: the retained objects are sent again once
        # it is delivered (replay_due), or a queued older state would be the last word
        self._replay_wanted = self.connects > 1

    def _on_takeover(self) -> None:
        log.error("MQTT broker %s:%d closed this connection %d times right after it opened: another device is "
                  "probably connected with the same client id %r; give each device its own device_id (now %r) "
                  "or client_id. Reconnecting after %g s from now on, up to %g s, so the two stop taking the "
                  "connection from each other", self.host, self.port, TAKEOVERS, self.client_id,
                  self.device_id, TAKEOVER_MIN_DELAY_S, TAKEOVER_MAX_DELAY_S)

    def _on_message(self, client, userdata, msg) -> None:
        if self.discovery:  # the only subscriptions of this connection: Home Assistant's
            self.discovery.message(client, msg)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self.acks.acked(mid)

    # ---- Sink interface ----------------------------------------------------------------------------------------
    def publish(self, kind: Kind, obj: dict) -> None:
        qos = self.qos if kind is Kind.EVENT else 1 if kind.retained else 0
        if kind is Kind.STATS:
            obj = {**obj, "mqtt_dropped": self.dropped, "mqtt_queued": self.acks.pending}
        if (qos == 0 or kind is Kind.SNAPSHOT) and not self.connection.connected.is_set():
            return  # periodic data is not worth queueing; the fan-out replays the newest snapshot after a reconnect
        if qos and self.acks.pending >= self.queue_limit:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.warning("MQTT queue full (queue_limit %d) while the broker is away: %d messages dropped so far",
                            self.queue_limit, self.dropped)
            return
        if kind is Kind.CAMERA:
            self._camera = obj
        payload = obj["jpeg"] if kind is Kind.SNAPSHOT else json.dumps(obj, separators=(",", ":"))
        topic = self._retained_topic(kind, obj.get("region")) if kind.retained else self.topic(SUBTOPIC[kind])
        info = self.client.publish(topic, payload, qos=qos, retain=kind.retained)
        if qos:
            self.acks.track(info, (kind, obj))

    def undelivered(self) -> list:
        """The events published and not acknowledged (a reload hands them to the new sink); the retained kinds
        are left out: the fan-out sends the current ones to the new sink anyway."""
        return [(k, o) for k, o in self.acks.unacknowledged() if not k.retained]

    def replay_due(self) -> bool:
        if self._replay_wanted and self.connection.connected.is_set() and not self.acks.pending:
            self._replay_wanted = False
            return True
        return False

    def flush(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.acks.pending and time.monotonic() < deadline and self.connection.connected.is_set():
            time.sleep(0.02)
        if self.acks.pending:
            log.warning("MQTT: %d queued messages not delivered at shutdown", self.acks.pending)

    def close(self, timeout: float = 2.0) -> None:
        """Clean stop: the retained camera state says ``stopped``, ``offline`` is published (by the connection: paho
        sends no will on a clean disconnect), then disconnect; at most ``timeout`` seconds."""
        if self.connection.connected.is_set() and self._camera is not None:
            # the retained camera state must not say "online" after the stop
            stopped = {**self._camera, "state": "offline", "reason": "stopped", "ts": utc_now()}
            self.client.publish(self.topic("camera"), json.dumps(stopped, separators=(",", ":")), qos=1, retain=True)
        self.connection.close(timeout)

    def stats(self) -> dict:
        return {"mqtt_connected": self.connection.connected.is_set(), "mqtt_dropped": self.dropped,
                "mqtt_queued": self.acks.pending}
