"""``edge-lrcn demo``: synth -> convert -> stream a fresh demo video through the new bundle -> events on stdout."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)

DEMO_SEGMENTS = [("right", 8.0), ("still", 8.0), ("up", 8.0), ("left", 8.0), ("down", 8.0)]


def demo_command(args) -> int:
    from .convert import synth
    from .errors import UsageError

    try:
        from .convert.pipeline import ConvertOptions, convert_command
        from .convert.train import TrainOptions
    except ImportError as exc:
        raise UsageError(f"the demo trains a model and needs the convert extra ({exc.name} is missing): "
                         f"pip install 'edge-lrcn[convert]'") from None
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    data, bundle, video = work / "data", work / "demo.lrcn", work / "demo_video.avi"
    print(f"[1/4] writing {args.clips_per_class} synthetic clips per class to {data}", flush=True)
    synth.make_dataset(data, args.clips_per_class, seed=1)
    print(f"[2/4] training the default LRCN (pretrained encoder, motion input) for up to {args.epochs} epochs, "
          f"converting to int8, validating -> {bundle}", flush=True)
    # the synth classes are directions: time reversal and mirroring swap them, so the augmentations say how
    opts = ConvertOptions(data=data, out=bundle, baseline=False, allow_degraded=True,
                          train=TrainOptions(epochs=args.epochs, verbose=0,
                                             reverse_pairs="left:right,up:down,still:still",
                                             hflip="left:right", vflip="up:down"))
    report = convert_command(opts)
    if not report["gate"]["passed"]:
        print(f"WARNING: the demo bundle is DEGRADED (it failed convert's quality gate: "
              f"{'; '.join(report['gate']['reasons'])}); events below may be wrong", flush=True)
    print(f"[3/4] writing a demo video of segments {', '.join(f'{a} {b:g}s' for a, b in DEMO_SEGMENTS)} -> {video}",
          flush=True)
    synth.make_sequence(video, DEMO_SEGMENTS, seed=int(time.time()) % 100000)
    print(f"[4/4] edge-lrcn run --model {bundle} --source {video} --sink stdout", flush=True)
    proc = subprocess.run([sys.executable, "-m", "edge_lrcn", "run", "--model", str(bundle), "--source", str(video),
                           "--sink", "stdout", "--stats-interval", "0", "--log-level", "WARNING"])
    print(f"demo finished in {time.time() - t0:.0f} s; artefacts in {work.resolve()}: data/, demo.lrcn, "
          f"demo.lrcn.report.json, demo_training.png, demo_confusion.png, demo_video.avi", flush=True)
    return proc.returncode
