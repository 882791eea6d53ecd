"""The CPU encoder: ``--encoder auto`` picks among the bundle's encoders that are as accurate as the best, ``int8``
and ``fp16`` are honoured, and uint8 pixels give the features of the float path."""

from __future__ import annotations

import json
import logging
import re

import numpy as np
import pytest

from edge_lrcn.classify.preprocess import to_float
from edge_lrcn.convert.synth import make_sequence
from edge_lrcn.errors import UsageError
from edge_lrcn.model.bundle import read_bundle
from edge_lrcn.model.interpreter import (
    ENCODERS,
    Encoder,
    cpu_encoder,
    eligible_encoders,
    make_interpreter,
    time_encoders,
)
from tests.conftest import run_cli
from tests.test_bundle import rezip


@pytest.fixture(scope="module")
def bundle(default_bundle):
    return read_bundle(default_bundle)


def _all_values_frame() -> np.ndarray:
    """A 64x64 RGB frame holding every uint8 value in every channel, then random pixels."""
    rng = np.random.default_rng(5)
    f = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    f.reshape(-1, 3)[:256] = np.arange(256, dtype=np.uint8)[:, None]
    return f


@pytest.mark.parametrize("kind", ["int8", "fp16"])
def test_uint8_pixels_give_the_features_of_the_float_path(bundle, kind):
    member = ENCODERS[kind]
    enc = Encoder(make_interpreter(bundle.member(member), 1), member, "cpu")
    # the embedded int8 encoder is quantized x * 255 - 128: its pixels go in with the top bit flipped, no floats
    assert enc.pixel_path == {"int8": "flip", "fp16": "scale"}[kind]
    rng = np.random.default_rng(0)
    frames = [_all_values_frame()] + [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(5)]
    for rgb in frames:
        via_float = enc(to_float(rgb)).copy()
        via_pixels = enc.encode_rgb(rgb)
        # the same quantized input, so the same features: within quantization error is not needed, equality holds
        np.testing.assert_array_equal(via_pixels, via_float)
    # the input buffer is reused, and a feature of one frame does not change when the next is encoded
    a = enc.encode_rgb(frames[1]).copy()
    enc.encode_rgb(frames[2])
    np.testing.assert_array_equal(enc.encode_rgb(frames[1]), a)


def test_another_input_quantization_takes_the_float_way(bundle):
    enc = Encoder(make_interpreter(bundle.member("encoder_int8.tflite"), 1), "encoder_int8.tflite", "cpu")
    rgb = _all_values_frame()
    expect = enc(to_float(rgb)).copy()
    enc.pixel_path = "quantize"  # what an input with another scale or zero point gets
    np.testing.assert_array_equal(enc.encode_rgb(rgb), expect)


def test_int8_and_fp16_are_honoured_and_auto_picks_the_faster_eligible(bundle, caplog, monkeypatch, tmp_path):
    monkeypatch.setenv("CACHE_DIRECTORY", str(tmp_path))  # nothing remembered from an earlier run
    assert cpu_encoder(bundle, "int8", 1).member == "encoder_int8.tflite"
    assert cpu_encoder(bundle, "fp16", 1).member == "encoder_fp16.tflite"
    # the embedded bundle: int8 and fp16 within one of its 180 test windows (100% both since 2026-12-05): both eligible
    v = bundle.manifest["validation"]
    assert abs(v["fp16_accuracy"] - v["int8_accuracy"]) <= 1 / 180 + 1e-9 and v["test_windows"] == 180
    assert eligible_encoders(bundle) == ["int8", "fp16"]
    with caplog.at_level(logging.INFO, logger="edge_lrcn.model.interpreter"):
        chosen = cpu_encoder(bundle, "auto", 1)
    line = next(r.getMessage() for r in caplog.records if "--encoder auto" in r.getMessage())
    figures = {k: float(v) for k, v in re.findall(r"(int8|fp16) (\d+\.\d+)", line)}
    assert set(figures) == {"int8", "fp16"}
    assert chosen.member == ENCODERS[min(figures, key=figures.get)]
    with pytest.raises(UsageError, match="--encoder 'int4'"):
        cpu_encoder(bundle, "int4", 1)


