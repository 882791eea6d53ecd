"""A video file at decode speed? ``edge-lrcn run`` and ``edge-lrcn eval`` over a file against a bare decode loop.

Each round runs, in turn: the bare loop (a fresh Python process that imports OpenCV, reads every frame with
``cv2.VideoCapture.read()`` and INTER_AREA-resizes it to the model's 64x64; its loop time, and its process's wall
time), ``edge-lrcn run --source VIDEO --sink stdout`` and ``edge-lrcn eval VIDEO`` (each from launch to exit: the
interpreter, the imports, the bundle, the ``auto`` encoder choice included). The ratios are throughput ratios,
bare loop time / command time (1.0: as fast as decoding alone), per round, so that a slow spell of a shared machine
hits both sides; the medians over ``--rounds`` are printed. The default video is issue 29's: 768x576, 10 fps,
795 frames (every frame kept at the model's 10 fps), written by ``edge-lrcn synth --sequence`` (Motion-JPEG).

    python benchmarks/file_speed.py [--video V] [--rounds 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BARE = """
import sys, time
t0 = time.perf_counter()
import cv2
cap = cv2.VideoCapture(sys.argv[1], cv2.CAP_FFMPEG)
n = 0
t1 = time.perf_counter()
while True:
    ok, frame = cap.read()
    if not ok:
        break
    cv2.resize(frame, (64, 64), interpolation=cv2.INTER_AREA)
    n += 1
print(n, time.perf_counter() - t1, time.perf_counter() - t0)
"""


def _wall(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return time.perf_counter() - t0


def one_round(video: Path, env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", BARE, str(video)], capture_output=True, text=True, check=True)
    frames, loop_s, bare_process_s = out.stdout.split()
    r = {"frames": int(frames), "bare_loop_s": float(loop_s), "bare_process_s": float(bare_process_s)}
    edge = [sys.executable, "-m", "edge_lrcn"]
    r["run_s"] = _wall([*edge, "run", "--source", str(video), "--sink", "stdout", "--log-level", "WARNING"], env)
    r["eval_s"] = _wall([*edge, "eval", str(video), "--log-level", "WARNING"], env)
    for cmd in ("run", "eval"):
        r[f"{cmd}_vs_bare"] = r["bare_loop_s"] / r[f"{cmd}_s"]
    return r


def make_video(folder: Path) -> Path:
    """Issue 29's file: 768x576, 10 fps, 79.5 s of synth segments (795 frames), with its timeline for ``eval``."""
    subprocess.run([sys.executable, "-m", "edge_lrcn", "synth", str(folder / "v768x576.avi"), "--fps", "10",
                    "--width", "768", "--height", "576", "--sequence", "right:16,still:16,up:16,left:16,down:15.5"],
                   check=True, capture_output=True)
    return folder / "v768x576.avi"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, help="a segment video with its VIDEO.timeline.csv (default: issue 29's)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "EDGE_LRCN_CONFIG"}
    with tempfile.TemporaryDirectory(prefix="edge-lrcn-file-speed-") as tmp:
        video = args.video.resolve() if args.video else make_video(Path(tmp))
        rounds = [one_round(video, env) for _ in range(args.rounds)]
    keys = [k for k in rounds[0] if k != "frames"]
    summary = {k: {"median": statistics.median(r[k] for r in rounds), "min": min(r[k] for r in rounds),
                   "max": max(r[k] for r in rounds)} for k in keys}
    if args.json:
        print(json.dumps({"video": str(args.video or "768x576 synth"), "rounds": rounds, "summary": summary}, indent=2))
        return 0
    print(f"{rounds[0]['frames']} frames, {len(rounds)} rounds, interleaved; load average {os.getloadavg()[0]:.1f}")
    for k, v in summary.items():
        print(f"  {k:<16} median {v['median']:8.3f}   min {v['min']:8.3f}   max {v['max']:8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
