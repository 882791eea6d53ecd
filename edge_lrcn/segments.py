"""``edge-lrcn eval`` on a segment video: how soon, and how right, the daemon announces each activity.

A segment video is one video of activities back to back (``edge-lrcn synth --sequence`` writes one and its timeline,
or a recording of your own and a timeline you write). The timeline is a CSV file, one segment a line:
``start_s,end_s,label`` (seconds of the video's own time; a header line and ``#`` comments are allowed). A segment
whose label is not one of the model's (``none``, ``idle``...) is a stretch where nothing the model knows happens.

The video goes through the daemon's own code path: the :class:`~edge_lrcn.classify.classifier.Classifier` (pacer,
encoder, window, resets) and the :class:`~edge_lrcn.events.ActivityTracker` with the event settings given (the
daemon's defaults unless told). Every ``activity_start`` is then scored against the timeline:

* right: its label is that of the segment it falls in; the first right start of a segment gives the segment's
  **delay** (start time of the event minus start of the segment); later right starts of that segment are repeats;
* wrong: it falls in a segment of another of the model's labels;
* false: it falls where none of the model's activities happens (a segment of another label, or no segment).
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from .capture.reader import read_ahead
from .capture.sources import VideoFileSource
from .classify.classifier import Classifier
from .errors import DatasetError
from .events import ActivityTracker, EventMaker, EventSettings

log = logging.getLogger(__name__)

TIMELINE_SUFFIX = ".timeline.csv"  # the sidecar `synth --sequence` writes next to its video


@dataclass(frozen=True)
class Segment:
    label: str
    start: float
    end: float


def write_timeline(path: Path, segments) -> Path:
    """Write ``(label, start_s, end_s)`` segments as a timeline file."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["start_s", "end_s", "label"])
        for label, a, b in segments:
            w.writerow([f"{a:.3f}", f"{b:.3f}", label])
    return Path(path)


def read_timeline(path: Path) -> list[Segment]:
    """Segments of a timeline file, in time order; a bad line is one clear error naming the file and line."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"timeline {path}: cannot be read ({exc})") from None
    segs = []
    for no, row in enumerate(csv.reader(text.splitlines()), 1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if no == 1 and row[0].strip() == "start_s":
            continue
        try:
            a, b, label = float(row[0]), float(row[1]), row[2].strip()
        except (ValueError, IndexError):
            raise DatasetError(f"timeline {path}, line {no}: expected start_s,end_s,label") from None
        if not (0 <= a < b) or not label:
            raise DatasetError(f"timeline {path}, line {no}: needs 0 <= start_s < end_s and a label")
        segs.append(Segment(label, a, b))
    segs.sort(key=lambda s: s.start)
    if not segs:
        raise DatasetError(f"timeline {path}: no segment")
    if any(p.end > n.start + 1e-6 for p, n in pairwise(segs)):
        raise DatasetError(f"timeline {path}: segments overlap")
    return segs


def timeline_of(video: Path, timeline: Path | None = None) -> list[Segment]:
    path = Path(timeline) if timeline else Path(str(video) + TIMELINE_SUFFIX)
    if not timeline and not path.exists():
        raise DatasetError(f"no timeline for {video}: pass --timeline FILE (CSV start_s,end_s,label) or put "
                           f"{path.name} next to it (edge-lrcn synth --sequence writes one)")
    return read_timeline(path)


def stream_events(classifier: Classifier, tracker: ActivityTracker, path: Path) -> list[dict]:
    """The events the daemon's classifier and tracker make on one video, as ``run`` makes them."""
    classifier.restart("file")
    events: list[dict] = []
    # decoded on a thread of its own, only the frames the pacer keeps (as the daemon reads a file)
    src = VideoFileSource(path)
    src.min_size = classifier.min_size  # decoded as small as the daemon decodes it
    for frame in read_ahead(src, classifier.decide):
        step = classifier.push(frame)
        if step.reset:
            events += tracker.reset(step.reset.t, step.reset.reason)
        if step.probs is not None:
            events += tracker.update(step.probs, frame.t)
    if classifier.last_t is not None:
        events += tracker.close(classifier.last_t, "shutdown")
    return events


def score(starts: list[tuple[str, float]], segments: list[Segment], labels) -> dict:
    """Per segment its delay (None: never announced) and wrong starts; in all, false starts and repeats."""
    per: list[dict[str, Any]] = [{"label": s.label, "start": s.start, "end": s.end, "delay": None, "wrong": 0,
                                  "repeats": 0} for s in segments]
    false_starts = 0
    for label, t in starts:
        i = next((k for k, s in enumerate(segments) if s.start <= t < s.end), None)
        if i is None or segments[i].label not in labels:
            false_starts += 1
        elif label != segments[i].label:
            per[i]["wrong"] += 1
        elif per[i]["delay"] is None:
            per[i]["delay"] = round(t - segments[i].start, 3)
        else:
            per[i]["repeats"] += 1
    known = [p for p in per if p["label"] in labels]
    delays = [p["delay"] for p in known if p["delay"] is not None]
    return {"segments": per, "activities": len(known), "announced": len(delays),
            "delay_median_s": float(np.median(delays)) if delays else None,
            "delay_max_s": max(delays) if delays else None,
            "wrong_starts": sum(p["wrong"] for p in per), "false_starts": false_starts,
            "repeats": sum(p["repeats"] for p in per), "starts": len(starts)}


def evaluate_video(classifier: Classifier, settings: EventSettings, video: Path, segments: list[Segment]) -> dict:
    labels = classifier.model.bundle.labels
    unknown = sorted({s.label for s in segments} - set(labels))
    if unknown:
        log.info("timeline labels not in the model's, counted as nothing happening: %s", ", ".join(unknown))
    tracker = ActivityTracker(labels, settings, EventMaker("eval", classifier.model.bundle.model_id))
    events = stream_events(classifier, tracker, Path(video))
    starts = [(e["label"], e["t"]) for e in events if e["type"] == "activity_start"]
    return {"video": str(video), "model": classifier.model.bundle.model_id, "settings": vars(settings),
            **score(starts, segments, labels)}


def format_segments(r: dict) -> str:
    lines = [f"{'start':>7} {'end':>7}  {'segment':<16}{'delay':>8}{'wrong':>7}"]
    for p in r["segments"]:
        d = "-" if p["delay"] is None else f"{p['delay']:.2f} s"
        lines.append(f"{p['start']:7.2f} {p['end']:7.2f}  {p['label']:<16}{d:>8}{p['wrong']:>7}")
    med = "-" if r["delay_median_s"] is None else f"{r['delay_median_s']:.2f} s"
    mx = "-" if r["delay_max_s"] is None else f"{r['delay_max_s']:.2f} s"
    lines.append(f"announced {r['announced']} of {r['activities']} activities; delay median {med}, max {mx}; "
                 f"wrong starts {r['wrong_starts']}, false starts {r['false_starts']}, repeats {r['repeats']}")
    return "\n".join(lines)
