"""A second synthetic set, of activities the embedded model has never seen: how one object moves.

Classes: ``oscillating`` (back and forth along a random axis), ``hopping`` (parabolic bounces along the floor),
``circling`` (round a random centre), ``growing`` and ``shrinking`` (scale changes in place) and ``still``. The
backgrounds are unlike :mod:`synth`'s (linear gradients, tiles, smooth colour fields with static distractor objects),
320x240 at 30 fps, 4 s per clip by default. Used to measure whether ``convert`` learns *new* activities from a few
dozen clips (docs/training.md); not used to train the embedded model.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from .synth import open_writer

CLASSES = ("oscillating", "hopping", "circling", "growing", "shrinking", "still")
SHAPES = ("ellipse", "ring", "cross", "star")
SIZE = (320, 240)
FPS = 30.0
SECONDS = 4.0


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    kind = rng.integers(3)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    if kind == 0:  # linear gradient between two colours
        a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        ang = rng.uniform(0, 2 * math.pi)
        t = (xx * math.cos(ang) + yy * math.sin(ang))
        t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
        bg = a + (b - a) * t[..., None]
    elif kind == 1:  # tiles
        tile = int(rng.integers(12, 48))
        a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        chk = ((xx // tile + yy // tile) % 2)[..., None]
        bg = a * chk + b * (1 - chk)
    else:  # smooth colour field
        low = rng.uniform(0, 255, size=(4, 5, 3)).astype(np.float32)
        bg = cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC)
    bg = bg.astype(np.float32)
    for _ in range(int(rng.integers(0, 4))):  # static distractors: they never move
        c = tuple(int(v) for v in rng.integers(0, 256, 3))
        p = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        s = int(rng.integers(6, 24))
        cv2.rectangle(bg, (p[0] - s, p[1] - s), (p[0] + s, p[1] + s), c, -1)
    return np.clip(bg, 0, 255)


def _draw(img: np.ndarray, shape: str, x: float, y: float, r: float, colour, angle: float) -> None:
    f = 16
    c = (round(x * f), round(y * f))
    if shape == "ellipse":
        cv2.ellipse(img, c, (round(r * f), round(r * 0.6 * f)), math.degrees(angle), 0, 360, colour, -1,
                    cv2.LINE_AA, 4)
    elif shape == "ring":
        cv2.circle(img, c, round(r * f), colour, max(2, round(r / 3)) if r > 3 else -1, cv2.LINE_AA, 4)
    else:
        n = 4 if shape == "cross" else 5
        pts = []
        for k in range(2 * n):
            rr = r if k % 2 == 0 else r * (0.35 if shape == "cross" else 0.45)
            a = angle + math.pi * k / n
            pts.append((x + rr * math.cos(a), y + rr * math.sin(a)))
        cv2.fillPoly(img, [(np.array(pts) * f).round().astype(np.int32)], colour, cv2.LINE_AA, 4)


class MotionScene:
    """One object moving by its class's rule over a static background; ``render(t)`` is the frame at t seconds."""

    def __init__(self, label: str, rng: np.random.Generator, width: int = SIZE[0], height: int = SIZE[1]):
        if label not in CLASSES:
            raise ValueError(f"unknown motion class {label!r}; classes are {', '.join(CLASSES)}")
        self.label, self.rng, self.w, self.h = label, rng, width, height
        self.bg = _background(rng, width, height)
        base = self.bg.mean(axis=(0, 1))
        colour = rng.integers(0, 256, 3)
        if np.abs(colour - base).sum() < 180:
            colour = (255 - base).astype(np.int64)
        self.colour = tuple(int(v) for v in colour)
        self.shape = SHAPES[rng.integers(len(SHAPES))]
        self.r = height * rng.uniform(0.07, 0.14)
        self.cx, self.cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
        self.period = rng.uniform(0.8, 1.6)  # seconds per oscillation, hop or turn
        self.amp = rng.uniform(0.15, 0.3) * width
        self.axis = rng.uniform(0, math.pi)
        self.dir = 1 if rng.random() < 0.5 else -1
        self.phase = rng.uniform(0, 2 * math.pi)
        self.angle = rng.uniform(0, math.pi)
        self.noise = float(rng.uniform(0, 6))

    def state(self, t: float) -> tuple[float, float, float]:
        w = 2 * math.pi / self.period
        x, y, r = self.cx, self.cy, self.r
        if self.label == "oscillating":
            s = self.amp * 0.5 * math.sin(w * t + self.phase)
            x, y = x + s * math.cos(self.axis), y + s * math.sin(self.axis) * 0.6
        elif self.label == "hopping":
            u = ((t + self.phase / w) / self.period) % 1.0
            y = self.h * 0.8 - 4 * u * (1 - u) * self.h * 0.45
            x = (self.cx + self.dir * self.w * 0.12 * t) % self.w
        elif self.label == "circling":
            rad = self.amp * 0.45
            x = x + rad * math.cos(self.dir * w * t + self.phase)
            y = y + rad * 0.8 * math.sin(self.dir * w * t + self.phase)
        elif self.label in ("growing", "shrinking"):
            u = min(1.0, t / SECONDS)  # steadily over the clip, from 0.4x to 2x its size or back
            g = 0.4 + 1.6 * u if self.label == "growing" else 2.0 - 1.6 * u
            r = self.r * g
        else:
            x += self.rng.uniform(-0.8, 0.8)
            y += self.rng.uniform(-0.8, 0.8)
        return x, y, r

    def render(self, t: float) -> np.ndarray:
        img = self.bg
        if self.noise:
            img = img + self.rng.normal(0, self.noise, size=img.shape).astype(np.float32)
        img = np.clip(img, 0, 255).astype(np.uint8)
        x, y, r = self.state(t)
        _draw(img, self.shape, x, y, r, self.colour, self.angle)
        return img


def make_dataset(out_dir: Path, clips_per_class: int = 40, seed: int = 0, classes: Iterable[str] = CLASSES,
                 fps: float = FPS, size: tuple[int, int] = SIZE, seconds: float = SECONDS) -> dict[str, int]:
    """``out_dir/<class>/<class>_NNN.avi`` (MJPG) for every class; returns clips written per class."""
    counts = {}
    for ci, label in enumerate(classes):
        for k in range(clips_per_class):
            rng = np.random.default_rng([seed, 1000 + ci, k])
            scene = MotionScene(label, rng, *size)
            writer = open_writer(Path(out_dir) / label / f"{label}_{k:03d}.avi", fps, *size)
            try:
                for i in range(int(round(seconds * fps))):
                    writer.write(scene.render(i / fps))
            finally:
                writer.release()
        counts[label] = clips_per_class
    return counts


def make_sequence(path: Path, segments, seed: int = 0, fps: float = FPS,
                  size: tuple[int, int] = SIZE) -> list[tuple[str, float, float]]:
    """One video of labelled segments back to back, each its own random scene (as :func:`synth.make_sequence`);
    returns the ground truth as ``(label, start_s, end_s)`` per segment."""
    rng = np.random.default_rng([seed, 7])
    truth, t = [], 0.0
    scenes = [(MotionScene(label, rng, *size), seconds) for label, seconds in segments]  # bad labels before writing
    writer = open_writer(Path(path), fps, *size)
    try:
        for (scene, seconds), (label, _) in zip(scenes, segments, strict=True):
            for i in range(int(round(seconds * fps))):
                writer.write(scene.render(i / fps))
            truth.append((label, t, t + seconds))
            t += seconds
    finally:
        writer.release()
    return truth
