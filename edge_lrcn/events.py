"""From window probabilities to activity events: smoothing, hysteresis, minimum duration.

Event objects are plain dicts, versioned by ``SCHEMA_VERSION`` and documented in docs/events.md.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from collections import deque
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .config.sections import EventSettings

SCHEMA_VERSION = 1
NONE = "none"


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def default_device_id(machine_id: str = "/etc/machine-id", instance: str | None = None) -> str:
    """The host name and a short tag of this machine: ``raspberrypi-3f2a1c``. Every fresh Raspberry Pi is called
    ``raspberrypi``; the tag (from a hash of the machine id, never the id itself) keeps two of them from sharing
    topics and an MQTT client id. The host name alone where there is no machine id. ``instance`` (default: the
    ``EDGE_LRCN_INSTANCE`` the template unit ``edge-lrcn@NAME`` sets to NAME) is appended, so that the cameras of
    one machine differ too: ``raspberrypi-3f2a1c-back``."""
    host = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname().split(".")[0])[:48] or "edge-lrcn"
    try:
        mid = Path(machine_id).read_text().strip()
    except (OSError, UnicodeDecodeError):
        mid = ""
    base = f"{host}-{hashlib.sha256(('edge-lrcn:' + mid).encode()).hexdigest()[:6]}" \
        if re.fullmatch(r"[0-9a-f]{32}", mid) else host
    instance = os.environ.get("EDGE_LRCN_INSTANCE", "") if instance is None else instance
    instance = re.sub(r"[^A-Za-z0-9_-]", "-", instance)[:max(0, 63 - len(base))]  # device ids: 64 at most
    return f"{base}-{instance}" if instance else base


class EventMaker:
    """Stamps event dicts with type, device, ts, model and the schema version."""

    def __init__(self, device: str, model: str):
        self.device, self.model = device, model

    def __call__(self, type_: str, **fields) -> dict:
        return {"type": type_, "v": SCHEMA_VERSION, "device": self.device, "ts": utc_now(), "model": self.model,
                **fields}


class ActivityTracker:
    """Turns a stream of window probabilities (at source time ``t``) into start/end events.

    * smoothing: the mean of the last ``smoothing`` windows;
    * hysteresis: a label leads when its smoothed probability is the highest and >= ``enter_threshold``, or when
      each of the last ``agree`` windows ranks it first with a probability >= ``enter_threshold`` (the trend: a
      model sure of the new activity for a few windows in a row need not wait for the average); a label that leads
      for at least ``min_duration`` seconds starts; it ends when its smoothed probability falls below
      ``exit_threshold`` (then another may start);
    * ``none`` is the state when no activity is on.
    """

    def __init__(self, labels: list[str], settings: EventSettings, make: Callable[..., dict]):
        # make: an EventMaker, or announce.py's that adds the region: make(type_, **fields) -> the object
        self.labels = list(labels)
        self.s = settings
        self.make = make
        self._recent: deque[np.ndarray] = deque(maxlen=max(settings.smoothing, settings.agree))
        self.label = NONE
        self.confidence = 0.0
        self.since_t: float | None = None
        self.since_ts: str | None = None
        self.peak = 0.0
        self._cand: tuple[int, float] | None = None  # (label index, t first seen leading)
        self.last_probs: np.ndarray | None = None

    def apply(self, settings: EventSettings) -> None:
        """A reload: the new thresholds from the next window on; the smoothing history is kept (cut to fit)."""
        self.s = settings
        self._recent = deque(self._recent, maxlen=max(settings.smoothing, settings.agree))

    def state(self) -> dict:
        """The retained current state: label (``none`` when idle), confidence, since (UTC)."""
        return {"label": self.label, "confidence": round(self.confidence, 4), "since": self.since_ts}

    def reset(self, t: float, reason: str) -> list[dict]:
        """Forget the smoothing history (a gap in the stream, a camera fault); closes the current activity."""
        self._recent.clear()
        self._cand = None
        return self.close(t, reason)

    def close(self, t: float, reason: str | None = None) -> list[dict]:
        if self.label == NONE:
            return []
        assert self.since_t is not None  # set with the label when the activity started
        ev = self.make("activity_end", label=self.label, duration_s=round(max(0.0, t - self.since_t), 3),
                       peak_confidence=round(self.peak, 4), t=round(t, 3), **({"reason": reason} if reason else {}))
        self.label = NONE
        self.confidence = 0.0
        self.peak = 0.0
        self.since_t, self.since_ts = t, ev["ts"]
        return [ev]

    def update(self, probs: np.ndarray, t: float) -> list[dict]:
        self._recent.append(np.asarray(probs, np.float32))
        mean = np.mean(list(self._recent)[-self.s.smoothing:], axis=0)
        self.last_probs = mean
        events: list[dict] = []
        if self.label != NONE:
            p = float(mean[self.labels.index(self.label)])
            self.confidence = p
            if p < self.s.exit_threshold:
                events += self.close(t)
            else:
                self.peak = max(self.peak, p)
                return events
        top, p = self._leader(mean)
        if top is None:
            self._cand = None
            return events
        if self._cand is None or self._cand[0] != top:
            self._cand = (top, t)
        if t - self._cand[1] + 1e-9 >= self.s.min_duration:
            self.label = self.labels[top]
            self.confidence = p
            self.peak = p
            self.since_t = t
            ev = self.make("activity_start", label=self.label, confidence=round(p, 4), t=round(t, 3))
            self.since_ts = ev["ts"]
            self._cand = None
            events.append(ev)
        return events

    def _leader(self, mean: np.ndarray) -> tuple[int | None, float]:
        """The label that leads (index and its smoothed probability, or the last window's when only the windows'
        agreement makes it lead); None when none does."""
        top = int(mean.argmax())
        if mean[top] >= self.s.enter_threshold:
            return top, float(mean[top])
        k = self.s.agree
        if k < 1 or len(self._recent) < k:
            return None, 0.0
        last = list(self._recent)[-k:]
        top = int(last[-1].argmax())
        if all(int(w.argmax()) == top and w[top] >= self.s.enter_threshold for w in last):
            return top, float(last[-1][top])
        return None, 0.0

    def scores(self, t: float) -> dict | None:
        if self.last_probs is None:
            return None
        return self.make("scores", t=round(t, 3),
                         scores={lab: round(float(p), 4) for lab, p in zip(self.labels, self.last_probs, strict=True)})
