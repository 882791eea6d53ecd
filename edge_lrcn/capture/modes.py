"""Which capture mode to ask a camera for when the user did not set one: what the model needs, not more.

The model sees ``height x width`` pixels at ``fps``. Every captured pixel costs CPU before the model sees it (MJPEG
decoding, colour conversion, the INTER_AREA resize, which for 640x480 -> 64x64 costs more than the encoder), and
every frame the pacer drops was transferred and (unless the reader skips it) decoded for nothing. So the default
mode is the smallest one at least ``MARGIN`` times the model input on each side (INTER_AREA then averages at least
4x4 camera pixels per model pixel: the noise and the JPEG blocks average out as they did on the training videos),
at the lowest rate that is a whole multiple (at least 2) of the model's fps: the pacer keeps every n-th frame,
evenly spaced, and a camera whose clock drifts against the pacer's never leaves it without a frame in time.

V4L2 lists its modes (``v4l2-ctl --list-formats-ext``; OpenCV cannot list them); :func:`v4l2_modes` reads that
list, and returns nothing where ``v4l2-ctl`` is missing, so that the caller falls back to :data:`FALLBACK`.
"""

from __future__ import annotations

import logging
import re
import subprocess
from typing import NamedTuple

from .spec import SourceSpec, parse_source

log = logging.getLogger(__name__)

MARGIN = 4
FALLBACK = (640, 480, 30.0)  # what nearly every UVC camera offers, when its modes cannot be listed


class Mode(NamedTuple):
    width: int
    height: int
    fps: float
    fourcc: str = ""


def pick_mode(modes: list[Mode], model_height: int, model_width: int, model_fps: float) -> Mode | None:
    """The smallest mode (by pixels) at least MARGIN x the model input on each side, at the lowest rate that is a
    whole multiple (>= 2) of ``model_fps`` (else the highest rate it has); among equals, uncompressed formats first (no
    decoding). None when no mode is large enough (the caller keeps its fallback)."""
    big = [m for m in modes if m.width >= MARGIN * model_width and m.height >= MARGIN * model_height]
    if not big:
        return None
    smallest = min(m.width * m.height for m in big)
    sized = [m for m in big if m.width * m.height == smallest]

    def multiple(m: Mode) -> bool:  # at least twice: a camera's drift never leaves the pacer without a frame
        n = m.fps / model_fps
        return n >= 2 - 1e-3 and abs(n - round(n)) < 1e-3

    rated = [m for m in sized if multiple(m)]
    fps = min(m.fps for m in rated) if rated else max(m.fps for m in sized)
    same = [m for m in sized if m.fps == fps]
    return min(same, key=lambda m: (m.fourcc.upper() in ("MJPG", "JPEG", "H264"), m.fourcc))


_FORMAT = re.compile(r"\[\d+\]: '(\w+)'")
_SIZE = re.compile(r"Size: Discrete (\d+)x(\d+)")
_RATE = re.compile(r"\(([\d.]+) fps\)")


def parse_v4l2_modes(text: str) -> list[Mode]:
    """The discrete modes of ``v4l2-ctl --list-formats-ext`` output."""
    modes, fourcc, size = [], "", None
    for line in text.splitlines():
        if m := _FORMAT.search(line):
            fourcc, size = m.group(1), None
        elif m := _SIZE.search(line):
            size = (int(m.group(1)), int(m.group(2)))
        elif (m := _RATE.search(line)) and size:
            modes.append(Mode(size[0], size[1], float(m.group(1)), fourcc))
    return modes


def v4l2_modes(device: str, timeout: float = 3.0) -> list[Mode]:
    """The modes a V4L2 device lists, or [] where they cannot be listed (no v4l2-ctl, a busy or vanished device)."""
    try:
        out = subprocess.run(["v4l2-ctl", "-d", device, "--list-formats-ext"], capture_output=True, text=True,
                             timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.debug("cannot list the modes of %s: %s", device, exc)
        return []
    return parse_v4l2_modes(out.stdout) if out.returncode == 0 else []


def camera_mode(device: str, model_height: int, model_width: int, model_fps: float) -> Mode:
    """The mode to ask ``device`` for by default (logged), or :data:`FALLBACK` where its modes are unknown."""
    mode = pick_mode(v4l2_modes(device), model_height, model_width, model_fps)
    if mode is None:
        mode = Mode(*FALLBACK)
        log.info("camera %s: modes unknown (install v4l-utils to list them): asking for %dx%d at %g fps", device,
                 *mode[:3])
    else:
        log.info("camera %s: asking for %dx%d at %g fps %s (the smallest mode >= %dx the model input; set [camera] "
                 "width, height, camera_fps to choose)", device, *mode[:3], mode.fourcc, MARGIN)
    return mode


# picamera2's low-resolution stream: 4:3 sizes whose width is a multiple of 64 (the ISP's lores line stride, so that
# the YUV420 array has no padding columns)
LORES_SIZES = [(384, 288), (512, 384), (640, 480), (768, 576), (1024, 768), (1280, 960)]


def lores_size(model_height: int, model_width: int) -> tuple[int, int]:
    """The smallest LORES_SIZES entry at least MARGIN x the model input on each side (the largest otherwise)."""
    for w, h in LORES_SIZES:
        if w >= MARGIN * model_width and h >= MARGIN * model_height:
            return w, h
    return LORES_SIZES[-1]


def capture_request(source, width: int | None, height: int | None, fps: float | None, model_height: int,
                    model_width: int, model_fps: float) -> tuple[tuple[int, int] | None, float | None]:
    """The size and rate to ask ``source`` for: what the user set, else what the model needs (a V4L2 device: its
    mode from :func:`camera_mode`; picamera2: the lores size from :func:`lores_size` at twice the model's fps);
    other sources (files, streams, GStreamer pipelines) are not asked (None)."""
    spec = source if isinstance(source, SourceSpec) else parse_source(source)  # one reading of a spec everywhere
    if width and height and fps:
        return (width, height), fps
    if spec.kind == "v4l2":
        device = f"/dev/video{spec.target}" if isinstance(spec.target, int) else spec.target
        mode = camera_mode(device, model_height, model_width, model_fps)
    elif spec.kind == "picamera2":
        mode = Mode(*lores_size(model_height, model_width), 2 * model_fps)
    else:
        return ((width, height) if width and height else None), fps
    return (width or mode.width, height or mode.height), fps or mode.fps
