"""One clip being written: a constant-rate video of an activity with its pre-roll and post-roll, under
``.partial/`` until it is finished, then renamed into place with its JSON sidecar; its name (:func:`clip_stem`), its
frames' size (:func:`fit_width`) and the event's snapshot (:func:`snapshot_jpeg`). Layout and sidecar fields:
docs/clips.md."""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..config.sections import ClipsSettings
from ..util.files import clear
from .clipfiles import PARTIAL, atomic_write
from .preroll import Ring

FORMATS = {"mp4": ("mp4v", ".mp4"), "webm": ("VP80", ".webm")}  # clips_format -> (fourcc, extension)
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
        self.lost_bytes = 0  # the video's size when finishing it failed
        self.name = stem + ext
        self.tmp = self.folder / PARTIAL / self.name
        clear(self.tmp)  # the encoder opens the name as it finds it: nothing planted there is followed
        self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter.fourcc(*fourcc), fps, size)
        if not self.writer.isOpened():
            clear(self.tmp)
            raise OSError(f"cannot create {self.tmp} ({settings.clips_format}: is the folder writable, the codec "
                          f"available?)")
        self.start_t = float(event["t"])
        self.end_t: float | None = None
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
                pixels = cv2.imdecode(jpg, cv2.IMREAD_COLOR)
                if pixels is not None:  # the ring's own JPEG: always decodes
                    self.write(t, pixels)

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
            self.lost_bytes = self.bytes  # what the disk would have had to hold (ClipWriter makes room for it)
            clear(self.tmp)
            raise
        return [folder / self.name, folder / f"{self.stem}.json"]
