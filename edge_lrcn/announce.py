"""What the daemon says, and through what: the tracker's events and retained state (each ``activity_start`` with its
snapshot and clip), the camera's state and the stats, stamped by one :class:`EventMaker` and handed to every sink by
the fan-out.

The daemon decides *when* (a frame, a camera change, a pushed model, a reload, the shutdown); this stage decides
*what* is said and keeps the objects that depend on the running model's labels (the tracker, the sinks' context)
consistent when another model is swapped in.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from .capture.sources import Frame
from .classify.classifier import Reset
from .config import Settings
from .errors import UsageError
from .events import ActivityTracker, EventMaker, EventSettings
from .publish.clips import ClipRecorder, snapshot_jpeg
from .publish.fanout import Fanout, make_sinks
from .publish.sink import Kind, Sink, SinkContext

log = logging.getLogger(__name__)


class Announcer:
    """tracker -> events and state -> fan-out -> sinks; clips and snapshots at each activity's start and end."""

    def __init__(self, settings: Settings, ctx: SinkContext, sinks: list[Sink], clips: ClipRecorder | None = None,
                 page=None):
        self.settings, self.ctx, self.clips, self.page = settings, ctx, clips, page  # page: web/api.py
        self.make = EventMaker(ctx.device_id, ctx.model)
        self.tracker = ActivityTracker(ctx.labels, EventSettings.of(settings), self.make)
        self.fanout = Fanout(sinks)

    def probabilities(self, probs: np.ndarray, frame: Frame) -> None:
        """A window's probabilities, at this frame: the events they make, and the scores when asked for."""
        self.emit(self.tracker.update(probs, frame.t), frame)
        if self.settings.scores:
            self.fanout.publish(Kind.SCORES, self.tracker.scores(frame.t))

    def reset(self, reset: Reset | None) -> None:
        """The classifier restarted its window: the open activity ends with the reset's reason."""
        if reset:
            self.emit(self.tracker.reset(reset.t, reset.reason))

    def close(self, t: float | None, reason: str) -> None:
        """The open activity ends now (a model swap, the shutdown); nothing when no frame was ever kept."""
        if t is not None:
            self.emit(self.tracker.close(t, reason=reason))

    def emit(self, events: list[dict], frame: Frame | None = None) -> None:
        for ev in events:
            if ev["type"] == "activity_start" and frame is not None:
                self._starting(ev, frame)
            elif ev["type"] == "activity_end" and self.clips:
                self.clips.end_activity(ev)
            if self.page:
                self.page.event(ev)  # a deque append: the page lists it
            self.fanout.publish(Kind.EVENT, ev)
        if events:
            self.fanout.publish(Kind.STATE, self.tracker.state())

    def _starting(self, ev: dict, frame: Frame) -> None:
        """An activity starts at this frame: its snapshot (retained on MQTT before the event, so that an automation
        fired by the event shows this picture) and its clip, whose file names the event carries."""
        snap = snapshot_jpeg(frame.pixels, self.settings.clips_max_width) \
            if self.settings.snapshots or self.clips else None
        if self.clips:
            ev.update(self.clips.start_activity(ev, snap))
        if snap and self.settings.snapshots:
            self.fanout.publish(Kind.SNAPSHOT, {"jpeg": snap, "label": ev["label"], "ts": ev["ts"]})

    def state(self) -> None:
        self.fanout.publish(Kind.STATE, self.tracker.state())

    def camera(self, state: str, source: str, reason: str | None = None) -> None:
        self.fanout.publish(Kind.CAMERA, self.make("camera", state=state, source=source,
                                                   **({"reason": reason} if reason else {})))

    def stats(self, fields: dict) -> None:
        clips = self.clips.stats() if self.clips else {}
        self.fanout.publish(Kind.STATS, self.make("stats", **fields, **self.fanout.stats(), **clips))

    def use_model(self, labels: list[str], model_id: str) -> None:
        """Another model runs from now on: a tracker for its labels, and the sinks told (discovery, ``model``)."""
        self.make.model = model_id
        self.ctx = replace(self.ctx, labels=list(labels), model=model_id)
        self.tracker = ActivityTracker(labels, EventSettings.of(self.settings), self.make)
        self.fanout.relabel(self.ctx)
        self.state()

    def take_settings(self, new: Settings, sinks_changed: bool) -> bool:
        """The live settings changed (a reload, remote settings); with ``sinks_changed`` the sinks are rebuilt
        from ``new`` (what the old ones could not deliver goes to the new ones). False when the new sinks could
        not be made: the old ones stay."""
        ok = True
        if sinks_changed:
            try:
                self.fanout.replace(make_sinks(new, self.ctx))
            except (UsageError, OSError) as exc:
                log.error("reload: sinks unchanged: %s", exc)
                ok = False
        return ok

    def update_settings(self, settings: Settings) -> None:
        self.settings = settings
        self.tracker.update_settings(EventSettings.of(settings))
