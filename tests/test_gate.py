"""The quality gate's arithmetic (convert/gate.py) and the options table, without TensorFlow."""

from __future__ import annotations

import argparse
import math

import pytest

from edge_lrcn.convert import gate
from edge_lrcn.convert.options import TABLE, ConvertOptions, LrcnConfig, TrainOptions, add_arguments, from_args
from edge_lrcn.errors import UsageError


def test_binomial_tail_matches_a_direct_sum():
    assert gate.binomial_sf(0, 10, 0.3) == 1.0
    assert gate.binomial_sf(11, 10, 0.3) == 0.0
    assert gate.binomial_sf(10, 10, 0.5) == pytest.approx(0.5 ** 10)
    direct = sum(math.comb(30, i) * (1 / 6) ** i * (5 / 6) ** (30 - i) for i in range(12, 31))
    assert gate.binomial_sf(12, 30, 1 / 6) == pytest.approx(direct)


def test_chance_level_accuracy_is_refused_and_a_good_model_passes():
    labels = [i % 6 for i in range(36)]  # 6 balanced classes, 36 held-out clips
    bad = gate.evaluate(0.25, labels, agreement=1.0, min_agreement=0.97, max_p_value=0.01)
    assert not bad.passed and bad.chance == pytest.approx(1 / 6) and "not clearly above chance" in bad.reasons[0]
    good = gate.evaluate(0.9, labels, agreement=0.99, min_agreement=0.97, max_p_value=0.01)
    assert good.passed and good.p_value < 1e-10 and good.correct_clips == 32


def test_chance_is_the_largest_class_share():
    labels = [0] * 8 + [1] * 2  # always answering 0 scores 80%
    r = gate.evaluate(0.8, labels, 1.0, 0.97, 0.01)
    assert r.chance == pytest.approx(0.8) and not r.passed


def test_baseline_and_agreement_are_gated():
    labels = [i % 5 for i in range(30)]
    r = gate.evaluate(0.7, labels, 1.0, 0.97, 0.01, baseline_accuracy=0.8)
    assert not r.passed and "single-frame baseline" in r.reasons[0]
    assert not gate.evaluate(0.7, labels, 1.0, 0.97, 0.01, baseline_accuracy=0.7).passed  # equal: LSTM adds nothing
    assert gate.evaluate(1.0, labels, 1.0, 0.97, 0.01, baseline_accuracy=1.0).passed  # both perfect
    r = gate.evaluate(0.9, labels, 0.9, 0.97, 0.01)
    assert not r.passed and "agreement" in r.reasons[0]


def _parse(*argv, command="convert"):
    p = argparse.ArgumentParser()
    add_arguments(p, command)
    return p.parse_args(["--data", "d", "--out", "m.lrcn", *argv])


def test_options_defaults_come_from_the_dataclasses():
    opts = from_args(_parse(), verbose=0)
    assert opts.cfg == LrcnConfig()
    t = opts.train
    assert (t.epochs, t.batch_size, t.learning_rate, t.seed) == (TrainOptions.epochs, TrainOptions.batch_size,
                                                                 TrainOptions.learning_rate, TrainOptions.seed)
    assert (opts.min_agreement, opts.max_p_value, opts.fps) == (ConvertOptions.min_agreement,
                                                                ConvertOptions.max_p_value, ConvertOptions.fps)
    assert all(o.default() is not None or o.name in ("reverse_pairs", "hflip", "vflip", "init_from", "cache_dir",
                                                     "keras_model", "groups") for o in TABLE)


def test_reference_encoder_keeps_the_tutorial_model():
    cfg = from_args(_parse("--encoder", "reference"), verbose=0).cfg
    assert cfg == LrcnConfig.reference()
    assert (cfg.filters, cfg.pools, cfg.lstm_units, cfg.input, cfg.motion, cfg.heads) == (
        (16, 32, 64, 64), (4, 4, 2, 2), 32, "frame", "none", 1)
    assert from_args(_parse(), verbose=0).cfg.heads == 5
    # an explicit choice still wins
    assert from_args(_parse("--encoder", "reference", "--motion", "delta"), verbose=0).cfg.motion == "delta"


@pytest.mark.parametrize("argv, what", [(("--epochs", "0"), "--epochs"), (("--fps", "0"), "--fps"),
                                        (("--filters", "8,8", "--pools", "2"), "--filters"),
                                        (("--val-split", "0.7"), "--val-split"),
                                        (("--sampling", "uniform"), "--sampling uniform"),
                                        (("--max-int8-drop", "2"), "--max-int8-drop"),
                                        (("--heads", "0"), "--heads"),
                                        (("--encoder", "reference", "--heads", "3"), "--heads above 1")])
def test_bad_values_are_usage_errors(argv, what):
    with pytest.raises(UsageError, match=what):
        from_args(_parse(*argv), verbose=0)


def test_train_has_no_convert_only_flags():
    with pytest.raises(SystemExit):
        _parse("--min-agreement", "0.5", command="train")
