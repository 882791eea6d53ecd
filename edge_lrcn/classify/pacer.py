"""Keep frames at the model's fps by timestamp.

The same class decides which frames the trainer samples from a clip and which camera frames the daemon
encodes, so a window always spans ``frames / fps`` seconds in both places.
"""

from __future__ import annotations

import threading


class Pacer:
    """Decide frame by frame whether to keep it, so kept frames come at ``fps`` on average.

    A frame is kept when its timestamp reaches the next due time, less a small jitter tolerance. The due time
    advances by exactly one period (no drift); after a gap longer than ``resync_periods`` periods (a stalled camera,
    a seek) it restarts from the frame that ended the gap. Timestamps going backwards also restart it.
    """

    def __init__(self, fps: float, tolerance: float = 0.1, resync_periods: float = 2.0):
        if fps <= 0:
            raise ValueError("fps must be positive")
        self.period = 1.0 / fps
        self.tolerance = tolerance * self.period
        self.resync = resync_periods * self.period
        self._due: float | None = None
        self._last_t: float | None = None
        # the daemon's frame reader decides on its thread while the loop may restart the pacer on its own
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._due = None
            self._last_t = None

    def keep(self, t: float) -> bool:
        with self._lock:
            last, self._last_t = self._last_t, t
            if self._due is None or (last is not None and t < last) or t - self._due > self.resync:
                self._due = t + self.period
                return True
            if t >= self._due - self.tolerance:
                self._due += self.period
                return True
            return False
