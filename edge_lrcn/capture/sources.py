"""Frame sources behind one interface: ``read() -> Frame | None``. This module only gathers them; each lives in a
file of its own:

  frame.py       :class:`Frame`, the :class:`Source` interface, :class:`SourceReadError`
  codec.py       Motion-JPEG packets and OpenCV's decoded frames (shared by the file and live sources)
  filesource.py  :class:`VideoFileSource` (and ``VIDEO_EXTENSIONS``)
  livesource.py  :class:`OpenCVLiveSource`: V4L2, network streams, GStreamer
  picamera.py    :class:`Picamera2Source` (Raspberry Pi cameras) and :func:`picamera_to_bgr`
  spec.py        :func:`parse_source` / :class:`SourceSpec` (what a ``--source`` string names), :func:`open_source`
"""

from __future__ import annotations

from .codec import MJPEG_FOURCCS, decode_packet, fourcc, packet_mode
from .filesource import VIDEO_EXTENSIONS, VideoFileSource
from .frame import Frame, Source, SourceReadError
from .livesource import OpenCVLiveSource
from .picamera import Picamera2Source, picamera_to_bgr
from .spec import SourceSpec, open_source, parse_source

__all__ = ["MJPEG_FOURCCS", "VIDEO_EXTENSIONS", "Frame", "OpenCVLiveSource", "Picamera2Source", "Source",
           "SourceReadError", "SourceSpec", "VideoFileSource", "decode_packet", "fourcc", "open_source",
           "packet_mode", "parse_source", "picamera_to_bgr"]
