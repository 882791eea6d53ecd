"""``edge-lrcn record`` and ``edge-lrcn dataset add``: a training set built on the device, in the layout ``convert``
reads (``DATA/<label>/<clip>``), from a camera (any source kind), or (``DATA/<label>/<day>-<camera>/<clip>``,
edge_lrcn/dataset.py) from the clips the daemon saved (docs/clips.md).

With a region (``--region``, or the region a daemon clip's sidecar names) both write the region's crop, cut by the
daemon's own function (classify/preprocess.py ``crop_box``): the training clips are what the device will see.

Every file is written under ``DATA/.partial/`` (a hidden folder: ``convert`` skips it) and renamed into its class
folder, so an interrupted recording never leaves half a clip in the dataset.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from .capture.sources import Source, SourceReadError, open_source
from .classify.preprocess import crop_box
from .dataset import add_clip, check_label, clip_and_meta, free_name, parse_box, sidecar_box, write_frames
from .errors import SourceError, UsageError
from .progress import Progress
from .publish.clipfiles import PARTIAL
from .publish.clips import FORMATS

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


def _grab(source: Source, seconds: float, skip: float, first=None, box=None) \
        -> tuple[list[np.ndarray], list[float], object]:
    """The frames of one clip as JPEG (``box``: the region's crop): ``skip`` seconds of source time dropped (a
    file's interval), then ``seconds`` of it. Returns (jpegs, timestamps, the first frame after the clip or None
    at the end)."""
    frame = first or _read(source)
    if frame is not None and skip > 0:
        t_skip = frame.t + skip
        while frame is not None and frame.t < t_skip - 1e-6:
            frame = _read(source)
    jpegs, times = [], []
    t0 = frame.t if frame is not None else 0.0
    bar, shown = Progress(seconds, "  clip", enabled=source.live, unit="s"), 0.0  # a terminal only
    while frame is not None and frame.t < t0 + seconds - 1e-6:
        jpegs.append(cv2.imencode(".jpg", crop_box(frame.pixels, box), [cv2.IMWRITE_JPEG_QUALITY, 92])[1])
        times.append(frame.t)
        frame = _read(source)
        done = min(frame.t - t0, seconds) if frame else seconds
        bar.update(done - shown)
        shown = done
    bar.close()
    return jpegs, times, frame


def write_video(path: Path, jpegs: list[np.ndarray], fps: float, fmt: str, data: Path | None = None) -> None:
    """Write the frames as a video under DATA/.partial/ and rename it to ``path`` (``DATA/<label>/`` unless the
    dataset folder ``data`` is given)."""
    write_frames(path, (cv2.imdecode(jpg, cv2.IMREAD_COLOR) for jpg in jpegs), fps, fmt, data)

def region_box(spec: str | None, config=None) -> tuple | None:
    """``--region``: ``x0,y0,x1,y1``, or the name of a region of the config file (``--config``, default the
    daemon's), so that a clip is cut exactly as the daemon cuts that region; None: the whole frame."""
    if spec is None:
        return None
    if "," in spec:
        return parse_box(spec)
    from argparse import Namespace

    from .config import ConfigSource

    source = ConfigSource.from_args(Namespace(config=config))  # the daemon's file and remote settings
    regions = {r.name: r.box for r in source.load().camera.regions}
    if spec not in regions:
        where = f"the regions of {source.path}"
        raise UsageError(f"--region {spec!r} is not among {where} ({', '.join(regions) or 'none'}); give a name "
                         f"of one, or a box x0,y0,x1,y1")
    return tuple(regions[spec])


def record_command(args) -> int:
    label = check_label(args.label)
    box = region_box(args.region, args.config)
    if not (0 < args.seconds <= MAX_SECONDS and args.count >= 1 and math.isfinite(args.interval)
            and args.interval >= 0):
        raise UsageError(f"--seconds must be in (0, {MAX_SECONDS:g}], --count at least 1, --interval at least 0")
    folder = Path(args.out) / label
    source = open_source(args.source, size=(args.width, args.height), fps=args.fps)
    saved: list[Path] = []
    frame = None
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
            jpegs, times, frame = _grab(source, args.seconds, args.interval if i and not source.live else 0, frame,
                                        box)
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
    print(json.dumps({"label": label, "clips": [str(p) for p in saved], **({"box": list(box)} if box else {})}))
    return 0


def dataset_add_command(args) -> int:
    """Copy a clip the daemon saved (or any video) into ``DATA/<label>/<day>-<camera>/`` (with ``--region``, or a
    sidecar's ``box``, the region's crop); the label defaults to its sidecar's (edge_lrcn/dataset.py: the page labels
    clips with the same function)."""
    clip, meta = clip_and_meta(Path(args.clip))
    label = args.label or meta.get("label", "")
    box = region_box(args.region, args.config) if args.region else sidecar_box(meta, args.clip)
    dest = add_clip(clip, label, Path(args.data), meta, box)
    note = f" (the model said {meta['label']})" if meta.get("label") and meta["label"] != label else ""
    cut = f", region {args.region or meta.get('region')} {list(box)}" if box else ""
    print(f"added {dest}{cut}{note}")
    return 0
