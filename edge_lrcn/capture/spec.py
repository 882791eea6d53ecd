"""Source specs: what a ``--source`` string names (:func:`parse_source`) and the source it opens
(:func:`open_source`).

Spec strings accepted:
  ``/dev/video0`` or ``0``          V4L2 device (OpenCV)
  ``path/to/file.mp4``              video file (its own timestamps; as fast as possible unless ``realtime``)
  ``rtsp://...``, ``http(s)://...`` network stream (OpenCV/FFmpeg)
  ``gst:<pipeline>``                GStreamer pipeline ending in ``appsink`` (OpenCV built with GStreamer)
  ``picamera2`` / ``picamera2:1``   Raspberry Pi camera through picamera2 (imported only when asked)
A spec that names an existing file is that file, whatever it looks like; the other forms count only when the whole
spec matches them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import cv2

from ..errors import SourceError, UsageError
from .filesource import VideoFileSource
from .frame import Source
from .livesource import OpenCVLiveSource
from .picamera import Picamera2Source

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
        return Picamera2Source(int(p.target), size=size or (384, 288), fps=fps or 20.0)
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
    return VideoFileSource(str(p.target), realtime=realtime)
