"""Labelled video folders (one sub-folder per class, UCF50/UCF101 layout) -> cached frames -> windows.

Each clip is decoded once with the runtime's own file source, its frames kept at the model fps by the runtime's own
:class:`~edge_lrcn.classify.pacer.Pacer`, resized by the shared preprocessing step and cached on disk as uint8 ``.npy``
(memory-mapped when read), so a UCF101-size dataset never has to fit in memory.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge_lrcn.capture.sources import VIDEO_EXTENSIONS, VideoFileSource
from edge_lrcn.classify.cut import scenes
from edge_lrcn.classify.pacer import Pacer
from edge_lrcn.classify.preprocess import model_min_size, resize_rgb, short_lag_inputs, to_float, transform_stack
from edge_lrcn.errors import DatasetError
from edge_lrcn.progress import Progress

log = logging.getLogger(__name__)
CACHE_VERSION = 5  # 2: Motion-JPEG clips decoded by libjpeg-turbo (capture/sources.py packet_mode); 3: scene cuts;
# 4: Motion-JPEG clips decoded at 1/2, 1/4 or 1/8 of their size where twice the model's input remains (codec.reduction);
# 5: a cell of the cut rule changed when any one colour channel did (the scene runs)



GROUP_SEP = "__"  # data/wave/anna__003.mp4: the clip belongs to group "anna"


@dataclass
class Clip:
    path: Path
    label: int
    frames: np.ndarray | None = None  # (N, H, W, 3) uint8 RGB, memory-mapped from the cache
    grids: dict | None = None  # a frozen backbone's features per flip, computed once by training
    group: str = ""  # clips of one person or session share a group (group_of); "": the clip is its own group
    scenes: list[tuple[int, int]] | None = None  # [start, end) runs of frames between scene cuts; None: one scene
    # a model fed differences: the inputs of a restart at each frame before its history holds `lag` frames
    # (short_lag_inputs: (len(frames), lag - 1, H, W, 3) uint8, memory-mapped), or None
    early: np.ndarray | None = None


@dataclass
class Dataset:
    root: Path
    labels: list[str]
    clips: list[Clip]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    empty_classes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        per = {lab: 0 for lab in self.labels}
        for c in self.clips:
            per[self.labels[c.label]] += 1
        parts = [f"{len(self.clips)} clips in {len(self.labels)} classes ("
                 + ", ".join(f"{k}: {v}" for k, v in per.items()) + ")"]
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        if self.empty_classes:
            parts.append(f"empty class folders ignored: {', '.join(self.empty_classes)}")
        return "; ".join(parts)


def scan(root: Path) -> tuple[list[str], list[tuple[Path, str]], list[str]]:
    """List the class folders and their video files; empty class folders are reported, not fatal."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root}")
    labels, files, empty = [], [], []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        vids = sorted(p for p in d.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
        if not vids:
            empty.append(d.name)
            continue
        labels.append(d.name)
        files.extend((v, d.name) for v in vids)
    if len(labels) < 2:
        raise DatasetError(f"{root} needs at least two class sub-folders with videos "
                           f"({VIDEO_EXTENSIONS[0]}, {VIDEO_EXTENSIONS[1]}, ...), found {len(labels)}")
    return labels, files, empty


def group_of(path: Path, class_dir: Path) -> str:
    """A clip's group as its path says it: the sub-folder under its class folder (``wave/anna-monday/1.mp4`` ->
    ``anna-monday``), else the file-name prefix before ``__`` (``wave/anna__003.mp4`` -> ``anna``), else none ("")."""
    rel = Path(path).relative_to(class_dir)
    if len(rel.parts) > 1:
        return rel.parts[0]
    prefix, sep, _ = rel.stem.partition(GROUP_SEP)
    return prefix if sep and prefix else ""


def read_groups(path: Path, root: Path) -> dict[Path, str]:
    """``--groups FILE.csv``: one ``clip,group`` row per clip (a path under the data folder, or absolute). A first row
    that names no clip and looks like no path (no ``/``, no ``.``: ``clip,group``, ``path,session``) is a header. A row
    naming no existing clip is an error naming the clips, in one line."""
    import csv

    path, root = Path(path), Path(root)
    try:
        rows = list(csv.reader(path.read_text().splitlines()))
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"--groups {path}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
    out, missing, bad = {}, [], []
    for n, row in enumerate(rows, 1):
        cells = [c.strip() for c in row]
        header = n == 1 and len(cells) >= 2 and not any(ch in cells[0] for ch in "/\\.") \
            and not (root / cells[0]).is_file()
        if not any(cells) or cells[0].startswith("#") or header:
            continue
        if len(cells) < 2 or not cells[0] or not cells[1]:
            bad.append(str(n))
            continue
        clip = Path(cells[0]) if Path(cells[0]).is_absolute() else root / cells[0]
        if not clip.is_file():
            missing.append(cells[0])
            continue
        out[clip.resolve()] = cells[1]
    if bad:
        raise DatasetError(f"--groups {path}: rows {', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''} are not "
                           f"'clip,group'")
    if missing:
        raise DatasetError(f"--groups {path} names {len(missing)} clip(s) not found under {root}: "
                           f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    return out


def _cache_path(cache_dir: Path, path: Path, height: int, width: int, fps: float | None,
                transform: str | None = None, lag: int = 1, gain: float = 0.5) -> Path:
    st = path.stat()
    key = f"{CACHE_VERSION}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{height}x{width}|{fps}"
    if transform:
        key += f"|{transform}|{lag}|{gain}"
    return cache_dir / (hashlib.sha1(key.encode()).hexdigest()[:20] + ".npy")


def decode_clip(path: Path, height: int, width: int, fps: float | None, transform: str | None = None,
                lag: int = 1, gain: float = 0.5) -> np.ndarray:
    """Decode a clip to uint8 RGB frames at ``fps`` (all frames when fps is None), exactly as the daemon keeps them;
    with ``transform="difference"``, each kept frame's difference to the one ``lag`` kept frames before (``lag``
    fewer), as the daemon feeds such a model."""
    return decode_scenes(path, height, width, fps, transform, lag, gain)[0]


def decode_scenes(path: Path, height: int, width: int, fps: float | None, transform: str | None = None,
                  lag: int = 1, gain: float = 0.5) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """:func:`decode_clip`, and the runs of its frames between scene cuts by the daemon's own rule
    (classify/cut.py, at the ``cut_threshold`` default): no window may span a cut, in training or validation."""
    frames, runs, _ = decode_with_early(path, height, width, fps, transform, lag, gain)
    return frames, runs


def decode_with_early(path: Path, height: int, width: int, fps: float | None, transform: str | None = None,
                      lag: int = 1, gain: float = 0.5) -> tuple[np.ndarray, list[tuple[int, int]], np.ndarray | None]:
    """:func:`decode_scenes`, and with a transform the short-lag inputs of a restart at each frame
    (:func:`~edge_lrcn.classify.preprocess.short_lag_inputs`, aligned with the transformed frames)."""
    pacer = Pacer(fps) if fps else None
    frames = []
    with VideoFileSource(path) as src:
        src.min_size = model_min_size(height, width)  # reduced as the daemon decodes a whole frame (Regions.min_size)
        while (frame := src.read()) is not None:
            if pacer is None or pacer.keep(frame.t):
                frames.append(resize_rgb(frame.pixels, height, width))
    if len(frames) < (lag + 1 if transform else 1):
        empty = np.zeros((0, height, width, 3), np.uint8)
        return empty, [], (np.zeros((0, max(lag - 1, 0), height, width, 3), np.uint8) if transform else None)
    stack = np.stack(frames)
    runs = scenes(stack, lag=lag if transform else 0)
    if not transform:
        return stack, runs, None
    return transform_stack(stack, transform, lag, gain), runs, short_lag_inputs(stack, transform, lag, gain)


def load(root: Path, height: int = 64, width: int = 64, fps: float | None = 10.0, min_frames: int = 20,
         cache_dir: Path | None = None, progress: bool = True, transform: str | None = None,
         lag: int = 1, gain: float = 0.5, groups_file: Path | None = None) -> Dataset:
    """Decode (or reuse the cache of) every clip; clips that are unreadable or too short are skipped and reported.
    Each clip's group comes from ``groups_file`` when it names the clip, else from its path (:func:`group_of`)."""
    root = Path(root)
    labels, files, empty = scan(root)
    named = read_groups(groups_file, root) if groups_file else {}
    cache_dir = Path(cache_dir) if cache_dir else root / ".edge-lrcn-cache"
    cache_dir.mkdir(parents=True, exist_ok=True)
    ds = Dataset(root, labels, [], empty_classes=empty)
    for name in empty:
        log.warning("class folder %s has no videos: ignored", root / name)
    bar = Progress(len(files), "decoding clips", progress, unit="clip")
    for path, label in files:
        cached = _cache_path(cache_dir, path, height, width, fps, transform, lag, gain)
        early_file = cached.with_suffix(".early.npy")
        try:
            if not cached.exists() or (transform and not early_file.exists()):
                frames, runs, early = decode_with_early(path, height, width, fps, transform, lag, gain)
                _save(cached.with_suffix(".scenes.npy"), np.array(runs, np.int64).reshape(-1, 2))
                if early is not None:
                    _save(early_file, early)
                _save(cached, frames)
            frames = np.load(cached, mmap_mode="r")
            early = np.load(early_file, mmap_mode="r") if transform else None
            runs = [tuple(map(int, r)) for r in np.load(cached.with_suffix(".scenes.npy"))]
        except Exception as exc:  # any decoder failure: skip the clip, report it
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            ds.skipped.append((str(path), f"unreadable: {reason}"))
            log.warning("skipping %s: unreadable (%s)", path, reason)
            bar.update()
            continue
        if runs and max(b - a for a, b in runs) < min_frames <= len(frames):
            ds.skipped.append((str(path), f"too short: no scene between its {len(runs) - 1} cuts is {min_frames} "
                                          f"frames"))
            log.warning("skipping %s: no scene between its cuts is one window long", path)
        elif len(frames) < min_frames:
            what = ("no decodable frames" if len(frames) == 0
                    else f"{len(frames)} frames at the model fps, < {min_frames}")
            ds.skipped.append((str(path), f"too short: {what}"))
            log.warning("skipping %s: too short (%s)", path, what)
        else:
            group = named.get(path.resolve()) or group_of(path, root / label)
            whole = runs == [(0, len(frames))]
            if not whole:
                log.info("%s has %d scene cuts: no window spans one", path, len(runs) - 1)
            ds.clips.append(Clip(path, labels.index(label), frames, group=group, scenes=None if whole else runs,
                                 early=early))
        bar.update()
    bar.close()
    if not ds.clips:
        raise DatasetError(f"no usable clips in {root} ({len(ds.skipped)} skipped)")
    return ds


def _save(path: Path, array: np.ndarray) -> None:
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")  # workers sharing a cache race otherwise
    np.save(tmp, array)
    tmp.replace(path)


def clip_shapes(clips: list[Clip]) -> dict[str, int]:
    """How many clips have each frame size, ``"HxW" -> count``, most common first, read from each file's header
    (nothing decoded). The bundle records it: a region cut with another aspect is stretched differently to the
    model's input (classify/preprocess.py), and ``run`` warns about it."""
    counts: dict[str, int] = {}
    for clip in clips:
        cap = cv2.VideoCapture(str(clip.path))
        h, w = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        cap.release()
        if h > 0 and w > 0:
            counts[f"{h}x{w}"] = counts.get(f"{h}x{w}", 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def split_by_clip(clips: list[Clip], val: float = 0.15, test: float = 0.15, seed: int = 0):
    """Split clips (never windows) into train/val/test, stratified by class; every class keeps >= 1 training clip."""
    rng = np.random.default_rng(seed)
    train, val_l, test_l = [], [], []
    for label in sorted({c.label for c in clips}):
        group = [c for c in clips if c.label == label]
        order = rng.permutation(len(group))
        group = [group[i] for i in order]
        n = len(group)
        n_test = int(round(n * test)) if n >= 3 else 0
        n_val = int(round(n * val)) if n >= 3 else 0
        if n_test + n_val >= n:
            n_test, n_val = min(n_test, max(0, n - 2)), 1 if n >= 3 else 0
        test_l += group[:n_test]
        val_l += group[n_test:n_test + n_val]
        train += group[n_test + n_val:]
    return train, val_l, test_l


def window_starts(n_frames: int, frames: int, count: int, rng: np.random.Generator | None) -> list[int]:
    """Start indices of ``count`` windows of ``frames`` kept frames: random crops (rng) or evenly spread (no rng)."""
    last = n_frames - frames
    if last < 0:
        return []
    if rng is not None:
        return sorted(int(s) for s in rng.integers(0, last + 1, size=count))
    if count == 1 or last == 0:
        return [last // 2]
    return sorted({int(round(s)) for s in np.linspace(0, last, count)})


def clip_starts(clip: Clip, frames: int, count: int, rng: np.random.Generator | None) -> list[int]:
    """:func:`window_starts` within the clip's scenes: ``count`` windows shared among the scenes a window fits in
    (by their length, at least one each), none spanning a scene cut."""
    if not clip.scenes:
        return window_starts(len(clip.frames), frames, count, rng)
    return [a + s for (a, b), k in _shares(clip, frames, count) for s in window_starts(b - a, frames, k, rng)]


def _shares(clip: Clip, frames: int, count: int) -> list[tuple[tuple[int, int], int]]:
    fit = [(a, b) for a, b in clip.scenes if b - a >= frames]
    total = sum(b - a for a, b in fit)
    return [((a, b), max(1, round(count * (b - a) / total))) for a, b in fit]


def window_count(clip: Clip, frames: int, count: int) -> int:
    """How many windows :func:`clip_starts` draws at random from the clip."""
    return count if not clip.scenes else sum(k for _, k in _shares(clip, frames, count))


def uniform_indices(n_frames: int, frames: int) -> np.ndarray:
    """The tutorial's sampling: ``frames`` indices spread evenly over the whole clip."""
    return np.linspace(0, n_frames - 1, frames).round().astype(int)


def windows(clips: list[Clip], frames: int, per_clip: int, rng: np.random.Generator | None,
            sampling: str = "stream", arrays=None, prepare=to_float):
    """Yield (float32 window, label, clip index): windows of each clip's frames through the shared ``to_float``
    step, or of ``arrays`` (one per clip, as long as its frames: a frozen encoder's features) through ``prepare``."""
    for ci, clip in enumerate(clips):
        a = clip.frames if arrays is None else arrays[ci]
        if sampling == "uniform":
            yield prepare(np.asarray(a[uniform_indices(len(a), frames)])), clip.label, ci
            continue
        for s in clip_starts(clip, frames, per_clip, rng):
            yield prepare(np.asarray(a[s:s + frames])), clip.label, ci


def stack_windows(clips, frames, per_clip, sampling="stream", arrays=None, prepare=to_float):
    xs, ys, cs = [], [], []
    for x, y, c in windows(clips, frames, per_clip, None, sampling, arrays, prepare):
        xs.append(x)
        ys.append(y)
        cs.append(c)
    return np.stack(xs), np.array(ys, np.int64), np.array(cs, np.int64)
