"""Synthetic labelled videos whose classes differ only by motion.

Classes: ``left``, ``right``, ``up``, ``down`` (one shape moving across the frame in that direction, in image
coordinates, at a constant speed of 15-40% of the frame width per second, re-entering from the opposite edge) and
``still`` (the same kind of shape, not moving, slight jitter). Shape, colour, size, background and start position
are random, so a single frame says nothing about the class: only the sequence does.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

CLASSES = ("left", "right", "up", "down", "still")
DIRECTIONS = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1), "still": (0, 0)}
SHAPES = ("disc", "square", "triangle")
BACKGROUNDS = ("plain", "noise", "texture")
# warm-up only, not part of the dataset spec: a white shape on black, where motion is all there is to see
WARMUP_BACKGROUNDS = ("black",)
DEFAULT_SIZE = (160, 120)  # width, height
DEFAULT_FPS = 25.0
FOURCC = "MJPG"


@dataclass
class Scene:
    """One moving (or still) shape over a background; ``render(t)`` draws the frame at time t seconds."""

    label: str
    width: int
    height: int
    shape: str
    colour: tuple[int, int, int]
    size: int
    background: np.ndarray
    noise: float
    start: tuple[float, float]
    speed: float  # pixels per second
    rng: np.random.Generator

    @classmethod
    def random(cls, label: str, rng: np.random.Generator, width: int = DEFAULT_SIZE[0],
               height: int = DEFAULT_SIZE[1], backgrounds: Sequence[str] = BACKGROUNDS) -> Scene:
        if label not in DIRECTIONS:
            raise ValueError(f"unknown synth class {label!r}; classes are {', '.join(CLASSES)}")
        kind = backgrounds[rng.integers(len(backgrounds))]
        base = rng.integers(0, 256, size=3).astype(np.float32)
        noise = 0.0
        if kind == "black":
            base = np.zeros(3, np.float32)
            bg = np.zeros((height, width, 3), np.float32)
        elif kind == "plain":
            bg = np.broadcast_to(base, (height, width, 3)).copy()
        elif kind == "noise":
            bg = np.broadcast_to(base, (height, width, 3)).copy()
            noise = float(rng.uniform(8, 25))  # fresh sensor-like noise in every frame
        else:  # a static texture: smoothed random blobs plus stripes
            blobs = rng.normal(0, 1, size=(height // 8 + 1, width // 8 + 1, 3)).astype(np.float32)
            blobs = cv2.resize(blobs, (width, height), interpolation=cv2.INTER_CUBIC)
            yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
            angle, freq = rng.uniform(0, math.pi), rng.uniform(0.05, 0.3)
            stripes = np.sin((xx * math.cos(angle) + yy * math.sin(angle)) * freq)[..., None]
            bg = base + 40 * blobs + 25 * stripes
        colour = rng.integers(0, 256, size=3) if kind != "black" else np.full(3, 255)
        # keep the shape visible against the background: push its colour away from the background mean
        if np.abs(colour - base).sum() < 150:
            colour = (255 - base).astype(np.int64)
        size = int(round(height * rng.uniform(0.10, 0.25)))
        speed = width * rng.uniform(0.15, 0.40)
        start = (float(rng.uniform(0, width)), float(rng.uniform(0, height)))
        return cls(label, width, height, SHAPES[rng.integers(len(SHAPES))],
                   tuple(int(c) for c in colour), max(size, 3), np.clip(bg, 0, 255).astype(np.float32),
                   noise, start, speed, rng)

    def path(self, t: float) -> tuple[float, float]:
        """The centre at time t without the jitter of a still shape."""
        dx, dy = DIRECTIONS[self.label]
        x, y = self.start
        if dx or dy:
            # travel along one axis and wrap: the shape leaves fully, then re-enters from the opposite edge
            span_x, span_y = self.width + self.size, self.height + self.size
            x = (x + dx * self.speed * t + self.size / 2) % span_x - self.size / 2
            y = (y + dy * self.speed * t + self.size / 2) % span_y - self.size / 2
        return x, y

    def centre(self, t: float) -> tuple[float, float]:
        x, y = self.path(t)
        if self.label == "still":
            x += self.rng.uniform(-1.0, 1.0)
            y += self.rng.uniform(-1.0, 1.0)
        return x, y

    def render(self, t: float) -> np.ndarray:
        img = self.background
        if self.noise:
            img = img + self.rng.normal(0, self.noise, size=img.shape).astype(np.float32)
        img = np.clip(img, 0, 255).astype(np.uint8)
        x, y = self.centre(t)
        r = self.size / 2
        shift = 4  # sub-pixel drawing: slow motion moves smoothly, not in whole-pixel jumps
        f = 1 << shift
        if self.shape == "disc":
            cv2.circle(img, (round(x * f), round(y * f)), round(r * f), self.colour, -1, cv2.LINE_AA, shift)
        elif self.shape == "square":
            cv2.rectangle(img, (round((x - r) * f), round((y - r) * f)), (round((x + r) * f), round((y + r) * f)),
                          self.colour, -1, cv2.LINE_AA, shift)
        else:
            pts = np.array([[x, y - r], [x - r, y + r], [x + r, y + r]]) * f
            cv2.fillPoly(img, [pts.round().astype(np.int32)], self.colour, cv2.LINE_AA, shift)
        return img


def open_writer(path: Path, fps: float, width: int, height: int) -> cv2.VideoWriter:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*FOURCC), fps, (width, height))
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot write {FOURCC} video to {path}")
    return writer


def write_scenes(path: Path, scenes: Sequence[tuple[Scene, float]], fps: float = DEFAULT_FPS) -> int:
    """Write scenes back to back (each for its duration in seconds); returns the number of frames written."""
    width, height = scenes[0][0].width, scenes[0][0].height
    writer = open_writer(path, fps, width, height)
    n = 0
    try:
        for scene, seconds in scenes:
            for i in range(int(round(seconds * fps))):
                writer.write(scene.render(i / fps))
                n += 1
    finally:
        writer.release()
    return n


def write_clip(path: Path, label: str, rng: np.random.Generator, seconds: float | None = None,
               fps: float = DEFAULT_FPS, size: tuple[int, int] = DEFAULT_SIZE,
               backgrounds: Sequence[str] = BACKGROUNDS) -> int:
    seconds = float(rng.uniform(3.0, 6.0)) if seconds is None else seconds
    return write_scenes(path, [(Scene.random(label, rng, *size, backgrounds=backgrounds), seconds)], fps)


def make_dataset(out_dir: Path, clips_per_class: int = 40, seed: int = 0, classes: Iterable[str] = CLASSES,
                 fps: float = DEFAULT_FPS, size: tuple[int, int] = DEFAULT_SIZE, progress=None,
                 backgrounds: Sequence[str] = BACKGROUNDS) -> dict[str, int]:
    """Write ``out_dir/<class>/<class>_NNN.avi`` for every class; returns clips written per class.

    ``backgrounds`` restricts the background kinds (all three by default). ``black`` (a white shape on black, outside
    the dataset spec) makes the warm-up set of the default model's curriculum (scripts/make_default_model.sh).
    """
    unknown = set(backgrounds) - set(BACKGROUNDS) - set(WARMUP_BACKGROUNDS)
    if unknown or not backgrounds:
        raise ValueError(f"unknown background kind(s) {sorted(unknown)}; kinds are {', '.join(BACKGROUNDS)}")
    out_dir = Path(out_dir)
    classes = list(classes)
    counts = {}
    total = len(classes) * clips_per_class
    done = 0
    for ci, label in enumerate(classes):
        for k in range(clips_per_class):
            rng = np.random.default_rng([seed, ci, k])
            write_clip(out_dir / label / f"{label}_{k:03d}.avi", label, rng, fps=fps, size=size,
                       backgrounds=backgrounds)
            done += 1
            if progress:
                progress(done, total)
        counts[label] = clips_per_class
    return counts


def make_sequence(path: Path, segments: Sequence[tuple[str, float]], seed: int = 0, fps: float = DEFAULT_FPS,
                  size: tuple[int, int] = DEFAULT_SIZE, one_scene: bool = False) -> list[tuple[str, float, float]]:
    """Write one video of labelled segments back to back, each with its own random scene, or with ``one_scene``
    all in one scene (:func:`write_one_scene`: no cut separates the activities).

    Returns the ground truth as ``(label, start_s, end_s)`` per segment.
    """
    rng = np.random.default_rng(seed)
    if one_scene:
        return write_one_scene(Path(path), segments, rng, fps, size)
    scenes, truth, t = [], [], 0.0
    for label, seconds in segments:
        scenes.append((Scene.random(label, rng, *size), seconds))
        truth.append((label, t, t + seconds))
        t += seconds
    write_scenes(Path(path), scenes, fps)
    return truth


def write_one_scene(path: Path, segments: Sequence[tuple[str, float]], rng: np.random.Generator,
                    fps: float = DEFAULT_FPS, size: tuple[int, int] = DEFAULT_SIZE) -> list[tuple[str, float, float]]:
    """One scene (background, shape, speed) whose shape changes what it does at each segment's start, going on from
    where it was: the activity changes and nothing else, as a person in a fixed camera's view turns round or stops.
    Returns the ground truth as :func:`make_sequence`."""
    for label, _ in segments:
        Scene.random(label, np.random.default_rng(0))  # an unknown label: the same ValueError as make_sequence
    scene = Scene.random(segments[0][0], rng, *size)
    truth, t, n = [], 0.0, 0
    writer = open_writer(path, fps, *size)
    try:
        for label, seconds in segments:
            scene.label = label
            frames = int(round(seconds * fps))
            for i in range(frames):
                writer.write(scene.render(i / fps))
            n += frames
            scene.start = scene.path(frames / fps)
            truth.append((label, t, n / fps))
            t = n / fps
    finally:
        writer.release()
    return truth


def make_panels(path: Path, panels: Sequence[Sequence[tuple[str, float]]], seed: int = 0, fps: float = DEFAULT_FPS,
                size: tuple[int, int] = DEFAULT_SIZE) -> list[list[tuple[str, float, float]]]:
    """One video of several views side by side, each ``size`` and its own sequence of labelled segments (the same
    total length): a camera whose regions of interest (``regions``, the left or right half...) see different
    activities. Returns the ground truth of each panel, as :func:`make_sequence`."""
    rng = np.random.default_rng(seed)
    timelines, truths = [], []
    for segments in panels:
        scenes, truth, t = [], [], 0.0
        for label, seconds in segments:
            scenes.append((Scene.random(label, rng, *size), t, t + seconds))
            truth.append((label, t, t + seconds))
            t += seconds
        timelines.append(scenes)
        truths.append(truth)
    total = min(scenes[-1][2] for scenes in timelines)
    writer = open_writer(Path(path), fps, size[0] * len(panels), size[1])
    try:
        for i in range(int(round(total * fps))):
            t = i / fps
            views = [next((sc.render(t - t0) for sc, t0, t1 in scenes if t < t1), scenes[-1][0].render(t))
                     for scenes in timelines]
            writer.write(np.hstack(views))
    finally:
        writer.release()
    return truths

