"""Soak benchmark: stream >= 100,000 frames through the full daemon (file source, stdout + MQTT sinks) and watch
resident memory and queues.

    python benchmarks/soak.py [--frames 100000] [--model M] [--json]

A 320x240 synth video (speed is bench's business; this is about memory and queues) is written once and looped: the
daemon is run on a playlist made by repeating it (one file, concatenated with OpenCV), so decode, pacing, encoder, head,
events and both sinks all run for every frame. A real mosquitto broker is started on a free loopback port and a
subscriber counts what arrives. RSS is sampled from /proc every second; "after warm-up" means after the first 10% of the
frames.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402

from edge_lrcn.bench import proc_status_kb  # noqa: E402
from edge_lrcn.convert.synth import make_sequence  # noqa: E402
from tests.broker import Broker  # noqa: E402

SIZE = (320, 240)
SEGMENTS = [("right", 6.0), ("still", 6.0), ("up", 6.0), ("left", 6.0), ("down", 6.0)]


def long_video(path: Path, frames: int, fps: float = 30.0) -> int:
    """One base clip of all segments, repeated into one file of at least ``frames`` frames."""
    base = path.with_name("base.avi")
    make_sequence(base, SEGMENTS, seed=3, fps=fps, size=SIZE)
    cap = cv2.VideoCapture(str(base))
    clip = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        clip.append(cv2.imencode(".jpg", f)[1])
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, SIZE)
    n = 0
    while n < frames:
        for jpg in clip:
            writer.write(cv2.imdecode(jpg, cv2.IMREAD_COLOR))
            n += 1
    writer.release()
    return n


def rss_mb(pid: int) -> float | None:
    kb = proc_status_kb(pid, "VmRSS")
    return None if kb is None else kb / 1024


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=100_000)
    ap.add_argument("--model")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import paho.mqtt.client as mqtt

    with tempfile.TemporaryDirectory(prefix="edge-lrcn-soak-") as tmp:
        tmp = Path(tmp)
        t0 = time.time()
        n_video = long_video(tmp / "soak.avi", args.frames)
        print(f"video: {n_video} frames written in {time.time() - t0:.0f} s", file=sys.stderr)
        broker = Broker(tmp / "broker").start()
        received = {"events": 0, "stats": 0}
        sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        sub.on_connect = lambda c, *a: c.subscribe("edge-lrcn/soak/#", qos=1)

        def on_message(c, u, m):
            key = m.topic.rsplit("/", 1)[-1]
            if key in received:
                received[key] += 1

        sub.on_message = on_message
        sub.connect("127.0.0.1", broker.port)
        sub.loop_start()
        cmd = [sys.executable, "-m", "edge_lrcn", "run", "--source", str(tmp / "soak.avi"), "--device-id", "soak",
               "--sink", "stdout", "--sink", f"mqtt://127.0.0.1:{broker.port}", "--stats-interval", "10",
               "--log-level", "WARNING"]
        if args.model:
            cmd += ["--model", args.model]
        t_start = time.time()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        samples: list[tuple[float, float]] = []
        stats: list[dict] = []
        events = 0

        def sample():
            while proc.poll() is None:
                r = rss_mb(proc.pid)
                if r:
                    samples.append((time.time() - t_start, r))
                time.sleep(1.0)

        threading.Thread(target=sample, daemon=True).start()
        for line in proc.stdout:
            obj = json.loads(line)
            if obj["type"] == "stats":
                stats.append(obj)
            elif obj["type"].startswith("activity_"):
                events += 1
        proc.wait()
        elapsed = time.time() - t_start
        time.sleep(1.0)
        sub.loop_stop()
        broker.stop()
    if proc.returncode != 0 or not stats:
        print(f"soak: the daemon failed (exit {proc.returncode})", file=sys.stderr)
        return 1
    last = stats[-1]
    warm = [r for t, r in samples if t >= elapsed * 0.1]
    result = {
        "frames": last["frames_in"], "kept": last["frames_kept"], "windows": last["windows"],
        "seconds": round(elapsed, 1),
        "fps": round(last["frames_in"] / elapsed, 1), "events_stdout": events, "events_mqtt": received["events"],
        "rss_start_mb": round(warm[0], 1), "rss_end_mb": round(warm[-1], 1), "rss_max_mb": round(max(warm), 1),
        "rss_growth_after_warmup_mb": round(warm[-1] - warm[0], 2), "mqtt_dropped": last.get("mqtt_dropped"),
        "mqtt_queued_max": max(s.get("mqtt_queued", 0) for s in stats), "frames_dropped": last["frames_dropped"],
        "exit_code": proc.returncode,
    }
    print(json.dumps(result, indent=2) if args.json else "\n".join(f"{k:>28}: {v}" for k, v in result.items()))
    return 0 if proc.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
