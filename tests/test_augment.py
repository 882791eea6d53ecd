"""Label maps of the augmentations (time reversal, mirror, flip)."""

import pytest

from edge_lrcn.errors import UsageError

LABELS = ["down", "left", "right", "still", "up"]


def test_reverse_pairs_map_both_ways_and_only_named_labels():
    from edge_lrcn.convert.train import parse_pairs

    m = parse_pairs("left:right,up:down,still:still", LABELS, "--reverse-pairs")
    assert m == {1: 2, 2: 1, 4: 0, 0: 4, 3: 3}
    assert parse_pairs("left:right", LABELS, "--reverse-pairs") == {1: 2, 2: 1}  # others are never reversed
    assert parse_pairs(None, LABELS, "--reverse-pairs") is None


def test_flips_keep_unnamed_labels_and_swap_pairs():
    from edge_lrcn.convert.train import parse_pairs

    assert parse_pairs("left:right", LABELS, "--hflip", all_labels=True) == {0: 0, 1: 2, 2: 1, 3: 3, 4: 4}
    assert parse_pairs("", LABELS, "--hflip", all_labels=True) == {i: i for i in range(5)}  # plain mirroring


def test_unknown_label_is_a_usage_error():
    from edge_lrcn.convert.train import parse_pairs

    with pytest.raises(UsageError, match="--vflip"):
        parse_pairs("up:sideways", LABELS, "--vflip", all_labels=True)


def test_auto_mirroring_swaps_the_labels_that_name_a_side_and_keeps_the_others():
    from edge_lrcn.convert.train import mirror_pairs

    m, said = mirror_pairs(LABELS)
    assert m == {0: 0, 1: 2, 2: 1, 3: 3, 4: 4} and "left:right" in said
    labels = ["Swiping Left", "Swiping Right", "rotateCW", "rotate_anticlockwise", "wave", "raise_right_hand",
              "raise-left-hand"]
    m, _ = mirror_pairs(labels)
    assert m == {0: 1, 1: 0, 2: 3, 3: 2, 4: 4, 5: 6, 6: 5}
    m, said = mirror_pairs(["fall", "wave", "sit_down"])  # nothing names a side: mirrored, every label kept
    assert m == {0: 0, 1: 1, 2: 2} and said == "on, labels kept"
    assert mirror_pairs(["leftover", "upright"])[0] == {0: 0, 1: 1}  # whole words only


def test_auto_mirroring_is_off_when_a_side_has_no_mirror_label():
    from edge_lrcn.convert.train import mirror_pairs

    m, said = mirror_pairs(["turn_left", "walk", "still"])
    assert m is None and "'turn_left'" in said and "--hflip none" in said


def test_hflip_defaults_to_auto_with_the_pretrained_encoder_and_off_with_the_reference(tmp_path):
    import argparse

    from edge_lrcn.convert.options import add_arguments, from_args
    from edge_lrcn.convert.train import resolve_pairs

    p = argparse.ArgumentParser()
    add_arguments(p, "convert")
    base = ["--data", str(tmp_path), "--out", str(tmp_path / "m.lrcn")]
    assert from_args(p.parse_args(base), 0).train.hflip == "auto"
    assert from_args(p.parse_args(base + ["--encoder", "reference"]), 0).train.hflip is None
    opts = from_args(p.parse_args(base + ["--hflip", "none"]), 0).train
    resolve_pairs(opts, LABELS)
    assert opts.hflip is None
    opts = from_args(p.parse_args(base + ["--encoder", "reference", "--hflip", "auto"]), 0).train
    resolve_pairs(opts, LABELS)
    assert opts.hflip == {0: 0, 1: 2, 2: 1, 3: 3, 4: 4}


def test_restarted_windows_are_early_straddling_or_whole_in_their_shares():
    """convert's window mix: a share of early windows (the rest input, then the first k features), a share of
    straddling ones (another clip's last features, then the first k of this one), the rest untouched."""
    import numpy as np

    from edge_lrcn.convert.options import TrainOptions
    from edge_lrcn.convert.train import restarted_window

    x = np.arange(20, dtype=np.float32)[:, None] + 1  # features 1..20
    rest = np.zeros(1, np.float16)
    older = -np.arange(20, dtype=np.float32)[:, None] - 1  # another clip: -1..-20
    grids = [{(False, False): older}]
    rng = np.random.default_rng(0)
    opts = TrainOptions(early_windows=0.3, straddle_windows=0.2)
    kinds = {"early": 0, "straddle": 0, "whole": 0}
    for _ in range(2000):
        w = restarted_window(x, rest, rng, opts, grids)
        assert w.shape == x.shape
        k = int((w > 0).sum())  # the newest activity's features come last, its first k in order
        assert 1 <= k <= 20 and (w[20 - k:, 0] == np.arange(1, k + 1)).all()
        if k == 20:
            kinds["whole"] += 1
        elif (w[:20 - k] == 0).all():
            kinds["early"] += 1
        else:
            assert (w[:20 - k, 0] == -np.arange(k + 1, 21)).all()  # the other clip's last 20 - k, in order
            kinds["straddle"] += 1
    assert abs(kinds["early"] / 2000 - 0.3) < 0.05 and abs(kinds["straddle"] / 2000 - 0.2) < 0.05
    assert restarted_window(x, rest, rng, TrainOptions(early_windows=0.0), grids) is x
