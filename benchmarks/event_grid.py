"""Event settings on a grid: delay, wrong and false starts of every combination, on the same segment videos.

The windows' probabilities of each video are computed once with the daemon's classifier (the code ``run`` and
``eval`` share), then replayed through the daemon's tracker (events.py) for every combination of the settings, so a
grid of hundreds of points costs one pass of the model. Each video is five 7 s segments (right, still, up, left,
down, a new random scene each, as benchmarks/events.py) of the seeds given.

    python benchmarks/event_grid.py --seeds 1-20 --enter 0.4,0.6 --smoothing 1,3,6,12 --min-duration 0,0.2,0.5,1.5 \
        --agree 0,2,3,4

``--kind motion`` plays six 5 s segments of ``synth --kind motion``'s activities instead (give ``--model`` a model
trained on them). ``--one-scene`` plays the five activities in one scene instead (no cut between them: the windows
straddle each change of activity, ``synth --sequence --one-scene``).

Prints one line per combination, best first (most segments announced, fewest wrong and false starts, then the
smallest median delay).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from events import SEGMENTS, seed_list  # noqa: E402

MOTION_SEGMENTS = [("oscillating", 5.0), ("still", 5.0), ("hopping", 5.0), ("circling", 5.0), ("growing", 5.0),
                   ("shrinking", 5.0)]


def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


def record(clf, video: Path) -> list[tuple]:
    """Every step of the classifier on one video: ("reset", t, reason) or ("probs", t, probabilities)."""
    from edge_lrcn.capture.sources import VideoFileSource

    clf.restart("file")
    steps = []
    with VideoFileSource(video) as src:
        src.min_size = clf.min_size  # decoded as small as the daemon decodes it (capture/codec.py reduction)
        while (frame := src.read()) is not None:
            step = clf.push(frame)
            if step.reset:
                steps.append(("reset", step.reset.t, step.reset.reason))
            if step.probs is not None:
                steps.append(("probs", frame.t, np.array(step.probs)))
    return steps


def replay(steps, labels, settings) -> list[tuple[str, float]]:
    from edge_lrcn.events import ActivityTracker, EventMaker

    tracker = ActivityTracker(labels, settings, EventMaker("grid", "grid"))
    starts = []
    for kind, t, x in steps:
        events = tracker.reset(t, x) if kind == "reset" else tracker.update(x, t)
        starts += [(e["label"], e["t"]) for e in events if e["type"] == "activity_start"]
    return starts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=seed_list, default=seed_list("1-20"))
    ap.add_argument("--model", help="bundle (default: the embedded model)")
    ap.add_argument("--enter", type=floats, default=[0.6])
    ap.add_argument("--exit", type=floats, default=[0.3])
    ap.add_argument("--smoothing", type=lambda s: [int(x) for x in s.split(",")], default=[12])
    ap.add_argument("--min-duration", type=floats, default=[0.0])
    ap.add_argument("--agree", type=lambda s: [int(x) for x in s.split(",")], default=[3])
    ap.add_argument("--one-scene", action="store_true", help="the segments in one scene (no cuts between them)")
    ap.add_argument("--kind", choices=("directions", "motion"), default="directions",
                    help="motion: six 5 s segments of synth --kind motion's activities (a model trained on them: the "
                         "activities the embedded model never saw), a new random scene each")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from edge_lrcn.classify.classifier import Classifier
    from edge_lrcn.config import BY_NAME
    from edge_lrcn.convert.motion_synth import make_sequence as motion_sequence
    from edge_lrcn.convert.synth import make_sequence
    from edge_lrcn.events import EventSettings
    from edge_lrcn.model.loader import load_bundle, open_model
    from edge_lrcn.segments import Segment, score

    bundle = load_bundle(args.model)
    clf = Classifier(open_model(bundle, "cpu", None), BY_NAME["stride"].default, BY_NAME["cut_threshold"].default)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            video = Path(tmp) / f"segments_{seed}.avi"
            if args.kind == "motion":
                truth = [Segment(*x) for x in motion_sequence(video, MOTION_SEGMENTS, seed=seed)]
            else:
                truth = [Segment(*x) for x in make_sequence(video, SEGMENTS, seed=seed, one_scene=args.one_scene)]
            runs.append((record(clf, video), truth))
    rows = []
    grid = itertools.product(args.enter, args.exit, args.smoothing, args.min_duration, args.agree)
    for enter, exit_, smoothing, min_d, agree in grid:
        if exit_ > enter:
            continue
        settings = EventSettings(enter, exit_, smoothing, min_d, agree=agree)
        results = [score(replay(steps, bundle.labels, settings), truth, bundle.labels) for steps, truth in runs]
        delays = [p["delay"] for r in results for p in r["segments"] if p["delay"] is not None]
        rows.append({"enter": enter, "exit": exit_, "smoothing": smoothing, "min_duration": min_d, "agree": agree,
                     "announced": sum(r["announced"] for r in results),
                     "segments": sum(r["activities"] for r in results),
                     "wrong": sum(r["wrong_starts"] for r in results), "false": sum(r["false_starts"] for r in results),
                     "repeats": sum(r["repeats"] for r in results),
                     "delay_median_s": float(np.median(delays)) if delays else None,
                     "delay_max_s": max(delays) if delays else None,
                     "within_0_7_s": sum(d <= 0.7 + 1e-9 for d in delays),
                     "within_1_0_s": sum(d <= 1.0 + 1e-9 for d in delays)})
    rows.sort(key=lambda r: (-r["announced"], r["wrong"] + r["false"] + r["repeats"], r["delay_median_s"] or 99))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(f"enter {r['enter']:.2f} exit {r['exit']:.2f} smoothing {r['smoothing']:>3} min_duration "
              f"{r['min_duration']:.2f} agree {r['agree']}: announced {r['announced']}/{r['segments']}, "
              f"wrong {r['wrong']}, false "
              f"{r['false']}, repeats {r['repeats']}, delay median {r['delay_median_s']} s, max {r['delay_max_s']} s, "
              f"<= 0.7 s {r['within_0_7_s']}, <= 1.0 s {r['within_1_0_s']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
