"""k-fold cross-validation over groups: an honest accuracy estimate from a dataset too small for a test split.

Every clip is tested once, by a model trained (with its own validation split for early stopping, by group too) on
the clips of the other folds, none of them from the tested clip's group. The frozen encoder's features (float and
int8, every flip) are computed once for all clips, so a fold costs only its heads' (and the baseline's) training:
the estimate is what the device would compute, the int8 encoder's features through the trained heads. The int8
encoder is calibrated on all clips' frames (no labels are used). Then ``convert`` trains the final model on all
clips and the gate judges this estimate (convert/pipeline.py, docs/training.md).
"""

from __future__ import annotations

import gc
import logging
import time
from dataclasses import replace

import numpy as np

from . import dataset as D
from . import groups as G
from .options import ConvertOptions, LrcnConfig

log = logging.getLogger(__name__)
INT8 = ("int8", False, False)
FLOAT = (False, False)


def fit_split(clips: list[D.Clip], opts: ConvertOptions):
    """Training and validation clips (no test) by group; by clip when the groups leave no validation clip (the
    validation clips only choose the epoch)."""
    train, val, _ = G.split(clips, opts.val_split, 0.0, opts.train.seed)
    if val:
        return train, val
    log.info("too few clips or groups for a validation split by group: one clip of each class (which only chooses "
             "the epoch) validates")
    rng = np.random.default_rng(opts.train.seed)
    train, val = [], []
    for label in sorted({c.label for c in clips}):
        mine = [c for c in clips if c.label == label]
        pick = int(rng.integers(len(mine))) if len(mine) > 1 else -1
        val += [c for i, c in enumerate(mine) if i == pick]
        train += [c for i, c in enumerate(mine) if i != pick]
    return train, val


def _features(cfg: LrcnConfig, clips: list[D.Clip], opts: ConvertOptions, quantize) -> None:
    """Every clip's frozen-encoder features, float and int8, with every flip training uses: once for all folds."""
    from .model import build_lrcn, frozen_encoder
    from .train import _flips, compute_grids, keras_features, tflite_features

    encoder = frozen_encoder(build_lrcn(cfg))
    for key, fn in (((), keras_features(encoder)), (("int8",), tflite_features(quantize(encoder)))):
        compute_grids(fn, clips, _flips(opts.train), key)


def _probs(model, clips: list[D.Clip], key: tuple, cfg: LrcnConfig, opts: ConvertOptions):
    """The model's heads on the clips' cached features: averaged probabilities and labels of every window."""
    from .model import member_models

    x, y, _ = D.stack_windows(clips, cfg.frames, opts.train.eval_windows_per_clip, opts.train.sampling,
                              [c.grids[key] for c in clips], lambda a: a.astype(np.float32))
    probs = np.mean([h.predict(x, batch_size=64, verbose=0) for h in member_models(model)], axis=0)
    return probs, y


def _fold(i: int, test: list[D.Clip], clips: list[D.Clip], cfg: LrcnConfig, opts: ConvertOptions, strategy,
          quantize) -> dict:
    from .train import train_baseline, train_lrcn

    held = {id(c) for c in test}
    train, val = fit_split([c for c in clips if id(c) not in held], opts)
    log.info("cross-validation fold %d: %d training, %d validation, %d test clips", i + 1, len(train), len(val),
             len(test))
    topts = replace(opts.train, checkpoint=None)
    model, _ = train_lrcn(cfg, train, val, topts, strategy, quantize)
    p_int8, y = _probs(model, test, INT8, cfg, opts)
    p_float, _ = _probs(model, test, FLOAT, cfg, opts)
    out = {"y": y, "int8": p_int8.argmax(1), "float": p_float.argmax(1)}
    if opts.baseline:
        base, _ = train_baseline(cfg, train, val, topts, strategy, quantize)
        out["baseline"] = _probs(base, test, FLOAT, cfg, opts)[0].argmax(1)
        del base
    del model
    gc.collect()
    return out


def cross_validate(opts: ConvertOptions, cfg: LrcnConfig, clips: list[D.Clip], plan: G.Plan, strategy,
                   quantize) -> dict:
    """Run the folds; the estimate's figures (window accuracies over all clips) for the report and the gate."""
    t0 = time.time()
    parts = G.folds(clips, plan.folds, opts.train.seed)
    _features(cfg, clips, opts, quantize)
    results = [_fold(i, test, clips, cfg, opts, strategy, quantize) for i, test in enumerate(parts)]
    y = np.concatenate([r["y"] for r in results])
    acc = {k: float(np.mean(np.concatenate([r[k] for r in results]) == y))
           for k in ("int8", "float", "baseline") if k in results[0]}
    return {"method": "cross-validation", "folds": len(parts), "clips": len(clips), "windows": int(len(y)),
            "groups": len(G.by_group(clips)), "int8_accuracy": acc["int8"], "float_accuracy": acc["float"],
            "baseline_accuracy": acc.get("baseline"),
            "per_fold": [{"clips": len(t), "int8_accuracy": float(np.mean(r["int8"] == r["y"]))}
                         for t, r in zip(parts, results, strict=True)],
            "confusion_matrix": _confusion(np.concatenate([r["int8"] for r in results]), y, len(cfg.labels)),
            "seconds": round(time.time() - t0, 1), "clip_labels": [c.label for t in parts for c in t]}


def _confusion(pred: np.ndarray, truth: np.ndarray, n: int) -> list[list[int]]:
    cm = np.zeros((n, n), np.int64)
    np.add.at(cm, (truth, pred), 1)
    return cm.tolist()
