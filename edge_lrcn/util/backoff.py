"""Retry delays: exponential, capped, with jitter (devices that lost one broker at once must not all come back in
the same second)."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """``first``, then twice as long each time up to ``cap``; each delay given is spread by ``jitter`` (0.2: within
    +-20 %). :meth:`reset` after a success; :meth:`start_from` when something else decides the next wait (a broker
    that keeps taking the connection away)."""

    def __init__(self, first: float = 1.0, cap: float = 30.0, jitter: float = 0.2,
                 uniform: Callable[[float, float], float] = random.uniform):
        self.first = first
        self.cap = cap
        self.jitter = jitter
        self.uniform = uniform
        self.delay = first

    def next(self) -> float:
        """The wait before the next try (jittered); the one after is twice as long, up to ``cap``."""
        wait = self.delay * self.uniform(1 - self.jitter, 1 + self.jitter)
        self.delay = min(self.cap, self.delay * 2)
        return wait

    def reset(self) -> None:
        self.delay = self.first

    def start_from(self, delay: float) -> None:
        """The next wait is ``delay`` (it may be over ``cap``: a decision made elsewhere)."""
        self.delay = delay
