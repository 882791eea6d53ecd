"""``edge-lrcn record`` and ``edge-lrcn dataset add``: a training set built on the device, in the layout ``convert``
reads (``DATA/<label>/<clip>``), from a camera (any source kind) or from the clips the daemon saved (docs/clips.md).

With a region (``--region``, or the region a daemon clip's sidecar names) both write the region's crop, cut by the
daemon's own function (classify/preprocess.py ``crop_box``): the training clips are what the device will see.

Every file is written under ``DATA/.partial/`` (a hidden folder: ``convert`` skips it) and renamed into its class
folder, so an interrupted recording never leaves half a clip in the dataset.
"""

from __future__ import annotations

import itertools
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
from .classify.preprocess import crop_box
from .errors import SourceError, UsageError
from .fleet.protocol import json_object
from .logsafe import quote
from .progress import Progress
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


def parse_box(text: str, key: str = "--region") -> tuple[float, float, float, float]:
    """``x0,y0,x1,y1``, normalized (0-1, left top to right bottom), a box with an area; else a UsageError naming
    ``key``."""
    try:
        box = tuple(float(v) for v in str(text).split(","))
    except ValueError:
        box = ()
    if len(box) != 4 or not all(0.0 <= v <= 1.0 for v in box) or box[0] >= box[2] or box[1] >= box[3]:
        raise UsageError(f"{key} {text!r}: expected x0,y0,x1,y1 between 0 and 1 with x0 < x1 and y0 < y1 (the "
                         f"region's left, top, right and bottom as fractions of the frame), or a region's name")
    return box


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
    write_frames(path, (cv2.imdecode(jpg, cv2.IMREAD_COLOR) for jpg in jpegs), fps, fmt)


def write_frames(path: Path, frames, fps: float, fmt: str, what: str | None = None) -> int:
    """Write BGR frames (an iterable, at least one) as a video under DATA/.partial/ (even width and height: the
    encoders need them), check that every frame decodes back, and only then rename it to ``path``; the number of
    frames written. ``what`` starts the one-line error (default ``cannot record PATH``)."""
    tmp = path.parent.parent / PARTIAL / path.name
    frames = iter(frames)
    first = next(frames)
    h, w = first.shape[:2]
    h, w = max(2, h - h % 2), max(2, w - w % 2)
    what = what or f"cannot record {path}"
    clear(tmp)
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*FORMATS[fmt][0]), fps, (w, h))
    if not writer.isOpened():
        clear(tmp)
        free = shutil.disk_usage(tmp.parent).free
        why = f"the disk is full ({free // 1024} kB free)" if free < 1024 * 1024 else \
            f"is {path.parent.parent} writable?"
        raise UsageError(f"{what}: cannot write {tmp} ({why}); nothing was added")
    n = 0
    try:
        try:
            for frame in itertools.chain([first], frames):
                if frame.shape[0] < h or frame.shape[1] < w:
                    frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)  # a crop of 1 px: 2 px
                writer.write(np.ascontiguousarray(frame[:h, :w]))
                n += 1
        finally:
            writer.release()
        check_clip(tmp, n, what)
        os.replace(tmp, path)
    except OSError as exc:
        raise UsageError(f"{what}: {exc.strerror or exc}; nothing was added") from None
    finally:
        clear(tmp)
    return n


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
    box = region_box(args.region, args.config) if args.region else _sidecar_box(meta, sidecar)
    dest = _add(clip, Path(args.data), label, box)
    note = f" (the model said {meta['label']})" if meta.get("label") and meta["label"] != label else ""
    cut = f", region {args.region or meta.get('region')} {list(box)}" if box else ""
    print(f"added {dest}{cut}{note}")
    return 0


def _sidecar_box(meta: dict, sidecar: Path) -> tuple | None:
    """The box of the region a daemon clip was made for (its sidecar's ``box``), checked as ``--region`` is."""
    box = meta.get("box")
    if box is None:
        return None
    return parse_box(",".join(map(str, box)) if isinstance(box, list) else str(box), f"{sidecar}: box")


def _add(clip: Path, data: Path, label: str, box) -> Path:
    """Copy ``clip`` into ``data/label/`` (through ``data/.partial/``), or with ``box`` write its region's crop
    (same container when it is one the clips are written in, else mp4)."""
    exts = {ext: fmt for fmt, (_, ext) in FORMATS.items()}
    suffix = clip.suffix if box is None or clip.suffix.lower() in exts else ".mp4"
    dest = free_name(data / label, clip.stem, suffix)
    if box is None:
        _copy_in(clip, dest, data)
        return dest
    try:
        (data / PARTIAL).mkdir(parents=True, exist_ok=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot add {clip} to {data}: {exc.strerror or exc}; nothing was added") from None
    _write_crop(clip, dest, box, exts[dest.suffix.lower()])
    return dest


def _write_crop(clip: Path, dest: Path, box, fmt: str) -> None:
    """The region's crop of every frame of ``clip``, at its frame rate, as ``dest`` in ``fmt``."""
    cap = cv2.VideoCapture(str(clip))
    fps = cap.get(cv2.CAP_PROP_FPS) or 15.0

    def frames():
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield crop_box(frame, box)
    try:
        write_frames(dest, frames(), fps, fmt, f"cannot add {clip}")
    finally:
        cap.release()


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
