"""What the page costs the daemon: CPU time and memory with ``--http`` off, on with no viewer, and on with one
viewer of the live view (the MJPEG stream read as a browser reads it), on a 640x480, 30 fps video at its own pace;
and what making a clip browser-playable costs (the VP8 copy made on first view).

    python benchmarks/page.py [--seconds 40] [--runs 3] [--json]

The three modes run interleaved (off, no viewer, viewer, off, ...), ``--runs`` times each; the daemon runs the file
with ``--realtime`` (a camera's pace), so CPU time / video seconds is the share of one core. Memory: the daemon's
peak VmHWM and RssAnon (private memory), read from /proc every 0.2 s. Medians; on a machine others load, read the
differences between the modes of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import benchmarks.soak as soak  # noqa: E402
from edge_lrcn.bench import proc_status_kbs  # noqa: E402

MODES = ("off", "no_viewer", "viewer")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def watch(proc: subprocess.Popen, peak: dict) -> None:
    while proc.poll() is None:
        for k, v in proc_status_kbs(proc.pid, ("VmHWM", "RssAnon")).items():
            peak[k] = max(peak.get(k, 0), v / 1024)
        time.sleep(0.2)


def view(port: int, stop: threading.Event, got: list[int]) -> None:
    """One viewer: reads the live stream as fast as it comes (a browser tab showing it)."""
    while not stop.is_set():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/live.mjpg", timeout=5) as r:
                while not stop.is_set() and (chunk := r.read(65536)):
                    got[0] += len(chunk)
        except OSError:
            time.sleep(0.1)


def run_once(video: Path, mode: str) -> dict:
    port = free_port()
    cmd = [sys.executable, "-m", "edge_lrcn", "run", "--source", str(video), "--realtime", "--sink", "stdout",
           "--stats-interval", "0", "--log-level", "WARNING"] \
        + ([] if mode == "off" else ["--http", f"127.0.0.1:{port}"])
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    peak: dict = {}
    stop, got = threading.Event(), [0]
    threading.Thread(target=watch, args=(proc, peak), daemon=True).start()
    if mode == "viewer":
        threading.Thread(target=view, args=(port, stop, got), daemon=True).start()
    _, status, usage = os.wait4(proc.pid, 0)
    stop.set()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the daemon failed (exit {os.waitstatus_to_exitcode(status)})")
    return {"cpu_s": usage.ru_utime + usage.ru_stime, "vmhwm_mb": peak.get("VmHWM", 0.0),
            "rss_anon_mb": peak.get("RssAnon", 0.0), "stream_mb": got[0] / 1e6}


def transcode_cost(tmp: Path, seconds: float = 10.0) -> dict:
    """CPU seconds to make the browser copy of a 640x480 mp4v clip of ``seconds`` at 15 fps (clips' default)."""
    import cv2

    from edge_lrcn.web.review import transcode

    src = tmp / "clip.mp4"
    cap = cv2.VideoCapture(str(tmp / "v.avi"))
    w = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"mp4v"), 15.0, (640, 480))
    for _ in range(int(15 * seconds)):
        ok, frame = cap.read()
        cap.read()
        w.write(frame)
    w.release()
    cap.release()
    t0 = time.process_time()
    transcode(src, tmp / "clip.webm", tmp / "partial.webm")
    return {"clip_s": seconds, "transcode_cpu_s": round(time.process_time() - t0, 3),
            "mp4_kb": round(src.stat().st_size / 1024), "webm_kb": round((tmp / "clip.webm").stat().st_size / 1024)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    soak.SIZE = (640, 480)
    with tempfile.TemporaryDirectory(prefix="edge-lrcn-page-bench-") as tmp:
        tmp = Path(tmp)
        soak.long_video(tmp / "v.avi", int(30 * args.seconds))
        runs: dict[str, list[dict]] = {m: [] for m in MODES}
        for i in range(args.runs):
            for m in MODES:
                runs[m].append(run_once(tmp / "v.avi", m))
                print(f"run {i + 1} {m}: {runs[m][-1]}", file=sys.stderr)
        out = {m: {k: round(statistics.median(r[k] for r in v), 2) for k in v[0]} for m, v in runs.items()}
        for m in MODES:
            out[m]["cpu_pct_of_a_core"] = round(100 * out[m]["cpu_s"] / args.seconds, 2)
        for m in MODES[1:]:
            out[m + "_minus_off"] = {
                "cpu_pct": round(statistics.median(100 * (a["cpu_s"] - b["cpu_s"]) / args.seconds
                                                   for a, b in zip(runs[m], runs["off"], strict=True)), 2),
                "rss_anon_mb": round(statistics.median(a["rss_anon_mb"] - b["rss_anon_mb"]
                                                       for a, b in zip(runs[m], runs["off"], strict=True)), 2)}
        out["browser_copy"] = transcode_cost(tmp)
    out["seconds"], out["runs"] = args.seconds, args.runs
    print(json.dumps(out, indent=2) if args.json else "\n".join(f"{k:>20}: {v}" for k, v in out.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
