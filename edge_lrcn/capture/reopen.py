"""Opening the camera's source again after it went away: one attempt at a time on a thread of its own, the waits
between attempts from a :class:`~edge_lrcn.util.backoff.Backoff` (0.5 s, 1 s, 2 s... up to ``reopen_max_delay``,
no jitter: one camera has no crowd to spread), and a failure that repeats logged once, then every
``LOUD_EVERY`` tries (a camera gone for days must not fill the journal)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ..errors import SourceError, UsageError
from ..logsafe import LogOnce
from ..util.backoff import Backoff
from .frame import Source

log = logging.getLogger(__name__)

FIRST_BACKOFF_S = 0.5
LOUD_EVERY = 20  # the same reopen failure is logged again every this many tries


class Opening:
    """One attempt to open a source, on its own thread: ``cv2.VideoCapture()`` on a network camera that accepts the
    connection and never answers blocks for ~30 s inside FFmpeg, and the daemon's loop must not wait for it. A
    source that opens after the attempt was abandoned (the daemon stopping) is closed by the thread itself."""

    def __init__(self, open_source: Callable[[], Source]):
        self.open_source = open_source
        self.done = threading.Event()
        self.source: Source | None = None
        self.error: Exception | None = None
        self._lock = threading.Lock()
        self._abandoned = False
        threading.Thread(target=self._run, name="camera-open", daemon=True).start()

    def _run(self) -> None:
        try:
            source = self.open_source()
        except (SourceError, UsageError) as exc:
            self.error = exc
        except Exception as exc:  # a driver bug is a failed attempt, not a dead thread
            self.error = SourceError(f"{type(exc).__name__}: {exc}")
        else:
            with self._lock:
                keep = not self._abandoned
                self.source = source if keep else None
            if not keep:
                source.close()
        self.done.set()

    def abandon(self) -> None:
        with self._lock:
            self._abandoned = True
            source, self.source = self.source, None
        if source is not None:
            source.close()


class Reopener:
    """When the next attempt may start and how the last one went. ``sleep`` waits at most ``poll`` seconds at a
    time, so that :meth:`step` never takes longer than ``poll`` (by default until :meth:`interrupt` or
    :meth:`wake`); ``clock`` is the monotonic clock."""

    def __init__(self, open_source: Callable[[], Source], clock: Callable[[], float],
                 sleep: Callable[[float], object] | None, poll: float, cap: float):
        self.open_source, self.clock, self.poll = open_source, clock, poll
        self._interrupted, self._woken = threading.Event(), threading.Event()
        self.sleep = sleep or self._wait
        self.backoff = Backoff(FIRST_BACKOFF_S, cap, jitter=0.0)
        self.attempts = 0  # attempts started by step() (reopens), successful or not
        self.opening: Opening | None = None
        self._opened_at = clock()  # when the attempt in progress started
        self._failures = 0
        self._problem = LogOnce(log)
        self.at_once()

    def interrupt(self) -> None:
        """No more attempts, and the wait in progress cut short (the daemon is stopping)."""
        self._interrupted.set()
        self._woken.set()

    def wake(self) -> None:
        """Cut the current wait short once."""
        self._woken.set()

    def _wait(self, seconds: float) -> None:
        self._woken.wait(seconds)
        if not self._interrupted.is_set():
            self._woken.clear()

    def at_once(self) -> None:
        """The next attempt may start now (at start, at a resume); a failure then waits 1 s, as after a fault."""
        self._restart()
        self.backoff.next()  # the first wait (0.5 s) is spent: the attempt goes at once
        self.next_try = self.clock()

    def outage(self) -> None:
        """The source went away: the reopen state starts here, the first attempt 0.5 s from now."""
        self._restart()
        self.next_try = self.clock() + self.backoff.next()

    def cap(self, cap: float) -> None:
        """A new cap (a reload): a wait already doubled past it is cut to it."""
        self.backoff.cap = cap
        self.backoff.delay = min(self.backoff.delay, cap)

    def _restart(self) -> None:
        self.backoff.reset()
        self._failures = 0
        self._problem.clear()

    def start(self) -> None:
        """An attempt now, on its own thread."""
        self.opening, self._opened_at = Opening(self.open_source), self.clock()

    def pending_for(self) -> float:
        """How long the attempt in progress has taken; 0 when none is."""
        return self.clock() - self._opened_at if self.opening is not None else 0.0

    def step(self) -> Source | Exception | None:
        """One short step: wait out the backoff, start an attempt (not once interrupted), collect its outcome:
        the source it opened, the error it failed with, or None while nothing is decided."""
        if self.opening is None:
            wait = self.next_try - self.clock()
            if wait > 0:
                self.sleep(min(wait, self.poll))
                return None
            if self._interrupted.is_set():
                return None
            self.attempts += 1
            self.start()
        assert self.opening is not None
        if not self.opening.done.wait(self.poll):
            return None
        opening, self.opening = self.opening, None
        return opening.error or opening.source

    def failed(self, exc: Exception, description: str, reopening: bool) -> None:
        """An attempt failed: the next one after the next wait; said once per kind of failure, and again every
        ``LOUD_EVERY`` tries."""
        wait = self.backoff.next()
        self.next_try = self.clock() + wait
        failures, self._failures = self._failures, self._failures + 1
        if failures % LOUD_EVERY == 0:
            self._problem.clear()
        message = "%s %s failed (attempt %d; next try in %.1f s): %s"
        args = ("reopening" if reopening else "opening", description, failures + 1, wait, exc)
        if not self._problem.warning(str(exc), message, *args):
            log.debug(message, *args)

    def abandon(self) -> None:
        """Give up the attempt in progress (it closes what it opens itself)."""
        if self.opening is not None:
            self.opening.abandon()
            self.opening = None
