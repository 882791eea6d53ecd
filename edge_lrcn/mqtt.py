"""MQTT sink (paho-mqtt 2.x): events, retained state, availability, camera, stats, Home Assistant discovery.

Topics under ``<prefix>`` (default ``edge-lrcn/<device_id>``):
  availability  ``online``/``offline``, retained, QoS 1; ``offline`` is the last will and is published on clean stop
  activity      retained current state ``{"label", "confidence", "since"}`` (``none`` when idle), QoS 1
  events        activity_start / activity_end, QoS 1, not retained
  camera        retained ``camera`` objects (online/offline), QoS 1
  stats         periodic health, QoS 0;  scores (optional), QoS 0

The connection lives on its own thread: connect, run paho's ``loop()`` until the link drops, back off (capped
exponential with jitter), repeat. The frame loop only calls ``publish``, which never blocks: QoS 1 messages wait in
paho's queue while the broker is away (bounded by ``queue_limit``; what does not fit is dropped and counted).
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import ssl
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt

from . import __version__
from .errors import UsageError
from .sinks import Sink

log = logging.getLogger(__name__)

QOS1_KINDS = {"event", "state", "camera"}
EARLY_ACK_S = 5.0  # how long an on_publish that came before publish() returned is remembered
SUBTOPIC = {"event": "events", "state": "activity", "stats": "stats", "scores": "scores", "camera": "camera"}


def read_password(settings: dict, environ=None) -> str | None:
    """The MQTT password from a file, an environment variable or a systemd credential; never from argv."""
    env = os.environ if environ is None else environ
    if settings.get("password_file"):
        path = Path(settings["password_file"])
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise UsageError(f"cannot read the MQTT password file {path}: {exc.strerror or exc}") from None
    if settings.get("password_env"):
        name = settings["password_env"]
        if name not in env:
            raise UsageError(f"password_env names {name}, which is not set")
        return env[name]
    if env.get("EDGE_LRCN_MQTT_PASSWORD"):
        return env["EDGE_LRCN_MQTT_PASSWORD"]
    cred_dir = env.get("CREDENTIALS_DIRECTORY")
    if cred_dir and settings.get("password_credential"):
        path = Path(cred_dir) / settings["password_credential"]
        if path.exists():
            return path.read_text().strip() or None  # the installer leaves it empty until a password is set
    return None


def _object_id(text: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_-]", "_", text)


def discovery_configs(prefix: str, device_id: str, labels: list[str], ha_prefix: str = "homeassistant") -> dict:
    """Home Assistant MQTT discovery: an activity sensor, a binary sensor per label, camera connectivity."""
    node = _object_id(f"edge_lrcn_{device_id}")
    device = {"identifiers": [node], "name": f"edge-lrcn {device_id}", "manufacturer": "edge-lrcn",
              "model": "LRCN activity recognition", "sw_version": __version__}
    avail = {"availability_topic": f"{prefix}/availability", "payload_available": "online",
             "payload_not_available": "offline"}
    out = {f"{ha_prefix}/sensor/{node}/activity/config": {
        "name": "Activity", "unique_id": f"{node}_activity", "object_id": f"{node}_activity",
        "state_topic": f"{prefix}/activity", "value_template": "{{ value_json.label }}",
        "json_attributes_topic": f"{prefix}/activity", "icon": "mdi:motion-sensor", "device": device, **avail}}
    for label in labels:
        oid = _object_id(label)
        out[f"{ha_prefix}/binary_sensor/{node}/{oid}/config"] = {
            "name": label, "unique_id": f"{node}_{oid}", "object_id": f"{node}_{oid}",
            "state_topic": f"{prefix}/activity",
            "value_template": "{{ 'ON' if value_json.label == '%s' else 'OFF' }}" % label.replace("'", ""),
            "payload_on": "ON", "payload_off": "OFF", "device_class": "motion", "device": device, **avail}
    out[f"{ha_prefix}/binary_sensor/{node}/camera/config"] = {
        "name": "Camera", "unique_id": f"{node}_camera", "object_id": f"{node}_camera",
        "state_topic": f"{prefix}/camera", "value_template": "{{ 'ON' if value_json.state == 'online' else 'OFF' }}",
        "payload_on": "ON", "payload_off": "OFF", "device_class": "connectivity", "entity_category": "diagnostic",
        "device": device, **avail}
    return out


class MqttSink(Sink):
    name = "mqtt"

    def __init__(self, host: str, port: int, settings: dict, ctx: dict, tls: bool = False,
                 username: str | None = None, password: str | None = None):
        self.host, self.port, self.tls = host, port, tls
        self.device_id = ctx["device_id"]
        self.labels = ctx["labels"]
        self._state_fn = ctx.get("state")
        self.prefix = (settings.get("topic_prefix") or f"edge-lrcn/{self.device_id}").rstrip("/")
        self.qos = settings.get("qos", 1)
        self.ha = settings.get("ha_discovery", True)
        self.ha_prefix = settings.get("ha_prefix") or "homeassistant"
        self.max_delay = 30.0
        self.dropped = 0
        self.published = 0
        self.connects = 0
        self._last_camera: dict | None = None
        self._pending: dict[int, mqtt.MQTTMessageInfo] = {}
        self._acked: dict[int, float] = {}  # mid -> when on_publish came for a mid not (yet) tracked
        self._acked_swept = 0.0
        self._pending_lock = threading.Lock()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._last_error = None
        self._refresh_state = False
        client_id = settings.get("client_id") or f"edge-lrcn-{self.device_id}"
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        c.max_queued_messages_set(int(settings.get("queue_limit", 10000)))
        c.max_inflight_messages_set(50)
        if username:
            c.username_pw_set(username, password)
        if tls:
            try:
                c.tls_set(ca_certs=settings.get("ca_file"), certfile=settings.get("cert_file"),
                          keyfile=settings.get("key_file"), cert_reqs=ssl.CERT_REQUIRED)
            except (OSError, ssl.SSLError, ValueError) as exc:
                raise UsageError(f"MQTT TLS settings: {exc}") from None
            if settings.get("tls_insecure"):
                c.tls_insecure_set(True)
        elif settings.get("ca_file") or settings.get("cert_file"):
            log.warning("ca_file/cert_file are set but the sink is mqtt://, not mqtts://: TLS is off")
        c.will_set(self.topic("availability"), "offline", qos=1, retain=True)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        c.on_message = self._on_message
        self.keepalive = int(settings.get("keepalive", 30))
        self.client = c
        self.thread = threading.Thread(target=self._run, name="mqtt", daemon=True)
        self.thread.start()

    @classmethod
    def from_url(cls, url: str, settings: dict, ctx: dict) -> "MqttSink":
        parts = urlsplit(url)
        if parts.password is not None:
            raise UsageError("do not put the MQTT password in the sink URL (it would show in ps and logs): "
                             "use password_file, password_env or the systemd credential")
        if not parts.hostname:
            raise UsageError(f"MQTT sink {url!r} has no host")
        tls = parts.scheme == "mqtts"
        try:
            port = parts.port or (8883 if tls else 1883)
        except ValueError:
            raise UsageError(f"MQTT sink {url!r}: bad port") from None
        username = unquote(parts.username) if parts.username else settings.get("username")
        password = read_password(settings)
        if password and not username:
            raise UsageError("an MQTT password is set but no username (give user@host or username)")
        return cls(parts.hostname, port, settings, ctx, tls, username, password)

    def topic(self, sub: str) -> str:
        return f"{self.prefix}/{sub}"

    # ---- connection thread -------------------------------------------------------------------------------------
    def _run(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            try:
                self.client.connect(self.host, self.port, self.keepalive)
            except (OSError, ssl.SSLError, ValueError) as exc:
                self._report(f"cannot connect to MQTT broker {self.host}:{self.port}: {exc}")
                delay = self._backoff(delay)
                continue
            while not self._stop.is_set():
                rc = self.client.loop(timeout=0.5)
                if rc != mqtt.MQTT_ERR_SUCCESS:
                    break
            if self._stop.is_set():
                break
            self._connected.clear()
            if self._last_error is None:
                log.warning("MQTT connection to %s:%d lost: reconnecting", self.host, self.port)
            delay = self._backoff(delay if not self.connects else 1.0)

    def _backoff(self, delay: float) -> float:
        self._stop.wait(delay * random.uniform(0.8, 1.2))
        return min(self.max_delay, delay * 2)

    def _report(self, message: str) -> None:
        """Log a connection problem once per distinct message (a broker down for hours must not flood the log)."""
        if message != self._last_error:
            log.warning("%s (retrying with backoff)", message)
            self._last_error = message

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            hint = " (check the username and password)" if "auth" in str(reason_code).lower() \
                or "password" in str(reason_code).lower() else ""
            self._report(f"MQTT broker {self.host}:{self.port} refused the connection: {reason_code}{hint}")
            return
        self.connects += 1
        self._last_error = None
        log.info("MQTT connected to %s:%d (%s)", self.host, self.port, "TLS" if self.tls else "plain")
        client.publish(self.topic("availability"), "online", qos=1, retain=True)
        if self.ha:
            for topic, cfg in discovery_configs(self.prefix, self.device_id, self.labels, self.ha_prefix).items():
                client.publish(topic, json.dumps(cfg), qos=1, retain=True)
            # remove stale per-label configs left by an earlier model with other labels
            node = _object_id(f"edge_lrcn_{self.device_id}")
            client.subscribe(f"{self.ha_prefix}/binary_sensor/{node}/+/config", qos=1)
        if self._state_fn and self.connects > 1:
            # paho resends the QoS 1 backlog after this callback, oldest first; a state published now would be
            # overwritten by older queued states (and be stale if the queue overflowed). Refresh it once drained.
            with self._pending_lock:
                drained = not self._pending
                self._refresh_state = not drained
            if drained:
                self._publish_state(client)
        self._connected.set()

    def _publish_state(self, client) -> None:
        self._track(client.publish(self.topic("activity"), json.dumps(self._state_fn()), qos=1, retain=True))

    def _on_message(self, client, userdata, msg) -> None:
        if not msg.retain or not msg.payload:
            return
        oid = msg.topic.split("/")[-2]
        current = {_object_id(label) for label in self.labels} | {"camera"}
        if oid not in current:
            log.info("removing stale Home Assistant config %s", msg.topic)
            client.publish(msg.topic, b"", qos=1, retain=True)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._pending_lock:
            if self._pending.pop(mid, None) is None:
                # a QoS 1 message acknowledged before publish() returned, or any QoS 0 message (never tracked)
                now = time.monotonic()
                self._acked[mid] = now
                if len(self._acked) > 1024 and now - self._acked_swept > EARLY_ACK_S / 5:
                    self._acked_swept = now
                    self._acked = {m: t for m, t in self._acked.items() if now - t < EARLY_ACK_S}
            refresh = self._refresh_state and not self._pending
            if refresh:
                self._refresh_state = False
        if refresh:
            self._publish_state(client)

    # ---- Sink interface ----------------------------------------------------------------------------------------
    def publish(self, kind: str, obj: dict) -> None:
        sub = SUBTOPIC.get(kind)
        if sub is None:
            return
        qos = self.qos if kind in QOS1_KINDS else 0
        retain = kind in ("state", "camera")
        if kind == "stats":
            obj = {**obj, "mqtt_dropped": self.dropped, "mqtt_queued": len(self._pending)}
        if qos == 0 and not self._connected.is_set():
            return  # periodic data is not worth queueing
        info = self.client.publish(self.topic(sub), json.dumps(obj, separators=(",", ":")), qos=qos, retain=retain)
        if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.warning("MQTT queue full while the broker is away: %d messages dropped so far", self.dropped)
            return
        self.published += 1
        if qos:
            self._track(info)

    def _track(self, info) -> None:
        """Count a QoS 1 message as pending until its PUBACK. paho may call on_publish before ``publish()`` has
        returned (then the mid is in ``_acked`` already, seconds ago at most: mids are 16 bits and get reused,
        so an older entry belongs to another message); a message queued while disconnected (rc NO_CONN) is
        pending too: paho sends it after the reconnect."""
        with self._pending_lock:
            acked_at = self._acked.pop(info.mid, None)
            if acked_at is None or time.monotonic() - acked_at > EARLY_ACK_S:
                self._pending[info.mid] = info

    def flush(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self._pending and time.monotonic() < deadline and self._connected.is_set():
            time.sleep(0.02)
        if self._pending:
            log.warning("MQTT: %d queued messages not delivered at shutdown", len(self._pending))

    def close(self, timeout: float = 2.0) -> None:
        """Clean stop: publish ``offline`` ourselves (paho sends no will on a clean disconnect), then disconnect;
        at most ``timeout`` seconds (the connection thread leaves its loop within 0.5 s)."""
        end = time.monotonic() + timeout
        if self._connected.is_set():
            info = self.client.publish(self.topic("availability"), "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=max(0.1, end - time.monotonic() - 0.6))
            except (RuntimeError, ValueError):
                pass
        self._stop.set()
        try:
            self.client.disconnect()
        except Exception:
            log.debug("MQTT disconnect failed", exc_info=True)
        self.thread.join(timeout=max(0.1, end - time.monotonic()))

    def stats(self) -> dict:
        return {"mqtt_connected": self._connected.is_set(), "mqtt_dropped": self.dropped,
                "mqtt_queued": len(self._pending)}
