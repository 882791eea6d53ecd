"""The stall watch of a live source: no frame with a new timestamp for ``stall_timeout`` seconds. Frames whose
timestamps do not advance (a dead device that keeps handing out its last buffer) are no progress."""

from __future__ import annotations

from collections.abc import Callable


class StallWatch:
    def __init__(self, clock: Callable[[], float]):
        self.clock = clock
        self.reset()

    def reset(self) -> None:
        """A new source: watched from now."""
        self._newest_t: float | None = None  # newest timestamp seen (frozen timestamps do not advance it)
        self._progress = self.clock()  # when a frame with a new timestamp last arrived
        self._got_frame = False  # whether the last poll gave a frame (then a stall is frozen timestamps)

    def frame(self, t: float) -> None:
        self._got_frame = True
        if self._newest_t is None or t > self._newest_t:
            self._newest_t = t
            self._progress = self.clock()

    def nothing(self) -> None:
        """A poll that gave no frame."""
        self._got_frame = False

    def stalled(self, timeout: float) -> str | None:
        """Why the source counts as stalled (``timeout`` seconds without progress), or None."""
        stalled = self.clock() - self._progress
        if stalled <= timeout:
            return None
        return f"{'frozen timestamps' if self._got_frame else 'no frame'} for {stalled:.1f} s"
