"""One object from frames to class probabilities, used by both ``run`` and ``eval``.

Per frame: the pacer decides whether the model keeps it (by timestamp); a kept frame is preprocessed (the one
function the trainer used), compared with the previous kept frame for a scene cut (classify/cut.py, the rule
convert's loader applies too), encoded once and pushed into the
feature window; every ``stride`` kept frames with a full window the head gives class probabilities. A gap in the
stream or a scene cut restarts the window, and the caller hears of it as a :class:`Reset`, so that whatever turns
probabilities into events can close what was open: a window must never span a gap or a cut, which no training
window ever did.

A bundle whose manifest says ``input.transform = difference`` (convert's default model) is fed each kept frame's
difference to the kept frame ``lag`` before it (classify/preprocess.py, the trainer's own function); the first ``lag``
kept frames after a restart only fill that history, unless the bundle says ``window.short_lags``: then the 2nd ..
``lag``-th kept frames after a restart are fed their difference to the first one (shorter lags, as convert trained
the model), and the head answers from the 2nd kept frame on.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..capture.sources import Frame
from ..config.sections import EventSettings
from ..model.loader import Model
from .cut import is_cut
from .pacer import Pacer
from .preprocess import TRANSFORMS, crop_box, model_min_size, resize_rgb
from .window import FeatureWindow

log = logging.getLogger(__name__)

GAP_PERIODS = 3.0  # kept frames further apart than this many model periods are a gap in the stream


@dataclass(frozen=True)
class Reset:
    """The window was restarted: an open activity ends at source time ``t`` for ``reason`` (gap, cut, camera...)."""

    t: float
    reason: str


class Step(NamedTuple):
    """What one frame did: whether the model kept it, a reset it caused, and probabilities when a window was due."""

    kept: bool
    reset: Reset | None = None
    probs: np.ndarray | None = None


SKIPPED = Step(False)


@dataclass
class Counts:
    """Running totals (never reset): frames seen, kept, windows classified, and the time spent on them."""

    frames: int = 0
    kept: int = 0
    windows: int = 0
    encode_s: float = 0.0  # preprocess + cut check + encoder
    head_s: float = 0.0


class Classifier:
    """pacer -> preprocess -> (gap and cut resets) -> encoder -> FeatureWindow -> head every ``stride`` kept frames."""

    def __init__(self, model: Model, stride: int = 1, cut_threshold: float = 0.0, box=None):
        if stride < 1:
            raise ValueError("stride must be >= 1")
        self.stride = stride
        self.box = box  # a region of interest (normalized x0, y0, x1, y1: classify/regions.py); None: the whole frame
        self.cut_threshold = cut_threshold  # a cell's change for the scene-cut rule (classify/cut.py); 0: off
        self.counts = Counts()
        self.use(model)

    def apply(self, events: EventSettings) -> None:
        """A reload: the cut threshold from the next frame on."""
        self.cut_threshold = events.cut_threshold

    def use(self, model: Model) -> None:
        """Run ``model`` from the next frame on (a pushed model): the window starts again, the counts go on. The
        caller closes what was open first (:meth:`restart` gives the reset)."""
        bundle = model.bundle
        self.model = model
        self.encoder, self.head = model.encoder, model.head
        self.height, self.width = bundle.input_size
        self.fps = bundle.fps
        self.pacer = Pacer(bundle.fps)
        self.window = FeatureWindow(bundle.frames, model.head.feature_dim)
        self.last_t: float | None = None  # source time of the last kept frame
        self._prev_rgb: np.ndarray | None = None  # the last kept frame (uint8 RGB, model size), for cut detection
        self._since = 0
        # a model fed differences (bundle input.transform) sees each kept frame against the one `lag` kept frames
        # before it: the last `lag` kept frames (uint8, model size) wait here; cleared with the window
        self.transform = TRANSFORMS[bundle.transform] if bundle.transform else None
        self.lag, self.gain = bundle.lag, bundle.gain
        self._history: deque[np.ndarray] = deque(maxlen=self.lag)
        # a model trained on early windows (manifest window.prefill = "rest") answers from the first encoded frame
        # after a restart: its window starts full of the rest input's features, as its training windows did
        self._rest = self.encoder.encode_rgb(np.full((self.height, self.width, 3), 128, np.uint8)).copy() \
            if bundle.prefill == "rest" else None
        # a model trained on short lags (window.short_lags) is fed the 2nd .. lag-th kept frames after a restart
        # against the first one, instead of waiting for `lag` kept frames of history
        self.short_lags = bundle.short_lags and self.transform is not None and self._rest is not None
        self._clear_window()

    def push(self, frame: Frame) -> Step:
        c = self.counts
        c.frames += 1
        if not (self.pacer.keep(frame.t) if frame.kept is None else frame.kept):
            return SKIPPED
        reset = None
        if self.last_t is not None and frame.t > self.last_t and frame.t - self.last_t > GAP_PERIODS / self.fps:
            log.info("%.1f s gap in the stream: restarting the window", frame.t - self.last_t)
            reset = Reset(self.last_t, "gap")
            self._clear_window()
        self.last_t = frame.t
        c.kept += 1
        t0 = time.perf_counter()
        assert frame.pixels is not None  # only a frame the reader skipped (kept False) is not decoded
        rgb = resize_rgb(crop_box(frame.pixels, self.box), self.height, self.width)
        if self._prev_rgb is not None and is_cut(self._prev_rgb, rgb, self.cut_threshold):
            # another camera, a light switched on, a PTZ move: half of the window would show one scene and half
            # another
            log.info("scene cut at t=%.2f: restarting the window", frame.t)
            reset = reset or Reset(frame.t, "cut")
            self._clear_window()
        self._prev_rgb = rgb
        x = rgb
        if self.transform is not None:
            older = self._history[0] if len(self._history) == self.lag else None
            self._history.append(rgb)
            if older is None:  # the first `lag` kept frames after a (re)start fill the history
                if not self.short_lags or len(self._history) < 2:
                    c.encode_s += time.perf_counter() - t0
                    return Step(True, reset, None)
                older = self._history[0]  # a shorter lag: this frame against the first kept frame since the restart
            x = self.transform(rgb, older, self.gain)
        feature = self.encoder.encode_rgb(x)  # uint8 pixels in: no float round trip (model/interpreter.py)
        t1 = time.perf_counter()
        c.encode_s += t1 - t0
        probs = self._push_feature(feature)
        if probs is not None:
            c.head_s += time.perf_counter() - t1
            c.windows += 1
        return Step(True, reset, probs)

    @property
    def min_size(self) -> tuple[int, int]:
        """The smallest frame this classifier's crop may be decoded to (``Source.min_size``; Regions.min_size)."""
        return model_min_size(self.height, self.width, [self.box])

    def decide(self, t: float) -> bool:
        """The pacer's decision for a frame of source time ``t``, taken by the frame reader before it decodes the
        frame (capture/reader.py); the frame then carries it (``Frame.kept``) and :meth:`push` trusts it. Every frame
        is decided once, here or in :meth:`push`, in source order: the kept frames are the same either way."""
        return self.pacer.keep(t)

    def restart(self, reason: str) -> Reset | None:
        """Forget everything about the stream (a new source, a camera fault, the next file); the reset to apply to
        an open activity, if any frame was kept."""
        reset = Reset(self.last_t, reason) if self.last_t is not None else None
        self._clear_window()
        self.pacer.reset()
        self.last_t = None
        self._prev_rgb = None
        return reset

    def _clear_window(self) -> None:
        self.window.clear(self._rest)
        self._history.clear()
        self._since = 0

    def _push_feature(self, feature: np.ndarray) -> np.ndarray | None:
        self.window.push(feature)
        if not self.window.ready:
            return None
        self._since += 1
        first = self.window.count == (1 if self.window.filler is not None else self.window.frames)
        if self._since < self.stride and not first:
            return None
        self._since = 0
        return self.head(self.window.view())
