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

    def fps(self, cap: float = 0.0) -> float:
        """The frame rate of the frames held, for a clip's header: measured over the ring. Over less than a second
        (a clip that starts right after the stream did) a count off by one frame is off by more than 5%, so the cap
        (``clips_fps``) is taken when the source keeps up with it; 15 when nothing can be measured."""
        span = self.items[-1][0] - self.items[0][0] if len(self.items) >= 2 else 0.0
        if span <= 0:
            return cap or 15.0
        measured = min(120.0, (len(self.items) - 1) / span)
        if span < 1.0 and cap and measured > 0.8 * cap:
            return cap
        return measured
