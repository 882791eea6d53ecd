"""``edge-lrcn bench``: speed and memory on this machine, in one run.

JSON keys (``--json``), all measured here:
  encoder_int8_ms, encoder_fp16_ms   per-frame encoder latency on the CPU (median of ``repeats``)
  head_ms                            head (LSTM + Dense over T features) per window
  stream_step_ms                     one streaming classification: int8 encoder on the new frame + head
  monolithic_window_ms               the tutorial's way: lrcn_fp32.tflite over the whole T-frame window
  stream_speedup                     monolithic_window_ms / stream_step_ms
  pipeline_fps                       frames/s of the real daemon (``edge-lrcn run``, subprocess) on the video
  bare_decode_resize_fps             frames/s of a bare OpenCV read + INTER_AREA resize loop on the same video
  pipeline_vs_bare                   pipeline_fps / bare_decode_resize_fps
  daemon_peak_rss_mb                 peak resident memory of that daemon process
  first_window_s                     from launching the daemon to its first classification (file source)
  video, frames, threads, interpreter, model
"""

from __future__ import annotations

import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from .model.interpreter import Encoder, Head, default_threads, make_interpreter, runtime_name
from .model.loader import load_bundle

log = logging.getLogger(__name__)


def _median_ms(fn, repeats: int, warmup: int = 10) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


def _interleaved_median_ms(fast, slow, repeats: int, per_round: int = 5) -> tuple[float, float]:
    """Medians (ms) of ``fast`` and ``slow`` timed in alternation: ``per_round`` calls of ``fast``, then one of
    ``slow``, ``repeats // per_round`` rounds (at least 20)."""
    for _ in range(3):
        fast()
        slow()
    tf, ts = [], []
    for _ in range(max(20, repeats // per_round)):
        for _ in range(per_round):
            t = time.perf_counter()
            fast()
            tf.append(time.perf_counter() - t)
        t = time.perf_counter()
        slow()
        ts.append(time.perf_counter() - t)
    return float(np.median(tf) * 1000), float(np.median(ts) * 1000)


def bench_video(path: Path, seconds: float = 30.0) -> Path:
    """A 640x480, 30 fps MJPG video of synth segments (written with OpenCV; no TensorFlow needed)."""
    from .convert.synth import make_sequence

    labels = ["right", "still", "up", "left", "down"]
    per = seconds / len(labels)
    make_sequence(path, [(lab, per) for lab in labels], seed=7, fps=30.0, size=(640, 480))
    return path


def bare_decode_resize(path: Path, height: int, width: int) -> tuple[float, int]:
    cap = cv2.VideoCapture(str(path))
    n = 0
    t = time.perf_counter()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
        n += 1
    dt = time.perf_counter() - t
    cap.release()
    return n / dt, n


def daemon_run(model: str | None, video: Path, threads: int) -> dict:
    """Run the real daemon on the file; returns fps (from its own final stats), peak RSS and first-window latency."""
    cmd = [sys.executable, "-m", "edge_lrcn", "run", "--source", str(video), "--sink", "stdout", "--scores",
           "--stats-interval", "86400", "--threads", str(threads), "--log-level", "WARNING"]
    if model:
        cmd += ["--model", model]
    env = {**os.environ, "EDGE_LRCN_CONFIG": ""}
    env.pop("EDGE_LRCN_CONFIG")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=tempfile.gettempdir())
    first = None
    stats = None
    for line in proc.stdout:
        obj = json.loads(line)
        if first is None and obj["type"] == "scores":
            first = time.perf_counter() - t0
        if obj["type"] == "stats":
            stats = obj
    proc.wait()
    rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0 or stats is None:
        raise RuntimeError(f"the daemon failed on {video} (exit {proc.returncode})")
    return {"pipeline_fps": stats["fps_in"], "daemon_peak_rss_mb": round(rss_kb / 1024, 1),
            "first_window_s": round(first, 3) if first else None, "daemon_frames": stats["frames_in"]}


def bench(model: str | None, video: Path | None, threads: int | None, repeats: int) -> dict:
    bundle = load_bundle(model)
    threads = threads or default_threads()
    h, w = bundle.input_size
    rng = np.random.default_rng(0)
    frame = rng.random((h, w, 3), dtype=np.float32)
    feats = rng.random((bundle.frames, bundle.feature_dim), dtype=np.float32)
    enc8 = Encoder(make_interpreter(bundle.member("encoder_int8.tflite"), threads), "encoder_int8.tflite", "cpu")
    head = Head(make_interpreter(bundle.member("head.tflite"), threads))
    r = {"model": bundle.model_id, "interpreter": runtime_name(), "threads": threads}
    r["encoder_int8_ms"] = _median_ms(lambda: enc8(frame), repeats)
    if bundle.has("encoder_fp16.tflite"):
        enc16 = Encoder(make_interpreter(bundle.member("encoder_fp16.tflite"), threads), "encoder_fp16", "cpu")
        r["encoder_fp16_ms"] = _median_ms(lambda: enc16(frame), repeats)
    r["head_ms"] = _median_ms(lambda: head(feats), repeats)

    def step():
        enc8(frame)
        head(feats)

    if bundle.has("lrcn_fp32.tflite"):
        mono = make_interpreter(bundle.member("lrcn_fp32.tflite"), threads)
        idx = mono.get_input_details()[0]["index"]
        window = rng.random(tuple(mono.get_input_details()[0]["shape"]), dtype=np.float32)

        def run_mono():
            mono.set_tensor(idx, window)
            mono.invoke()

        # interleaved, so that a slow spell of a shared machine hits both sides of the ratio alike
        r["stream_step_ms"], r["monolithic_window_ms"] = _interleaved_median_ms(step, run_mono, repeats)
        r["stream_speedup"] = r["monolithic_window_ms"] / r["stream_step_ms"]
    else:
        r["stream_step_ms"] = _median_ms(step, repeats)
    with tempfile.TemporaryDirectory(prefix="edge-lrcn-bench-") as tmp:
        if video is None:
            video = bench_video(Path(tmp) / "bench_640x480.avi")
        bare, n = bare_decode_resize(video, h, w)
        r["video"], r["frames"] = str(video), n
        r["bare_decode_resize_fps"] = bare
        r.update(daemon_run(model, video, threads))
    r["pipeline_vs_bare"] = r["pipeline_fps"] / r["bare_decode_resize_fps"]
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}


def bench_command(args) -> int:
    r = bench(args.model, args.video, args.threads, args.repeats)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    rows = [("encoder int8, ms/frame", "encoder_int8_ms"), ("encoder fp16 (CPU), ms/frame", "encoder_fp16_ms"),
            ("head, ms/window", "head_ms"), ("streaming step (encoder + head), ms", "stream_step_ms"),
            ("monolithic window (lrcn_fp32), ms", "monolithic_window_ms"), ("streaming speed-up", "stream_speedup"),
            ("daemon pipeline, frames/s", "pipeline_fps"), ("bare decode + resize, frames/s", "bare_decode_resize_fps"),
            ("pipeline / bare", "pipeline_vs_bare"), ("daemon peak RSS, MB", "daemon_peak_rss_mb"),
            ("first classification after start, s", "first_window_s")]
    print(f"model {r['model']}, {r['interpreter']}, {r['threads']} threads, video {r['frames']} frames")
    for name, key in rows:
        if key in r:
            print(f"  {name:<40}{r[key]:>10.3f}")
    return 0
