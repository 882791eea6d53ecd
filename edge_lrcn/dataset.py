"""The dataset folder a device builds for ``convert``: ``DATA/<label>/<day>-<camera>/<clip>``.

One function, :func:`add_clip`, puts a clip into it, for ``edge-lrcn dataset add`` and for the page's "this was
<label>" alike. Clips are grouped by the day and the camera they were recorded on (a subfolder per group): ``convert``
reads every video under a class folder, and keeps the clips of one group on one side of its split, so that a
held-out clip never comes from the same minutes as a training clip. Every file is written under ``DATA/.partial/``
(hidden: ``convert`` skips it) and renamed into place, so a clip appears whole or not at all.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

import cv2

from .capture.sources import VIDEO_EXTENSIONS
from .errors import UsageError
from .publish.clips import PARTIAL

LABEL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
GROUP_RE = re.compile(r"\d{8}-[A-Za-z0-9_-]{1,64}")
MIN_CLIPS = 10  # fewer clips of a class than this: too few for the quality gate's held-out test (30-40 advised)
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


def read_sidecar(path: Path) -> dict:
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the sidecar {path}: {exc}") from None
    if not isinstance(meta, dict):
        raise UsageError(f"the sidecar {path} is not a JSON object")
    return meta


def clip_and_meta(path: Path) -> tuple[Path, dict]:
    """A clip given as its video or its sidecar: (the video, the sidecar's fields or {})."""
    sidecar = path if path.suffix == ".json" else path.with_suffix(".json")
    meta = read_sidecar(sidecar) if sidecar.is_file() else {}
    if path.suffix == ".json":
        name = str(meta.get("clip") or "")
        if not name or Path(name).name != name:
            raise UsageError(f"the sidecar {path} names no clip in its folder")
        path = path.with_name(name)
    return path, meta


def check_video(clip: Path) -> None:
    if not clip.is_file():
        raise UsageError(f"clip not found: {clip}")
    if clip.suffix.lower() not in VIDEO_EXTENSIONS:
        raise UsageError(f"{clip} is not a video: convert reads {', '.join(VIDEO_EXTENSIONS)}")
    cap = cv2.VideoCapture(str(clip))
    ok = cap.isOpened() and cap.read()[0]
    cap.release()
    if not ok:
        raise UsageError(f"{clip} is not a video OpenCV can decode")


def add_clip(clip: Path, label: str, data: Path, meta: Mapping | None = None) -> Path:
    """Copy a decodable clip to ``DATA/<label>/<day>-<camera>/`` (atomically); the path it got."""
    label = check_label(label)
    check_video(clip)
    data = Path(data)
    dest = free_name(data / label / group_of(meta or {}, clip), clip.stem, clip.suffix.lower())
    tmp = data / PARTIAL / dest.name
    try:
        tmp.parent.mkdir(parents=True, exist_ok=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(clip, tmp)
        os.replace(tmp, dest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot add {clip.name} to {data}: {exc.strerror or exc}") from None
    return dest


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
