"""The pre-roll: the JPEG frames of the last seconds, bounded by seconds and bytes (``clips_buffer_mb``), kept by the
clip writer thread so that a clip starts before its activity."""

from __future__ import annotations

from collections import deque

import numpy as np


class Ring:
    """The pre-roll: JPEG frames of the last ``seconds``, at most ``max_bytes`` in all."""

    def __init__(self, seconds: float, max_bytes: float):
        self.seconds, self.max_bytes = seconds, max_bytes
        self.items: deque[tuple[float, np.ndarray]] = deque()
        self.bytes = 0

    def add(self, t: float, jpeg: np.ndarray) -> None:
        self.items.append((t, jpeg))
        self.bytes += jpeg.nbytes
        while self.items and (self.items[0][0] < t - self.seconds or self.bytes > self.max_bytes):
            self.bytes -= self.items.popleft()[1].nbytes

    def since(self, t0: float) -> list[tuple[float, np.ndarray]]:
        return [(t, j) for t, j in self.items if t >= t0 - 1e-6]

    def fps(self, default: float = 15.0) -> float:
        if len(self.items) < 2 or self.items[-1][0] <= self.items[0][0]:
            return default
        return min(120.0, (len(self.items) - 1) / (self.items[-1][0] - self.items[0][0]))
