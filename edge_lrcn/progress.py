"""One progress line for long work (``synth``, ``convert``'s decoding and training, ...): a tqdm bar on stderr when
stderr is a terminal, nothing otherwise (a service, a pipe or a test sees no bar and no control characters)."""

from __future__ import annotations

import sys


class Progress:
    """``Progress(total, "decoding clips", unit="clip")``; ``update(n)``, ``postfix(**values)``, ``close()``."""

    def __init__(self, total: float, desc: str, enabled: bool = True, unit: str = "it"):
        self.bar = None
        if enabled and sys.stderr.isatty():
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=True)
            except ImportError:
                pass

    def update(self, n: float = 1) -> None:
        if self.bar:
            self.bar.update(n)

    def postfix(self, **values) -> None:
        if self.bar:
            self.bar.set_postfix(values, refresh=False)

    def close(self) -> None:
        if self.bar:
            self.bar.close()
