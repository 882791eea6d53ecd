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
