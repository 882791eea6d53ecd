"""Events on fresh synthetic videos: does `edge-lrcn run` announce the right activities, in order?

Writes one video per seed of five 7 s segments (right, still, up, left, down; each segment a new random scene, as
``edge-lrcn synth --sequence`` makes them), runs the daemon on it (stdout sink, the settings given after ``--``) and
counts, over all videos:

* exact order: the activity_start labels are exactly the five segment labels, in order, and nothing else;
* segments announced: segments during which an activity_start with their own label was emitted;
* starts right: activity_start events whose label is that of the segment they fall in;
* delay: from the start of a segment to the first activity_start with its label (median and max over segments).

With ``--quiet-minutes M`` it also runs the daemon on an M-minute video where nothing happens (a still scene with
sensor noise, slow light drift and the light switched every 90 s, a new scene every 5 minutes) and counts the starts
per hour: of the idle label (``--idle``, default ``still``) and of any other label (false starts).

The README's events figures come from ``python benchmarks/events.py --seeds 301-340 --quiet-minutes 60``; pick seeds no
choice was tuned on when you compare models or settings.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

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


def run_daemon(video: Path, model: str | None, run_args: list[str]) -> list[dict]:
    """The events ``edge-lrcn run`` prints for one video (stdout sink)."""
    cmd = [sys.executable, "-m", "edge_lrcn", "run", "--source", str(video), "--sink", "stdout",
           "--stats-interval", "0", "--log-level", "ERROR", *(["--model", model] if model else []), *run_args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{video.name}: edge-lrcn run exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def quiet_video(path: Path, minutes: float, seed: int, fps: float = 25.0) -> None:
    """Nothing happens: a still scene (a shape that never moves, slight jitter) with sensor noise whose light drifts
    slowly (+-15% over 40 s) and switches (x0.55 or back) every 90 s, a new scene every 5 minutes."""
    from edge_lrcn.convert.synth import Scene, open_writer

    rng = np.random.default_rng([seed, 99])
    writer = open_writer(path, fps, 160, 120)
    try:
        for i in range(int(round(minutes * 60 * fps))):
            t = i / fps
            if i % int(300 * fps) == 0:
                scene = Scene.random("still", rng, backgrounds=("plain", "noise", "texture"))
                scene.noise = max(scene.noise, 6.0)
            gain = (1 + 0.15 * np.sin(2 * np.pi * t / 40)) * (0.55 if int(t // 90) % 2 else 1.0)
            writer.write(np.clip(scene.render(t).astype(np.float32) * gain, 0, 255).astype(np.uint8))
    finally:
        writer.release()


def quiet(args, folder: Path) -> dict:
    """Starts per hour on quiet videos: of the idle label, and of any other (false starts)."""
    video = folder / "quiet.avi"
    quiet_video(video, args.quiet_minutes, args.seeds[0])
    starts = [o["label"] for o in run_daemon(video, args.model, args.run_args) if o["type"] == "activity_start"]
    hours = args.quiet_minutes / 60
    false = [s for s in starts if s != args.idle]
    return {"minutes": args.quiet_minutes, "starts": len(starts), "idle_starts": len(starts) - len(false),
            "false_starts": len(false), "false_starts_per_hour": round(len(false) / hours, 2),
            "false_labels": sorted(set(false))}


def segments(args, folder: Path) -> tuple[dict, list[dict]]:
    from edge_lrcn.convert.synth import make_sequence
    from edge_lrcn.segments import Segment
    from edge_lrcn.segments import score as score_segments

    exact = announced = right = starts_n = 0
    delays, per_video, labels = [], [], sorted({lab for lab, _ in SEGMENTS})
    for seed in args.seeds:
        video = folder / f"segments_{seed}.avi"
        truth = make_sequence(video, SEGMENTS, seed=seed)
        objs = run_daemon(video, args.model, args.run_args)
        starts = [(o["label"], o["t"]) for o in objs if o["type"] == "activity_start"]
        ok, a, r = score(starts, truth)
        s = score_segments(starts, [Segment(*x) for x in truth], labels)
        delays += [p["delay"] for p in s["segments"] if p["delay"] is not None]
        exact, announced, right, starts_n = exact + ok, announced + a, right + r, starts_n + len(starts)
        per_video.append({"seed": seed, "starts": [label for label, _ in starts], "exact": ok,
                          "delays": [p["delay"] for p in s["segments"]]})
        if not args.json:
            print(f"seed {seed}: {' '.join(f'{lab}@{t:.2f}' for lab, t in starts)}{'' if ok else '   <- not exact'}",
                  flush=True)
    n = len(args.seeds)
    return ({"videos": n, "exact_order": exact, "segments": n * len(SEGMENTS), "segments_announced": announced,
             "starts": starts_n, "starts_right": right,
             "delay_median_s": float(np.median(delays)) if delays else None,
             "delay_max_s": max(delays) if delays else None}, per_video)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=seed_list, default=seed_list("301-340"), help="e.g. 301-340 or 1,2,5-9")
    ap.add_argument("--model", help="bundle (default: the embedded model)")
    ap.add_argument("--videos", type=Path, help="keep the videos here (default: a temporary folder)")
    ap.add_argument("--quiet-minutes", type=float, default=0.0,
                    help="also run a quiet video this long (nothing happens) and count starts per hour")
    ap.add_argument("--idle", default="still", help="the label a quiet scene should get (default still)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("run_args", nargs="*", help="more `edge-lrcn run` arguments, after --")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    folder = args.videos or Path(tmp.name)
    folder.mkdir(parents=True, exist_ok=True)
    summary, per_video = segments(args, folder) if args.seeds else ({}, [])
    if args.quiet_minutes > 0:
        summary["quiet"] = quiet(args, folder)
    if args.json:
        print(json.dumps({"summary": summary, "videos": per_video}, indent=2))
        return 0
    if per_video:
        s = summary
        print(f"exact order {s['exact_order']}/{s['videos']} videos; segments announced {s['segments_announced']}/"
              f"{s['segments']}; starts right {s['starts_right']}/{s['starts']}; delay median "
              f"{s['delay_median_s']} s, max {s['delay_max_s']} s")
    if "quiet" in summary:
        q = summary["quiet"]
        print(f"quiet video, {q['minutes']:g} min: {q['idle_starts']} starts of {args.idle}, {q['false_starts']} "
              f"false starts ({q['false_starts_per_hour']} per hour) {' '.join(q['false_labels'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
