"""The one preprocessing function shared by the trainer and the daemon (train/serve contract).

BGR uint8 frame -> RGB -> resize to the model size with cv2.INTER_AREA -> float32 in [0, 1].

A model may also ask for the *difference* between each kept frame and the one ``lag`` kept frames before it
(:func:`difference`, manifest ``input.transform``, ``input.lag`` and ``input.gain``): the static scene drops out and
what moved remains, which is what lets a pretrained encoder learn new activities from a few dozen clips
(docs/training.md).

It is split in two steps so that the trainer can cache the uint8 output of the first step on disk:
``preprocess(f) == to_float(resize_rgb(f))`` always, and neither step exists anywhere else.
"""

from __future__ import annotations

import cv2
import numpy as np

SCALE = 1.0 / 255.0


def resize_rgb(bgr: np.ndarray, height: int, width: int) -> np.ndarray:
    """BGR uint8 (H, W, 3) -> RGB uint8 (height, width, 3), resized with INTER_AREA."""
    if bgr.ndim != 3 or bgr.shape[2] != 3:
        raise ValueError(f"expected a BGR image of shape (H, W, 3), got {bgr.shape}")
    if bgr.shape[0] != height or bgr.shape[1] != width:
        bgr = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def to_float(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 -> float32 scaled to [0, 1] (works on one frame or a stack of frames)."""
    return rgb.astype(np.float32) * np.float32(SCALE)


def difference(cur: np.ndarray, prev: np.ndarray, gain: float = 0.5) -> np.ndarray:
    """The motion input of a model whose manifest says ``input.transform = "difference"``: a kept frame and the one
    ``lag`` kept frames before it (RGB uint8, as :func:`resize_rgb` gives them) -> uint8
    ``clip(128 + floor(gain * (cur - prev)), 0, 255)``: 128 where nothing changed. ``gain`` is a power of two
    (manifest ``input.gain``; 0.5 never clips), so the arithmetic is exact integers: the trainer's cached inputs and
    the daemon's are identical."""
    d = cur.astype(np.int16)
    d -= prev
    if gain < 1:
        d >>= int(round(np.log2(1 / gain)))
    elif gain > 1:
        d *= int(gain)
    d += 128
    np.clip(d, 0, 255, out=d)
    return d.astype(np.uint8)


TRANSFORMS = {"difference": difference}


def transform_stack(frames: np.ndarray, transform: str, lag: int = 1, gain: float = 0.5) -> np.ndarray:
    """A transform applied to every frame of a (N, H, W, 3) uint8 stack and the frame ``lag`` kept frames before it
    -> N - lag model inputs."""
    return TRANSFORMS[transform](frames[lag:], frames[:-lag], gain)


def preprocess(bgr: np.ndarray, height: int, width: int) -> np.ndarray:
    """The model input for one frame: float32 RGB (height, width, 3) in [0, 1]."""
    return to_float(resize_rgb(bgr, height, width))
