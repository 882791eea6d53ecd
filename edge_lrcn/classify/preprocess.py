"""The one preprocessing function shared by the trainer and the daemon (train/serve contract).

BGR uint8 frame -> RGB -> resize to the model size with cv2.INTER_AREA -> float32 in [0, 1].

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


def preprocess(bgr: np.ndarray, height: int, width: int) -> np.ndarray:
    """The model input for one frame: float32 RGB (height, width, 3) in [0, 1]."""
    return to_float(resize_rgb(bgr, height, width))
