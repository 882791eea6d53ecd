"""Event clips: each activity as a video file with pre-roll and post-roll, a JSON sidecar and a snapshot.

The daemon hands every frame to :meth:`ClipRecorder.frame` (cheap: a reference is queued, nothing is encoded on the
frame loop) and the activity events to :meth:`ClipRecorder.start_activity` / :meth:`ClipRecorder.end_activity`.
The writer thread does everything else: the pre-roll ring of JPEG frames (bounded by seconds and bytes), the open
clips (an activity that ends while the next one starts has two clips open at once), the video encoder, the files
(written under ``.partial/`` and renamed into place, so a clip appears whole or not at all) and the disk budget
(the oldest clips removed first). The queue to the writer is bounded: when the writer falls behind (a slow disk) on
a live source, frames are dropped and counted (``clips_dropped_frames``) and logged once; start, end and stop messages are never
dropped. A clip that cannot be written (read-only or full disk) is counted (``clips_failed``), logged once, and
the daemon streams on. Layout, sidecar fields and the disk budget: docs/clips.md.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..config.sections import ClipsSettings
from .clipfiles import PARTIAL, ClipIndex, atomic_write, clear, prepare_folder

log = logging.getLogger(__name__)

FORMATS = {"mp4": ("mp4v", ".mp4"), "webm": ("VP80", ".webm")}  # clips_format -> (fourcc, extension)
QUEUE_FRAMES = 32  # frames waiting for the writer (about 2 s at clips_fps 15) before new ones are dropped ...
QUEUE_BYTES = 16e6  # ... or fewer when they are large (640x480: 17 frames, 1280x720: 5)
MAX_CLIP_S = 600.0  # an activity longer than this is cut: a clip must end some day
JPEG_QUALITY = 85
STOPPING_PRE_ROLL_S = 5.0  # the pre-roll a clip started during a shutdown still gets (the default pre_roll)
MIN_FREE_BYTES = 256 * 1024  # a clip finished with less free space than this was probably cut short by a full disk


@dataclass(frozen=True)
class ClipOrigin:
    """What made the clips, written into each sidecar; ``live``: a live source's frames are dropped when the writer
    falls behind, a file's wait for it."""

    device: str = ""
    model: str = ""
    source: str = ""
    live: bool = True


def fit_width(pixels: np.ndarray, max_width: int) -> np.ndarray:
    """Scaled down to at most ``max_width`` wide, both sides even (what video encoders accept)."""
    h, w = pixels.shape[:2]
    if w > max_width:
        w, h = max_width, max(2, round(h * max_width / w))
    w, h = w - w % 2, h - h % 2
    if (w, h) != (pixels.shape[1], pixels.shape[0]):
        return cv2.resize(pixels, (w, h), interpolation=cv2.INTER_AREA)
    return pixels


