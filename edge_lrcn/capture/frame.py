"""What every frame source delivers and the one interface they share: ``read() -> Frame | None``.

``None`` means the end of a finite source (a file). Live sources (cameras, streams) never end; a failed read raises
:class:`SourceReadError` so that the caller can mark the camera offline and reopen it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class Frame:
    pixels: np.ndarray | None  # BGR uint8 (H, W, 3); None for a frame the reader was told to skip (not decoded)
    t: float  # seconds: the file's own timestamp, or the monotonic clock for live sources
    seq: int  # frames delivered by this source so far, from 0
    kept: bool | None = None  # the pacer's decision, when the reader took it before decoding; None: not taken
    # a Motion-JPEG frame decoded at 1/scale of its size (capture/codec.py reduction: the source's min_size), and
    # its packet, from which codec.full_pixels decodes it whole for the consumers that show the picture
    scale: int = 1
    packet: np.ndarray | None = None


class SourceReadError(Exception):
    """A live source failed to deliver a frame (camera unplugged, stream dropped)."""


class Source:
    live = True
    description = "source"
    # True only if close() may be called while read() blocks on another thread and makes that read return.
    # Not so for OpenCV's VideoCapture (releasing it under a running read is a use after free).
    close_unblocks_read = False
    # the smallest (height, width) the consumers of the decoded pixels need (the model: classify/preprocess.py
    # model_min_size); a Motion-JPEG source decodes at 1/2, 1/4 or 1/8 of the size when that leaves at least this
    # (codec.reduction). None: full size. Set before reading, or between reads (the reader thread reads it).
    min_size: tuple[int, int] | None = None

    def read(self, keep: Callable[[float], bool] | None = None) -> Frame | None:
        """The next frame. ``keep``, when given, is asked with the frame's timestamp before the frame is decoded or
        converted, where the source can tell the two apart; a declined frame comes with ``pixels=None`` and
        ``kept=False``, a kept one with ``kept=True``. A source that cannot skip work decodes anyway and still
        asks (so each frame is decided exactly once)."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    @property
    def skipped(self) -> int:
        """Frames that could not be decoded and were skipped."""
        return 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
