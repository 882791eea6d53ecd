"""The dataset folder a device builds for ``convert``: ``DATA/<label>/<day>-<camera>/<clip>``.

One function, :func:`add_clip`, puts a clip into it, for ``edge-lrcn dataset add`` and for the page's "this was
<label>" alike. Clips are grouped by the day and the camera they were recorded on (a subfolder per group): ``convert``
reads every video under a class folder, and keeps the clips of one group on one side of its split, so that a
held-out clip never comes from the same minutes as a training clip. Every file is written under ``DATA/.partial/``
(hidden: ``convert`` skips it) and renamed into place, so a clip appears whole or not at all.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from .capture.sources import VIDEO_EXTENSIONS
from .classify.preprocess import crop_box
from .errors import UsageError
from .fleet.protocol import json_object
from .logsafe import quote
from .publish.clipfiles import PARTIAL, clear
from .publish.clips import FORMATS

LABEL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
GROUP_RE = re.compile(r"\d{8}-[A-Za-z0-9_-]{1,64}")
MIN_CLIPS = 10  # fewer clips of a class than this: too few for the quality gate's held-out test (30-40 advised)
SIDECAR_MAX = 64 * 1024  # a sidecar is a few hundred bytes; a bigger one is not ours
IMBALANCE = 3.0  # a class with more than this many times the clips of another one is warned about


def check_label(label: str) -> str:
    if not isinstance(label, str) or not LABEL_RE.fullmatch(label) or ".." in label:
        raise UsageError(f"bad label {label!r}: use 1-64 letters, digits, '_', '-' and '.' (it names a folder)")
    return label


def free_name(folder: Path, stem: str, ext: str) -> Path:
    path, n = folder / f"{stem}{ext}", 2
    while path.exists():
        path, n = folder / f"{stem}-{n}{ext}", n + 1
    return path


def group_of(meta: Mapping, clip: Path) -> str:
    """``20261125-kitchen``: the UTC day the clip started (the sidecar's ``start``, else the time in its name, else
    the file's time) and the camera (the sidecar's ``device``, else ``camera``)."""
    day = re.sub(r"\D", "", str(meta.get("start") or ""))[:8]
    if len(day) != 8:
        m = re.match(r"(\d{8})T", clip.name)
        day = m.group(1) if m else datetime.fromtimestamp(clip.stat().st_mtime, timezone.utc).strftime("%Y%m%d")
    camera = re.sub(r"[^A-Za-z0-9_-]", "-", str(meta.get("device") or "camera"))[:64] or "camera"
    return f"{day}-{camera}"


def read_sidecar(sidecar: Path) -> dict:
    """A clip's sidecar, checked: a JSON object (size and nesting bounded) whose ``clip`` is a file name in its
    folder and whose ``label`` is text; UsageError naming what is wrong."""
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


def clip_and_meta(path: Path) -> tuple[Path, dict]:
    """A clip given as its video or its sidecar: (the video, the sidecar's fields or {})."""
    sidecar = path if path.suffix == ".json" else path.with_suffix(".json")
    meta = read_sidecar(sidecar) if sidecar.is_file() else {}
    if path.suffix == ".json":
        if not meta:
            raise UsageError(f"clip not found: {path}")
        path = path.with_name(meta["clip"])
    return path, meta


def check_video(clip: Path, expected: int | None = None) -> int:
    """A clip enters the dataset only when it is a video whose frames all decode (``expected`` of them, a sidecar's
    ``frames``, when given): the frame count, or a UsageError that says why not."""
    if not clip.is_file():
        raise UsageError(f"clip not found: {clip}")
    if clip.suffix.lower() not in VIDEO_EXTENSIONS:
        raise UsageError(f"{clip} is not a video: convert reads {', '.join(VIDEO_EXTENSIONS)}")
    return check_clip(clip, expected, f"cannot add {clip}")


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
    """The frames of ``path`` decode and, with ``expected``, are that many: the frame count, or a UsageError that
    says why not (a disk that filled up, a cut file)."""
    n = decoded_frames(path)
    if n == 0 or (expected is not None and n != expected):
        free = shutil.disk_usage(path.parent).free
        why = f"the disk is full ({free // 1024} kB free)" if free < 1024 * 1024 else "the file is damaged"
        got = "not a video OpenCV can decode" if n == 0 else f"{n} of its {expected} frames decode"
        raise UsageError(f"{what}: {got} ({why}); nothing was added")
    return n


def add_clip(clip: Path, label: str, data: Path, meta: Mapping | None = None, box=None) -> Path:
    """Copy a clip whose frames all decode to ``DATA/<label>/<day>-<camera>/`` (through ``DATA/.partial/``, checked
    whole, renamed), or with ``box`` (a region's, by default the sidecar's) write that region's crop (same container
    when it is one the clips are written in, else mp4); the path it got."""
    label, data, meta = check_label(label), Path(data), meta or {}
    if data.exists() and not data.is_dir():
        raise UsageError(f"{data} is a file, not a dataset folder")
    frames = meta.get("frames")
    check_video(clip, frames if isinstance(frames, int) and not isinstance(frames, bool) else None)
    box = box if box is not None else sidecar_box(meta, clip)
    exts = {ext: fmt for fmt, (_, ext) in FORMATS.items()}
    suffix = clip.suffix.lower() if box is None or clip.suffix.lower() in exts else ".mp4"
    dest = free_name(data / label / group_of(meta, clip), clip.stem, suffix)
    try:
        (data / PARTIAL).mkdir(parents=True, exist_ok=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot add {clip.name} to {data}: {exc.strerror or exc}; nothing was added") from None
    if box is None:
        _copy_in(clip, dest, data)
    else:
        _write_crop(clip, dest, box, exts[suffix], data)
    return dest


def _copy_in(clip: Path, dest: Path, data: Path) -> None:
    """Copied under ``DATA/.partial/``, checked whole, renamed into the class folder."""
    tmp = data / PARTIAL / dest.name
    try:
        clear(tmp)
        shutil.copyfile(clip, tmp)
        if tmp.stat().st_size != clip.stat().st_size:
            raise OSError(f"the copy is {tmp.stat().st_size} bytes of {clip.stat().st_size}")
        os.replace(tmp, dest)
    except OSError as exc:
        raise UsageError(f"cannot add {clip.name} to {data}: {exc.strerror or exc}; nothing was added") from None
    finally:
        clear(tmp)


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


def sidecar_box(meta: Mapping, where) -> tuple | None:
    """The box of the region a daemon clip was made for (its sidecar's ``box``), checked as ``--region`` is."""
    box = meta.get("box")
    if box is None:
        return None
    return parse_box(",".join(map(str, box)) if isinstance(box, list) else str(box), f"{where}: box")


def _write_crop(clip: Path, dest: Path, box, fmt: str, data: Path) -> None:
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
        write_frames(dest, frames(), fps, fmt, data, f"cannot add {clip}")
    finally:
        cap.release()


def write_frames(path: Path, frames, fps: float, fmt: str, data: Path | None = None, what: str | None = None) -> int:
    """Write BGR frames (an iterable, at least one) as a video under DATA/.partial/ (``data``, else the folder above
    ``path``'s; even width and height: the encoders need them), check that every frame decodes back, and only then
    rename it to ``path``: a clip cut short (a full disk: the encoder fails without a word) never enters the
    dataset. The frames written; ``what`` starts the one-line error (default ``cannot record PATH``)."""
    tmp = (data or path.parent.parent) / PARTIAL / path.name
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
        why = f"the disk is full ({free // 1024} kB free)" if free < 1024 * 1024 else f"is {tmp.parent.parent} writable?"
        raise UsageError(f"{what}: cannot write {tmp} ({why}); nothing was added")
    try:
        n = _write_all(writer, itertools.chain([first], frames), w, h)
        check_clip(tmp, n, what)
        os.replace(tmp, path)
    except OSError as exc:
        raise UsageError(f"{what}: {exc.strerror or exc}; nothing was added") from None
    finally:
        clear(tmp)
    return n


def _write_all(writer, frames, w: int, h: int) -> int:
    n = 0
    try:
        for frame in frames:
            if frame.shape[0] < h or frame.shape[1] < w:
                frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)  # a crop of 1 px: 2 px
            writer.write(np.ascontiguousarray(frame[:h, :w]))
            n += 1
    finally:
        writer.release()
    return n


def summary(data: Path) -> dict:
    """Clips per class and group, and what is wrong with the balance: ``{"classes": {label: {"clips": n,
    "groups": {group: [names]}}}, "warnings": [...]}``."""
    classes: dict[str, dict] = {}
    root = Path(data)
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.is_dir() else ():
        groups: dict[str, list[str]] = {}
        for v in sorted(p for p in d.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS):
            rel = v.relative_to(d)
            groups.setdefault(str(rel.parent) if rel.parent != Path(".") else "", []).append(v.name)
        classes[d.name] = {"clips": sum(map(len, groups.values())), "groups": groups}
    return {"classes": classes, "warnings": warnings(classes)}


def warnings(classes: Mapping[str, Mapping]) -> list[str]:
    counts = {k: v["clips"] for k, v in classes.items()}
    out = [f"{k}: {n} clips, too few for the quality gate (at least {MIN_CLIPS}; 30-40 advised)"
           for k, n in counts.items() if n < MIN_CLIPS]
    if len(counts) == 1:
        out.append("one class only: convert needs at least two (add an idle class: clips where nothing happens)")
    if counts and min(counts.values()) > 0:
        low = min(counts, key=counts.get)
        out += [f"{k}: {n} clips, over {IMBALANCE:g}x the {counts[low]} of {low}"
                for k, n in counts.items() if n > IMBALANCE * counts[low]]
    return out


def remove_clip(data: Path, label: str, group: str, name: str) -> None:
    """Delete one clip of the dataset; every part of the path is checked (no escape from ``data``)."""
    check_label(label)
    if group and not GROUP_RE.fullmatch(group):
        raise UsageError(f"bad group {group!r}")
    if Path(name).name != name or name.startswith(".") or Path(name).suffix.lower() not in VIDEO_EXTENSIONS:
        raise UsageError(f"bad clip name {name!r}")
    path = Path(data) / label / group / name if group else Path(data) / label / name
    if path.is_symlink() or not path.is_file():
        raise FileNotFoundError(f"no clip {label}/{group + '/' if group else ''}{name} in the dataset")
    path.unlink()