def snapshot_jpeg(pixels: np.ndarray, max_width: int) -> bytes:
    ok, jpg = cv2.imencode(".jpg", fit_width(pixels, max_width), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return jpg.tobytes() if ok else b""


def clip_stem(event: dict) -> str:
    """``20261125T160041.123Z_fall``: the start time (UTC), the region if any (``..._door_fall``) and the label;
    sorts oldest first."""
    ts = re.sub(r"[-:]", "", event["ts"])
    where = [event["region"]] if event.get("region") else []
    return "_".join([ts, *(re.sub(r"[^A-Za-z0-9_-]+", "_", part) for part in [*where, event["label"]])])


def enforce_budget(index: ClipIndex, max_bytes: float, keep: set[str], free_bytes: float = 0,
                   open_bytes: int = 0) -> int:
    """Remove the oldest clips (video, sidecar and snapshot together) until the folder holds at most ``max_bytes``
    and the disk has ``free_bytes`` free (a disk that others filled); the clips named in ``keep`` stay. Only files
    named like clips are touched, from the index (no directory scan). Returns how many were removed."""
    total = index.total + open_bytes
    limit = min(max_bytes, total - (free_bytes - shutil.disk_usage(index.folder).free))
    removed = 0
    while total > limit:
        stem = index.remove_oldest(keep)
        if stem is None:
            break
        total = index.total + open_bytes
        removed += 1
        log.info("clips over their budget or the disk full: removed %s", stem)
    return removed


class Ring:
    """The pre-roll: JPEG frames of the last ``seconds``, at most ``max_bytes`` in all."""

    def __init__(self, seconds: float, max_bytes: float):
        self.seconds, self.max_bytes = seconds, max_bytes
        self.items: deque[tuple[float, np.ndarray]] = deque()
        self.bytes = 0

    def add(self, t: float, jpeg: np.ndarray) -> None:
        self.items.append((t, jpeg))
        self.bytes += jpeg.nbytes
        while self.items and (self.items[0][0] < t - self.seconds or self.bytes > self.max_bytes):
            self.bytes -= self.items.popleft()[1].nbytes

    def since(self, t0: float) -> list[tuple[float, np.ndarray]]:
        return [(t, j) for t, j in self.items if t >= t0 - 1e-6]

    def fps(self, default: float = 15.0) -> float:
        if len(self.items) < 2 or self.items[-1][0] <= self.items[0][0]:
            return default
        return min(120.0, (len(self.items) - 1) / (self.items[-1][0] - self.items[0][0]))


class Clip:
    """One clip being written: a constant-rate video (frames repeated or skipped to follow the timestamps)."""

    def __init__(self, settings: ClipsSettings, origin: ClipOrigin, event: dict, stem: str, size: tuple[int, int],
                 fps: float, box=None):
        fourcc, ext = FORMATS[settings.clips_format]
        self.settings = settings
        self.origin = origin
        self.folder = Path(str(settings.clips_dir))
        self.stem = stem
        self.size = size
        self.fps = fps
        self.name = stem + ext
        self.tmp = self.folder / PARTIAL / self.name
        clear(self.tmp)  # the encoder opens the name as it finds it: nothing planted there is followed
        self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*fourcc), fps, size)
        if not self.writer.isOpened():
            clear(self.tmp)
            raise OSError(f"cannot create {self.tmp} ({settings.clips_format}: is the folder writable, the codec "
                          f"available?)")
        self.start_t, self.end_t = float(event["t"]), None
        self.t0: float | None = None
        self.t1 = self.start_t
        self.frames = 0
        self.meta = {"label": event["label"], "model": event.get("model"),  # the model that made the event
                     "confidence": event.get("confidence"), "peak": event.get("confidence"),
                     "start": event["ts"], "end": None, "t_start": event["t"], "t_end": None}
        if event.get("region"):  # the region's box: what `dataset add` cuts from the clip
            self.meta.update(region=event["region"], box=list(box) if box else None)

    def copy_pre_roll(self, ring: Ring, seconds: float, stopping: threading.Event) -> None:
        """The ring's frames of the ``seconds`` before the start; once ``stopping``, the last 5 s at most (the
        shutdown has a budget)."""
        for t, jpg in ring.since(self.start_t - seconds):
            if not (stopping.is_set() and t < self.start_t - STOPPING_PRE_ROLL_S):
                self.write(t, cv2.imdecode(jpg, cv2.IMREAD_COLOR))

    def matches(self, event: dict) -> bool:
        """Whether ``event`` (an activity_end) ends this clip: still open, same label, same region."""
        return self.end_t is None and self.meta["label"] == event["label"] \
            and self.meta.get("region") == event.get("region")

    def write(self, t: float, pixels: np.ndarray) -> None:
        """Add a frame; OSError when the disk is (nearly) full: the encoder would fail silently, frame by frame."""
        if shutil.disk_usage(self.folder).free < MIN_FREE_BYTES:
            raise OSError(f"{self.name}: the disk is full")
        if pixels.shape[1::-1] != self.size:
            pixels = cv2.resize(pixels, self.size, interpolation=cv2.INTER_AREA)
        if self.t0 is None:
            self.t0 = t
        n = round((t - self.t0) * self.fps) + 1 - self.frames  # copies that keep the video on the source's time
        if n > self.fps:  # a gap of over a second (a camera that stalled): one copy, and the clock moves on
            self.t0 += (n - 1) / self.fps
            n = 1
        for _ in range(max(0, n)):
            self.writer.write(pixels)
            self.frames += 1
        self.t1 = t

    def due(self, t: float) -> bool:
        if self.end_t is not None:
            return t > self.end_t + self.settings.post_roll + 1e-6
        return t - self.start_t > MAX_CLIP_S

    def end(self, event: dict) -> None:
        self.end_t = float(event["t"])
        self.meta.update(end=event["ts"], t_end=event["t"], peak=event.get("peak_confidence", self.meta["peak"]))
        if event.get("reason"):
            self.meta["end_reason"] = event["reason"]

    def abandon(self) -> int:
        """Drop the clip (the disk filled up); the bytes it had reached."""
        self.writer.release()
        size = self.bytes
        clear(self.tmp)
        return size

    @property
    def bytes(self) -> int:
        try:
            return os.lstat(self.tmp).st_size
        except OSError:
            return 0

    def finish(self, reason: str | None) -> list[Path]:
        """Close the video, write the sidecar, rename both into place; OSError when the disk failed us."""
        self.writer.release()
        folder = self.folder
        try:
            if not self.frames:
                raise OSError(f"{self.name}: no frame was written")
            if shutil.disk_usage(folder).free < MIN_FREE_BYTES:
                raise OSError(f"{self.name}: the disk is full (the video would be cut short)")
            o, s = self.origin, self.settings
            meta = {**self.meta, "clip": self.name, "snapshot": f"{self.stem}.jpg",
                    "model": self.meta.get("model") or o.model,
                    "device": o.device, "source": o.source, "frames": self.frames, "fps": round(self.fps, 3),
                    "width": self.size[0], "height": self.size[1], "duration_s": round(self.frames / self.fps, 3),
                    "pre_roll_s": s.pre_roll, "post_roll_s": s.post_roll, "t_first": self.t0, "t_last": self.t1,
                    **({"closed_by": reason} if reason else {})}
            os.replace(self.tmp, folder / self.name)
            atomic_write(folder / f"{self.stem}.json", (json.dumps(meta, indent=1) + "\n").encode())
        except OSError:
            clear(self.tmp)
            raise
        return [folder / self.name, folder / f"{self.stem}.json"]


