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
import threading
import time
from typing import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ..config.sections import Settings
from ..events import utc_now
from ..publish.urls import SinkSpec
from ..publish.mqtt import (TAKEOVER_MAX_DELAY_S, TAKEOVER_MIN_DELAY_S, TAKEOVER_S, TAKEOVERS, new_client,
                            read_password, remote_on)
from .keys import PublicKey
from ..logsafe import Throttle, quote
from .protocol import (HEADER_MAX, MODEL, MODEL_RESPONSE, MODEL_SET, SET, SET_MAX, SET_RESPONSE, SETTINGS, json_object,
                       response, transaction)
from .remote import Rate, RemoteSettings
from .update import Prepared, Updater

log = logging.getLogger(__name__)
PACKET_SLACK = 64 * 1024  # topic, properties and a settings request
SESSION_TAKEN_OVER = 142  # MQTT 5 DISCONNECT reason code
COMMANDS_MAX = 4  # checked models waiting for the loop (the updater waits when it is full)
SET_RATE, SET_BURST = 10.0, 20.0  # settings requests taken a second, on average and at once; more: "busy"


def model_object(model, signer: PublicKey | None, updates: bool, max_bytes: int) -> dict:
    """The retained ``<prefix>/model``: which model runs, who signed it, since when, whether pushes are taken."""
    return {"id": model.model_id, "labels": model.labels, "signer": signer.name if signer else None,
            "key_id": signer.key_id if signer else None, "since": utc_now(), "updates": updates,
            "max_bytes": max_bytes if updates else None}


class Control:
    """``commands`` receives ``("model", Prepared)``; ``remote`` (a :class:`RemoteSettings`, with
    ``remote_settings``) keeps the settings and hands the loop their newest change; ``wake()`` is called after
    each. Every message is answered whatever its bytes, and paho's network thread is watched (:meth:`supervise`)."""

    def __init__(self, target: SinkSpec, settings: Settings, prefix: str, client_id: str, updater_args: dict | None,
                 wake: Callable[[], None], config=None, state=None):
        mqtt_settings = settings.mqtt
        self.prefix = prefix
        self.wake = wake
        self.commands: queue.Queue = queue.Queue(maxsize=COMMANDS_MAX)
        self._retained: dict[str, dict] = {}
        self._refused = self._closing = False
        self.restarts = self.takeovers = 0
        self._connected_at = 0.0
        self._throttle = Throttle(log)
        self._rate = Rate(SET_RATE, SET_BURST)
        self.busy = 0  # requests answered "busy"
        self.updater = Updater(**updater_args, answer=self.refuse_model, ready=self._ready) if updater_args else None
        self.remote = RemoteSettings(config, settings, state, self.answer_set, self.publish_settings,
                                     lambda: self.wake()) if remote_on(settings.fleet, mqtt_settings, target) else None
        self.client = c = new_client(target, mqtt_settings, read_password(mqtt_settings), f"{client_id}-control", v5=True)
        c.on_connect, c.on_message, c.on_disconnect = self._on_connect, self._on_message, self._on_disconnect
        c.suppress_exceptions = True  # a callback that fails anyway is logged by paho, its thread goes on
        c.reconnect_delay_set(1, 30)
        # MQTT 5 Maximum Packet Size: the broker never sends this connection a message larger than a push may be,
        # so an oversize one is not even received (what gets through is refused from its length: update.py)
        limit = Properties(PacketTypes.CONNECT)
        limit.MaximumPacketSize = PACKET_SLACK + (settings.fleet.max_model_bytes + HEADER_MAX if self.updater else 0)
        c.connect_async(target.host, target.port, int(mqtt_settings.keepalive), clean_start=True, properties=limit)
        c.loop_start()

    def topic(self, sub: str) -> str:
        return f"{self.prefix}/{sub}"

    @property
    def alive(self) -> bool:
        return self.client._thread is not None  # paho clears it when its network thread ends

    def supervise(self) -> bool:
        """Called by the loop now and then: paho's network thread restarted if it ended (it must not: every
        callback catches what it can; this is the last line). True when it was restarted."""
        if self._closing or self.alive:
            return False
        self.restarts += 1
        log.error("fleet control: the connection's thread had ended; restarted (%d time%s so far)", self.restarts,
                  "" if self.restarts == 1 else "s")
        self.client.loop_start()
        return True

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:  # logged once until it connects (the sink says the same, with a hint)
            if not self._refused:
                log.warning("fleet control: not connected (%s); retrying", reason_code)
            self._refused = True
            return
        self._refused = False
        self._connected_at = time.monotonic()
        subs = ([MODEL_SET] if self.updater else []) + ([SET] if self.remote else [])
        for sub in subs:
            client.subscribe(self.topic(sub), qos=1)
        for sub, obj in list(self._retained.items()):
            client.publish(self.topic(sub), json.dumps(obj), qos=1, retain=True)
        log.info("fleet control connected (%s)", ", ".join(self.topic(s) for s in subs) or "no commands taken")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        """A connection the broker closes soon after it opened, again and again, was given to another client with
        our client id (two devices with one device_id; mosquitto closes it without a reason code): after a few,
        reconnect only every minute or more, so the two stop taking it from each other."""
        quick = self._connected_at and time.monotonic() - self._connected_at < TAKEOVER_S
        taken = quick or getattr(reason_code, "value", None) == SESSION_TAKEN_OVER
        self._connected_at = 0.0
        if not taken:
            if self.takeovers >= TAKEOVERS:
                client.reconnect_delay_set(1, 30)
            self.takeovers = 0
            return
        self.takeovers += 1
        if self.takeovers == TAKEOVERS:
            log.error("fleet control: the broker closed this connection %d times right after it opened: another "
                      "client probably uses the same client id (%s); give each device its own device_id or "
                      "client_id. Reconnecting after %g-%g s from now on", TAKEOVERS,
                      client._client_id.decode(errors="replace"), TAKEOVER_MIN_DELAY_S, TAKEOVER_MAX_DELAY_S)
            client.reconnect_delay_set(int(TAKEOVER_MIN_DELAY_S), int(TAKEOVER_MAX_DELAY_S))

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
        if not self._rate.take() or not self.remote.submit(request):
            self.busy += 1
            self._throttle.warning("busy", "fleet control: settings requests arrive faster than %g/s; answered "
                                   "busy (%d so far)", SET_RATE, self.busy)
            self._send(SET_RESPONSE, response("error", transaction(request), error="busy: too many requests, try "
                                                                                   "again later"), qos=0)

    def _ready(self, prepared: Prepared) -> None:
        self.commands.put(("model", prepared))
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
        try:
            self.client.disconnect()
        except Exception:  # noqa: BLE001 - closing must not fail the shutdown
            log.debug("fleet control disconnect failed", exc_info=True)
        # paho's loop_stop() joins its thread without a limit (a connect to a broker that does not answer can hold
        # it for seconds): wait at most ``timeout``, the shutdown has a budget; paho's thread is a daemon thread
        stopper = threading.Thread(target=self.client.loop_stop, name="fleet-control-stop", daemon=True)
        stopper.start()
        stopper.join(timeout)
        if stopper.is_alive():
            log.warning("fleet control connection still closing after %.1f s; leaving it to the exit", timeout)
