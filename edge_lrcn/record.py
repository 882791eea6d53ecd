"""``edge-lrcn record`` and ``edge-lrcn dataset add``: a training set built on the device, in the layout ``convert``
reads (``DATA/<label>/<clip>``), from a camera (any source kind), or (``DATA/<label>/<day>-<camera>/<clip>``,
edge_lrcn/dataset.py) from the clips the daemon saved (docs/clips.md).

Every file is written under ``DATA/.partial/`` (a hidden folder: ``convert`` skips it) and renamed into its class
folder, so an interrupted recording never leaves half a clip in the dataset.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from .capture.sources import Source, SourceReadError, open_source
from .dataset import add_clip, check_label, clip_and_meta, free_name
from .errors import SourceError, UsageError
from .publish.clips import FORMATS, PARTIAL

log = logging.getLogger(__name__)
MAX_SECONDS = 120.0


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


def write_video(path: Path, jpegs: list[np.ndarray], fps: float, fmt: str, data: Path | None = None) -> None:
    """Write the frames as a video under DATA/.partial/ and rename it to ``path`` (``DATA/<label>/`` unless the
    dataset folder ``data`` is given)."""
    tmp = (data or path.parent.parent) / PARTIAL / path.name
    first = cv2.imdecode(jpegs[0], cv2.IMREAD_COLOR)
    h, w = first.shape[:2]
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*FORMATS[fmt][0]), fps, (w - w % 2, h - h % 2))
    if not writer.isOpened():
        raise UsageError(f"cannot write {tmp} (is {path.parent.parent} writable?)")
    try:
        for jpg in jpegs:
            writer.write(cv2.imdecode(jpg, cv2.IMREAD_COLOR)[: h - h % 2, : w - w % 2])
    finally:
        writer.release()
    os.replace(tmp, path)


def record_command(args) -> int:
    label = check_label(args.label)
    if not 0 < args.seconds <= MAX_SECONDS or args.count < 1 or args.interval < 0:
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


def dataset_add_command(args) -> int:
    """Copy a clip the daemon saved (or any video) into ``DATA/<label>/<day>-<camera>/``; the label defaults to its
    sidecar's (edge_lrcn/dataset.py: the page labels clips with the same function)."""
    clip, meta = clip_and_meta(Path(args.clip))
    label = args.label or meta.get("label", "")
    dest = add_clip(clip, label, Path(args.data), meta)
    note = f" (the model said {meta['label']})" if meta.get("label") and meta["label"] != label else ""
    print(f"added {dest}{note}")
    return 0
