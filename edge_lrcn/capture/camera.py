"""The camera supervisor: one source at a time, read on its own thread, watched for stalls and frozen timestamps,
reopened with capped backoff. It says what happened as values (a frame, a :class:`CameraChange`, :data:`END`),
and leaves what that means for the activity and the sinks to the daemon.

Opening runs on a thread of its own (a network camera that never answers blocks inside FFmpeg for ~30 s), so
:meth:`Camera.read` always returns within ``poll`` seconds. A live source never ends the daemon, not even one absent
at start (it is offline until it appears): a stall (no frame for ``stall_timeout`` seconds), frozen timestamps (a
dead device that keeps handing out its last buffer; both :mod:`.stall`), a read error or the end of a stream mark
the camera offline; it is then reopened after 0.5 s, 1 s, 2 s... up to ``reopen_max_delay`` (:mod:`.reopen`). A
file source ends (:data:`END`).
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..config.sections import CameraSettings
from ..errors import UsageError
from .frame import Frame, Source
from .reader import FrameReader
from .reopen import Reopener
from .stall import StallWatch

log = logging.getLogger(__name__)

END = object()  # a finite source (a file) has no more frames


@dataclass(frozen=True)
class CameraChange:
    """The camera went online or offline; ``description`` names the source, ``reason`` says why it went offline."""

    online: bool
    description: str
    reason: str = ""


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
        self.min_size: tuple[int, int] | None = None  # what the sources may reduce their decode to (Source.min_size)
        self.clock, self.poll = clock, poll
        self.reopener = Reopener(open_source, clock, sleep, poll, settings.reopen_max_delay)
        self.apply(settings)
        self.source: Source | None = None
        self.reader: FrameReader | None = None
        self.description = description
        self.online = False
        self._skipped_before = self._dropped_before = 0  # counts of the sources closed after a fault
        self._said_offline = False  # the offline state was reported for this outage (or for the start)
        self._ever_online = False
        self.watch = StallWatch(clock)

    @property
    def live(self) -> bool:
        return self.source is None or self.source.live

    @property
    def reopens(self) -> int:
        """Reopen attempts, successful or not."""
        return self.reopener.attempts

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
            self.reopener.start()
            return None
        return self._online(self.source)

    def read(self) -> Frame | CameraChange | object | None:
        """The next frame; a change of state; :data:`END`; or None when nothing came within ``poll`` seconds."""
        if not self.online or self.source is None or self.reader is None:
            return self._reopen()
        stalled = self.watch.stalled(self.stall_timeout) if self.source.live else None
        if stalled:
            return self._fault(stalled)
        try:
            item = self.reader.get(timeout=self.poll)
        except queue.Empty:
            self.watch.nothing()
            return None
        if item is FrameReader.END:
            if not self.source.live:
                return END
            return self._fault(str(self.reader.error or "the source ended"))
        self.watch.frame(item.t)
        return item

    def apply(self, camera: CameraSettings) -> None:
        """The stall timeout and the reopen backoff's cap ([camera]; a reload applies them from now on)."""
        self.stall_timeout = camera.stall_timeout
        self.reopen_max_delay = camera.reopen_max_delay
        self.reopener.cap(camera.reopen_max_delay)

    def interrupt(self) -> None:
        """Cut a wait between reopen attempts short (the daemon is stopping)."""
        self.reopener.interrupt()

    def wake(self) -> None:
        """Cut the current wait between reopen attempts short once (a command for the daemon is waiting)."""
        self.reopener.wake()

    def release(self) -> None:
        """Close the source and read nothing until :meth:`resume` (pause: nothing is captured, and the device is
        free for another program)."""
        self._count_closed()
        self.stop()
        self.close()
        self.online = False

    def resume(self) -> None:
        """Open the source again after :meth:`release`, off the loop like any reopen, at once: :meth:`read` says
        how it went (online, or offline with the reason and then backoff as after any fault)."""
        self.reopener.at_once()
        self._said_offline = False

    def stop(self) -> None:
        """No more frames (the source stays open until :meth:`close`)."""
        if self.reader:
            self.reader.stop()

    def close(self) -> None:
        self.reopener.abandon()  # an attempt still inside open_source closes what it opens itself
        if self.reader:
            self.reader.close()
        elif self.source:
            self.source.close()
        self.reader = self.source = None

    def _count_closed(self) -> None:
        """The counts of the source about to be closed join those of the sources before it."""
        if self.source is not None and self.reader is not None:
            self._skipped_before += self.source.skipped
            self._dropped_before += self.reader.dropped

    def set_min_size(self, min_size: tuple[int, int] | None) -> None:
        """The smallest frame the decoded pixels' consumers need (``Source.min_size``), from the next decode on."""
        self.min_size = min_size
        if self.source is not None:
            self.source.min_size = min_size

    def _online(self, source: Source) -> CameraChange:
        self.source, self.description = source, source.description
        source.min_size = self.min_size
        self.reader = FrameReader(source, maxsize=2 if source.live else 4, keep=self.keep)
        self.watch.reset()
        self.online = self._ever_online = True
        self._said_offline = False
        return CameraChange(True, self.description)

    def _fault(self, reason: str) -> CameraChange:
        self._count_closed()
        if self.reader is not None:
            self.reader.close()
        self.reader = self.source = None
        self.reopener.outage()  # the per-outage reopen state starts here, and only here
        self.online, self._said_offline = False, True
        log.warning("camera offline: %s", reason)
        return CameraChange(False, self.description, reason)

    def _reopen(self) -> CameraChange | None:
        """One short step of the reopen (never longer than ``poll``), and what it means for the camera's state."""
        outcome = self.reopener.step()
        if isinstance(outcome, Exception):
            return self._failed(outcome)
        if outcome is not None:
            log.info("camera online: %s", outcome.description)
            return self._online(outcome)
        slow = self.reopener.pending_for()
        if not self._said_offline and slow > self.stall_timeout:  # a camera that never answers at start
            self._said_offline = True
            log.warning("camera offline: opening %s: no answer for %.1f s", self.description, slow)
            return CameraChange(False, self.description, f"opening: no answer for {slow:.1f} s")
        return None

    def _failed(self, exc: Exception) -> CameraChange | None:
        if isinstance(exc, UsageError) and not self._ever_online:
            raise exc  # picamera2 not installed, an unsupported format: no retry will fix it (exit 2)
        self.reopener.failed(exc, self.description, self._ever_online)
        if not self._said_offline:  # absent at start: offline, and retried like a camera that dropped
            self._said_offline = True
            return CameraChange(False, self.description, str(exc))
        return None
