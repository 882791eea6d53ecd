"""The feature window: the encoder runs once per kept frame, the head runs over the cached last T features.

For a window of T frames the result equals the monolithic LRCN on the same frames (the LSTM sees the same T
feature vectors in the same order), at ~1/T of the CNN cost per classification.
"""

from __future__ import annotations

import numpy as np


class FeatureWindow:
    """Ring buffer of the last T feature vectors, readable as one contiguous (T, D) array without copying.

    Every vector is written twice, at ``i`` and ``i + T`` of a (2T, D) buffer, so the last T vectors in order are
    always the slice ``[i + 1, i + 1 + T)``.
    """

    def __init__(self, frames: int, dim: int):
        self.frames = frames
        self.dim = dim
        self._buf = np.zeros((2 * frames, dim), np.float32)
        self._next = 0
        self.count = 0  # features pushed since the last clear
        self.filler: np.ndarray | None = None  # what the window was prefilled with at the last clear

    def push(self, feature: np.ndarray) -> None:
        i = self._next
        self._buf[i] = feature
        self._buf[i + self.frames] = feature
        self._next = (i + 1) % self.frames
        self.count += 1

    @property
    def full(self) -> bool:
        """Every slot holds a pushed feature (none of the prefill is left)."""
        return self.count >= self.frames

    @property
    def ready(self) -> bool:
        """The head may run: the window is full, or prefilled and holds at least one pushed feature."""
        return self.full or (self.filler is not None and self.count > 0)

    def clear(self, filler: np.ndarray | None = None) -> None:
        """Forget the pushed features; with ``filler`` every slot holds it until pushed features replace it (a
        model trained on early windows, manifest ``window.prefill``)."""
        self._next = 0
        self.count = 0
        self.filler = filler
        if filler is not None:
            self._buf[:] = filler

    def view(self) -> np.ndarray:
        """The last T features, oldest first (valid once ``full``)."""
        return self._buf[self._next:self._next + self.frames]


def classify_windows(encoder, head, frames_float: np.ndarray, frames: int, starts) -> np.ndarray:
    """Probabilities for the windows ``frames_float[s:s + frames]`` of one clip, encoding each frame once."""
    needed = sorted({i for s in starts for i in range(s, s + frames)})
    feats = {i: encoder(frames_float[i]) for i in needed}
    out = []
    for s in starts:
        out.append(head(np.stack([feats[i] for i in range(s, s + frames)])))
    return np.array(out)
