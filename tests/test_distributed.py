"""Distributed training verified: two local workers of ``edge-lrcn train`` under ``MultiWorkerMirroredStrategy``.

Both workers run the same command on the same data folder with their own ``TF_CONFIG`` (loopback ports); both
must finish, and only the chief (worker 0) writes the model, its sidecar and its best-weights checkpoint."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

from tests.broker import free_port

pytestmark = pytest.mark.slow

TIMEOUT = 240  # seconds for both workers; a worker waiting on a collective its peer never joins hangs for ever


def _free_ports(n: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        if (port := free_port()) not in ports:
            ports.append(port)
    return ports


def test_two_workers_train_and_only_the_chief_writes(tmp_path):
    from edge_lrcn.convert.synth import make_dataset

    data = tmp_path / "data"
    make_dataset(data, clips_per_class=4, seed=11)
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs, outs = [], []
    try:
        for i in range(2):
            out = tmp_path / f"w{i}" / "model.keras"
            outs.append(out)
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "",
                   "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})}
            env.pop("EDGE_LRCN_CONFIG", None)
            log = open(tmp_path / f"worker{i}.log", "w")
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "edge_lrcn", "train", "--data", str(data), "--out", str(out), "--epochs", "1",
                 "--windows-per-clip", "2", "--batch-size", "4", "--val-split", "0.25", "--test-split", "0.25",
                 "--seed", "5", "--no-plots", "--debug",  # --debug: Keras's epoch lines (read below)
                 "--heads", "1"],  # one head: the epoch line read below is the history's only one; cheaper too
                stdout=log, stderr=subprocess.STDOUT, env=env, text=True))
        deadline = time.monotonic() + TIMEOUT
        for p in procs:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pytest.fail(f"the workers did not finish in {TIMEOUT} s (a hang in a collective?):\n" + _logs(tmp_path))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    logs = _logs(tmp_path)
    assert [p.returncode for p in procs] == [0, 0], logs
    # the chief wrote the model and its sidecar; the model loads and has the data's labels
    assert outs[0].exists(), logs
    meta = json.loads((outs[0].parent / "model.keras.json").read_text())
    assert meta["config"]["labels"] == sorted(p.name for p in data.iterdir() if p.is_dir() and p.name[0] != ".")
    assert len(meta["history"]["loss"]) == 1
    # worker 1 wrote nothing beside its --out (its saves went to a temporary folder it deleted)
    assert not outs[1].parent.exists() or not any(outs[1].parent.iterdir()), list(outs[1].parent.iterdir())
    w1 = (tmp_path / "worker1.log").read_text()
    assert "only the chief writes the model" in w1, logs
    # they trained together: worker 1's epoch line shows the all-reduced figures worker 0 saved in its history
    epoch = re.search(r"- loss: ([0-9.]+) - val_accuracy: [0-9.]+ - val_loss: ([0-9.]+)", w1)
    assert epoch, logs
    assert float(epoch[1]) == pytest.approx(meta["history"]["loss"][0], abs=2e-4)
    assert float(epoch[2]) == pytest.approx(meta["history"]["val_loss"][0], abs=2e-4)


def _logs(tmp_path) -> str:
    return "\n".join(f"--- worker {i}:\n" + (tmp_path / f"worker{i}.log").read_text()[-4000:] for i in range(2)
                     if (tmp_path / f"worker{i}.log").exists())
