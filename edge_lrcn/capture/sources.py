"""Frame sources behind one interface: ``read() -> Frame | None``.

``None`` means the end of a finite source (a file). Live sources (cameras, streams) never end; a failed read raises
:class:`SourceReadError` so that the caller can mark the camera offline and reopen it.

Spec strings accepted by :func:`open_source`:
  ``/dev/video0`` or ``0``          V4L2 device (OpenCV)
  ``path/to/file.mp4``              video file (its own timestamps; as fast as possible unless ``realtime``)
  ``rtsp://...``, ``http(s)://...`` network stream (OpenCV/FFmpeg)
  ``gst:<pipeline>``                GStreamer pipeline ending in ``appsink`` (OpenCV built with GStreamer)
  ``picamera2`` / ``picamera2:1``   Raspberry Pi camera through picamera2 (imported only when asked)
A spec that names an existing file is that file, whatever it looks like; the other forms count only when the whole
spec matches them (:func:`parse_source`).
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from ..errors import SourceError, UsageError

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg", ".webm", ".wmv", ".flv")


@dataclass
class Frame:
    pixels: np.ndarray | None  # BGR uint8 (H, W, 3); None for a frame the reader was told to skip (not decoded)
    t: float  # seconds: the file's own timestamp, or the monotonic clock for live sources
    seq: int  # frames delivered by this source so far, from 0
    kept: bool | None = None  # the pacer's decision, when the reader took it before decoding; None: not taken


class SourceReadError(Exception):
    """A live source failed to deliver a frame (camera unplugged, stream dropped)."""


class Source:
    live = True
    description = "source"
    # True only if close() may be called while read() blocks on another thread and makes that read return.
    # Not so for OpenCV's VideoCapture (releasing it under a running read is a use after free).
    close_unblocks_read = False

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


# Motion-JPEG codec tags (as FFmpeg reports them in CAP_PROP_FOURCC): every frame a JPEG image of its own
MJPEG_FOURCCS = frozenset({"MJPG", "JPEG"})


def fourcc(cap) -> str:
    code = int(cap.get(cv2.CAP_PROP_FOURCC) or 0)
    return "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4)).strip("\0 ")


def packet_mode(cap) -> bool:
    """Motion-JPEG through FFmpeg: ask for the compressed packets instead of decoded frames (``CAP_PROP_FORMAT``
    -1), so that ``grab()`` only demuxes and a frame is decoded (:func:`decode_packet`) only when it is wanted. FFmpeg
    decodes in ``grab()`` otherwise, so the frames the pacer drops (two in three from a 30 fps camera) would be
    decoded for nothing. True if the capture now delivers packets; other codecs stay as they are (their frames
    depend on each other)."""
    if fourcc(cap).upper() not in MJPEG_FOURCCS:
        return False
    try:
        return bool(cap.set(cv2.CAP_PROP_FORMAT, -1)) and cap.get(cv2.CAP_PROP_FORMAT) == -1
    except cv2.error:
        return False


def decode_packet(cap) -> np.ndarray | None:
    """The grabbed Motion-JPEG packet decoded to BGR uint8 (H, W, 3) by libjpeg-turbo (``cv2.imdecode``, as OpenCV's
    V4L2 backend decodes an MJPEG camera's frames), or None if it is no decodable JPEG."""
    try:
        ok, packet = cap.retrieve()
        if not ok or packet is None or not packet.size:
            return None
        pixels = cv2.imdecode(packet, cv2.IMREAD_COLOR)
    except cv2.error:
        return None
    return pixels if pixels is not None and pixels.ndim == 3 and pixels.shape[2] == 3 else None


class VideoFileSource(Source):
    """A video file, decoded with OpenCV, timestamps from the container.

    A Motion-JPEG file (what ``synth`` and many cameras write) is read as packets and only the frames asked for are
    decoded (:func:`packet_mode`); the trainer reads its clips through this class too, so it sees the same pixels
    as the daemon. Frames that cannot be decoded are skipped and counted (``skipped``); the source ends (``None``)
    at the end of the file, or after ``max_bad`` consecutive undecodable frames (a truncated file).
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
        self._decode = decode_packet if self.packets else _retrieve
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
            pixels = None
            if self._grab():
                t = self._timestamp()
                if keep is not None and not keep(t):
                    break
                pixels = self._decode(self.cap)
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
        frame = Frame(pixels, t, self._seq, None if keep is None else pixels is not None)
        self._seq += 1
        return frame

    def close(self) -> None:
        self.cap.release()


def _retrieve(cap) -> np.ndarray | None:
    """The grabbed frame as BGR uint8 (H, W, 3) (grey converted), or None if it cannot be decoded."""
    try:
        ok, pixels = cap.retrieve()
    except cv2.error:
        return None
    if not ok or pixels is None or not pixels.size:
        return None
    if pixels.ndim == 2:  # grey video
        pixels = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
    return pixels if pixels.ndim == 3 and pixels.shape[2] == 3 else None


def _backend(cap) -> str:
    try:
        return cap.getBackendName()
    except cv2.error:
        return ""


_FFMPEG_DECODES: set[str] = set()  # streams whose Motion-JPEG packets did not decode on their own (this process)


class OpenCVLiveSource(Source):
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
        self.packets = _backend(self.cap) == "FFMPEG" and str(target) not in _FFMPEG_DECODES and packet_mode(self.cap)
        self._seq = 0

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
        pixels = None
        if keep is None or keep(t):
            pixels = decode_packet(self.cap) if self.packets else _retrieve(self.cap)
            if pixels is None and self.packets and not self._decoded:
                _FFMPEG_DECODES.add(str(self.target))
                log.warning("%s: its Motion-JPEG packets do not decode on their own: FFmpeg will decode every frame "
                            "from the next reconnection on", self.description)
            if pixels is None:
                raise SourceReadError(f"{self.description}: a frame that cannot be decoded")
            self._decoded = True
        frame = Frame(pixels, t, self._seq, None if keep is None else pixels is not None)
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


SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#]+\S*")
PICAMERA = re.compile(r"picamera2(?::(\d{1,2}))?")


@dataclass(frozen=True)
class SourceSpec:
    """What a spec string names, decided by its exact form before anything is opened: ``kind`` is file, v4l2,
    stream, gst or picamera2; ``live`` is False only for a file."""

    kind: str
    target: str | int
    description: str

    @property
    def live(self) -> bool:
        return self.kind != "file"


def parse_source(spec: str) -> SourceSpec:
    """Classify a spec (UsageError for a malformed one, exit 2). A spec naming an existing file, or holding a path
    separator that does not make it a URL or a /dev path, is a file; ``picamera2[:N]``, digits, ``gst:`` and
    ``scheme://host...`` only in their exact forms (``picamera2_clip.avi`` is a file)."""
    spec = str(spec).strip()
    if not spec:
        raise UsageError("--source is empty")
    if "\0" in spec:
        raise UsageError("--source holds a NUL character")
    if os.path.isfile(spec):
        return SourceSpec("file", spec, f"file {spec}")
    if spec.startswith("gst:"):
        if not spec[4:].strip():
            raise UsageError("--source gst: has no pipeline")
        return SourceSpec("gst", spec[4:], "GStreamer pipeline")
    if SCHEME.match(spec):
        if not URL.fullmatch(spec):
            raise UsageError(f"--source {spec!r} is not a valid stream URL (scheme://host/...)")
        return SourceSpec("stream", spec, f"stream {spec.split('@')[-1]}")
    m = PICAMERA.fullmatch(spec)
    if m:
        return SourceSpec("picamera2", int(m.group(1) or 0), f"picamera2:{int(m.group(1) or 0)}")
    if spec.startswith("picamera2:"):
        raise UsageError(f"bad picamera2 index in {spec!r} (use picamera2 or picamera2:N)")
    if spec.isdigit():
        return SourceSpec("v4l2", int(spec), f"camera {spec}")
    if spec.startswith("/dev/"):
        return SourceSpec("v4l2", spec, f"camera {spec}")
    return SourceSpec("file", spec, f"file {spec}")


def open_source(spec: str | SourceSpec, realtime: bool = False, size=None, fps=None) -> Source:
    """Open a source from its spec (see the module docstring and :func:`parse_source`); raises SourceError or
    UsageError."""
    p = spec if isinstance(spec, SourceSpec) else parse_source(spec)
    if p.kind == "picamera2":
        return Picamera2Source(p.target, size=size or (384, 288), fps=fps or 20.0)
    if p.kind == "gst":
        if "GStreamer:                   YES" not in cv2.getBuildInformation():
            raise SourceError("this OpenCV has no GStreamer support: use the system OpenCV (apt python3-opencv, "
                              "JetPack's build) in a venv with --system-site-packages")
        return OpenCVLiveSource(p.target, cv2.CAP_GSTREAMER, p.description)
    if p.kind == "stream":
        return OpenCVLiveSource(p.target, cv2.CAP_FFMPEG, p.description)
    if p.kind == "v4l2":
        if isinstance(p.target, str) and not os.path.exists(p.target):
            raise SourceError(f"camera {p.target} does not exist (is it plugged in? see 'v4l2-ctl --list-devices')")
        return OpenCVLiveSource(p.target, cv2.CAP_V4L2, p.description, size=size, fps=fps)
    return VideoFileSource(p.target, realtime=realtime)