class FpsCap:
    """The clips' frame rate cap (``fps``; 0: every frame), by timestamp: a frame before its slot is skipped (a
    clock that went back restarts)."""

    def __init__(self, fps: float):
        self._dt, self._next_t = 1.0 / fps if fps else 0.0, None

    def keep(self, t: float) -> bool:
        if not self._dt:
            return True
        nxt = self._next_t
        if nxt is not None and t + 0.002 < nxt and t > nxt - 2 * self._dt:
            return False
        self._next_t = nxt + self._dt if nxt is not None and 0 <= t - nxt < self._dt else t + self._dt
        return True


class ClipRecorder:
    """The clip writer thread and its bounded queue. Frame loop side: :meth:`frame`, :meth:`start_activity`,
    :meth:`end_activity`, :meth:`stats`, :meth:`close`; everything else runs on the writer thread."""

    def __init__(self, settings: ClipsSettings, origin: ClipOrigin, start: bool = True):
        self.settings = settings
        self.origin = origin
        self.folder = Path(str(settings.clips_dir))
        self.ext = FORMATS[settings.clips_format][1]
        self._q: deque = deque()
        self._cv = threading.Condition()
        self._queued_frames = self._queued_bytes = 0
        self._wanted = FpsCap(settings.clips_fps)
        self.dropped = self.failed = self.written = self.removed = 0
        self.ring = Ring(settings.pre_roll + 0.5, settings.clips_buffer_mb * 1e6)
        self.open: list[Clip] = []
        self._size: tuple[int, int] | None = None
        self._last_error: str | None = None
        self._last_bytes = MIN_FREE_BYTES  # size of the last clip written: the room a new one probably needs
        self.thread = threading.Thread(target=self._run, name="clip-writer", daemon=True)
        self.index: ClipIndex | None = None
        self._stopping = threading.Event()  # SIGTERM: no more waiting for the disk, short pre-roll
        self._prepare_folder()
        if start:
            self.start()

    def start(self) -> None:
        self.thread.start()

    # ---- the frame loop's side: never waits for the disk ---------------------------------------------------------
    def frame(self, frame) -> None:
        """Queue a frame. Live source: dropped (and counted) when the queue is full. File: waits for room, as the
        frame reader does (the file's frames come as fast as the loop takes them; a clip must not lose them)."""
        if not self._wanted.keep(frame.t):
            return
        with self._cv:
            stopping = self._stopping
            while not self.origin.live and self._full(frame) and self.thread.is_alive() and not stopping.is_set():
                self._cv.wait(0.5)
            if self._full(frame):
                self.dropped += 1
                if self.dropped == 1:
                    log.warning("clip writer falling behind (slow disk?): frames dropped from clips; the count is "
                                "clips_dropped_frames in the stats")
                return
            self._queued_frames += 1
            self._queued_bytes += frame.pixels.nbytes
            self._q.append(("frame", frame))
            self._cv.notify()

    def _full(self, frame) -> bool:
        return self._queued_frames >= QUEUE_FRAMES or (
            self._queued_frames > 0 and self._queued_bytes + frame.pixels.nbytes > QUEUE_BYTES)

    def start_activity(self, event: dict, snapshot: bytes | None, box=None) -> dict:
        """Queue a clip for this activity_start; the file names it will have (for the event). ``box``: the event's
        region (its sidecar records it, for ``dataset add`` to cut)."""
        stem = clip_stem(event)
        self._put(("start", event, stem, snapshot, box))
        return {"clip": stem + self.ext, **({"snapshot": stem + ".jpg"} if snapshot else {})}

    def end_activity(self, event: dict) -> None:
        self._put(("end", event))

    def interrupt(self) -> None:
        """The daemon is stopping (a signal handler may call this): the loop no longer waits for room, and a clip
        that starts now gets the last 5 s of pre-roll at most, so :meth:`close` is quick (the queue holds 32
        frames at most)."""
        self._stopping.set()

    def close(self, timeout: float) -> None:
        """Finish the queued frames and every open clip (post-roll cut short), waiting ``timeout`` s at most."""
        self.interrupt()
        self._put(("stop",))
        if self.thread.is_alive():
            self.thread.join(timeout)
        if self.thread.is_alive():
            log.warning("clip writer still busy after %.1f s at shutdown: %d clip(s) may be lost", timeout,
                        len(self.open))

    def stats(self) -> dict:
        return {"clips_written": self.written, "clips_failed": self.failed, "clips_dropped_frames": self.dropped,
                "clips_removed": self.removed}

    def _put(self, item) -> None:
        with self._cv:
            self._q.append(item)
            self._cv.notify()

    # ---- the writer thread ---------------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._q:
                    self._cv.wait()
                item = self._q.popleft()
                if item[0] == "frame":
                    self._queued_frames -= 1
                    self._queued_bytes -= item[1].pixels.nbytes
                    self._cv.notify_all()
            if item[0] == "stop":
                for clip in list(self.open):
                    self._finish(clip, "shutdown")
                return
            try:
                getattr(self, "_on_" + item[0])(*item[1:])
            except Exception:  # a bug here must cost clips, never the writer thread (the queue would fill for good)
                log.exception("clip writer: %s failed", item[0])

    def _on_frame(self, frame) -> None:
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

    def _on_start(self, event: dict, stem: str, snapshot: bytes | None, box=None) -> None:
        try:
            self._prepare_folder(raise_=True)
            self._budget(None)  # room for this clip on a disk that filled up: the oldest clips go
            if snapshot:
                atomic_write(self.folder / f"{stem}.jpg", snapshot)
                self.index.add(self.folder / f"{stem}.jpg")
            if self._size is None:
                raise OSError("no frame seen yet")
            clip = Clip(self.settings, self.origin, event, stem, self._size, self.ring.fps(), box)
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

    def _on_end(self, event: dict) -> None:
        for clip in self.open:
            if clip.matches(event):
                clip.end(event)

    def _finish(self, clip: Clip, reason: str | None) -> None:
        self.open.remove(clip)
        try:
            paths = clip.finish(reason)
            for p in paths:
                self.index.add(p)
            self._last_bytes = sum(self.index.sizes.get(clip.stem, {}).values())
        except OSError as exc:
            self._fail(f"clip {clip.name} not kept: {exc}")
            return
        self.written += 1
        if self._last_error:
            log.info("clips are written again (%s)", clip.name)
            self._last_error = None
        self._budget(clip.stem)

    def _budget(self, newest: str | None) -> None:
        """The oldest clips go first; the newest and the open ones stay; room is kept for a clip like the last."""
        try:
            keep = {c.stem for c in self.open} | {newest}
            self.removed += enforce_budget(self.index, self.settings.clips_max_mb * 1e6, keep,
                                           MIN_FREE_BYTES + self._last_bytes, sum(c.bytes for c in self.open))
        except OSError as exc:
            self._fail(f"cannot apply the clips budget: {exc}")

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
        if kind != self._last_error:
            log.warning("%s (the daemon streams on; later failures like this one are counted in clips_failed)",
                        message)
            self._last_error = kind
