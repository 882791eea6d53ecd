"""Run ``edge-lrcn bench --json`` several times and print the median, min and max of every figure.

A shared or throttling machine (a VM, a Pi without a heatsink) moves single runs by tens of percent; the README's
table is the median (and range) of 5 runs, produced by ``python benchmarks/bench_runs.py --runs 5`` (about 40 s a
run: the paced daemon and the paced bare loop take 20 s of video each).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

KEYS = ["encoder_int8_ms", "encoder_fp16_ms", "head_ms", "stream_step_ms", "monolithic_window_ms", "stream_speedup",
        "pipeline_fps", "bare_decode_resize_fps", "pipeline_vs_bare", "pipeline_wall_s", "pipeline_vs_bare_wall",
        "first_frame_s", "daemon_cpu_pct", "bare_paced_cpu_pct",
        "bare_flat_out_cpu_pct", "daemon_vs_bare_cpu", "daemon_peak_rss_mb", "daemon_peak_anon_mb", "first_window_s",
        "stage_grab_ms", "stage_decode_ms", "stage_resize_ms", "stage_encoder_ms", "stage_head_ms",
        "stage_events_ms", "stage_sinks_ms", "stages_ms_per_s"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=300)
    ap.add_argument("--model")
    ap.add_argument("--threads", type=int, help="passed to bench (default: bench's, the daemon's default of 1)")
    ap.add_argument("--paced-seconds", type=float, default=20.0, help="passed to bench (0: no paced CPU figures)")
    ap.add_argument("--json", action="store_true", help="print the runs and their summary as JSON")
    args = ap.parse_args()
    cmd = [sys.executable, "-m", "edge_lrcn", "bench", "--json", "--repeats", str(args.repeats), "--paced-seconds",
           str(args.paced_seconds)]
    if args.model:
        cmd += ["--model", args.model]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    runs = []
    for i in range(args.runs):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"run {i + 1} failed: {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            return 1
        runs.append(json.loads(proc.stdout))
    summary = {k: {"median": statistics.median(r[k] for r in runs), "min": min(r[k] for r in runs),
                   "max": max(r[k] for r in runs)} for k in KEYS if all(r.get(k) is not None for r in runs)}
    if args.json:
        print(json.dumps({"runs": runs, "summary": summary}, indent=2))
        return 0
    print(f"{len(runs)} runs, model {runs[0]['model']}, {runs[0]['threads']} threads, encoder auto picked: "
          f"{', '.join(r['encoder_auto'] for r in runs)}")
    for k, v in summary.items():
        print(f"  {k:<24} median {v['median']:10.3f}   min {v['min']:10.3f}   max {v['max']:10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
