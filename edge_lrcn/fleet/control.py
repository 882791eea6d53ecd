"""The device's control connection to the broker: its own MQTT client (the first MQTT sink's broker, TLS and
credentials; client id ``<client id>-control``), so a 30 MB push never queues behind events and a sink reload never
drops a push half-way.

Subscribes ``<prefix>/model/set`` only with trusted keys, and ``<prefix>/set`` only with ``remote_settings``;
answers on ``<prefix>/model/response`` and ``<prefix>/set/response``; keeps the retained ``<prefix>/model`` (which
model runs) and ``<prefix>/settings`` (the remote settings and the pause switch) current, published again on every
connection. Nothing here touches the pipeline: what the daemon must do arrives in :attr:`Control.commands`.
"""

from __future__ import annotations

import json
import logging
import queue
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ..config.sections import Settings
from ..events import utc_now
from ..logsafe import Throttle, quote
from ..publish.connection import TAKEOVER_MAX_DELAY_S, TAKEOVER_MIN_DELAY_S, TAKEOVERS, Connection
from ..publish.mqtt import new_client, read_password, remote_on
from ..publish.urls import SinkSpec
from .commands import SwapModel
from .keys import PublicKey
from .protocol import (
    HEADER_MAX,
    MODEL,
    MODEL_RESPONSE,
    MODEL_SET,
    SET,
    SET_MAX,
    SET_RESPONSE,
    SETTINGS,
    json_object,
    response,
    transaction,
)
from .remote import Rate, RemoteSettings
from .update import Prepared, Updater

log = logging.getLogger(__name__)
PACKET_SLACK = 64 * 1024  # topic, properties and a settings request
COMMANDS_MAX = 4  # checked models waiting for the loop (the updater waits when it is full)
SET_RATE, SET_BURST = 10.0, 20.0  # settings requests taken a second, on average and at once; more: "busy"


def model_object(model, signer: PublicKey | None, updates: bool, max_bytes: int) -> dict:
    """The retained ``<prefix>/model``: which model runs, who signed it, since when, whether pushes are taken."""
    return {"id": model.model_id, "labels": model.labels, "signer": signer.name if signer else None,
            "key_id": signer.key_id if signer else None, "since": utc_now(), "updates": updates,
            "max_bytes": max_bytes if updates else None}


