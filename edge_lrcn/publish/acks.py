"""PUBACK bookkeeping of the MQTT sink: the QoS 1 messages published and not yet acknowledged."""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt

EARLY_ACK_S = 5.0  # how long an on_publish that came before publish() returned is remembered


class Acks:
    """PUBACK bookkeeping: the QoS 1 messages published and not yet acknowledged.

    paho may call on_publish before ``publish()`` has returned (then the mid is remembered as acknowledged, for
    ``EARLY_ACK_S`` at most: mids are 16 bits and get reused, so an older entry belongs to another message); QoS 0
    messages get on_publish too and are never tracked; a message queued while disconnected (rc NO_CONN) is pending:
    paho sends it after the reconnect."""

    def __init__(self):
        self._pending: dict[int, tuple[mqtt.MQTTMessageInfo, object]] = {}  # mid -> (info, what was published)
        self._acked: dict[int, float] = {}  # mid -> when on_publish came for a mid not (yet) tracked
        self._swept = 0.0
        self._lock = threading.Lock()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def track(self, info: mqtt.MQTTMessageInfo, item: object = None) -> None:
        with self._lock:
            acked_at = self._acked.pop(info.mid, None)
            if acked_at is None or time.monotonic() - acked_at > EARLY_ACK_S:
                self._pending[info.mid] = (info, item)

    def unacknowledged(self) -> list:
        """The items of the messages not acknowledged yet, oldest first."""
        with self._lock:
            return [item for _, item in self._pending.values()]

    def acked(self, mid: int) -> None:
        with self._lock:
            if self._pending.pop(mid, None) is None:
                now = time.monotonic()
                self._acked[mid] = now
                if len(self._acked) > 1024 and now - self._swept > EARLY_ACK_S / 5:
                    self._swept = now
                    self._acked = {m: t for m, t in self._acked.items() if now - t < EARLY_ACK_S}

    def remembered(self) -> int:
        """Early acknowledgements remembered (bounded)."""
        return len(self._acked)
