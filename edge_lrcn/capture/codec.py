"""Getting pixels out of an OpenCV capture: Motion-JPEG packets decoded only when a frame is wanted
(:func:`packet_mode`, :func:`decode_packet`), at a reduced size when the model needs no more (:func:`reduction`), or
the frame OpenCV decoded (:func:`retrieve`). Shared by the file and the live sources.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

# Motion-JPEG codec tags (as FFmpeg reports them in CAP_PROP_FOURCC): every frame a JPEG image of its own
MJPEG_FOURCCS = frozenset({"MJPG", "JPEG"})

# libjpeg-turbo scales in its inverse DCT: a JPEG decoded at 1/2, 1/4 or 1/8 of its size costs a fraction of the
# full decode, and the resize after it less again (README, "Decoding only the frames the model keeps")
_DECODE_FLAGS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                 8: cv2.IMREAD_REDUCED_COLOR_8}


def reduction(height: int, width: int, min_size: tuple[int, int] | None) -> int:
    """The largest JPEG decode reduction (8, 4, 2, else 1) that leaves a ``height`` x ``width`` frame at least
    ``min_size`` (h, w) pixels (libjpeg rounds a reduced side up); 1 without ``min_size`` or a known frame size."""
    if not min_size or height <= 0 or width <= 0:
        return 1
    for factor in (8, 4, 2):
        if -(-height // factor) >= min_size[0] and -(-width // factor) >= min_size[1]:
            return factor
    return 1


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


def read_packet(cap) -> np.ndarray | None:
    """The grabbed Motion-JPEG packet (uint8 bytes, an array of its own), or None."""
    try:
        ok, packet = cap.retrieve()
    except cv2.error:
        return None
    return packet if ok and packet is not None and packet.size else None


def decode_jpeg(packet: np.ndarray, factor: int = 1) -> np.ndarray | None:
    """A JPEG decoded to BGR uint8 (H, W, 3) by libjpeg-turbo (``cv2.imdecode``, as OpenCV's V4L2 backend decodes an
    MJPEG camera's frames), at 1/``factor`` of its size (:func:`reduction`), or None if it is no decodable JPEG."""
    try:
        pixels = cv2.imdecode(packet, _DECODE_FLAGS[factor])
    except cv2.error:
        return None
    return pixels if pixels is not None and pixels.ndim == 3 and pixels.shape[2] == 3 else None


def decode_packet(cap, factor: int = 1) -> np.ndarray | None:
    """The grabbed Motion-JPEG packet decoded (:func:`decode_jpeg`), or None if it is no decodable JPEG."""
    packet = read_packet(cap)
    return None if packet is None else decode_jpeg(packet, factor)


def full_pixels(frame) -> np.ndarray:
    """A decoded frame's pixels at the source's full size: a frame decoded reduced (``Frame.scale`` > 1, for the
    model) is decoded again from its packet, for the consumers that show or store the picture (snapshots, the
    page's live view and recordings)."""
    if frame.scale > 1 and frame.packet is not None:
        pixels = decode_jpeg(frame.packet)
        if pixels is not None:
            return pixels
    return frame.pixels


class PacketDecoding:
    """What the file and the live OpenCV sources share: a grabbed frame's pixels, decoded from its Motion-JPEG packet
    at the reduction ``min_size`` allows (the packet kept when reduced, for :func:`full_pixels`), or the frame OpenCV
    decoded when the capture does not deliver packets."""

    cap: Any
    packets: bool
    height: int
    width: int
    min_size: tuple[int, int] | None

    def decode_kept(self) -> tuple[np.ndarray | None, int, np.ndarray | None]:
        """The grabbed frame's pixels, the reduction they were decoded at, and the packet when reduced."""
        if not self.packets:
            return retrieve(self.cap), 1, None
        packet = read_packet(self.cap)
        if packet is None:
            return None, 1, None
        scale = reduction(self.height, self.width, self.min_size)
        pixels = decode_jpeg(packet, scale)
        if scale == 1 and pixels is not None and not self.height:
            self.height, self.width = pixels.shape[:2]
        return pixels, scale, packet if scale > 1 else None


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
