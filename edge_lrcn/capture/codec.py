"""Getting pixels out of an OpenCV capture: Motion-JPEG packets decoded only when a frame is wanted
(:func:`packet_mode`, :func:`decode_packet`), or the frame OpenCV decoded (:func:`retrieve`). Shared by the file and
the live sources.
"""

from __future__ import annotations

import cv2
import numpy as np

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


def retrieve(cap) -> np.ndarray | None:
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


def backend(cap) -> str:
    """The capture's backend name (``FFMPEG``, ``V4L2``...), or "" if OpenCV cannot say."""
    try:
        return cap.getBackendName()
    except cv2.error:
        return ""
