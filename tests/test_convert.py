"""``convert`` end to end on tiny real data: the quality gate, --allow-degraded, --init-from with other labels and
the int8 pretrained encoder (real Keras training, real TFLite conversion, real LiteRT interpreter)."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow
FAST = ["--epochs", "2", "--windows-per-clip", "2", "--calibration-frames", "40", "--test-split", "0.25",
        "--val-split", "0.25", "--quiet", "--no-plots", "--estimate", "holdout"]


@pytest.fixture(scope="module")
def shuffled_data(tiny_data, tmp_path_factory) -> Path:
    """The tiny set's videos with their labels shuffled across the class folders (balanced)."""
    root = tmp_path_factory.mktemp("shuffled")
    files = sorted(tiny_data.glob("*/*.avi"))
    labels = sorted({f.parent.name for f in files})
    assign = [labels[i % len(labels)] for i in range(len(files))]
    random.Random(7).shuffle(assign)
    for f, label in zip(files, assign, strict=True):
        (root / label).mkdir(exist_ok=True)
        os.symlink(f, root / label / f"{f.parent.name}_{f.name}")
    return root


def test_shuffled_labels_are_refused_and_no_bundle_is_written(shuffled_data, tmp_path):
    out = tmp_path / "m.lrcn"
    proc = run_cli("convert", "--data", shuffled_data, "--out", out, *FAST, "--heads", "1")  # one head is at chance too
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert not out.exists()
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("edge-lrcn convert: error:") and "no bundle written" in last and "--allow-degraded" in last
    assert "Traceback" not in proc.stderr
    report = json.loads(Path(str(out) + ".report.json").read_text())
    assert report["gate"]["passed"] is False and report["gate"]["reasons"]


def test_allow_degraded_writes_the_bundle_and_marks_it(tiny_bundle, tmp_path):
    """The session's tiny bundle was converted from 4 clips per class with --allow-degraded: it cannot pass."""
    from edge_lrcn.model.bundle import read_bundle

    path, report = tiny_bundle
    v = read_bundle(path).manifest["validation"]
    assert v["degraded"] is True and v["degraded_reasons"] == report["gate"]["reasons"] and v["p_value"] > 0.01
    # which estimate the gate judged, in the report and the manifest (`info --report` prints both)
    assert report["estimate"]["method"] == v["estimate"] == report["gate"]["estimate"] == "holdout"
    proc = run_cli("run", "--model", path, "--source", next(Path(report["dataset"]["root"]).glob("*/*.avi")),
                   "--sink", "stdout", "--stats-interval", "0")
    assert proc.returncode == 0, proc.stderr[-2000:]
    warnings = [line for line in proc.stderr.splitlines() if "WARNING" in line and "quality gate" in line]
    assert len(warnings) == 1, proc.stderr[-2000:]


def test_pretrained_int8_encoder_is_full_integer_small_and_close_to_float(tiny_bundle, tiny_data):
    import keras

    from edge_lrcn.convert import dataset as D
    from edge_lrcn.model.bundle import read_bundle
    from edge_lrcn.model.interpreter import make_interpreter

    path, report = tiny_bundle
    b = read_bundle(path)
    assert b.manifest["model"]["encoder"] == "efficientnet" and b.transform == "difference"
    # only builtin ops XNNPACK runs in int8 (no float fallbacks, no custom ops, no WHILE)
    assert set(report["ops"]["encoder_int8.tflite"]) <= {"ADD", "CONV_2D", "DEPTHWISE_CONV_2D", "MUL", "RESHAPE",
                                                         "QUANTIZE", "DEQUANTIZE"}
    assert report["sizes"]["int8_over_fp32"] < 0.4 and report["encoder_macs"] == pytest.approx(19.9e6, rel=0.02)
    interp = make_interpreter(b.member("encoder_int8.tflite"), what="int8")
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    assert inp["dtype"] == np.int8 and out["dtype"] == np.int8 and tuple(inp["shape"]) == (1, 64, 64, 3)
    # features of the int8 encoder against the float Keras encoder on the model's own inputs
    model = keras.models.load_model(path.with_suffix(".keras"), compile=False)
    encoder = model.get_layer("td_encoder").layer
    ds = D.load(tiny_data, 64, 64, b.fps, b.frames, None, progress=False, transform=b.transform, lag=b.lag,
                gain=b.gain)
    x = D.to_float(np.concatenate([np.asarray(c.frames[:5]) for c in ds.clips[::4]]))
    ref = encoder.predict(x, verbose=0)
    s, z = inp["quantization"]
    so, zo = out["quantization"]
    got = []
    for f in x:
        interp.set_tensor(inp["index"], np.clip(np.round(f / s + z), -128, 127).astype(np.int8)[None])
        interp.invoke()
        got.append((interp.get_tensor(out["index"])[0].astype(np.float32) - zo) * so)
    corr = np.corrcoef(ref.ravel(), np.stack(got).ravel())[0, 1]
    assert corr > 0.8, corr
    # the report says how each encoder does against the float model
    assert {"agreement_with_float", "accuracy"} <= set(report["int8_streaming"]) and "fp16_streaming" in report


