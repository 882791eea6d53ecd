"""The streaming step against the monolithic window, timed independently of ``edge-lrcn bench``.

Reads the bundle zip and runs its members with LiteRT's interpreter directly (none of edge_lrcn's model code): for
each CPU encoder, one encoder call on a frame plus one head call on 20 cached features, against ``lrcn_fp32.tflite``
on a whole 20-frame window. Each round times ``--per-round`` steps of every encoder and then one window, so a slow
spell of a shared machine hits both sides; it prints the medians over ``--rounds`` rounds and the ratio, for each
encoder.

    python benchmarks/step_vs_window.py [--model M.lrcn] [--threads 1] [--rounds 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import zipfile

import numpy as np


def _interp(blob: bytes, threads: int):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=blob, num_threads=threads)
    it.allocate_tensors()
    d = it.get_input_details()[0]
    x = np.zeros(d["shape"], d["dtype"])

    def call():
        it.set_tensor(d["index"], x)
        it.invoke()

    return call


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="bundle (default: the embedded model)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--per-round", type=int, default=5)
    args = ap.parse_args()
    if args.model is None:
        from edge_lrcn.models import default_model_path

        args.model = default_model_path()
    z = zipfile.ZipFile(args.model)
    names = set(z.namelist())
    head, window = _interp(z.read("head.tflite"), args.threads), _interp(z.read("lrcn_fp32.tflite"), args.threads)
    encoders = {m: _interp(z.read(m), args.threads) for m in ("encoder_int8.tflite", "encoder_fp16.tflite")
                if m in names}
    steps: dict[str, list[float]] = {m: [] for m in encoders}
    windows: list[float] = []
    for r in range(args.rounds + 5):
        for m, enc in encoders.items():
            for _ in range(args.per_round):
                t = time.perf_counter()
                enc()
                head()
                if r >= 5:
                    steps[m].append(time.perf_counter() - t)
        t = time.perf_counter()
        window()
        if r >= 5:
            windows.append(time.perf_counter() - t)
    w = statistics.median(windows) * 1000
    out = {"monolithic_window_ms": round(w, 4)}
    for m, v in steps.items():
        s = statistics.median(v) * 1000
        out[m] = {"step_ms": round(s, 4), "speedup": round(w / s, 2)}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
