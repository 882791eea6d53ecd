"""The one preprocessing function shared by the trainer and the daemon (train/serve contract).

BGR uint8 frame -> RGB -> resize to the model size with cv2.INTER_AREA -> float32 in [0, 1].

A model may also ask for the *difference* between each kept frame and the one ``lag`` kept frames before it
(:func:`difference`, manifest ``input.transform``, ``input.lag`` and ``input.gain``): the static scene drops out and
what moved remains, which is what lets a pretrained encoder learn new activities from a few dozen clips
(docs/training.md).

It is split in two steps so that the trainer can cache the uint8 output of the first step on disk:
``preprocess(f) == to_float(resize_rgb(f))`` always, and neither step exists anywhere else.

A region of interest (setting ``regions``, docs/architecture.md) is cut from the decoded frame by
:func:`crop_box` before that: the daemon crops each kept frame, ``record --region`` and ``dataset add`` write the same
crop as the training clip, so a model learns what the device will see. A region that is not square reaches the
model's square input by **stretching** (the same INTER_AREA resize as a whole frame), never by padding: a whole
4:3 frame has always been stretched to 64x64, so every model trained so far learned stretched pictures, and padding
would spend part of the 64x64 on bars. Stretching differs between a region and the clips a model learned from
only when their aspects differ: the bundle's report records the clips' shape and ``run`` warns about a region whose
aspect is far from it (:func:`aspect_mismatch`).
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


def box_pixels(box, height: int, width: int) -> tuple[int, int, int, int]:
    """A normalized box ``(x0, y0, x1, y1)`` (0-1, left/top inclusive) -> the pixel rectangle ``(x0, y0, x1, y1)`` it
    covers in a frame of ``height`` x ``width``: rounded to the nearest pixel, at least one pixel wide and high."""
    x0 = min(width - 1, max(0, int(round(box[0] * width))))
    y0 = min(height - 1, max(0, int(round(box[1] * height))))
    x1 = max(x0 + 1, min(width, int(round(box[2] * width))))
    y1 = max(y0 + 1, min(height, int(round(box[3] * height))))
    return x0, y0, x1, y1


# a frame decoded reduced (capture/codec.py reduction) must still give each crop this many times the model's input
# size in pixels, on each side, so the INTER_AREA resize still averages whole blocks of pixels
DECODE_MARGIN = 2


def model_min_size(height: int, width: int, boxes=(None,)) -> tuple[int, int]:
    """The smallest whole frame (h, w) from which every crop of ``boxes`` (normalized, None: the whole frame) keeps
    :data:`DECODE_MARGIN` times a model input of ``height`` x ``width``: what a source may reduce its decode to
    (``Source.min_size``). The trainer's clips are decoded by the same rule (whole frames), as the daemon feeds
    them."""
    need_h, need_w = 0, 0
    for box in boxes:
        x0, y0, x1, y1 = box if box is not None else (0.0, 0.0, 1.0, 1.0)
        need_h = max(need_h, -int(-DECODE_MARGIN * height // max(y1 - y0, 1e-3)))
        need_w = max(need_w, -int(-DECODE_MARGIN * width // max(x1 - x0, 1e-3)))
    return need_h, need_w


def crop_box(bgr: np.ndarray, box) -> np.ndarray:
    """The part of a frame a region covers (a view, no copy); ``box`` None: the whole frame."""
    if box is None:
        return bgr
    x0, y0, x1, y1 = box_pixels(box, bgr.shape[0], bgr.shape[1])
    return bgr[y0:y1, x0:x1]


def aspect_mismatch(shape: tuple[int, int], trained: tuple[int, int], limit: float = 1.5) -> float | None:
    """How many times wider (or taller) a crop of ``shape`` (h, w) is than the clips of ``trained`` (h, w) a model
    learned from, when that is more than ``limit``; None when the two are close enough to stretch alike."""
    ratio = (shape[1] / shape[0]) / (trained[1] / trained[0])
    ratio = max(ratio, 1 / ratio)
    return round(ratio, 2) if ratio > limit else None


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


def short_lag_inputs(frames: np.ndarray, transform: str, lag: int, gain: float = 0.5) -> np.ndarray:
    """What a model whose manifest says ``window.short_lags`` is fed right after a restart, for every kept frame ``s``
    of a (N, H, W, 3) uint8 stack that could start a stream: the kept frames ``s + 1 .. s + lag - 1`` against frame
    ``s`` (a shorter lag than ``lag``, the daemon's inputs before its history holds ``lag`` frames) ->
    (N - lag, lag - 1, H, W, 3) uint8; ``[:, j]`` is the lag ``j + 1``."""
    n = len(frames) - lag
    if n <= 0 or lag < 2:
        return np.zeros((max(n, 0), max(lag - 1, 0), *frames.shape[1:]), np.uint8)
    return np.stack([TRANSFORMS[transform](frames[j + 1:j + 1 + n], frames[:n], gain) for j in range(lag - 1)], 1)


def preprocess(bgr: np.ndarray, height: int, width: int) -> np.ndarray:
    """The model input for one frame: float32 RGB (height, width, 3) in [0, 1]."""
    return to_float(resize_rgb(bgr, height, width))
