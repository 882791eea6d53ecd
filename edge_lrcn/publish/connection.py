"""One MQTT connection kept up on a thread of its own, for the MQTT sink and the fleet control connection: connect,
run paho's ``loop()`` until the link drops, back off (capped exponential with jitter: :mod:`..util.backoff`), repeat.

A broker that takes the connection away again and again right after it opened (another client with our client id)
is recognised, said once, and answered with long waits (:class:`Takeovers`). With an ``availability`` topic the
connection says ``online`` there at every connect, leaves ``offline`` as its last will, and publishes ``offline``
itself at a clean stop (paho sends no will on a clean disconnect). Connection problems are logged once each until
it connects (:class:`~edge_lrcn.logsafe.LogOnce`).
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from ..logsafe import LogOnce
from ..util.backoff import Backoff

log = logging.getLogger(__name__)

TAKEOVER_S = 30.0  # a connection the broker closes this soon after it opened, several times in a row, is taken over
TAKEOVERS = 3
TAKEOVER_MIN_DELAY_S, TAKEOVER_MAX_DELAY_S = 60.0, 600.0  # the reconnect backoff once a takeover is recognised
SESSION_TAKEN_OVER = 142  # MQTT 5 DISCONNECT reason code


def _only_the_sink_thread_writes(client, userdata, sock) -> None:
    """paho's hook for an external loop: set, publish() only queues a packet and wakes the connection thread's
    loop(), which writes it. Unset, paho writes at once from the caller's thread (the frame loop, the updater) when
    no loop_start() thread exists, racing loop(): over TLS the two threads' SSL records interleave and the broker
    drops the connection ("protocol error", events lost at a stop); without TLS a partial write can interleave
    packets."""


class Takeovers:
    """A connection the broker closes soon after it opened (or with MQTT 5's "session taken over"), again and again,
    while connecting still works: another client uses the same client id (two devices with one device_id) and the
    broker hands the session from one to the other for ever. Once recognised, the reconnect waits 60 s, doubling to
    10 min, so the two stop fighting."""

    def __init__(self):
        self.connected_at = 0.0
        self.short_drops = 0
        self.wait = 0.0

    def opened(self) -> None:
        self.connected_at = time.monotonic()

    def lost(self, taken: bool = False) -> bool:
        """A connection ended (``taken``: the broker said the session was taken over); True when this makes the
        takeover recognised (said once)."""
        quick = self.connected_at and time.monotonic() - self.connected_at < TAKEOVER_S
        self.short_drops, self.connected_at = self.short_drops + 1 if quick or taken else 0, 0.0
        return self.short_drops == TAKEOVERS

    def after_loss(self, retry: Backoff, connected: bool) -> float:
        """The wait after a lost connection: a takeover's long one, else from the first delay again once it had
        ``connected`` (a connection that never came up goes on doubling)."""
        takeover = self.delay()
        if takeover:
            retry.start_from(takeover)
        elif connected:
            retry.reset()
        return retry.next()

    def delay(self) -> float:
        """The wait before the next connect while a takeover goes on; 0 otherwise."""
        self.wait = min(TAKEOVER_MAX_DELAY_S, 2 * self.wait or TAKEOVER_MIN_DELAY_S) if self.short_drops >= TAKEOVERS \
            else 0.0
        return self.wait


class Connection:
    """``client`` (paho, its TLS and credentials set) kept connected to ``host:port`` from :meth:`start` to
    :meth:`close`. ``on_connect(client)`` runs at each connect (subscribe, publish what the broker must hold);
    ``on_takeover()`` says who takes the connection away (a default line otherwise); ``refused(reason_code)`` words
    a refused connection (by default with a hint at the credentials). ``label`` starts every log line
    ("fleet control: "); ``connect_args`` go to ``client.connect`` (MQTT 5 properties)."""

    def __init__(self, client: mqtt.Client, host: str, port: int, keepalive: int, *, tls: bool = False,
                 availability: str | None = None, on_connect: Callable[[mqtt.Client], None] | None = None,
                 on_takeover: Callable[[], None] | None = None, refused: Callable[[Any], str] | None = None,
                 label: str = "",
                 connect_args: dict[str, Any] | None = None, thread_name: str = "mqtt"):
        self.client = client
        self.host = host
        self.port = port
        self.keepalive = keepalive
        self.tls = tls
        self.availability = availability
        self.label = label
        self.thread_name = thread_name
        self.on_connect, self.on_takeover, self.refused = on_connect, on_takeover, refused or self._refused
        self.connect_args = connect_args or {}
        self.retry = Backoff(1.0, 30.0)  # the reconnect delays (a takeover sets longer ones)
        self.takeovers = Takeovers()
        self.connects = 0
        self.connected = threading.Event()
        self.thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._problem = LogOnce(log)  # connection problems, once each until it connects
        self._taken = False  # the last disconnect said the session was taken over
        if availability:
            client.will_set(availability, "offline", qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_socket_register_write = _only_the_sink_thread_writes

    @property
    def alive(self) -> bool:
        """The connection's thread runs (it ends only at :meth:`close`, or on a bug)."""
        return self.thread is not None and self.thread.is_alive()

    def start(self) -> None:
        """Start (or, after its thread ended, restart) keeping the connection up."""
        self.thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self._keep_up()
        except Exception:  # the owner may restart it (fleet control's supervise)
            log.exception("%sthe MQTT connection's thread failed", self.label)

    def _keep_up(self) -> None:
        while not self._stop.is_set():
            try:
                self.client.connect(self.host, self.port, self.keepalive, **self.connect_args)
            except (OSError, ssl.SSLError, ValueError) as exc:
                self.report(f"cannot connect to MQTT broker {self.host}:{self.port}: {exc}")
                self._stop.wait(self.retry.next())
                continue
            while not self._stop.is_set():
                rc = self.client.loop(timeout=0.5)
                if rc != mqtt.MQTT_ERR_SUCCESS:
                    break
            if self._stop.is_set():
                break
            self.connected.clear()
            self._lost()
            self._stop.wait(self.takeovers.after_loss(self.retry, self.connects > 0))

    def _lost(self) -> None:
        taken, self._taken = self._taken, False
        if self.takeovers.lost(taken):
            if self.on_takeover:
                self.on_takeover()
            else:
                log.error("%sMQTT broker %s:%d closed this connection %d times right after it opened: another client "
                          "probably uses the same client id", self.label, self.host, self.port, TAKEOVERS)
        elif self._problem.last is None:
            log.warning("%sMQTT connection to %s:%d lost: reconnecting", self.label, self.host, self.port)

    def report(self, message: str) -> None:
        """Log a connection problem once per distinct message (a broker down for hours must not flood the log)."""
        self._problem.warning(message, "%s%s (retrying with backoff)", self.label, message)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.report(self.refused(reason_code))
            return
        self.connects += 1
        self._problem.clear()
        self.takeovers.opened()
        log.info("%sMQTT connected to %s:%d (%s)", self.label, self.host, self.port, "TLS" if self.tls else "plain")
        if self.availability:
            client.publish(self.availability, "online", qos=1, retain=True)
        if self.on_connect:
            self.on_connect(client)
        self.connected.set()

    def _refused(self, reason_code) -> str:
        hint = " (check the username and password)" if "auth" in str(reason_code).lower() \
            or "password" in str(reason_code).lower() else ""
        return f"MQTT broker {self.host}:{self.port} refused the connection: {reason_code}{hint}"

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        self._taken = getattr(reason_code, "value", None) == SESSION_TAKEN_OVER

    def close(self, timeout: float = 2.0) -> bool:
        """Clean stop: ``offline`` on the availability topic (when connected), then disconnect; at most ``timeout``
        seconds (the thread leaves its loop within 0.5 s; a connect in progress may hold it longer). True when the
        thread ended in time."""
        end = time.monotonic() + timeout
        if self.availability and self.connected.is_set():
            info = self.client.publish(self.availability, "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=max(0.1, end - time.monotonic() - 0.6))
            except (RuntimeError, ValueError):
                pass
        self._stop.set()
        try:
            self.client.disconnect()
        except Exception:  # closing must not fail the shutdown
            log.debug("%sMQTT disconnect failed", self.label, exc_info=True)
        if self.thread is not None:
            self.thread.join(timeout=max(0.1, end - time.monotonic()))
        return not self.alive