def test_auto_remembers_its_choice_per_bundle_and_machine(bundle, caplog, monkeypatch, tmp_path):
    """The second start with the same bundle and thread count builds only the encoder timed fastest the first time
    (no timing); another thread count times again; an unreadable record is timed again and rewritten."""
    monkeypatch.setenv("CACHE_DIRECTORY", str(tmp_path))
    first = cpu_encoder(bundle, "auto", 1)
    records = list((tmp_path / "edge-lrcn" / "encoder-choice").iterdir())
    assert len(records) == 1 and json.loads(records[0].read_text())["kind"] in ("int8", "fp16")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="edge_lrcn.model.interpreter"):
        again = cpu_encoder(bundle, "auto", 1)
    assert again.member == first.member
    assert any("timed at an earlier start" in r.getMessage() for r in caplog.records)
    assert not any("ms per frame" in r.getMessage() for r in caplog.records)
    cpu_encoder(bundle, "auto", 2)
    assert len(list(records[0].parent.iterdir())) == 2
    records[0].write_text("{not json")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="edge_lrcn.model.interpreter"):
        cpu_encoder(bundle, "auto", 1)
    assert any("ms per frame" in r.getMessage() for r in caplog.records)
    assert json.loads(records[0].read_text())["kind"] in ("int8", "fp16")


def test_time_encoders_times_every_encoder_on_the_pixel_path(bundle):
    encs = {k: Encoder(make_interpreter(bundle.member(m), 1), m, "cpu") for k, m in ENCODERS.items()}
    ms = time_encoders(encs, rounds=5, warmup=1)
    assert set(ms) == {"int8", "fp16"} and all(v > 0 for v in ms.values())


def test_auto_never_runs_an_encoder_the_bundle_says_is_less_accurate(default_bundle, tmp_path, caplog):
    def worse_fp16(m):
        m["validation"]["fp16_accuracy"] = m["validation"]["int8_accuracy"] - 0.05

    b = read_bundle(rezip(default_bundle, tmp_path / "worse_fp16.lrcn", edit_manifest=worse_fp16))
    assert eligible_encoders(b) == ["int8"]
    with caplog.at_level(logging.INFO, logger="edge_lrcn.model.interpreter"):
        assert cpu_encoder(b, "auto", 1).member == "encoder_int8.tflite"
    assert not [r for r in caplog.records if "--encoder auto" in r.getMessage()]  # nothing to time: one candidate
    assert cpu_encoder(b, "fp16", 1).member == "encoder_fp16.tflite"  # forcing it is the user's call

    def within_tolerance(m):
        m["validation"]["int8_accuracy"] = m["validation"]["fp16_accuracy"] - 0.005

    assert eligible_encoders(read_bundle(rezip(default_bundle, tmp_path / "close.lrcn",
                                               edit_manifest=within_tolerance))) == ["int8", "fp16"]

    def gap(windows, test_windows=90):  # int8 behind fp16 by this many of the bundle's test windows
        def edit(m):
            m["validation"].update(test_windows=test_windows, fp16_accuracy=1.0, int8_accuracy=1 - windows / 90)
        return edit

    # a single test window is no evidence: within one window (here 1.1%, over the 1% tolerance) both are eligible,
    # two windows are not, and one window of 90 is too many where the bundle was tested on 200
    for edit, eligible in ((gap(1), ["int8", "fp16"]), (gap(2), ["fp16"]), (gap(1, 200), ["fp16"])):
        assert eligible_encoders(read_bundle(rezip(default_bundle, tmp_path / "gap.lrcn", edit_manifest=edit))) \
            == eligible

    def no_figures(m):
        del m["validation"]

    assert eligible_encoders(read_bundle(rezip(default_bundle, tmp_path / "bare.lrcn", edit_manifest=no_figures))) \
        == ["int8"]


def test_encoder_setting_on_the_command_line(default_bundle, tmp_path):
    def no_fp16(m):
        del m["files"]["encoder_fp16.tflite"]

    path = rezip(default_bundle, tmp_path / "int8_only.lrcn", edit_manifest=no_fp16, drop=("encoder_fp16.tflite",))
    video = tmp_path / "v.avi"
    make_sequence(video, [("left", 1.0)], seed=1, fps=10.0, size=(64, 64))
    proc = run_cli("run", "--model", path, "--no-verify-model", "--encoder", "fp16", "--source", video, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "--encoder fp16: the bundle has no encoder_fp16.tflite" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run_cli("run", "--encoder", "int4", "--source", video, timeout=120)
    assert proc.returncode == 2 and "encoder" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("run", "--model", path, "--no-verify-model", "--source", video, "--log-level", "INFO", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "encoder encoder_int8.tflite runs on cpu" in proc.stderr  # auto with one encoder: that one
