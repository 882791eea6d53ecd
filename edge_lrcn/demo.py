"""``edge-lrcn demo``: synth -> convert -> stream a fresh demo video through the new bundle -> events on stdout.

The demo video is a camera's view of two scenes side by side: the demo's segments on the left, where a region
``door`` is set, and a distraction moving all the time on the right; the daemon classifies the region only (its
events carry ``"region": "door"``)."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)

DEMO_SEGMENTS = [("right", 8.0), ("still", 8.0), ("up", 8.0), ("left", 8.0), ("down", 8.0)]
DISTRACTION = "down"  # what the right half of the view shows all along, outside the region
DEMO_REGION = "door:0,0,0.5,1"  # the left half: NAME:x0,y0,x1,y1 (run --region)
FINE_TUNE_LR = 1e-4


def demo_command(args) -> int:
    from .convert import synth
    from .errors import UsageError

    try:
        from .convert.options import ConvertOptions, TrainOptions
        from .convert.pipeline import convert_command
    except ImportError as exc:
        raise UsageError(f"the demo trains a model and needs the convert extra ({exc.name} is missing): "
                         f"pip install 'edge-lrcn[convert]'") from None
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    data, bundle, video = work / "data", work / "demo.lrcn", work / "demo_video.avi"
    print(f"[1/4] writing {args.clips_per_class} synthetic clips per class to {data}", flush=True)
    synth.make_dataset(data, args.clips_per_class, seed=1)
    init = Path(__file__).with_name("models") / "default.keras"
    how = f"fine-tuning the embedded model's weights ({init.name})" if init.exists() else "training from scratch"
    print(f"[2/4] {how} for up to {args.epochs} epochs, converting to int8, validating -> {bundle}", flush=True)
    # convert's defaults (the embedded model is built with them, scripts/make_default_model.sh), started from the
    # embedded model's weights: its frozen encoder, its five heads fine-tuned on these clips with a small step (at
    # the from-scratch rate a few clips undo part of what the heads know); no single-frame baseline, to be quick
    # and a held-out test split, not cross-validation (five times the training), to be quick
    opts = ConvertOptions(data=data, out=bundle, baseline=False, allow_degraded=True, estimate="holdout",
                          train=TrainOptions(epochs=args.epochs, patience=3, verbose=0,
                                             learning_rate=(FINE_TUNE_LR if init.exists()
                                                            else TrainOptions.learning_rate),
                                             init_from=str(init) if init.exists() else None))
    report = convert_command(opts)
    if not report["gate"]["passed"]:
        print(f"WARNING: the demo bundle is DEGRADED (it failed convert's quality gate: "
              f"{'; '.join(report['gate']['reasons'])}); the events below may be wrong", flush=True)
    total = sum(seconds for _, seconds in DEMO_SEGMENTS)
    print(f"[3/4] writing a demo video: on the left segments {', '.join(f'{a} {b:g}s' for a, b in DEMO_SEGMENTS)}, "
          f"on the right {DISTRACTION} all along -> {video}", flush=True)
    synth.make_panels(video, [DEMO_SEGMENTS, [(DISTRACTION, total)]], seed=int(time.time()) % 100000)
    print(f"[4/4] edge-lrcn run --model {bundle} --source {video} --region {DEMO_REGION} --sink stdout", flush=True)
    proc = subprocess.run([sys.executable, "-m", "edge_lrcn", "run", "--model", str(bundle), "--source", str(video),
                           "--region", DEMO_REGION, "--sink", "stdout", "--stats-interval", "0",
                           "--log-level", "WARNING"])
    print(f"demo finished in {time.time() - t0:.0f} s; artefacts in {work.resolve()}: data/, demo.lrcn, "
          f"demo.lrcn.report.json, demo_training.png, demo_confusion.png, demo_video.avi", flush=True)
    return proc.returncode
