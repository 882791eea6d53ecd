"""Events on fresh synthetic videos: does `edge-lrcn run` announce the right activities, in order?

Writes one video per seed of five 7 s segments (right, still, up, left, down; each segment a new random scene, as
``edge-lrcn synth --sequence`` makes them), runs the daemon on it (stdout sink, the settings given after ``--``) and
counts, over all videos:

* exact order: the activity_start labels are exactly the five segment labels, in order, and nothing else;
* segments announced: segments during which an activity_start with their own label was emitted;
* starts right: activity_start events whose label is that of the segment they fall in.

The README's events figures come from ``python benchmarks/events.py --seeds 301-340``; pick seeds no choice was tuned
on when you compare models or settings.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

SEGMENTS = [("right", 7.0), ("still", 7.0), ("up", 7.0), ("left", 7.0), ("down", 7.0)]


def seed_list(text: str) -> list[int]:
    seeds: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        seeds += list(range(int(lo), int(hi or lo) + 1))
    return seeds


def score(starts: list[tuple[str, float]], truth: list[tuple[str, float, float]]) -> tuple[bool, int, int]:
    """(exact order, segments announced, starts right) for one video."""
    exact = [label for label, _ in starts] == [label for label, _, _ in truth]
    announced = sum(any(lab == label and a < t <= b for lab, t in starts) for label, a, b in truth)
    right = sum(any(lab == label and a < t <= b for label, a, b in truth) for lab, t in starts)
    return exact, announced, right


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=seed_list, default=seed_list("301-340"), help="e.g. 301-340 or 1,2,5-9")
    ap.add_argument("--model", help="bundle (default: the embedded model)")
    ap.add_argument("--videos", type=Path, help="keep the videos here (default: a temporary folder)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("run_args", nargs="*", help="more `edge-lrcn run` arguments, after --")
    args = ap.parse_args()
    from edge_lrcn.convert.synth import make_sequence

    tmp = tempfile.TemporaryDirectory()
    folder = args.videos or Path(tmp.name)
    folder.mkdir(parents=True, exist_ok=True)
    exact = announced = right = starts_n = 0
    per_video = []
    for seed in args.seeds:
        video = folder / f"segments_{seed}.avi"
        truth = make_sequence(video, SEGMENTS, seed=seed)
        cmd = [sys.executable, "-m", "edge_lrcn", "run", "--source", str(video), "--sink", "stdout",
               "--stats-interval", "0", "--log-level", "ERROR", *(["--model", args.model] if args.model else []),
               *args.run_args]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"seed {seed}: edge-lrcn run exited {proc.returncode}: {proc.stderr.strip()[-300:]}", file=sys.stderr)
            return 1
        objs = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        starts = [(o["label"], o["t"]) for o in objs if o["type"] == "activity_start"]
        ok, a, r = score(starts, truth)
        exact += ok
        announced += a
        right += r
        starts_n += len(starts)
        per_video.append({"seed": seed, "starts": [label for label, _ in starts], "exact": ok})
        if not args.json:
            print(f"seed {seed}: {' '.join(label for label, _ in starts)}{'' if ok else '   <- not exact'}", flush=True)
    n = len(args.seeds)
    summary = {"videos": n, "exact_order": exact, "segments": n * len(SEGMENTS), "segments_announced": announced,
               "starts": starts_n, "starts_right": right}
    if args.json:
        print(json.dumps({"summary": summary, "videos": per_video}, indent=2))
    else:
        print(f"exact order {exact}/{n} videos; segments announced {announced}/{n * len(SEGMENTS)}; "
              f"starts right {right}/{starts_n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
