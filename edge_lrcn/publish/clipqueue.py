"""The clip writer's queue, between the frame loop (which never waits for the disk) and the writer thread.

Its items are typed (:data:`WriterItem`). The queue is bounded for frames only: when the writer falls behind (a slow
disk) on a live source, frames are dropped and counted (``clips_dropped_frames``) and logged once; a file's frames
wait for room (the file's frames come as fast as the loop takes them, a clip must not lose them). Starts, ends and
the stop are never dropped. Which frames enter at all is :class:`FpsCap`'s decision (``clips_fps``).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

QUEUE_FRAMES = 32  # frames waiting for the writer (about 2 s at clips_fps 15) before new ones are dropped ...
QUEUE_BYTES = 16e6  # ... or fewer when they are large (640x480: 17 frames, 1280x720: 5)


@dataclass(frozen=True)
class FrameItem:
    """A frame for the pre-roll and the open clips (the only item dropped when the writer falls behind)."""

    frame: Any


@dataclass(frozen=True)
class StartClip:
    """An activity started: its clip opens with the pre-roll (``stem``: the file names already in the event)."""

    event: dict
    stem: str
    snapshot: bytes | None
    box: Any = None


@dataclass(frozen=True)
class EndClip:
    """An activity ended: the clip it matches gets its post-roll, then closes."""

    event: dict


@dataclass(frozen=True)
class StopWriter:
    """The daemon stops: every open clip is finished, the writer thread ends."""


WriterItem = FrameItem | StartClip | EndClip | StopWriter


class FpsCap:
    """The clips' frame rate cap (``fps``; 0: every frame), by timestamp: a frame before its slot is skipped (a
    clock that went back restarts)."""

    def __init__(self, fps: float):
        self._dt = 1.0 / fps if fps else 0.0
        self._next_t: float | None = None

    def keep(self, t: float) -> bool:
        if not self._dt:
            return True
        nxt = self._next_t
        if nxt is not None and t + 0.002 < nxt and t > nxt - 2 * self._dt:
            return False
        self._next_t = nxt + self._dt if nxt is not None and 0 <= t - nxt < self._dt else t + self._dt
        return True


class ClipQueue:
    """``live``: frames are dropped when full (else they wait, while ``writer_alive()`` and not ``stopping``)."""

    def __init__(self, live: bool, fps: float, stopping: threading.Event, writer_alive: Callable[[], bool]):
        self.live = live
        self.stopping = stopping
        self.writer_alive = writer_alive
        self.dropped = 0
        self._wanted = FpsCap(fps)
        self._q: deque[WriterItem] = deque()
        self._cv = threading.Condition()
        self._frames = 0
        self._bytes = 0

    def frame(self, frame) -> None:
        """Queue a frame (one ``clips_fps`` wants); the frame loop's side, which never waits for the disk."""
        if not self._wanted.keep(frame.t):
            return
        with self._cv:
            while not self.live and self._full(frame) and self.writer_alive() and not self.stopping.is_set():
                self._cv.wait(0.5)
            if self._full(frame):
                self.dropped += 1
                if self.dropped == 1:
                    log.warning("clip writer falling behind (slow disk?): frames dropped from clips; the count is "
                                "clips_dropped_frames in the stats")
                return
            self._frames += 1
            self._bytes += frame.pixels.nbytes
            self._q.append(FrameItem(frame))
            self._cv.notify()

    def _full(self, frame) -> bool:
        return self._frames >= QUEUE_FRAMES or (self._frames > 0 and self._bytes + frame.pixels.nbytes > QUEUE_BYTES)

    def put(self, item: WriterItem) -> None:
        """Any item but a frame: never dropped."""
        with self._cv:
            self._q.append(item)
            self._cv.notify()

    def take(self) -> WriterItem:
        """The writer's side: the next item, waiting for one; a frame taken makes room for the loop's next."""
        with self._cv:
            while not self._q:
                self._cv.wait()
            item = self._q.popleft()
            if isinstance(item, FrameItem):
                self._frames -= 1
                self._bytes -= item.frame.pixels.nbytes
                self._cv.notify_all()
        return item
