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
from functools import partial

import numpy as np

from .capture.codec import full_pixels
from .capture.sources import Frame
from .classify.classifier import Reset
from .config import EventSettings, Settings
from .errors import UsageError
from .events import ActivityTracker, EventMaker
from .publish.clips import ClipRecorder, snapshot_jpeg
from .publish.fanout import Fanout, make_sinks
from .publish.sink import Kind, Sink, SinkContext

log = logging.getLogger(__name__)


class Announcer:
    """tracker -> events and state -> fan-out -> sinks; clips and snapshots at each activity's start and end.

    One tracker per region (classify/regions.py); without regions one, named ``None``, whose objects carry no
    ``region``. With regions every event, state, score and snapshot carries ``"region": name``."""

    def __init__(self, settings: Settings, ctx: SinkContext, sinks: list[Sink], clips: ClipRecorder | None = None,
                 boxes: dict | None = None, page=None):
        self.ctx = ctx
        self.clips = clips
        self.page = page  # web/api.py: lists the events
        self.events: EventSettings = settings.events
        self.snapshots = settings.mqtt.snapshots  # the retained snapshot on MQTT
        self.snapshot_width = settings.clips.clips_max_width
        self.make = EventMaker(ctx.device_id, ctx.model)
        self.trackers: dict[str | None, ActivityTracker] = {}
        self.boxes: dict[str | None, tuple | None] = {}
        self._track(ctx.regions or [None], boxes or {})  # boxes: region -> box, for the clips' sidecars
        self.fanout = Fanout(sinks)

    def _track(self, names, boxes: dict) -> None:
        """A tracker for each region of ``names`` that has none; the others keep theirs."""
        self.trackers = {name: self.trackers.get(name) or self._tracker(name) for name in names}
        self.boxes = {name: boxes.get(name) for name in names}

    def _tracker(self, region: str | None) -> ActivityTracker:
        make = self.make if region is None else partial(_in_region, self.make, region)
        return ActivityTracker(self.ctx.labels, self.events, make)

    @property
    def tracker(self) -> ActivityTracker:
        """The first region's tracker (the only one without regions)."""
        return next(iter(self.trackers.values()))

    def labels_now(self) -> str | dict:
        """The current label, or with several regions each region's (the stats' ``activity``)."""
        if len(self.trackers) == 1:
            return self.tracker.label
        return {name: t.label for name, t in self.trackers.items()}

    def probabilities(self, region: str | None, probs: np.ndarray, frame: Frame) -> None:
        """A window's probabilities in a region, at this frame: the events they make, and the scores when asked."""
        tracker = self.trackers[region]
        self.emit(region, tracker.update(probs, frame.t), frame)
        scores = tracker.scores(frame.t) if self.events.scores else None  # None only before a window
        if scores is not None:
            self.fanout.publish(Kind.SCORES, scores)

    def reset(self, region: str | None, reset: Reset | None) -> None:
        """A region's classifier restarted its window: its open activity ends with the reset's reason."""
        if reset and region in self.trackers:
            self.emit(region, self.trackers[region].reset(reset.t, reset.reason))

    def resets(self, resets) -> None:
        """The resets of several regions at once (a camera fault, the pause switch): ``(region, Reset)`` pairs."""
        for region, reset in resets:
            self.reset(region, reset)

    def close(self, t: float | None, reason: str) -> None:
        """The open activities end now (a model swap, the shutdown); nothing when no frame was ever kept."""
        if t is not None:
            for region, tracker in self.trackers.items():
                self.emit(region, tracker.close(t, reason=reason))

    def emit(self, region: str | None, events: list[dict], frame: Frame | None = None) -> None:
        for ev in events:
            if ev["type"] == "activity_start" and frame is not None:
                self._starting(region, ev, frame)
            elif ev["type"] == "activity_end" and self.clips:
                self.clips.end_activity(ev)
            if self.page:
                self.page.event(ev)  # a deque append: the page lists it
            self.fanout.publish(Kind.EVENT, ev)
        if events:
            self.fanout.publish(Kind.STATE, self._state(region))

    def _state(self, region: str | None) -> dict:
        state = self.trackers[region].state()
        return state if region is None else {**state, "region": region}

    def _starting(self, region: str | None, ev: dict, frame: Frame) -> None:
        """An activity starts at this frame: its snapshot (retained on MQTT before the event, so that an automation
        fired by the event shows this picture) and its clip, whose file names the event carries. Both show the
        whole frame; a region's clip's sidecar has the region's box (``dataset add`` cuts it)."""
        assert frame.pixels is not None  # a kept frame: decoded
        snap = snapshot_jpeg(full_pixels(frame), self.snapshot_width) if self.snapshots or self.clips else None
        if self.clips:
            ev.update(self.clips.start_activity(ev, snap, self.boxes.get(region)))
        if snap and self.snapshots:
            where = {} if region is None else {"region": region}
            self.fanout.publish(Kind.SNAPSHOT, {"jpeg": snap, "label": ev["label"], "ts": ev["ts"], **where})

    def state(self) -> None:
        for region in self.trackers:
            self.fanout.publish(Kind.STATE, self._state(region))

    def camera(self, state: str, source: str, reason: str | None = None) -> None:
        self.fanout.publish(Kind.CAMERA, self.make("camera", state=state, source=source,
                                                   **({"reason": reason} if reason else {})))

    def stats(self, fields: dict) -> None:
        clips = self.clips.stats() if self.clips else {}
        self.fanout.publish(Kind.STATS, self.make("stats", **fields, **self.fanout.stats(), **clips))

    def use_model(self, labels: list[str], model_id: str) -> None:
        """Another model runs from now on: trackers for its labels, and the sinks told (discovery, ``model``)."""
        self.make.model = model_id
        self.ctx = replace(self.ctx, labels=list(labels), model=model_id)
        self.trackers = {}
        self._track(self.ctx.regions or [None], self.boxes)
        self.fanout.relabel(self.ctx)
        self.state()

    def use_regions(self, regions, t: float | None) -> None:
        """Other regions from now on (a reload, remote settings). The classifier's resets closed the activities of
        the regions that moved or went (``Regions.set_regions``); new regions get trackers, the sinks their topics
        and entities (a region that went is forgotten by the fan-out)."""
        names = [r.name for r in regions] or [None]
        for name in [n for n in self.trackers if n not in names]:
            if t is not None:
                self.emit(name, self.trackers[name].close(t, reason="regions"))
        self._track(names, {r.name: r.box for r in regions})
        self.ctx = replace(self.ctx, regions=[n for n in names if n is not None])
        self.fanout.relabel(self.ctx)
        self.state()

    def replace_sinks(self, new: Settings) -> bool:
        """The sink settings changed (a reload, remote settings): the sinks are rebuilt from ``new`` (what the old
        ones could not deliver goes to the new ones). False when the new sinks could not be made: the old ones
        stay."""
        try:
            self.fanout.replace(make_sinks(new, self.ctx))
        except (UsageError, OSError) as exc:
            log.error("reload: sinks unchanged: %s", exc)
            return False
        return True

    def apply(self, settings: Settings) -> None:
        """A reload: the [events] section to the trackers, the snapshot switch and width."""
        self.events = settings.events
        self.snapshots = settings.mqtt.snapshots
        self.snapshot_width = settings.clips.clips_max_width
        for tracker in self.trackers.values():
            tracker.apply(settings.events)


def _in_region(make: EventMaker, region: str, type_: str, **fields) -> dict:
    """An object of a region's tracker: stamped by the announcer's maker, with ``region`` after the stamps."""
    return make(type_, region=region, **fields)
