"""Model pushes against a streaming daemon: how long a push takes (push -> ok) and whether streaming stalls meanwhile.

    python benchmarks/push.py [--pushes 5] [--json]

A real mosquitto on loopback, the MJPEG test camera (15 fps) and one `edge-lrcn run` with a trusted key and
--stats-interval 1. Each push is a newly signed bundle (the embedded models under other label names: a sha256 the
child-process check has not seen, with a fresh cache), sent with `edge-lrcn push`. Printed: the push's wall time, the
kept frame rate of the stats objects that fall inside the push against those before the first push (a check that runs on
the frame loop would show as a second with no kept frames), and the daemon's private memory (RssAnon) before the first
push and 2 s after each (the 150 MB target; the old model must be released). The figures depend on what else runs on the
machine: the load average is printed with them.
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

from edge_lrcn.bench import proc_status_kbs  # noqa: E402
from edge_lrcn.fleet.keys import keygen, sign  # noqa: E402
from edge_lrcn.models import default_model_path  # noqa: E402
from tests.broker import Broker  # noqa: E402
from tests.mjpeg_server import MjpegCamera  # noqa: E402
from tests.test_fleet import relabel  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pushes", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="edge-lrcn-push-bench-"))
    keygen(tmp / "k", "bench")
    bundles = []
    for i in range(args.pushes):
        b = relabel(default_model_path(), tmp / f"m{i}.lrcn", [f"p{i}_{n}" for n in "abcde"])
        sign(b, tmp / "k" / "edge-lrcn.key")
        bundles.append(b)
    broker, cam = Broker(tmp / "broker").start(), MjpegCamera("right", fps=15.0)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("EDGE_LRCN_")}, "XDG_CACHE_HOME": str(tmp / "c")}
    url = f"mqtt://127.0.0.1:{broker.port}"
    proc = subprocess.Popen([sys.executable, "-m", "edge_lrcn", "run", "--source", cam.url, "--device-id", "bench",
                             "--sink", url, "--sink", "stdout", "--stats-interval", "1", "--trusted-key",
                             str(tmp / "k" / "edge-lrcn.pub"), "--state-dir", str(tmp / "state")],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    stats: list[tuple[float, float]] = []  # (arrival, fps_kept)

    def read():
        for line in proc.stdout:
            if '"type":"stats"' in line:
                stats.append((time.monotonic(), json.loads(line)["fps_kept"]))

    threading.Thread(target=read, daemon=True).start()
    load0 = os.getloadavg()[0]
    try:
        while len(stats) < 6:
            time.sleep(0.2)
        windows, anon = [], [proc_status_kbs(proc.pid, ("RssAnon",))["RssAnon"] / 1024]
        for b in bundles:
            t0 = time.monotonic()
            out = subprocess.run([sys.executable, "-m", "edge_lrcn", "push", str(b), "--broker", url, "--device",
                                  "bench"], capture_output=True, text=True, env=env, timeout=300)
            t1 = time.monotonic()
            assert out.returncode == 0, out.stdout + out.stderr
            windows.append((t0, t1))
            time.sleep(2.0)
            anon.append(proc_status_kbs(proc.pid, ("RssAnon",))["RssAnon"] / 1024)
    finally:
        proc.terminate()
        proc.wait(15)
        cam.close()
        broker.stop()
    first = windows[0][0]
    before = [f for t, f in stats[1:] if t < first]
    during = [f for t, f in stats if any(a <= t - 1.0 and t <= b for a, b in windows)]  # stats wholly inside a push
    result = {"pushes": len(windows), "push_s_median": round(statistics.median(b - a for a, b in windows), 2),
              "push_s_max": round(max(b - a for a, b in windows), 2),
              "fps_kept_before_median": statistics.median(before), "fps_kept_during_median":
              statistics.median(during) if during else None, "fps_kept_during_min": min(during) if during else None,
              "stats_during": len(during), "anon_mb_before": round(anon[0], 1),
              "anon_mb_after_each": [round(a, 1) for a in anon[1:]], "anon_mb_max": round(max(anon), 1),
              "load_avg_before": round(load0, 2),
              "load_avg_after": round(os.getloadavg()[0], 2)}
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
