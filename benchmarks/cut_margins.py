"""The scene-cut rule's margins (classify/cut.py), for the rule in use and the mean-over-channels rule before it.

* generated 64x64 frames (the scenes of tests/test_cut.py): the most cells that in-frame motion changed (a cut needs
  80%), the fewest that another scene and a camera pan changed, what sensor noise alone changed;
* ``synth --sequence`` videos (five 7 s segments, a new random scene each, as benchmarks/events.py): the scene changes
  missed, cuts inside a scene, the fewest cells a scene change changed and the most a kept frame within a scene did,
  on the frames the daemon keeps (10 fps, 64x64).

    python benchmarks/cut_margins.py --seeds 1-200
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from events import SEGMENTS, seed_list  # noqa: E402


def mean_rule(prev: np.ndarray, cur: np.ndarray, threshold: float) -> float:
    """The share of changed cells by the rule until 2026-12-06: the mean change over the three channels."""
    cells = cv2.resize(cv2.absdiff(prev, cur), (8, 8), interpolation=cv2.INTER_AREA).astype(np.float32)
    return float((cells.mean(axis=2) > threshold * 255.0).mean())


def generated(share) -> dict:
    import test_cut as t

    worst = 0.0
    for background in ("plain", "texture"):
        for size in [(45, 45), (32, 64), (64, 32)]:
            rng = np.random.default_rng([len(background), *size])
            for trial in range(20):  # the draws of test_large_motion_inside_the_frame_never_cuts
                scene = t._texture(rng) if background == "texture" else t._plain(rng)
                person = t._person(rng, *size)
                noise = 12.0 if trial % 2 else 0.0
                x, y = int(rng.integers(-size[0] // 3, t.S - size[0] // 2)), int(rng.integers(0, t.S - size[1] + 1))
                dx, dy = (0, 6) if trial % 4 == 0 else (6, 0)
                frames = [t._paste(t._view(scene, rng, noise=noise), person, x + dx * k, y + dy * k) for k in range(6)]
                worst = max(worst, *(share(a, b, t.THRESHOLD) for a, b in pairwise(frames)))
    rng = np.random.default_rng(3)
    other, pan = 1.0, 1.0
    for trial in range(20):  # the draws of test_real_cuts_reset
        a = t._texture(rng) if trial % 2 else t._plain(rng)
        b = t._plain(rng) if trial % 3 else t._texture(rng)
        noise = 8.0 if trial % 2 else 0.0
        before = t._view(a, rng, noise=noise)
        other = min(other, share(before, t._view(b, rng, noise=noise), t.THRESHOLD))
        if trial % 2:
            pan = min(pan, share(before, t._view(a, rng, dx=16, noise=noise), t.THRESHOLD),
                      share(before, t._view(a, rng, dx=-12, dy=10, noise=noise), t.THRESHOLD))
    rng = np.random.default_rng(9)
    noise = max(share(t._view(s, rng, noise=12), t._view(s, rng, noise=12), t.THRESHOLD)
                for s in (t._texture(rng) for _ in range(40)))
    return {"motion_max": worst, "other_scene_min": other, "pan_min": pan, "noise12_max": noise}


def sequences(seeds, rules) -> dict:
    from edge_lrcn.classify.cut import CUT_SHARE, brightness_step
    from edge_lrcn.convert.dataset import decode_clip
    from edge_lrcn.convert.synth import make_sequence

    out = {name: {"changes": 0, "missed": 0, "false": 0, "change_min": 1.0, "within_max": 0.0} for name in rules}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            video = Path(tmp) / "seq.avi"
            truth = make_sequence(video, SEGMENTS, seed=seed)
            frames = decode_clip(video, 64, 64, 10.0)
            changes = {round(start * 10) for _, start, _ in truth[1:]}
            for name, share in rules.items():
                o = out[name]
                for i in range(1, len(frames)):
                    s = share(frames[i - 1], frames[i], 0.07)
                    cut = s >= CUT_SHARE or brightness_step(frames[i - 1], frames[i])
                    if i in changes:
                        o["changes"] += 1
                        o["missed"] += not cut
                        o["change_min"] = min(o["change_min"], s)
                    else:
                        o["false"] += cut
                        o["within_max"] = max(o["within_max"], s)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=seed_list, default=seed_list("1-200"))
    args = ap.parse_args()
    from edge_lrcn.classify.cut import changed_share

    rules = {"any channel (in use)": changed_share, "mean of the channels (until 2026-12-06)": mean_rule}
    seq = sequences(args.seeds, rules)
    for name, share in rules.items():
        g, s = generated(share), seq[name]
        print(f"{name}: generated frames: motion changed at most {g['motion_max']:.0%} of the cells, another scene "
              f">= {g['other_scene_min']:.0%}, a pan >= {g['pan_min']:.0%}, sensor noise (sigma 12) "
              f"{g['noise12_max']:.0%}; {len(args.seeds)} synth segment videos: {s['missed']} of {s['changes']} "
              f"scene changes missed (each changed >= {s['change_min']:.0%}), {s['false']} cuts within a scene "
              f"(at most {s['within_max']:.0%} changed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
