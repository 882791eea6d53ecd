"""What event clips cost: the daemon's CPU time and peak RSS with ``--clips-dir`` on and off, on the soak video.

    python benchmarks/clips.py [--frames 9000] [--runs 3] [--size 320x240] [--json]

The soak benchmark's video (benchmarks/soak.py: five synth segments looped, 30 fps) is written once; then the daemon
(file source, stdout sink) runs on it with clips off and on, interleaved (off, on, off, on, ...), ``--runs`` times
each. A file source is read as fast as the daemon goes, so the CPU time (user + system, from the child's rusage) is
the work of the whole file and the ratio of the two is the cost of clips; peak RSS is the daemon's own ``VmHWM``
(read from /proc every 0.2 s; the rusage maximum would include the bundle check's child process).
The medians are reported. On a machine other processes load, the ratio is the figure to read.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import benchmarks.soak as soak  # noqa: E402
from edge_lrcn.bench import proc_status_kb  # noqa: E402


def watch_hwm(proc: subprocess.Popen, out: list[float]) -> None:
    while proc.returncode is None:
        kb = proc_status_kb(proc.pid, "VmHWM")
        if kb is None:
            return
        out[0] = max(out[0], kb / 1024)
        time.sleep(0.2)


def run_once(video: Path, clips: Path | None) -> dict:
    cmd = [sys.executable, "-m", "edge_lrcn", "run", "--source", str(video), "--sink", "stdout",
           "--stats-interval", "3600", "--log-level", "WARNING"] + (["--clips-dir", str(clips)] if clips else [])
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    hwm = [0.0]
    threading.Thread(target=watch_hwm, args=(proc, hwm), daemon=True).start()
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the daemon failed (exit {os.waitstatus_to_exitcode(status)})")
    stats = [json.loads(x) for x in out.splitlines() if '"type":"stats"' in x][-1]
    return {"cpu_s": usage.ru_utime + usage.ru_stime, "wall_s": wall, "rss_max_mb": hwm[0],
            "frames": stats["frames_in"], "clips": stats.get("clips_written", 0),
            "clips_dropped_frames": stats.get("clips_dropped_frames", 0)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=9000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size", default="320x240", help="video size (the soak video's is 320x240)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    soak.SIZE = tuple(int(x) for x in args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="edge-lrcn-clips-bench-") as tmp:
        tmp = Path(tmp)
        soak.long_video(tmp / "soak.avi", args.frames)
        runs: dict[str, list[dict]] = {"off": [], "on": []}
        for i in range(args.runs):
            runs["off"].append(run_once(tmp / "soak.avi", None))
            runs["on"].append(run_once(tmp / "soak.avi", tmp / f"clips{i}"))
            print(f"run {i + 1}: off {runs['off'][-1]}, on {runs['on'][-1]}", file=sys.stderr)
    med = {k: {m: round(statistics.median(r[m] for r in v), 2) for m in v[0]} for k, v in runs.items()}
    med["cpu_ratio_on_off"] = round(statistics.median(a["cpu_s"] / b["cpu_s"]
                                                      for a, b in zip(runs["on"], runs["off"], strict=True)), 3)
    med["frames"], med["size"], med["runs"] = args.frames, args.size, args.runs
    print(json.dumps(med, indent=2) if args.json else "\n".join(f"{k:>18}: {v}" for k, v in med.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
