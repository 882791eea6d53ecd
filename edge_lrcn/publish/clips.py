"""Event clips: each activity as a video file with pre-roll and post-roll, a JSON sidecar and a snapshot.

The daemon hands every frame to :meth:`ClipRecorder.frame` (cheap: a reference is queued, nothing is encoded on the
frame loop) and the activity events to :meth:`ClipRecorder.start_activity` / :meth:`ClipRecorder.end_activity`.
The writer thread (clipwriter.py) does everything else, each part in its own file: the bounded queue to it
(clipqueue.py), the pre-roll ring of JPEG frames (preroll.py), the open clips (clip.py; an activity that ends while
the next one starts has two clips open at once), the files (clipfiles.py: written under ``.partial/`` and renamed
into place, so a clip appears whole or not at all) and the disk budget (clipbudget.py: the oldest clips removed
first). A clip that cannot be written (read-only or full disk) is counted (``clips_failed``), logged once, and the
daemon streams on. Layout, sidecar fields and the disk budget: docs/clips.md.
"""

from __future__ import annotations

import logging
import threading

from ..config.sections import ClipsSettings
from .clip import FORMATS, ClipOrigin, clip_stem, fit_width, snapshot_jpeg
from .clipbudget import enforce_budget
from .clipfiles import PARTIAL, ClipIndex, atomic_write
from .clipqueue import QUEUE_FRAMES, ClipQueue, EndClip, StartClip, StopWriter
from .clipwriter import ClipWriter

# what other modules and the tests take from here (the recorder's parts, one per file since issue 30)
__all__ = ["FORMATS", "PARTIAL", "QUEUE_FRAMES", "ClipOrigin", "ClipRecorder", "atomic_write", "clip_stem",
           "enforce_budget", "fit_width", "snapshot_jpeg"]

log = logging.getLogger(__name__)


class ClipRecorder:
    """The frame loop's side of the clips: :meth:`frame`, :meth:`start_activity`, :meth:`end_activity`,
    :meth:`stats`, :meth:`close` put items on a bounded queue (clipqueue.py) and never wait for the disk; the writer
    thread (clipwriter.py) does the rest."""

    def __init__(self, settings: ClipsSettings, origin: ClipOrigin, start: bool = True):
        self.settings = settings
        self.origin = origin
        self.ext = FORMATS[settings.clips_format][1]
        self._stopping = threading.Event()  # SIGTERM: no more waiting for the disk, short pre-roll
        self.thread = threading.Thread(target=self._run, name="clip-writer", daemon=True)
        self.queue = ClipQueue(origin.live, settings.clips_fps, self._stopping, self.thread.is_alive)
        self.writer = ClipWriter(settings, origin, self.queue, self._stopping, self.thread.is_alive)
        self.writer.prepare_folder()
        if start:
            self.start()

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        self.writer.run()

    def frame(self, frame) -> None:
        """Queue a frame. Live source: dropped (and counted) when the queue is full. File: waits for room, as the
        frame reader does (the file's frames come as fast as the loop takes them; a clip must not lose them)."""
        self.queue.frame(frame)

    def start_activity(self, event: dict, snapshot: bytes | None, box=None) -> dict:
        """Queue a clip for this activity_start; the file names it will have (for the event). ``box``: the event's
        region (its sidecar records it, for ``dataset add`` to cut)."""
        stem = clip_stem(event)
        self.queue.put(StartClip(event, stem, snapshot, box))
        return {"clip": stem + self.ext, **({"snapshot": stem + ".jpg"} if snapshot else {})}

    def end_activity(self, event: dict) -> None:
        self.queue.put(EndClip(event))

    def interrupt(self) -> None:
        """The daemon is stopping (a signal handler may call this): the loop no longer waits for room, and a clip
        that starts now gets the last 5 s of pre-roll at most, so :meth:`close` is quick (the queue holds 32
        frames at most)."""
        self._stopping.set()

    def close(self, timeout: float) -> None:
        """Finish the queued frames and every open clip (post-roll cut short), waiting ``timeout`` s at most."""
        self.interrupt()
        self.queue.put(StopWriter())
        if self.thread.is_alive():
            self.thread.join(timeout)
        if self.thread.is_alive():
            log.warning("clip writer still busy after %.1f s at shutdown: %d clip(s) may be lost", timeout,
                        len(self.writer.open))

    @property
    def dropped(self) -> int:
        return self.queue.dropped

    @property
    def written(self) -> int:
        return self.writer.written

    @property
    def failed(self) -> int:
        return self.writer.failed

    @property
    def removed(self) -> int:
        return self.writer.files.removed

    @property
    def index(self) -> ClipIndex | None:
        return self.writer.files.index

    def stats(self) -> dict:
        return {"clips_written": self.written, "clips_failed": self.failed, "clips_dropped_frames": self.dropped,
                "clips_removed": self.removed}
