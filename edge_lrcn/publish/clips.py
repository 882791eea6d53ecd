"""Event clips: each activity as a video file with pre-roll and post-roll, a JSON sidecar and a snapshot.

The daemon hands every frame to :meth:`ClipRecorder.frame` (cheap: a reference is queued, nothing is encoded on the
frame loop) and the activity events to :meth:`ClipRecorder.start_activity` / :meth:`ClipRecorder.end_activity`.
The writer thread does everything else, each part in its own file: the bounded queue to it (clipqueue.py), the
pre-roll ring of JPEG frames (preroll.py), the open clips (clip.py; an activity that ends while the next one starts
has two clips open at once), the files (clipfiles.py: written under ``.partial/`` and renamed into place, so a clip
appears whole or not at all) and the disk budget (clipbudget.py: the oldest clips removed first). A clip that
cannot be written (read-only or full disk) is counted (``clips_failed``), logged once, and the daemon streams on.
Layout, sidecar fields and the disk budget: docs/clips.md.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2

from ..config.sections import ClipsSettings
from ..logsafe import LogOnce
from .clip import FORMATS, JPEG_QUALITY, MIN_FREE_BYTES, Clip, ClipOrigin, clip_stem, fit_width, snapshot_jpeg
from .clipbudget import enforce_budget
from .clipfiles import PARTIAL, ClipIndex, atomic_write, prepare_folder
from .clipqueue import QUEUE_FRAMES, ClipQueue, EndClip, FrameItem, StartClip, StopWriter
from .preroll import Ring

# what other modules and the tests take from here (the recorder's parts, one per file since issue 30)
__all__ = ["FORMATS", "PARTIAL", "QUEUE_FRAMES", "ClipOrigin", "ClipRecorder", "atomic_write", "clip_stem",
           "enforce_budget", "fit_width", "snapshot_jpeg"]

log = logging.getLogger(__name__)


class ClipRecorder:
    """The clip writer thread and its bounded queue. Frame loop side: :meth:`frame`, :meth:`start_activity`,
    :meth:`end_activity`, :meth:`stats`, :meth:`close`; everything else runs on the writer thread."""

    def __init__(self, settings: ClipsSettings, origin: ClipOrigin, start: bool = True):
        self.settings = settings
        self.origin = origin
        self.folder = Path(str(settings.clips_dir))
        self.ext = FORMATS[settings.clips_format][1]
        self.failed = 0
        self.written = 0
        self.removed = 0
        self.ring = Ring(settings.pre_roll + 0.5, settings.clips_buffer_mb * 1e6)
        self.open: list[Clip] = []
        self._size: tuple[int, int] | None = None
        self._problem = LogOnce(log)  # a failure logged once per kind until a clip is written again
        self._last_bytes = MIN_FREE_BYTES  # size of the last clip written: the room a new one probably needs
        self.thread = threading.Thread(target=self._run, name="clip-writer", daemon=True)
        self.index: ClipIndex | None = None
        self._stopping = threading.Event()  # SIGTERM: no more waiting for the disk, short pre-roll
        self.queue = ClipQueue(origin.live, settings.clips_fps, self._stopping, self.thread.is_alive)
        self._handlers: dict[type, Callable[[Any], None]] = {
            FrameItem: self._on_frame, StartClip: self._on_start, EndClip: self._on_end}
        self._prepare_folder()
        if start:
            self.start()

    def start(self) -> None:
        self.thread.start()

    # ---- the frame loop's side: never waits for the disk ---------------------------------------------------------
    def frame(self, frame) -> None:
        """Queue a frame. Live source: dropped (and counted) when the queue is full. File: waits for room, as the
        frame reader does (the file's frames come as fast as the loop takes them; a clip must not lose them)."""
        self.queue.frame(frame)

    @property
    def dropped(self) -> int:
        return self.queue.dropped

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
                        len(self.open))

    def stats(self) -> dict:
        return {"clips_written": self.written, "clips_failed": self.failed, "clips_dropped_frames": self.dropped,
                "clips_removed": self.removed}

    # ---- the writer thread ---------------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self.queue.take()
            if isinstance(item, StopWriter):
                for clip in list(self.open):
                    self._finish(clip, "shutdown")
                return
            try:
                self._handlers[type(item)](item)
            except Exception:  # a bug here must cost clips, never the writer thread (the queue would fill for good)
                log.exception("clip writer: %s failed", type(item).__name__)

    def _on_frame(self, item: FrameItem) -> None:
        frame = item.frame
        pixels = fit_width(frame.pixels, self.settings.clips_max_width)
        self._size = (pixels.shape[1], pixels.shape[0])
        ok, jpg = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if ok:
            self.ring.add(frame.t, jpg)
        for clip in list(self.open):
            if clip.due(frame.t):
                self._finish(clip, None if clip.end_t is not None else "max_length")
                continue
            try:
                clip.write(frame.t, pixels)
            except OSError as exc:
                self.open.remove(clip)
                self._abandon(clip, f"clip {clip.name} not kept: {exc}")

    def _on_start(self, item: StartClip) -> None:
        stem = item.stem
        try:
            self._prepare_folder(raise_=True)
            self._budget(None)  # room for this clip on a disk that filled up: the oldest clips go
            if item.snapshot:
                atomic_write(self.folder / f"{stem}.jpg", item.snapshot)
                self._index().add(self.folder / f"{stem}.jpg")
            if self._size is None:
                raise OSError("no frame seen yet")
            clip = Clip(self.settings, self.origin, item.event, stem, self._size, self.ring.fps(), item.box)
        except OSError as exc:
            self._fail(f"clip {stem} not recorded: {exc}")
            return
        try:
            clip.copy_pre_roll(self.ring, self.settings.pre_roll, self._stopping)
        except OSError as exc:
            self._abandon(clip, f"clip {stem} not recorded: {exc}")
            return
        self.open.append(clip)

    def _abandon(self, clip: Clip, message: str) -> None:
        """A clip the full disk stopped: the next one gets room for twice what this one reached (oldest go)."""
        self._last_bytes = max(self._last_bytes, 2 * clip.abandon())
        self._fail(message)

    def _on_end(self, item: EndClip) -> None:
        for clip in self.open:
            if clip.matches(item.event):
                clip.end(item.event)

    def _finish(self, clip: Clip, reason: str | None) -> None:
        self.open.remove(clip)
        try:
            paths = clip.finish(reason)
            for p in paths:
                self._index().add(p)
            self._last_bytes = sum(self._index().sizes.get(clip.stem, {}).values())
        except OSError as exc:
            self._fail(f"clip {clip.name} not kept: {exc}")
            return
        self.written += 1
        if self._problem.clear():
            log.info("clips are written again (%s)", clip.name)
        self._budget(clip.stem)

    def _budget(self, newest: str | None) -> None:
        """The oldest clips go first; the newest and the open ones stay; room is kept for a clip like the last."""
        try:
            keep = {c.stem for c in self.open} | ({newest} if newest else set())
            self.removed += enforce_budget(self._index(), self.settings.clips_max_mb * 1e6, keep,
                                           MIN_FREE_BYTES + self._last_bytes, sum(c.bytes for c in self.open))
        except OSError as exc:
            self._fail(f"cannot apply the clips budget: {exc}")

    def _index(self) -> ClipIndex:
        """The folder's clips; OSError while the folder could not be read (the failure is counted by the caller)."""
        if self.index is None:
            raise OSError(f"clips folder {self.folder} not readable")
        return self.index

    def _prepare_folder(self, raise_: bool = False) -> None:
        """Create the folder and its .partial/ (at start: whose leftovers from a power cut are unplayable, removed)
        and read the folder's clips once for the disk budget."""
        try:
            prepare_folder(self.folder, clean=not self.open and not self.thread.is_alive())
            if self.index is None:
                self.index = ClipIndex(self.folder)
        except OSError as exc:
            if raise_:
                raise
            self._fail(f"clips folder {self.folder} unusable: {exc.strerror or exc}")

    def _fail(self, message: str) -> None:
        """Count a failure; log it once per kind of failure (a read-only disk must not flood the log)."""
        self.failed += 1
        kind = re.sub(r"\d{8}T\d{6}\.\d{3}Z_[A-Za-z0-9_-]+\.?\w*", "*", message)
        self._problem.warning(kind, "%s (the daemon streams on; later failures like this one are counted in "
                              "clips_failed)", message)
