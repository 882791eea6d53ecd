"""Raspberry Pi camera modules through picamera2 (libcamera); picamera2 is imported only when such a source is
opened."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import cv2
import numpy as np

from ..errors import SourceError, UsageError
from .frame import Frame, Source, SourceReadError

log = logging.getLogger(__name__)


def picamera_to_bgr(array: np.ndarray, fmt: str) -> np.ndarray:
    """Convert a picamera2 array to BGR uint8.

    libcamera names formats by their little-endian word order: "RGB888" is B, G, R bytes in memory (OpenCV's BGR),
    "XRGB8888" is B, G, R, X; "BGR888"/"XBGR8888" are R, G, B(, X). "YUV420" (the only lores format on a Pi 4) is
    planar I420 of shape (H * 3 / 2, W).
    """
    fmt = fmt.upper()
    if fmt == "RGB888":
        return array
    if fmt == "BGR888":
        return cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    if fmt == "XRGB8888":
        return np.ascontiguousarray(array[:, :, :3])
    if fmt == "XBGR8888":
        return cv2.cvtColor(np.ascontiguousarray(array[:, :, :3]), cv2.COLOR_RGB2BGR)
    if fmt in ("YUV420", "YUV420P", "I420"):
        return cv2.cvtColor(array, cv2.COLOR_YUV2BGR_I420)
    raise UsageError(f"unsupported picamera2 format {fmt!r} (use RGB888, XRGB8888 or YUV420)")


class Picamera2Source(Source):
    """Raspberry Pi camera modules through picamera2 (libcamera).

    ``stream="lores"`` (the default) asks for a YUV420 low-resolution stream of ``size``, scaled by the ISP (a Pi 4's
    ISP only produces YUV420 there), beside a main stream of at least 640x480 that snapshots and clips may use;
    ``stream="main"`` asks for an RGB888 main stream of ``size`` alone.
    """

    def __init__(self, index: int = 0, size=(384, 288), fps: float = 20.0, stream: str = "lores"):
        try:
            from picamera2 import Picamera2  # noqa: PLC0415 - optional, imported only when asked for
        except ImportError:
            raise UsageError("picamera2 is not installed: on Raspberry Pi OS run 'sudo apt install python3-picamera2' "
                             "and create the venv with --system-site-packages (deploy/install.sh does)") from None
        self.description = f"picamera2:{index}"
        try:
            self.cam = Picamera2(index)
            if stream == "lores":
                self.fmt = "YUV420"
                main = (max(640, size[0]), max(480, size[1]))  # lores may not be larger than main
                config = self.cam.create_video_configuration(
                    main={"size": main, "format": "XRGB8888"}, lores={"size": tuple(size), "format": "YUV420"},
                    buffer_count=4, controls={"FrameRate": fps})
            else:
                self.fmt = "RGB888"
                config = self.cam.create_video_configuration(
                    main={"size": tuple(size), "format": "RGB888"}, buffer_count=4, controls={"FrameRate": fps})
            self.stream, self.width = stream, int(size[0])
            self.cam.configure(config)
            self.cam.start()
        except Exception as exc:  # libcamera raises RuntimeError/IndexError for an absent camera
            raise SourceError(f"cannot open picamera2 camera {index}: {exc}") from None
        self._seq = 0

    def read(self, keep: Callable[[float], bool] | None = None) -> Frame:
        """The next frame; one that ``keep(t)`` declines is neither copied out of its buffer nor converted."""
        array = None
        try:
            request = self.cam.capture_request()
            try:
                meta = request.get_metadata()
                ts = meta.get("SensorTimestamp")  # ns, CLOCK_BOOTTIME-based: advances only with new frames
                t = ts / 1e9 if ts else time.monotonic()
                if keep is None or keep(t):
                    array = request.make_array(self.stream)
            finally:
                request.release()
        except Exception as exc:
            raise SourceReadError(f"{self.description}: {exc}") from None
        pixels = None if array is None else picamera_to_bgr(array, self.fmt)[:, :self.width]  # no stride padding
        frame = Frame(pixels, t, self._seq, None if keep is None else pixels is not None)
        self._seq += 1
        return frame

    def close(self) -> None:
        try:
            self.cam.stop()
            self.cam.close()
        except Exception:  # closing a vanished camera must not mask the original fault
            log.debug("picamera2 close failed", exc_info=True)
