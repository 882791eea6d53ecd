"""edge-lrcn: video activity recognition (LRCN) streaming on edge devices.

Importing this package never imports TensorFlow; the host-side tools live in ``edge_lrcn.convert``.
"""

import os as _os

__version__ = "0.1.0"

# FFmpeg (inside OpenCV) prints every damaged packet straight to stderr; the sources count and log those themselves.
# Set OPENCV_FFMPEG_LOGLEVEL yourself to see FFmpeg's messages.
_os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
