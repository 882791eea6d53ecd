"""What each region of interest costs: ``edge-lrcn bench``'s ``region_costs`` run several times, medians and ranges.

A kept frame of a 640x480 Motion-JPEG video goes through the daemon's classifier (classify/regions.py) with one
region (the left half) and with two (both halves), the two timed interleaved; the difference is what each extra region
adds per kept frame (crop, resize, encoder, head, cut check).

    python benchmarks/regions.py [--model M.lrcn] [--threads 1] [--runs 5] [--repeats 300]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from edge_lrcn.bench import bench_video, region_costs
from edge_lrcn.model.loader import load_bundle


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="a bundle (default: the embedded model)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=300)
    args = ap.parse_args()
    bundle = load_bundle(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        video = bench_video(Path(tmp) / "regions_640x480.avi", 3.0)
        runs = [region_costs(bundle, video, args.threads, args.repeats) for _ in range(args.runs)]
    out = {k: {"median": round(statistics.median(r[k] for r in runs), 3),
               "min": round(min(r[k] for r in runs), 3), "max": round(max(r[k] for r in runs), 3)} for k in runs[0]}
    print(json.dumps({"model": bundle.model_id, "runs": args.runs, **out}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
