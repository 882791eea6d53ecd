"""A video file as a frame source: decoded with OpenCV, timestamps from the container."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from ..errors import SourceError
from .codec import PacketDecoding, decode_packet, packet_mode
from .frame import Frame, Source

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg", ".webm", ".wmv", ".flv")


class VideoFileSource(PacketDecoding, Source):
    """A video file, decoded with OpenCV, timestamps from the container.

    A Motion-JPEG file (what ``synth`` and many cameras write) is read as packets and only the frames asked for are
    decoded (:func:`packet_mode`); the trainer reads its clips through this class too, so it sees the same pixels
    as the daemon. With ``min_size`` set (:class:`Source`), Motion-JPEG frames are decoded at 1/2, 1/4 or 1/8 of
    their size where that leaves at least ``min_size``. Frames that cannot be decoded are skipped and counted
    (``skipped``); the source ends (``None``) at the end of the file, or after ``max_bad`` consecutive undecodable
    frames (a truncated file).
    """

    live = False

    def __init__(self, path: str | os.PathLike, realtime: bool = False, max_bad: int = 25):
        self.path = Path(path)
        self.description = f"file {self.path}"
        if not self.path.exists():
            raise SourceError(f"video file not found: {self.path}")
        if not self.path.is_file():  # a FIFO or a device would block or never end
            raise SourceError(f"{self.path} is not a regular file")
        self.cap = self._open()
        if not self.cap.isOpened():
            raise SourceError(f"cannot open video file {self.path} (not a video OpenCV can decode)")
        self.packets = False
        if packet_mode(self.cap):
            # whether the first packet decodes as a JPEG of its own (AVI1 Motion-JPEG without Huffman tables does
            # with libjpeg-turbo's standard tables); then read again from the start, the probe took that packet
            decodes = self._grab() and decode_packet(self.cap) is not None
            self.cap.release()
            self.cap = self._open()
            self.packets = decodes and packet_mode(self.cap)
            if not decodes:
                log.info("%s: its Motion-JPEG packets do not decode on their own: FFmpeg decodes every frame",
                         self.path)
        # the frame size the reduction is chosen from: the container's, else the first frame decoded whole
        self.height = int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        self.width = int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if 0 < fps < 1000 else 25.0
        self.frame_count = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.realtime = realtime
        self.max_bad = max_bad
        self._seq = 0
        self._skipped = 0
        self._last_t = -1.0
        self._t0_wall: float | None = None

    @property
    def skipped(self) -> int:
        return self._skipped

    def _open(self):
        return cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)

    def _timestamp(self) -> float:
        t = self.cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        if not np.isfinite(t) or t <= self._last_t:  # container without usable timestamps
            t = self._last_t + 1.0 / self.fps if self._last_t >= 0 else 0.0
        return t

    def _grab(self) -> bool:
        try:
            return bool(self.cap.grab())
        except cv2.error:
            return False

    def read(self, keep: Callable[[float], bool] | None = None) -> Frame | None:
        """The next frame; ``keep(t)`` (the pacer's decision, see :class:`FrameReader`) is asked before the frame is
        decoded, and a frame it declines comes without pixels. A Motion-JPEG file is read as packets, so a declined
        frame costs the demuxing only; for other codecs FFmpeg decodes in ``grab()`` and converts the colours in
        ``retrieve()``, so a declined frame costs the demuxing and decoding."""
        bad = 0
        while True:
            pixels, scale, packet = None, 1, None
            if self._grab():
                t = self._timestamp()
                if keep is not None and not keep(t):
                    break
                pixels, scale, packet = self.decode_kept()
                if pixels is not None:
                    break
            bad += 1
            pos = self.cap.get(cv2.CAP_PROP_POS_FRAMES)
            if bad > self.max_bad or (self.frame_count and pos >= self.frame_count - 1) or not self.cap.isOpened():
                # the end, or a truncated file: what the header promised and never came counts as skipped
                self._skipped = max(self._skipped, self.frame_count - self._seq)
                return None
        self._skipped += bad
        self._last_t = t
        if self.realtime:
            now = time.monotonic()
            if self._t0_wall is None:
                self._t0_wall = now - t
            delay = self._t0_wall + t - now
            if delay > 0:
                time.sleep(delay)
        frame = Frame(pixels, t, self._seq, None if keep is None else pixels is not None, scale, packet)
        self._seq += 1
        return frame

    def close(self) -> None:
        self.cap.release()
