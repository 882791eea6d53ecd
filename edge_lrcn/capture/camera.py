"""The camera supervisor: one source at a time, read on its own thread, watched for stalls and frozen timestamps,
reopened with capped backoff. It says what happened as values (a frame, a :class:`CameraChange`, :data:`END`),
and leaves what that means for the activity and the sinks to the daemon.

Opening runs on a thread of its own (a network camera that never answers blocks inside FFmpeg for ~30 s), so
:meth:`Camera.read` always returns within ``poll`` seconds. A live source never ends the daemon, not even one absent
at start (it is offline until it appears): a stall (no frame for ``stall_timeout`` seconds), frozen timestamps (a
dead device that keeps handing out its last buffer), a read error or the end of a stream mark the camera offline;
it is then reopened after 0.5 s, 1 s, 2 s... up to ``reopen_max_delay``. A file source ends (:data:`END`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..config.sections import CameraSettings
from ..errors import SourceError, UsageError
from .frame import Frame, Source
from .reader import FrameReader

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


class _Opening:
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


class Camera:
    """Opens, reads, watches and reopens a source. ``open_source`` makes a new :class:`Source` (raising
    SourceError or UsageError); it runs on a thread of its own, never on the caller's. ``clock`` is the monotonic
    clock and ``sleep`` waits at most ``poll`` seconds at a time between reopen attempts (by default until
    :meth:`interrupt`); tests drive a fake clock through both."""

    def __init__(self, open_source: Callable[[], Source], settings: CameraSettings,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], object] | None = None,
                 poll: float = 0.25, description: str = "camera", keep: Callable[[float], bool] | None = None):
        self.open_source = open_source
        self.keep = keep  # the pacer's decision before decoding (FrameReader), or None: decode every frame
        self.apply(settings)
        self.clock, self.poll = clock, poll
        self._interrupted, self._woken = threading.Event(), threading.Event()
        self.sleep = sleep or self._wait
        self.source: Source | None = None
        self.reader: FrameReader | None = None
        self.description = description
        self.online = False
        self.reopens = 0  # reopen attempts, successful or not
        self._skipped_before = self._dropped_before = 0  # counts of the sources closed after a fault
        self._backoff = FIRST_BACKOFF_S
        self._failures, self._last_error = 0, None
        self._opening: _Opening | None = None
        self._opened_at = clock()  # when the attempt in progress started
        self._next_try = clock()  # when the next open attempt may start
        self._said_offline = False  # the offline state was reported for this outage (or for the start)
        self._ever_online = False
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
        """Open the source here, on the caller's thread (a file: a missing one raises SourceError, exit 4, at once);
        reading starts with :meth:`start`."""
        self.source = self.open_source()
        self.description = self.source.description

    def start(self) -> CameraChange | None:
        """Start reading. A source opened with :meth:`open` is online now: the first change, published at start.
        Otherwise the first open attempt starts on its own thread and :meth:`read` reports how it went: online, or
        offline when it fails or does not answer within ``stall_timeout`` (a camera absent at start is retried
        with backoff like one that dropped)."""
        if self.source is None:
            self._opening, self._opened_at = _Opening(self.open_source), self.clock()
            return None
        self._start_reader()
        self.online = self._ever_online = True
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

    def apply(self, camera: CameraSettings) -> None:
        """The stall timeout and the reopen backoff's cap ([camera]; a reload applies them from now on)."""
        self.stall_timeout = camera.stall_timeout
        self.reopen_max_delay = camera.reopen_max_delay

    def interrupt(self) -> None:
        """Cut a wait between reopen attempts short (the daemon is stopping)."""
        self._interrupted.set()
        self._woken.set()

    def wake(self) -> None:
        """Cut the current wait between reopen attempts short once (a command for the daemon is waiting)."""
        self._woken.set()

    def _wait(self, seconds: float) -> None:
        self._woken.wait(seconds)
        if not self._interrupted.is_set():
            self._woken.clear()

    def release(self) -> None:
        """Close the source and read nothing until :meth:`resume` (pause: nothing is captured, and the device is
        free for another program)."""
        if self.source is not None and self.reader is not None:
            self._skipped_before += self.source.skipped
            self._dropped_before += self.reader.dropped
        self.stop()
        self.close()
        self.online = False

    def resume(self) -> None:
        """Open the source again after :meth:`release`, off the loop like any reopen, at once: :meth:`read` says
        how it went (online, or offline with the reason and then backoff as after any fault)."""
        self._backoff, self._failures, self._last_error = FIRST_BACKOFF_S, 0, None
        self._next_try, self._said_offline = self.clock(), False

    def stop(self) -> None:
        """No more frames (the source stays open until :meth:`close`)."""
        if self.reader:
            self.reader.stop()

    def close(self) -> None:
        if self._opening is not None:  # an attempt still inside open_source closes what it opens itself
            self._opening.abandon()
            self._opening = None
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
        self._next_try = self.clock() + self._backoff
        self.online, self._said_offline = False, True
        log.warning("camera offline: %s", reason)
        return CameraChange(False, self.description, reason)

    def _reopen(self) -> CameraChange | None:
        """The reopen state machine, one short step per call (never longer than ``poll``): wait out the backoff,
        start an attempt on its own thread, then collect its outcome."""
        if self._opening is None:
            wait = self._next_try - self.clock()
            if wait > 0:
                self.sleep(min(wait, self.poll))
                return None
            if self._interrupted.is_set():
                return None
            self.reopens += 1
            self._opening, self._opened_at = _Opening(self.open_source), self.clock()
        if not self._opening.done.wait(self.poll):
            slow = self.clock() - self._opened_at
            if not self._said_offline and slow > self.stall_timeout:  # a camera that never answers at start
                self._said_offline = True
                log.warning("camera offline: opening %s: no answer for %.1f s", self.description, slow)
                return CameraChange(False, self.description, f"opening: no answer for {slow:.1f} s")
            return None
        opening, self._opening = self._opening, None
        if opening.error is not None:
            return self._failed(opening.error)
        self.source = opening.source
        self.description = self.source.description
        self._start_reader()
        self.online = self._ever_online = True
        self._said_offline = False
        log.info("camera online: %s", self.description)
        return CameraChange(True, self.description)

    def _failed(self, exc: Exception) -> CameraChange | None:
        if isinstance(exc, UsageError) and not self._ever_online:
            raise exc  # picamera2 not installed, an unsupported format: no retry will fix it (exit 2)
        self._backoff = min(self._backoff * 2, self.reopen_max_delay)
        self._next_try = self.clock() + self._backoff
        # a camera gone for days must not fill the journal: the same failure is logged again every 20 tries
        failures, self._failures = self._failures, self._failures + 1
        loud = str(exc) != self._last_error or failures % LOUD_EVERY == 0
        self._last_error = str(exc)
        (log.warning if loud else log.debug)("%s %s failed (attempt %d; next try in %.1f s): %s",
                                             "reopening" if self._ever_online else "opening", self.description,
                                             failures + 1, self._backoff, exc)
        if not self._said_offline:  # absent at start: offline, and retried like a camera that dropped
            self._said_offline = True
            return CameraChange(False, self.description, str(exc))
        return None
