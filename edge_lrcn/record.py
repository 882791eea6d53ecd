"""``edge-lrcn record`` and ``edge-lrcn dataset add``: a training set built on the device, in the layout ``convert``
reads (``DATA/<label>/<clip>``), from a camera (any source kind) or from the clips the daemon saved (docs/clips.md).

Every file is written under ``DATA/.partial/`` (a hidden folder: ``convert`` skips it) and renamed into its class
folder, so an interrupted recording never leaves half a clip in the dataset.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from .capture.sources import VIDEO_EXTENSIONS, Source, SourceReadError, open_source
from .errors import SourceError, UsageError
from .fleet.protocol import json_object
from .logsafe import quote
from .publish.clipfiles import PARTIAL, clear
from .publish.clips import FORMATS

log = logging.getLogger(__name__)
LABEL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
MAX_SECONDS = 120.0
SIDECAR_MAX = 64 * 1024


def check_label(label: str) -> str:
    if not LABEL_RE.fullmatch(label or ""):
        raise UsageError(f"bad label {label!r}: use letters, digits, '_', '-' and '.' (it names a folder)")
    return label


def free_name(folder: Path, stem: str, ext: str) -> Path:
    path, n = folder / f"{stem}{ext}", 2
    while path.exists():
        path, n = folder / f"{stem}-{n}{ext}", n + 1
    return path


def _say(text: str, end: str = "\n") -> None:
    print(text, end=end, file=sys.stderr, flush=True)


def _read(source: Source):
    try:
        return source.read()
    except SourceReadError as exc:
        raise SourceError(f"{source.description} stopped delivering frames: {exc}") from None


def _countdown(source: Source, seconds: float, what: str) -> None:
    """Wait ``seconds`` before the next clip, saying so each second; a live camera is read meanwhile (its buffer
    must not hold stale frames when the recording starts)."""
    end = time.monotonic() + seconds
    shown = None
    while (left := end - time.monotonic()) > 0:
        if shown != int(left) + 1:
            shown = int(left) + 1
            _say(f"{what} in {shown}...")
        _read(source)


def _grab(source: Source, seconds: float, skip: float, first=None) -> tuple[list[np.ndarray], list[float], object]:
    """The frames of one clip as JPEG: ``skip`` seconds of source time dropped (a file's interval), then
    ``seconds`` of it. Returns (jpegs, timestamps, the first frame after the clip or None at the end)."""
    frame = first or _read(source)
    if frame is not None and skip > 0:
        t_skip = frame.t + skip
        while frame is not None and frame.t < t_skip - 1e-6:
            frame = _read(source)
    jpegs, times = [], []
    t0 = frame.t if frame is not None else 0.0
    while frame is not None and frame.t < t0 + seconds - 1e-6:
        jpegs.append(cv2.imencode(".jpg", frame.pixels, [cv2.IMWRITE_JPEG_QUALITY, 92])[1])
        times.append(frame.t)
        frame = _read(source)
        if source.live:
            _say(f"\r  {frame.t - t0 if frame else seconds:4.1f} / {seconds:g} s", end="")
    if source.live:
        _say("")
    return jpegs, times, frame


def decoded_frames(path: Path) -> int:
    """How many frames of the video at ``path`` decode (0 for a file no decoder opens)."""
    cap = cv2.VideoCapture(str(path))
    n = 0
    try:
        while cap.isOpened() and cap.grab():
            n += 1
    finally:
        cap.release()
    return n


def check_clip(path: Path, expected: int | None, what: str) -> int:
    """A clip enters a dataset only when its frames decode and, with ``expected``, are that many: the frame count,
    or a UsageError that says why not (a disk that filled up, a cut file)."""
    n = decoded_frames(path)
    if n == 0 or (expected is not None and n != expected):
        free = shutil.disk_usage(path.parent).free
        why = f"the disk is full ({free // 1024} kB free)" if free < 1024 * 1024 else "the file is damaged"
        got = "not a video OpenCV can decode" if n == 0 else f"{n} of its {expected} frames decode"
        raise UsageError(f"{what}: {got} ({why}); nothing was added")
    return n


def write_video(path: Path, jpegs: list[np.ndarray], fps: float, fmt: str) -> None:
    """Write the frames as a video under DATA/.partial/, check that every frame decodes back, and only then rename
    it to ``path``: a clip cut short (a full disk: the encoder fails without a word) never enters the dataset."""
    tmp = path.parent.parent / PARTIAL / path.name
    first = cv2.imdecode(jpegs[0], cv2.IMREAD_COLOR)
    h, w = first.shape[:2]
    clear(tmp)
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*FORMATS[fmt][0]), fps, (w - w % 2, h - h % 2))
    if not writer.isOpened():
        clear(tmp)
        free = shutil.disk_usage(tmp.parent).free
        why = f"the disk is full ({free // 1024} kB free)" if free < 1024 * 1024 else \
            f"is {path.parent.parent} writable?"
        raise UsageError(f"cannot record {path}: cannot write {tmp} ({why}); nothing was added")
    try:
        try:
            for jpg in jpegs:
                writer.write(cv2.imdecode(jpg, cv2.IMREAD_COLOR)[: h - h % 2, : w - w % 2])
        finally:
            writer.release()
        check_clip(tmp, len(jpegs), f"cannot record {path}")
        os.replace(tmp, path)
    except OSError as exc:
        raise UsageError(f"cannot record {path}: {exc.strerror or exc}; nothing was added") from None
    finally:
        clear(tmp)


def record_command(args) -> int:
    label = check_label(args.label)
    if not (0 < args.seconds <= MAX_SECONDS and args.count >= 1 and math.isfinite(args.interval)
            and args.interval >= 0):
        raise UsageError(f"--seconds must be in (0, {MAX_SECONDS:g}], --count at least 1, --interval at least 0")
    folder = Path(args.out) / label
    source = open_source(args.source, size=(args.width, args.height), fps=args.fps)
    saved, frame = [], None
    try:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (Path(args.out) / PARTIAL).mkdir(exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create {folder}: {exc.strerror or exc}") from None
        for i in range(args.count):
            what = f"recording {label} {i + 1}/{args.count} ({args.seconds:g} s)"
            if source.live:
                _countdown(source, args.interval if i else max(args.interval, 3.0), what)
                _say(f"{what}: now")
                frame = None
            jpegs, times, frame = _grab(source, args.seconds, args.interval if i and not source.live else 0, frame)
            span = times[-1] - times[0] if len(times) > 1 else 0.0
            if not jpegs or span + (span / max(1, len(times) - 1)) < args.seconds - 1e-3:
                _say(f"the source ended: {len(saved)} of {args.count} clips recorded")
                break
            fps = getattr(source, "fps", None) or (len(times) - 1) / span
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%f")[:-3] + "Z"
            path = free_name(folder, stamp, FORMATS[args.format][1])
            write_video(path, jpegs, fps, args.format)
            saved.append(path)
            _say(f"saved {path} ({len(jpegs)} frames, {fps:.3g} fps)")
    finally:
        source.close()
    if not saved:
        raise SourceError(f"{source.description} gave less than {args.seconds:g} s of video: nothing recorded")
    print(json.dumps({"label": label, "clips": [str(p) for p in saved]}))
    return 0


def read_sidecar(sidecar: Path) -> dict:
    """A clip's sidecar, checked: a JSON object whose ``clip`` is a file name in its folder and whose ``label`` is
    text; UsageError naming what is wrong."""
    try:
        meta = json_object(sidecar.read_bytes()[:SIDECAR_MAX + 1], f"the sidecar {sidecar}", SIDECAR_MAX, 4)
    except OSError as exc:
        raise UsageError(f"cannot read the sidecar {sidecar}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if meta.get("lost"):
        raise UsageError(f"the sidecar {sidecar} says: {quote(meta['lost'], 120)}")
    clip, label = meta.get("clip"), meta.get("label", "")
    if not isinstance(clip, str) or not clip or clip != Path(clip).name or clip in (".", ".."):
        raise UsageError(f"the sidecar {sidecar}: 'clip' must be the video's file name in the same folder, got "
                         f"{quote(clip)}")
    if not isinstance(label, str):
        raise UsageError(f"the sidecar {sidecar}: 'label' must be text, got {quote(label)}")
    return meta


def dataset_add_command(args) -> int:
    """Copy a clip the daemon saved (or any video) into ``DATA/<label>/``; the label defaults to its sidecar's."""
    clip, data = Path(args.clip), Path(args.data)
    if data.exists() and not data.is_dir():
        raise UsageError(f"--data {data} is a file, not a dataset folder")
    sidecar = clip if clip.suffix == ".json" else clip.with_suffix(".json")
    meta = read_sidecar(sidecar) if sidecar.is_file() else {}
    clip = sidecar.with_name(meta["clip"]) if clip.suffix == ".json" and meta else clip
    if not clip.is_file():
        raise UsageError(f"clip not found: {clip}")
    label = check_label(args.label or meta.get("label", ""))
    if clip.suffix.lower() not in VIDEO_EXTENSIONS:
        raise UsageError(f"{clip} is not a video: convert reads {', '.join(VIDEO_EXTENSIONS)}")
    frames = meta.get("frames") if isinstance(meta.get("frames"), int) else None
    check_clip(clip, frames, f"cannot add {clip}")
    dest = free_name(data / label, clip.stem, clip.suffix)
    _copy_in(clip, dest, data)
    note = f" (the model said {meta['label']})" if meta.get("label") and meta["label"] != label else ""
    print(f"added {dest}{note}")
    return 0


def _copy_in(clip: Path, dest: Path, data: Path) -> None:
    """Copied under ``DATA/.partial/``, checked whole, renamed into the class folder."""
    tmp = data / PARTIAL / dest.name
    try:
        tmp.parent.mkdir(parents=True, exist_ok=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        clear(tmp)
        shutil.copyfile(clip, tmp)
        if tmp.stat().st_size != clip.stat().st_size:
            raise OSError(f"the copy is {tmp.stat().st_size} bytes of {clip.stat().st_size}")
        os.replace(tmp, dest)
    except OSError as exc:
        raise UsageError(f"cannot add {clip} to {data}: {exc.strerror or exc}; nothing was added") from None
    finally:
        clear(tmp)
