"""Regions of interest: each region of the camera's view is classified as a stream of its own.

One pacer decides which frames the model keeps (before they are decoded: capture/reader.py); every kept frame is
decoded once, and each region crops it (classify/preprocess.py ``crop_box``), resizes the crop and feeds its own
:class:`~.classifier.Classifier`: its own window, its own gap and scene-cut resets, and (announce.py) its own event
tracker. The encoder and the head are shared: a region costs one crop, one resize, one encoder call per kept frame
and one head call per window (``bench`` measures it). No region configured is one stream over the whole frame,
exactly as before regions existed; its name is ``None`` and its events carry no ``region``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from ..capture.sources import Frame
from ..model.loader import Model
from .classifier import Classifier, Counts, Reset
from .pacer import Pacer
from .preprocess import aspect_mismatch, box_pixels, model_min_size

log = logging.getLogger(__name__)


class RegionStep(NamedTuple):
    """What a kept frame did in one region: the reset it caused, and probabilities when a window was due."""

    region: str | None
    reset: Reset | None
    probs: np.ndarray | None


@dataclass(frozen=True)
class Area:
    """A region as the classifier needs it: a name (a topic level, an entity id) and a normalized box ``(x0, y0,
    x1, y1)``. The settings' ``Region`` objects have the same two attributes; anything that has them will do. The
    whole frame (no region configured) is ``Area(None, None)``."""

    name: str | None
    box: tuple[float, ...] | None


def areas(regions) -> list[Area]:
    """The regions as :class:`Area` s (from the settings, or ``(name, box)`` pairs); none: the whole frame."""
    out = []
    for r in regions or ():
        name, box = (r.name, r.box) if hasattr(r, "box") else r
        out.append(Area(str(name), tuple(float(v) for v in box)))
    return out or [Area(None, None)]


class Regions:
    """pacer -> one decoded frame -> a :class:`Classifier` per region; the daemon's and ``bench``'s classifier."""

    def __init__(self, model: Model, regions=(), stride: int = 1, cut_threshold: float = 0.0):
        self.model = model
        self.stride = stride
        self._cut = cut_threshold
        self.pacer = Pacer(model.bundle.fps)
        self.frames = self.kept = 0
        self._counts = Counts()  # windows and times, shared by the streams (frames are counted here, once)
        self.streams: dict[str | None, Classifier] = {}
        self.boxes: dict[str | None, tuple[float, ...] | None] = {}
        self._checked: set[str | None] = set()
        self.set_regions(regions)

    @property
    def names(self) -> list[str | None]:
        return list(self.streams)

    def set_regions(self, regions) -> list[tuple[str | None, Reset]]:
        """Classify these regions from the next frame on. A region whose box is unchanged keeps its window; one that
        is new or moved starts afresh; the resets of the streams that ended (removed or moved) are returned."""
        wanted = {a.name: a.box for a in areas(regions)}
        ended = [(name, self.streams[name].restart("regions")) for name in self.streams
                 if name not in wanted or wanted[name] != self.boxes[name]]
        streams: dict[str | None, Classifier] = {}
        for name, box in wanted.items():
            keep = name in self.streams and self.boxes[name] == box
            streams[name] = self.streams[name] if keep else self._stream(box)
            if not keep:
                self._checked.discard(name)
        self.streams, self.boxes = streams, wanted
        self._sized()
        return [(name, reset) for name, reset in ended if reset is not None]

    def _stream(self, box) -> Classifier:
        clf = Classifier(self.model, self.stride, self._cut, box)
        clf.counts = self._counts
        return clf

    def push(self, frame: Frame) -> tuple[bool, list[RegionStep]]:
        """A frame: whether the model kept it, and what it did in each region."""
        self.frames += 1
        kept = self.pacer.keep(frame.t) if frame.kept is None else frame.kept
        if not kept:
            return False, []
        self.kept += 1
        if frame.kept is None:
            frame = replace(frame, kept=True)  # each stream trusts the one decision
        if len(self._checked) < len(self.streams):
            assert frame.pixels is not None  # only a frame the reader skipped (kept False) is not decoded
            self._check_aspects((frame.pixels.shape[0] * frame.scale, frame.pixels.shape[1] * frame.scale))
        steps = []
        for name, clf in self.streams.items():
            step = clf.push(frame)
            steps.append(RegionStep(name, step.reset, step.probs))
        return True, steps

    def _check_aspects(self, shape) -> None:
        """Once per region, at its first frame: warn when its crop is far wider or taller than the clips the model
        learned from (both are stretched to the model's square input, so their pictures would differ)."""
        trained = self.model.bundle.clip_shape
        for name, box in self.boxes.items():
            if name in self._checked:
                continue
            self._checked.add(name)
            if trained is None or box is None:
                continue
            x0, y0, x1, y1 = box_pixels(box, shape[0], shape[1])
            off = aspect_mismatch((y1 - y0, x1 - x0), trained)
            if off:
                log.warning("region %s is %dx%d pixels, and the model learned from %dx%d clips: its aspect differs "
                            "%.1fx, so the model sees it stretched differently; record its clips with record "
                            "--region %s", name, x1 - x0, y1 - y0, trained[1], trained[0], off, name)

    def decide(self, t: float) -> bool:
        """The pacer's decision, taken by the frame reader before it decodes the frame (Classifier.decide)."""
        return self.pacer.keep(t)

    def restart(self, reason: str) -> list[tuple[str | None, Reset]]:
        """Every stream starts again (a camera fault, the pause switch); the resets of those that had kept frames."""
        self.pacer.reset()
        resets = [(name, clf.restart(reason)) for name, clf in self.streams.items()]
        return [(name, r) for name, r in resets if r is not None]

    def use(self, model: Model) -> None:
        """Run ``model`` from the next frame on, in every region (the caller closed what was open)."""
        self.model = model
        self.pacer = Pacer(model.bundle.fps)
        for clf in self.streams.values():
            clf.use(model)
        self._checked.clear()
        self._sized()

    def _sized(self) -> None:
        # the smallest frame the regions' crops may be decoded to (Source.min_size, capture/codec.py reduction)
        self.min_size = model_min_size(*self.model.bundle.input_size, list(self.boxes.values()))

    def apply(self, events) -> None:
        """A reload: the ``[events]`` section's cut threshold, in every region, from the next frame on."""
        self.cut_threshold = events.cut_threshold

    @property
    def cut_threshold(self) -> float:
        return self._cut

    @cut_threshold.setter
    def cut_threshold(self, value: float) -> None:
        self._cut = value
        for clf in self.streams.values():
            clf.cut_threshold = value

    @property
    def last_t(self) -> float | None:
        times = [clf.last_t for clf in self.streams.values() if clf.last_t is not None]
        return max(times) if times else None

    @property
    def counts(self) -> Counts:
        c = self._counts
        return Counts(self.frames, self.kept, c.windows, c.encode_s, c.head_s)
