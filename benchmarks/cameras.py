"""Several cameras on one device: N daemons side by side, CPU and peak RSS of each.

    python benchmarks/cameras.py [--cameras 1,2] [--seconds 60] [--size 640x480] [--fps 30] [--json]

For each N in --cameras, N `edge-lrcn run --realtime` processes run at once, each on its own synth video (a
different scene sequence per camera, paced at the video's native rate as a camera would deliver it), with the
stdout and MQTT sinks (a real mosquitto on loopback) and --device-id cam<i>, as edge-lrcn@.service instances would.
Each process's CPU time (user + system) and peak RSS come from the kernel's rusage when it exits (os.wait4); CPU is
given as % of one core over the run's wall time. The figures depend on what else runs on the machine: the load
average before and after is printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge_lrcn.convert.synth import make_sequence  # noqa: E402
from tests.broker import Broker  # noqa: E402

LABELS = ["right", "still", "up", "left", "down"]


def run_group(n: int, videos: list[Path], port: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_LRCN_")}
    procs, outs = [], []
    load0 = os.getloadavg()[0]
    t0 = time.monotonic()
    for i in range(n):
        cmd = [sys.executable, "-m", "edge_lrcn", "run", "--source", str(videos[i]), "--realtime",
               "--device-id", f"cam{i}", "--sink", "stdout", "--sink", f"mqtt://127.0.0.1:{port}",
               "--stats-interval", "5"]
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        lines: list[str] = []
        threading.Thread(target=lambda p=p, lines=lines: lines.extend(p.stdout), daemon=True).start()
        procs.append(p)
        outs.append(lines)
    rows = []
    for i, p in enumerate(procs):
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - t0
        time.sleep(0.2)
        objs = [json.loads(line) for line in outs[i] if line.startswith("{")]
        stats = [o for o in objs if o.get("type") == "stats"]
        rows.append({"device": f"cam{i}", "exit": p.returncode, "wall_s": round(wall, 1),
                     "cpu_s": round(ru.ru_utime + ru.ru_stime, 1),
                     "cpu_pct_of_one_core": round(100 * (ru.ru_utime + ru.ru_stime) / wall, 1),
                     "peak_rss_mb": round(ru.ru_maxrss / 1024, 1),
                     "activity_starts": sum(o.get("type") == "activity_start" for o in objs),
                     "last_stats": stats[-1] if stats else None})
    return {"cameras": n, "load_before": round(load0, 2), "load_after": round(os.getloadavg()[0], 2),
            "daemons": rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cameras", default="1,2", help="comma-separated numbers of daemons to run side by side")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    counts = [int(x) for x in a.cameras.split(",")]
    w, h = (int(x) for x in a.size.split("x"))
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        videos = []
        for i in range(max(counts)):
            seg = a.seconds / len(LABELS)
            order = LABELS[i % len(LABELS):] + LABELS[:i % len(LABELS)]
            videos.append(d / f"cam{i}.avi")
            make_sequence(videos[-1], [(lab, seg) for lab in order], seed=100 + i, fps=a.fps, size=(w, h))
        broker = Broker(d / "broker").start()
        try:
            results = [run_group(n, videos, broker.port) for n in counts]
        finally:
            broker.stop()
    if a.json:
        print(json.dumps(results, indent=1))
        return 0
    print(f"{a.size} at {a.fps:g} fps, {a.seconds:g} s per camera, --realtime, stdout + MQTT sinks;"
          f" {os.cpu_count()} cores")
    print("| daemons side by side | device | CPU, % of one core | peak RSS MB | fps in / kept (last stats)"
          " | load before/after |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in results:
        for row in r["daemons"]:
            s = row["last_stats"] or {}
            fps = f"{s.get('fps_in', '?')} / {s.get('fps_kept', '?')}"
            print(f"| {r['cameras']} | {row['device']} (exit {row['exit']}) | {row['cpu_pct_of_one_core']} | "
                  f"{row['peak_rss_mb']} | {fps} | {r['load_before']} / {r['load_after']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
