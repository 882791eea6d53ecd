"""The scene-cut rule: when two consecutive kept frames show different scenes, so that no window may span them.

One function, :func:`is_cut`, used by the daemon's classifier (``run``), ``eval`` (the same classifier) and
``convert``'s dataset loader (a clip's windows never span a cut, in training and validation alike).

Both frames are the model's input before any transform (RGB uint8 at the model size, :func:`resize_rgb`). The
frame is split into a grid of ``GRID`` x ``GRID`` cells; a cell *changed* when the mean absolute change of its
pixels (0-1) in any one colour channel is above ``threshold`` (the ``cut_threshold`` setting, 0.07 by default): a
dark red wall that becomes an orange one changed, though its brightness hardly moved. A cut is

- most of the frame changed: at least ``CUT_SHARE`` of the cells (another scene, a camera switched or moved), or
- a brightness step: the frame's mean brightness moved by more than ``STEP`` (0-1) and by more than ``STEP_SHARE``
  of the brighter frame's (lights on or off, even where dark parts of the scene cannot change).

Motion inside the frame changes only the cells it covers: an object half the frame's size moving 6-8 px per kept
frame over a textured background with sensor noise changed at most 78% of the cells (50 of 64) and the mean
brightness by at most 0.05 (generated frames; docs/events.md has the figures and the margins).
"""

from __future__ import annotations

from itertools import pairwise

import cv2
import numpy as np

DEFAULT_THRESHOLD = 0.07  # the cut_threshold setting's default: what convert's loader applies
GRID = 8  # cells per side
CUT_SHARE = 0.8  # share of the cells that must change for a cut
STEP = 0.1  # a brightness step: the mean brightness (0-1) moves by more than this ...
STEP_SHARE = 0.3  # ... and by more than this share of the brighter frame's mean brightness


def changed_share(prev: np.ndarray, cur: np.ndarray, threshold: float) -> float:
    """The share of the grid's cells whose mean absolute change (0-1, over the cell's pixels) is above ``threshold``
    in at least one colour channel. (The mean over the channels, the rule until 2026-12-06, missed 2 of the 800
    scene changes of 200 ``synth --sequence`` videos: two scenes of one hue and brightness, another tint.)"""
    diff = cv2.absdiff(prev, cur)
    cells = cv2.resize(diff, (GRID, GRID), interpolation=cv2.INTER_AREA).astype(np.float32)
    per_cell = cells.max(axis=2) if cells.ndim == 3 else cells
    return float((per_cell > threshold * 255.0).mean())


def brightness_step(prev: np.ndarray, cur: np.ndarray) -> bool:
    """Whether the mean brightness moved by more than ``STEP`` and ``STEP_SHARE`` of the brighter frame's."""
    a = float(np.mean(cv2.mean(prev)[:3])) / 255.0
    b = float(np.mean(cv2.mean(cur)[:3])) / 255.0
    step = abs(a - b)
    return step > STEP and step > STEP_SHARE * max(a, b)


def is_cut(prev: np.ndarray, cur: np.ndarray, threshold: float) -> bool:
    """Whether ``cur`` starts another scene than ``prev`` (two uint8 frames of the same shape); ``threshold`` 0: never
    (the setting is off)."""
    if not threshold:
        return False
    return changed_share(prev, cur, threshold) >= CUT_SHARE or brightness_step(prev, cur)


def cut_points(frames, threshold: float) -> list[int]:
    """The indices ``i`` of a stack of consecutive kept frames where frame ``i`` is a cut from frame ``i - 1``."""
    return [i for i in range(1, len(frames)) if is_cut(frames[i - 1], frames[i], threshold)]


def scenes(frames, threshold: float = DEFAULT_THRESHOLD, lag: int = 0) -> list[tuple[int, int]]:
    """The ``[start, end)`` runs of a stack of consecutive kept frames that hold one scene each, as indices into the
    stack a model is fed: with a transform over ``lag`` kept frames (a difference), index ``j`` is kept frame
    ``j + lag``, and the daemon restarts that history at a cut, so the first ``lag`` frames of a scene give nothing."""
    bounds = [0, *cut_points(frames, threshold), len(frames)]
    return [(a, b - lag) for a, b in pairwise(bounds) if b - lag > a]