def test_default_model_is_an_ensemble_whose_tflite_head_is_the_mean_of_its_trained_heads(tiny_bundle):
    """convert's default trains 5 heads over the frozen encoder's features, one after another with seeds
    seed..seed+4; head.tflite (one batched graph, convert/head_graph.py) gives the mean of the five trained Keras
    heads' probabilities."""
    import keras

    from edge_lrcn.convert.model import member_models
    from edge_lrcn.model.bundle import read_bundle
    from edge_lrcn.model.interpreter import make_interpreter

    path, report = tiny_bundle
    b = read_bundle(path)
    assert b.manifest["model"]["heads"] == 5 and report["model"]["heads"] == 5
    assert [h["seed"] for h in report["heads"]] == [0, 1, 2, 3, 4]
    assert all(h["epochs"] >= 1 and 0 <= h["val_accuracy"] <= 1 for h in report["heads"])
    model = keras.models.load_model(path.with_suffix(".keras"), compile=False)
    heads = member_models(model)
    assert len(heads) == 5
    x = np.random.default_rng(0).uniform(0, 4, (3, b.frames, b.feature_dim)).astype(np.float32)
    each = np.stack([h.predict(x, verbose=0) for h in heads])
    assert np.abs(each[0] - each[1]).max() > 1e-3  # the heads differ: they are not one head five times
    interp = make_interpreter(b.member("head.tflite"), what="head")
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    for i in range(len(x)):
        interp.set_tensor(inp["index"], x[i:i + 1])
        interp.invoke()
        np.testing.assert_allclose(interp.get_tensor(out["index"])[0], each[:, i].mean(0), atol=2e-5)


def test_init_from_a_model_with_other_labels(tiny_data, tmp_path):
    two = tmp_path / "two"
    three = tmp_path / "three"
    for root, labels in ((two, ("left", "right")), (three, ("up", "down", "still"))):
        for label in labels:
            (root / label).mkdir(parents=True)
            for f in (tiny_data / label).glob("*.avi"):
                os.symlink(f, root / label / f.name)
    # a one-head model into convert's five heads: every head starts from its LSTM (lstm_1 ... from lstm)
    first = run_cli("train", "--data", two, "--out", tmp_path / "two.keras", "--epochs", "1", "--quiet", "--no-plots",
                    "--heads", "1")
    assert first.returncode == 0, first.stderr[-2000:]
    second = run_cli("train", "--data", three, "--out", tmp_path / "three.keras", "--epochs", "1", "--quiet",
                     "--no-plots", "--init-from", tmp_path / "two.keras")
    assert second.returncode == 0, second.stderr[-2000:]
    line = next(line for line in second.stderr.splitlines() if "starting from the weights of" in line)
    assert "trained afresh: probs" in line and "lstm" not in line.split("trained afresh:")[1]
    meta = json.loads((tmp_path / "three.keras.json").read_text())
    assert meta["config"]["labels"] == ["down", "still", "up"]
    # a model of another encoder is a usage error naming the problem, not a traceback
    third = run_cli("train", "--data", three, "--out", tmp_path / "ref.keras", "--epochs", "1", "--quiet",
                    "--no-plots", "--encoder", "reference", "--init-from", tmp_path / "two.keras")
    assert third.returncode == 2 and "encoder does not match" in third.stderr and "Traceback" not in third.stderr


def test_keras_model_is_converted_with_its_own_settings(tiny_data, tmp_path):
    """``convert --keras-model`` reads the data the way the model was trained (its sidecar), not the flags' way:
    a reference model (frames in) converted with the default flags (pretrained encoder, differences in)."""
    from edge_lrcn.model.bundle import read_bundle

    proc = run_cli("train", "--data", tiny_data, "--out", tmp_path / "ref.keras", "--encoder", "reference",
                   "--epochs", "1", "--quiet", "--no-plots")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = tmp_path / "ref.lrcn"
    proc = run_cli("convert", "--data", tiny_data, "--keras-model", tmp_path / "ref.keras", "--out", out,
                   "--allow-degraded", "--no-baseline", *FAST)
    assert proc.returncode == 0, proc.stderr[-2000:]
    b = read_bundle(out)
    assert b.manifest["model"]["encoder"] == "reference" and b.transform is None
