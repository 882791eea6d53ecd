"""A live OpenCV source: a V4L2 device, a network stream (FFmpeg) or a GStreamer pipeline. It never ends; a failed
read raises :class:`SourceReadError` (the camera supervisor reopens it)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import cv2

from ..errors import SourceError
from .codec import PacketDecoding, backend, packet_mode
from .frame import Frame, Source, SourceReadError

log = logging.getLogger(__name__)

_FFMPEG_DECODES: set[str] = set()  # streams whose Motion-JPEG packets did not decode on their own (this process)


class OpenCVLiveSource(PacketDecoding, Source):
    """A V4L2 device, a network stream or a GStreamer pipeline through OpenCV."""

    _decoded = False  # a frame of this connection has been decoded

    def __init__(self, target, api: int = cv2.CAP_ANY, description: str = "camera", size=None, fps=None):
        self.target, self.api, self.description = target, api, description
        self.cap = cv2.VideoCapture(target, api)
        if not self.cap.isOpened():
            self.cap.release()
            raise SourceError(f"cannot open {description}")
        if size:
            self.cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
            self.cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
        if fps:
            self.cap.set(cv2.CAP_PROP_FPS, fps)
        self.cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # latest frame, not a stale backlog
        # a Motion-JPEG network stream (most IP cameras' HTTP stream) as packets, decoded only when kept; a stream
        # whose packets did not decode on their own once is decoded by FFmpeg from then on (see read)
        self.packets = backend(self.cap) == "FFMPEG" and str(target) not in _FFMPEG_DECODES and packet_mode(self.cap)
        self._seq = 0
        # the frame size a reduced decode is chosen from (codec.reduction): the stream's, else the first frame's
        self.height = int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0) if self.packets else 0
        self.width = int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0) if self.packets else 0

    def read(self, keep: Callable[[float], bool] | None = None) -> Frame:
        """The next frame; one that ``keep(t)`` declines is not decoded (V4L2 decodes MJPEG in ``retrieve()``, an
        FFmpeg Motion-JPEG stream comes as packets; other streams are decoded in ``grab()``)."""
        try:
            ok = self.cap.grab()
        except cv2.error as exc:
            raise SourceReadError(f"{self.description}: {exc}") from None
        if not ok:
            raise SourceReadError(f"{self.description}: no frame")
        t = self._timestamp()
        pixels, scale, packet = None, 1, None
        if keep is None or keep(t):
            pixels, scale, packet = self.decode_kept()
            if pixels is None and self.packets and not self._decoded:
                _FFMPEG_DECODES.add(str(self.target))
                log.warning("%s: its Motion-JPEG packets do not decode on their own: FFmpeg will decode every frame "
                            "from the next reconnection on", self.description)
            if pixels is None:
                raise SourceReadError(f"{self.description}: a frame that cannot be decoded")
            self._decoded = True
        frame = Frame(pixels, t, self._seq, None if keep is None else pixels is not None, scale, packet)
        self._seq += 1
        return frame

    def _timestamp(self) -> float:
        """The driver's buffer timestamp when it gives one (V4L2: CLOCK_MONOTONIC, like time.monotonic()), so a dead
        device that keeps handing out its last buffer shows up as a frozen timestamp; else the read time."""
        if self.api == cv2.CAP_V4L2:
            ms = self.cap.get(cv2.CAP_PROP_POS_MSEC)
            if ms and ms > 0 and abs(ms / 1000.0 - time.monotonic()) < 3600:
                return ms / 1000.0
        return time.monotonic()

    def close(self) -> None:
        self.cap.release()
