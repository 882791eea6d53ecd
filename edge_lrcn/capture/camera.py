"""The camera supervisor: one source at a time, read on its own thread, watched for stalls and frozen timestamps,
reopened with capped backoff. It says what happened as values (a frame, a :class:`CameraChange`, :data:`END`),
and leaves what that means for the activity and the sinks to the daemon.

A live source never ends the daemon: a stall (no frame for ``stall_timeout`` seconds), frozen timestamps (a dead
device that keeps handing out its last buffer), a read error or the end of a stream mark the camera offline; it is
then reopened after 0.5 s, 1 s, 2 s... up to ``reopen_max_delay``. A file source ends (:data:`END`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable

from ..errors import SourceError, UsageError
from .reader import FrameReader
from .sources import Frame, Source

log = logging.getLogger(__name__)

END = object()  # a finite source (a file) has no more frames
FIRST_BACKOFF_S = 0.5
LOUD_EVERY = 20  # the same reopen failure is logged again every this many tries


@dataclass(frozen=True)
class CameraChange:
    """The camera went online or offline; ``description`` names the source, ``reason`` says why it went offline."""

    online: bool
    description: str
    reason: str = ""


class Camera:
    """Opens, reads, watches and reopens a source. ``open_source`` makes a new :class:`Source` (raising
    SourceError or UsageError); ``clock`` is the monotonic clock and ``sleep`` waits between reopen attempts (by
    default until :meth:`interrupt`); tests drive a fake clock through both."""

    def __init__(self, open_source: Callable[[], Source], stall_timeout: float, reopen_max_delay: float,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], object] | None = None,
                 poll: float = 0.25, keep: Callable[[float], bool] | None = None):
        self.open_source = open_source
        self.keep = keep  # the pacer's decision before decoding (FrameReader), or None: decode every frame
        self.stall_timeout, self.reopen_max_delay = stall_timeout, reopen_max_delay
        self.clock, self.poll = clock, poll
        self._interrupted = threading.Event()
        self.sleep = sleep or self._interrupted.wait
        self.source: Source | None = None
        self.reader: FrameReader | None = None
        self.description = ""
        self.online = False
        self.reopens = 0  # reopen attempts, successful or not
        self._skipped_before = self._dropped_before = 0  # counts of the sources closed after a fault
        self._backoff = FIRST_BACKOFF_S
        self._failures, self._last_error = 0, None
        self._newest_t: float | None = None  # newest timestamp seen (frozen timestamps do not advance it)
        self._progress = clock()  # when a frame with a new timestamp last arrived
        self._got_frame = False  # whether the last poll gave a frame (then a stall is frozen timestamps)

    @property
    def live(self) -> bool:
        return self.source is None or self.source.live

    @property
    def skipped(self) -> int:
        """Frames the decoder could not decode, over every source opened so far."""
        return self._skipped_before + (self.source.skipped if self.source else 0)

    @property
    def dropped(self) -> int:
        """Frames a live source delivered faster than they were taken, over every source opened so far."""
        return self._dropped_before + (self.reader.dropped if self.reader else 0)

    def open(self) -> None:
        """Open the source (a missing camera or file raises SourceError: exit 4); reading starts with :meth:`start`."""
        self.source = self.open_source()
        self.description = self.source.description

    def start(self) -> CameraChange:
        """Start reading (opening the source first if :meth:`open` was not called); the camera is online: the first
        change, published at start."""
        if self.source is None:
            self.open()
        self._start_reader()
        self.online = True
        return CameraChange(True, self.description)

    def read(self) -> Frame | CameraChange | object | None:
        """The next frame; a change of state; :data:`END`; or None when nothing came within ``poll`` seconds."""
        if not self.online:
            return self._reopen()
        stalled = self.clock() - self._progress
        if self.source.live and stalled > self.stall_timeout:
            return self._fault(f"{'frozen timestamps' if self._got_frame else 'no frame'} for {stalled:.1f} s")
        try:
            item = self.reader.get(timeout=self.poll)
        except queue.Empty:
            self._got_frame = False
            return None
        if item is FrameReader.END:
            if not self.source.live:
                return END
            return self._fault(str(self.reader.error or "the source ended"))
        self._got_frame = True
        if self._newest_t is None or item.t > self._newest_t:
            self._newest_t = item.t
            self._progress = self.clock()
        return item

    def interrupt(self) -> None:
        """Cut a wait between reopen attempts short (the daemon is stopping)."""
        self._interrupted.set()

    def stop(self) -> None:
        """No more frames (the source stays open until :meth:`close`)."""
        if self.reader:
            self.reader.stop()

    def close(self) -> None:
        if self.reader:
            self.reader.close()
        elif self.source:
            self.source.close()
        self.reader = self.source = None

    def _start_reader(self) -> None:
        self.reader = FrameReader(self.source, maxsize=2 if self.source.live else 4, keep=self.keep)
        self._progress = self.clock()
        self._newest_t = None
        self._got_frame = False

    def _fault(self, reason: str) -> CameraChange:
        self._skipped_before += self.source.skipped
        self._dropped_before += self.reader.dropped
        self.reader.close()
        self.reader = self.source = None
        self._backoff = FIRST_BACKOFF_S  # the per-outage reopen state starts here, and only here
        self._failures, self._last_error = 0, None
        self.online = False
        log.warning("camera offline: %s", reason)
        return CameraChange(False, self.description, reason)

    def _reopen(self) -> CameraChange | None:
        """One reopen attempt after the current backoff (capped exponential)."""
        self.sleep(self._backoff)
        if self._interrupted.is_set():
            return None
        self.reopens += 1
        try:
            self.source = self.open_source()
        except (SourceError, UsageError) as exc:
            self._backoff = min(self._backoff * 2, self.reopen_max_delay)
            # a camera gone for days must not fill the journal: the same failure is logged again every 20 tries
            failures, self._failures = self._failures, self._failures + 1
            loud = str(exc) != self._last_error or failures % LOUD_EVERY == 0
            self._last_error = str(exc)
            (log.warning if loud else log.debug)("reopening %s failed (attempt %d; next try in %.1f s): %s",
                                                 self.description, failures + 1, self._backoff, exc)
            return None
        self._start_reader()
        self.online = True
        log.info("camera online")
        return CameraChange(True, self.description)
