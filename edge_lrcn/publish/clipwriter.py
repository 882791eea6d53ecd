"""The clip writer thread's side of the recorder (clips.py): it takes the queue's items (clipqueue.py) one after the
other and does the work: JPEG frames into the pre-roll (preroll.py), the open clips (clip.py), the files and the
budget (clipbudget.py); a failure is counted (``clips_failed``) and logged once per kind."""

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
from .clip import JPEG_QUALITY, Clip, ClipOrigin, fit_width
from .clipbudget import ClipFolder
from .clipfiles import atomic_write
from .clipqueue import ClipQueue, EndClip, FrameItem, StartClip, StopWriter
from .preroll import Ring

log = logging.getLogger(__name__.rpartition(".")[0] + ".clips")  # the clips' one logger, as the docs name it


class ClipWriter:
    """Runs on the writer thread (:meth:`run`); ``alive()`` says whether that thread runs, ``stopping`` is set
    when the daemon stops (short pre-roll, no waiting)."""

    def __init__(self, settings: ClipsSettings, origin: ClipOrigin, queue: ClipQueue, stopping: threading.Event,
                 alive: Callable[[], bool]):
        self.settings = settings
        self.origin = origin
        self.queue = queue
        self.stopping = stopping
        self.alive = alive
        self.folder = Path(str(settings.clips_dir))
        self.files = ClipFolder(self.folder, settings.clips_max_mb * 1e6)
        self.failed = 0
        self.written = 0
        self.ring = Ring(settings.pre_roll + 0.5, settings.clips_buffer_mb * 1e6)
        self.open: list[Clip] = []
        self._size: tuple[int, int] | None = None
        self._problem = LogOnce(log)  # a failure logged once per kind until a clip is written again
        self._handlers: dict[type, Callable[[Any], None]] = {
            FrameItem: self._on_frame, StartClip: self._on_start, EndClip: self._on_end}

    def run(self) -> None:
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
            self.prepare_folder(raise_=True)
            self._budget(None)  # room for this clip on a disk that filled up: the oldest clips go
            if item.snapshot:
                atomic_write(self.folder / f"{stem}.jpg", item.snapshot)
                self.files.add(self.folder / f"{stem}.jpg")
            if self._size is None:
                raise OSError("no frame seen yet")
            fps = self.ring.fps(self.settings.clips_fps)
            clip = Clip(self.settings, self.origin, item.event, stem, self._size, fps, item.box)
        except OSError as exc:
            self._fail(f"clip {stem} not recorded: {exc}")
            return
        try:
            clip.copy_pre_roll(self.ring, self.settings.pre_roll, self.stopping)
        except OSError as exc:
            self._abandon(clip, f"clip {stem} not recorded: {exc}")
            return
        self.open.append(clip)

    def _abandon(self, clip: Clip, message: str) -> None:
        """A clip the full disk stopped: the next one gets room for twice what this one reached (oldest go)."""
        self.files.abandoned(clip.abandon())
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
                self.files.add(p)
            self.files.finished(clip.stem)
        except OSError as exc:
            # a clip dropped at its end (the disk too full to trust it): the next one gets room for twice its size,
            # as for a clip the full disk stopped midway (_abandon)
            self.files.abandoned(clip.lost_bytes)
            self._fail(f"clip {clip.name} not kept: {exc}")
            return
        self.written += 1
        if self._problem.clear():
            log.info("clips are written again (%s)", clip.name)
        self._budget(clip.stem)

    def _budget(self, newest: str | None) -> None:
        """The oldest clips go first; the newest and the open ones stay; room is kept for a clip like the last."""
        try:
            self.files.make_room(self.open, newest)
        except OSError as exc:
            self._fail(f"cannot apply the clips budget: {exc}")

    def prepare_folder(self, raise_: bool = False) -> None:
        """Create the folder and its .partial/ (at start: whose leftovers from a power cut are unplayable, removed)
        and read the folder's clips once for the disk budget."""
        try:
            self.files.prepare(clean=not self.open and not self.alive())
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
