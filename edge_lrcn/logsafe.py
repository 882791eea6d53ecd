"""Log lines about untrusted input: the text quoted and cut short, and a failure that repeats logged at most once
per interval with the count of the ones left out (a flood of hostile messages must not flood the journal)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

QUOTE_MAX = 60  # characters of untrusted text a log line or an answer carries


def quote(value, limit: int = QUOTE_MAX) -> str:
    """``repr`` of untrusted text (a key, a value, a topic), cut to ``limit`` characters."""
    text = repr(value[:limit + 1] if isinstance(value, (str, bytes)) else value)
    return text if len(text) <= limit else text[:limit] + "...(cut)"


def cut(text: str, limit: int = 200) -> str:
    """A message that may carry untrusted text, cut to ``limit`` characters."""
    return text if len(text) <= limit else text[:limit] + "...(cut)"


class Throttle:
    """At most one log line per ``key`` every ``interval`` seconds; the next one says how many were left out."""

    def __init__(self, logger: logging.Logger, interval: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self._last: dict[str, float] = {}
        self._left_out: dict[str, int] = {}
        self._lock = threading.Lock()

    def log(self, level: int, key: str, message: str, *args) -> bool:
        """Log ``message % args`` unless ``key`` was logged less than ``interval`` ago; True when logged."""
        now = self.clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval:
                self._left_out[key] = self._left_out.get(key, 0) + 1
                return False
            self._last[key] = now
            left_out = self._left_out.pop(key, 0)
        suffix = f" ({left_out} more like this in the last {now - last:.0f} s not logged)" \
            if left_out and last is not None else ""
        self.logger.log(level, message + suffix, *args)
        return True

    def warning(self, key: str, message: str, *args) -> bool:
        return self.log(logging.WARNING, key, message, *args)


class LogOnce:
    """A problem that repeats (a broker down for hours, a read-only disk) logged once per kind until it clears: a
    new kind is logged, the same kind again is not; :meth:`clear` (the thing works again) says whether one was
    logged, so the recovery can be said once too."""

    def __init__(self, logger: logging.Logger):
        self.logger = logger
        self.last: str | None = None

    def log(self, level: int, kind: str, message: str, *args) -> bool:
        """Log ``message % args`` unless ``kind`` is the problem logged last; True when logged."""
        if kind == self.last:
            return False
        self.last = kind
        self.logger.log(level, message, *args)
        return True

    def warning(self, kind: str, message: str, *args) -> bool:
        return self.log(logging.WARNING, kind, message, *args)

    def clear(self) -> bool:
        """The problem is over; True when one had been logged."""
        was = self.last is not None
        self.last = None
        return was