class Control:
    """``commands`` receives a :class:`SwapModel` per checked push; ``remote`` (a :class:`RemoteSettings`, with
    ``remote_settings``) keeps the settings and hands the loop their newest change; ``wake()`` is called after
    each. Every message is answered whatever its bytes, and paho's network thread is watched (:meth:`supervise`)."""

    def __init__(self, target: SinkSpec, settings: Settings, prefix: str, client_id: str, updater_args: dict | None,
                 wake: Callable[[], None], config=None, state=None):
        mqtt_settings = settings.mqtt
        self.prefix = prefix
        self.wake = wake
        self.commands: queue.Queue = queue.Queue(maxsize=COMMANDS_MAX)
        self._retained: dict[str, dict] = {}
        self._closing = False
        self.restarts = 0
        self._throttle = Throttle(log)
        self._rate = Rate(SET_RATE, SET_BURST)
        self.busy = 0  # requests answered "busy"
        self.updater = Updater(**updater_args, answer=self.refuse_model, ready=self._ready) if updater_args else None
        self.remote = RemoteSettings(config, settings, state, self.answer_set, self.publish_settings,
                                     lambda: self.wake()) if remote_on(settings.fleet, mqtt_settings, target) else None
        self.client_id = f"{client_id}-control"
        self.client = c = new_client(target, mqtt_settings, read_password(mqtt_settings), self.client_id, v5=True)
        c.on_message = self._on_message
        c.suppress_exceptions = True  # a callback that fails anyway is logged by paho, its thread goes on
        # MQTT 5 Maximum Packet Size: the broker never sends this connection a message larger than a push may be,
        # so an oversize one is not even received (what gets through is refused from its length: update.py)
        limit = Properties(PacketTypes.CONNECT)
        limit.MaximumPacketSize = PACKET_SLACK + (settings.fleet.max_model_bytes + HEADER_MAX if self.updater else 0)
        # the sink's reconnect path: backoff with jitter, takeovers recognised (publish/connection.py)
        self.connection = Connection(c, target.host, target.port, int(mqtt_settings.keepalive), tls=target.tls,
                                     on_connect=self._on_connect, on_takeover=self._on_takeover,
                                     refused=lambda reason: f"not connected ({reason})",  # the sink gives the hint
                                     label="fleet control: ", connect_args={"clean_start": True, "properties": limit},
                                     thread_name="fleet-control")
        self.connection.start()

    def topic(self, sub: str) -> str:
        return f"{self.prefix}/{sub}"

    @property
    def alive(self) -> bool:
        return self.connection.alive

    @property
    def takeovers(self) -> int:
        """Connections in a row the broker took away right after they opened."""
        return self.connection.takeovers.short_drops

    def supervise(self) -> bool:
        """Called by the loop now and then: the connection's thread restarted if it ended (it must not: every
        callback catches what it can; this is the last line). True when it was restarted."""
        if self._closing or self.alive:
            return False
        self.restarts += 1
        log.error("fleet control: the connection's thread had ended; restarted (%d time%s so far)", self.restarts,
                  "" if self.restarts == 1 else "s")
        self.connection.start()
        return True

    def _on_connect(self, client: mqtt.Client) -> None:
        subs = ([MODEL_SET] if self.updater else []) + ([SET] if self.remote else [])
        for sub in subs:
            client.subscribe(self.topic(sub), qos=1)
        for sub, obj in list(self._retained.items()):
            client.publish(self.topic(sub), json.dumps(obj), qos=1, retain=True)
        log.info("fleet control connected (%s)", ", ".join(self.topic(s) for s in subs) or "no commands taken")

    def _on_takeover(self) -> None:
        """A connection the broker closes soon after it opened, again and again, was given to another client with
        our client id (two devices with one device_id; mosquitto closes it without a reason code)."""
        log.error("fleet control: the broker closed this connection %d times right after it opened: another "
                  "client probably uses the same client id (%s); give each device its own device_id or "
                  "client_id. Reconnecting after %g-%g s from now on", TAKEOVERS, self.client_id,
                  TAKEOVER_MIN_DELAY_S, TAKEOVER_MAX_DELAY_S)

    def _on_message(self, client, userdata, msg) -> None:
        """Whatever the bytes: an answer, never an exception out of paho's thread."""
        try:
            if msg.retain:
                return  # a command is never retained: an old one must not run again at every start
            if msg.topic == self.topic(MODEL_SET) and self.updater:
                self.updater.submit(msg.payload)
            elif msg.topic == self.topic(SET) and self.remote:
                self._set(msg.payload)
        except Exception as exc:  # noqa: BLE001 - the last line: answered, logged (throttled), thread goes on
            self._throttle.warning("bug", "fleet control: a message on %s failed: %s: %s", quote(msg.topic),
                                   type(exc).__name__, quote(str(exc)))
            self._send(MODEL_RESPONSE if msg.topic.endswith(MODEL_SET) else SET_RESPONSE,
                       response("error", None, error=f"internal error ({type(exc).__name__})"))

    def _set(self, payload: bytes) -> None:
        try:
            request = json_object(payload, "the request", SET_MAX)
        except ValueError as exc:
            self._throttle.warning("bad set", "fleet control: refused a request on %s: %s", self.topic(SET), exc)
            self.answer_set(response("error", None, error=str(exc)))
            return
        if not self._rate.take() or not (self.remote and self.remote.submit(request)):
            self.busy += 1
            self._throttle.warning("busy", "fleet control: settings requests arrive faster than %g/s; answered "
                                   "busy (%d so far)", SET_RATE, self.busy)
            self._send(SET_RESPONSE, response("error", transaction(request), error="busy: too many requests, try "
                                                                                   "again later"), qos=0)

    def _ready(self, prepared: Prepared) -> None:
        self.commands.put(SwapModel(prepared))
        self.wake()

    def refuse_model(self, transaction: str | None, error: str) -> None:
        self._send(MODEL_RESPONSE, response("error", transaction, model=None, error=error))

    def accept_model(self, transaction: str | None, model_id: str) -> None:
        self._send(MODEL_RESPONSE, response("ok", transaction, model=model_id, error=None))

    def answer_set(self, obj: dict) -> None:
        self._send(SET_RESPONSE, obj)

    def retain(self, sub: str, obj: dict) -> None:
        """Publish a retained object (``model``, ``settings``), and again on every connection."""
        self._retained[sub] = obj
        self.client.publish(self.topic(sub), json.dumps(obj), qos=1, retain=True)

    def publish_model(self, obj: dict) -> None:
        self.retain(MODEL, obj)

    def publish_settings(self, obj: dict) -> None:
        self.retain(SETTINGS, obj)

    def _send(self, sub: str, obj: dict, qos: int = 1) -> None:
        info = self.client.publish(self.topic(sub), json.dumps(obj), qos=qos)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            self._throttle.warning("send", "fleet control: could not queue the answer on %s (rc %s)", self.topic(sub),
                                   info.rc)

    def close(self, timeout: float = 1.0) -> None:
        self._closing = True
        if self.updater:
            self.updater.close()
        if self.remote:
            self.remote.close()
        if not self.connection.close(timeout):  # a connect to a broker that does not answer can hold it for seconds
            log.warning("fleet control connection still closing after %.1f s; leaving it to the exit", timeout)
