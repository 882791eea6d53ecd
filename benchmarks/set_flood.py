"""A flood of remote settings requests against a streaming daemon: do frames and the watchdog keep going?

    python benchmarks/set_flood.py [--rate 1000] [--seconds 20] [--quiet 20] [--json]

A real mosquitto on loopback, a live MJPEG camera on loopback (320x240 at 15 fps, the tests' synthetic scene) and
`edge-lrcn run` with the stdout and MQTT sinks, remote settings on, stats every second, and the systemd notify
protocol pointed at a socket of this script (WATCHDOG_USEC=2 s: the daemon sends WATCHDOG=1 every second while
frames advance). First ``--quiet`` seconds without requests, then ``--seconds`` of ``--rate`` `<prefix>/set`
requests a second (QoS 0, each a valid request changing min_duration), then 5 s more. For each phase: the median
kept frame rate (the stats objects' fps_kept), the longest gap between two WATCHDOG=1, camera offline reports,
and how the requests were answered (ok, busy, other errors). The figures depend on what else runs on the machine:
the load average before and after is printed with them.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paho.mqtt.client as mqtt  # noqa: E402

from tests.broker import Broker  # noqa: E402
from tests.mjpeg_server import MjpegCamera  # noqa: E402

PREFIX = "edge-lrcn/flood"


class Notify:
    """The systemd notify socket: every datagram with the time it came."""

    def __init__(self, path: Path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.items: list[tuple[float, str]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while True:
            try:
                data = self.sock.recv(4096)
            except OSError:
                return
            self.items.append((time.monotonic(), data.decode(errors="replace")))

    def pings(self) -> list[float]:
        return [t for t, m in list(self.items) if "WATCHDOG=1" in m.split("\n")]


def client(port: int, on_message=None) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"flood-{time.monotonic_ns()}")
    c.max_queued_messages_set(0)
    if on_message:
        c.on_message = on_message
        c.on_connect = lambda cl, u, f, rc, p: cl.subscribe(f"{PREFIX}/set/response", qos=1)
    c.connect("127.0.0.1", port, 30)
    c.loop_start()
    return c


def flood(c: mqtt.Client, rate: float, seconds: float) -> int:
    sent, t0 = 0, time.monotonic()
    while (now := time.monotonic()) - t0 < seconds:
        due = int((now - t0) * rate)
        while sent < due:
            c.publish(f"{PREFIX}/set", json.dumps({"min_duration": 1.0 + (sent % 20) / 10,
                                                   "transaction": f"f{sent}"}), qos=0)
            sent += 1
        time.sleep(0.002)
    return sent


def phase(lines: list[tuple[float, dict]], pings: list[float], t0: float, t1: float) -> dict:
    fps = [o["fps_kept"] for t, o in lines if o.get("type") == "stats" and t0 + 1 < t <= t1]
    inside = [t for t in pings if t0 <= t <= t1]
    gaps = [b - a for a, b in zip([t0] + inside, inside + [t1], strict=True)]
    offline = [o for t, o in lines if o.get("type") == "camera" and o.get("state") == "offline" and t0 <= t <= t1]
    return {"seconds": round(t1 - t0, 1), "fps_kept_median": statistics.median(fps) if fps else None,
            "fps_kept_min": min(fps) if fps else None, "watchdog_pings": len(inside),
            "watchdog_gap_max_s": round(max(gaps), 2) if gaps else None, "camera_offline_reports": len(offline)}


def run(args) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="set-flood-"))
    broker = Broker(tmp / "broker").start()
    cam = MjpegCamera("right", fps=15.0, seed=3)
    notify = Notify(tmp / "notify.sock")
    answers: dict[str, int] = {"ok": 0, "busy": 0, "other": 0}

    def on_answer(c, u, msg):
        obj = json.loads(msg.payload)
        key = "ok" if obj["status"] == "ok" else "busy" if "busy" in (obj.get("error") or "") else "other"
        answers[key] += 1

    env = {**{k: v for k, v in os.environ.items() if not k.startswith("EDGE_LRCN_")},
           "NOTIFY_SOCKET": str(tmp / "notify.sock"), "WATCHDOG_USEC": "2000000"}
    proc = subprocess.Popen([sys.executable, "-m", "edge_lrcn", "run", "--source", cam.url, "--device-id", "flood",
                             "--sink", "stdout", "--sink", f"mqtt://127.0.0.1:{broker.port}", "--remote-settings",
                             "--state-dir", str(tmp / "state"), "--stats-interval", "1"],
                            stdout=subprocess.PIPE, stderr=open(tmp / "daemon.log", "w"), text=True, env=env)
    lines: list[tuple[float, dict]] = []
    threading.Thread(target=lambda: [lines.append((time.monotonic(), json.loads(x))) for x in proc.stdout
                                     if x.startswith("{")], daemon=True).start()
    load0 = os.getloadavg()[0]
    try:
        while not any(o.get("type") == "stats" for _, o in list(lines)):
            if proc.poll() is not None:
                raise SystemExit(f"the daemon exited: {(tmp / 'daemon.log').read_text()[-2000:]}")
            time.sleep(0.1)
        listener, pub = client(broker.port, on_answer), client(broker.port)
        t0 = time.monotonic()
        time.sleep(args.quiet)
        t1 = time.monotonic()
        sent = flood(pub, args.rate, args.seconds)
        t2 = time.monotonic()
        time.sleep(5.0)
        t3 = time.monotonic()
        listener.loop_stop()
        pub.loop_stop()
    finally:
        proc.terminate()
        rc = proc.wait(30)
        cam.close()
        broker.stop()
    pings = notify.pings()
    return {"rate": args.rate, "sent": sent, "answers": answers, "exit_code": rc,
            "quiet": phase(lines, pings, t0, t1), "flood": phase(lines, pings, t1, t2),
            "after": phase(lines, pings, t2, t3), "load_before": round(load0, 2),
            "load_after": round(os.getloadavg()[0], 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, default=1000.0, help="requests a second during the flood")
    p.add_argument("--seconds", type=float, default=20.0, help="how long the flood lasts")
    p.add_argument("--quiet", type=float, default=20.0, help="seconds without requests before it")
    p.add_argument("--json", action="store_true", help="one JSON object instead of the summary")
    result = run(p.parse_args())
    if p.parse_args().json:
        print(json.dumps(result))
        return
    for name in ("quiet", "flood", "after"):
        print(f"{name:6s} {json.dumps(result[name])}")
    print(f"sent {result['sent']} requests, answers {result['answers']}, exit {result['exit_code']}, load average "
          f"{result['load_before']} -> {result['load_after']}")


if __name__ == "__main__":
    main()
