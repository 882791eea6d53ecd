"""Reproducible (issue 11): the same data and ``--seed`` give the same split and, on the CPU, the same training."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_lrcn.convert.options import ConvertOptions, TrainOptions
from edge_lrcn.convert.pipeline import _load_split


def _split(data: Path, seed: int, cache: Path) -> list[list[str]]:
    opts = ConvertOptions(data=data, out=cache / "unused.lrcn", cache_dir=cache, val_split=0.25, test_split=0.25,
                          train=TrainOptions(seed=seed))
    _, *parts = _load_split(opts)
    return [sorted(str(c.path.relative_to(data)) for c in part) for part in parts]


def test_the_split_follows_the_seed(tiny_data, tmp_path):
    a = _split(tiny_data, 7, tmp_path / "c1")
    assert _split(tiny_data, 7, tmp_path / "c2") == a  # a fresh cache: decoded again, split the same
    train, val, test = a
    assert len(train) == 10 and len(val) == 5 and len(test) == 5
    assert not (set(train) & set(val) or set(train) & set(test) or set(val) & set(test))
    others = [_split(tiny_data, s, tmp_path / "c1") for s in (8, 9)]
    assert all(o != a for o in others)  # 5 classes x 12 ways each: equal splits by chance are ~1e-5 likely
    # the same clips, copied elsewhere (another machine's mount, other file times): the same split by name
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(tiny_data), str(copy)], check=True)
    assert _split(copy, 7, tmp_path / "c3") == a


def _train(data: Path, out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("EDGE_LRCN_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "edge_lrcn", "train", "--data", str(data), "--out", str(out),
                           "--epochs", "2", "--windows-per-clip", "2", "--batch-size", "4", "--val-split", "0.25",
                           "--test-split", "0.25", "--seed", "3", "--quiet", "--no-plots", "--cache",
                           str(out.parent / "cache"),
                           "--heads", "2"],  # more than one (each head its own seed), fewer than the default 5
                          capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.slow
def test_the_same_seed_trains_the_same_model_on_the_cpu(tiny_data, tmp_path):
    """Two ``train`` runs (the default pretrained encoder: backbone grids, random crops, initial weights, dropout,
    shuffling all seeded) give the same validation history and the same weights, bit for bit."""
    import keras

    runs = []
    for i in range(2):
        out = tmp_path / f"run{i}" / "model.keras"
        proc = _train(tiny_data, out)
        assert proc.returncode == 0, proc.stderr[-3000:]
        meta = json.loads(Path(str(out) + ".json").read_text())
        runs.append((meta["history"], keras.models.load_model(out, compile=False).get_weights()))
    (h0, w0), (h1, w1) = runs
    assert h0 == h1
    assert len(w0) == len(w1) and all(np.array_equal(a, b) for a, b in zip(w0, w1, strict=True))
