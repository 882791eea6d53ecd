"""Groups of clips (convert/dataset.py, convert/groups.py): said three ways, never split, and the plan before training;
the cross-validated gate on a small grouped set (real training, marked slow)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from edge_lrcn.convert import dataset as D
from edge_lrcn.convert import groups as G
from edge_lrcn.errors import DatasetError
from tests.conftest import run_cli


def test_a_group_is_said_by_a_subfolder_a_prefix_or_a_csv(tmp_path):
    from edge_lrcn.convert.synth import write_clip

    rng = np.random.default_rng(0)
    paths = {"wave/anna-monday/1.avi": "anna-monday", "wave/bob__003.avi": "bob", "wave/solo.avi": "",
             "walk/anna-monday/2.avi": "anna-monday", "walk/x.avi": "carl", "walk/y.avi": ""}
    for rel in paths:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        write_clip(tmp_path / rel, "right", rng, seconds=2.5)
    csv = tmp_path / "groups.csv"
    csv.write_text("clip,group\nwalk/x.avi,carl\n")
    ds = D.load(tmp_path, fps=10.0, progress=False, groups_file=csv)
    assert {str(c.path.relative_to(tmp_path)): c.group for c in ds.clips} == paths
    for header in ("path,session\n", "", "# clips of carl\n"):  # another header, none, a comment
        csv.write_text(f"{header}walk/x.avi,carl\n")
        assert D.read_groups(csv, tmp_path) == {(tmp_path / "walk/x.avi").resolve(): "carl"}
    # the two anna-monday clips (of two classes) are one group; each ungrouped clip is a group of its own
    assert len(G.by_group(ds.clips)) == 5


def test_a_groups_file_naming_missing_clips_is_one_clear_line(tiny_data, tmp_path):
    csv = tmp_path / "groups.csv"
    csv.write_text("left/left_000.avi,anna\nleft/gone.avi,anna\nright/nope.mp4,bob\n")
    with pytest.raises(DatasetError, match=r"names 2 clip\(s\) not found under .*: left/gone.avi, right/nope.mp4"):
        D.read_groups(csv, tiny_data)
    proc = run_cli("convert", "--data", tiny_data, "--out", tmp_path / "m.lrcn", "--groups", csv)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("edge-lrcn convert: error: --groups")


def _random_dataset(rng) -> list[D.Clip]:
    """Random classes, people and sessions: a person may do several classes, a class may have few groups."""
    clips = []
    for k in range(int(rng.integers(6, 120))):
        label = int(rng.integers(0, rng.integers(2, 7)))
        group = "" if rng.random() < 0.2 else f"p{rng.integers(0, rng.integers(2, 25))}"
        clips.append(D.Clip(Path(f"/d/{label}/{group}__{k}.avi"), label, group=group))
    return clips


def test_no_group_is_ever_in_two_splits_or_two_folds():
    rng = np.random.default_rng(1)
    for trial in range(300):
        clips = _random_dataset(rng)
        train, val, test = G.split(clips, 0.15, 0.15, seed=trial)
        assert sorted(map(id, train + val + test)) == sorted(map(id, clips))
        where = [{G.key(c) for c in part} for part in (train, val, test)]
        assert not (where[0] & where[1] or where[0] & where[2] or where[1] & where[2]), trial
        assert {c.label for c in train} == {c.label for c in clips}  # every class keeps a training clip
        folds = G.folds(clips, 5, seed=trial)
        assert sorted(map(id, [c for f in folds for c in f])) == sorted(map(id, clips))  # each clip tested once
        owner = {}
        for i, fold in enumerate(folds):
            for c in fold:
                assert owner.setdefault(G.key(c), i) == i, trial


def test_ungrouped_data_splits_exactly_as_before():
    clips = [D.Clip(Path(f"/d/{k % 5}/{k}.avi"), k % 5) for k in range(200)]
    assert G.split(clips, 0.15, 0.15, 3) == D.split_by_clip(clips, 0.15, 0.15, 3)


def test_the_plan_is_known_before_training():
    def data(per_class, classes, groups_per_class):
        return [D.Clip(Path(f"/d/{c}/{k}.avi"), c, group=f"g{c}-{k % groups_per_class}")
                for c in range(classes) for k in range(per_class)]

    labels = ["a", "b", "c", "d", "e", "f"]
    assert G.plan(data(60, 5, 15), labels, 0.15, 0.01).method == "holdout"  # 40 test clips, 15 groups per class
    small = G.plan(data(15, 6, 5), labels, 0.15, 0.01)
    assert (small.method, small.folds, small.test_clips, small.problems) == ("cross-validation", 5, 90, [])
    assert G.plan(data(40, 5, 2), labels, 0.15, 0.01).method == "cross-validation"  # too few groups to hold out
    one = G.plan(data(15, 3, 1), labels, 0.15, 0.01)
    assert one.problems and "class 'a' has all its 15 clips in one group" in one.problems[0]
    tiny = G.plan(data(2, 2, 2), labels, 0.15, 0.01)
    assert any("4 clips are too few" in p for p in tiny.problems) and "7 clips per class" in tiny.advice


def test_a_dataset_that_cannot_pass_is_refused_before_training(tmp_path):
    from edge_lrcn.convert.synth import make_dataset

    make_dataset(tmp_path, clips_per_class=2, seed=1, classes=("left", "right"))
    proc = run_cli("convert", "--data", tmp_path, "--out", tmp_path / "m.lrcn")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "cannot pass the quality gate" in last and "4 clips are too few" in last and "record more" in last
    assert "computing the frozen encoder" not in proc.stderr and "training LRCN" not in proc.stderr


@pytest.fixture(scope="module")
def grouped_data(tmp_path_factory) -> Path:
    """3 classes x 5 people, one clip each, the person in the file name (``p3__right.avi``)."""
    from edge_lrcn.convert.synth import write_clip

    root = tmp_path_factory.mktemp("grouped")
    rng = np.random.default_rng(4)
    for label in ("left", "right", "still"):
        (root / label).mkdir()
        for person in range(5):
            write_clip(root / label / f"p{person}__{label}.avi", label, rng, seconds=3.2)
    return root


@pytest.mark.slow
def test_the_cross_validated_gate_passes_a_small_separable_set_and_refuses_shuffled_labels(grouped_data, tmp_path):
    """Five people, one clip of each of three classes each: five folds, one person each. The heads start from the
    embedded model's (``--init-from``, as the demo does: a few clips and seconds of training suffice), and the same
    clips with their labels shuffled (the features computed once serve both) must be refused."""
    from edge_lrcn.convert import pipeline as P
    from edge_lrcn.convert.options import ConvertOptions, LrcnConfig, TrainOptions
    from edge_lrcn.convert.train import get_strategy
    from edge_lrcn.models import default_model_path

    init = str(default_model_path().with_suffix(".keras"))
    opts = ConvertOptions(data=grouped_data, out=tmp_path / "m.lrcn", cfg=LrcnConfig(heads=1), baseline=False,
                          calibration_frames=60, train=TrainOptions(epochs=30, patience=10, verbose=0,
                                                                    windows_per_clip=8, learning_rate=3e-3,
                                                                    init_from=init))
    ds = P._load(opts)
    cfg = P._cfg_for(opts, ds.labels)
    plan = P._plan(opts, ds)
    assert (plan.method, plan.folds, plan.test_clips, plan.problems) == ("cross-validation", 5, 15, [])

    def estimate():
        train, val, _, _, est = P._estimate_step(opts, cfg, ds, plan, get_strategy())
        assert sorted(map(id, train + val)) == sorted(map(id, ds.clips))  # the final model trains on every clip
        assert [f["clips"] for f in est["per_fold"]] == [3] * 5  # one person per fold: each clip tested once
        report = {"estimate": P._estimate_report(plan, [], est)}
        return est, P._gate_step(report, [], opts, True, est), report

    est, verdict, report = estimate()
    assert verdict.passed, (est["int8_accuracy"], verdict.reasons)
    assert report["gate"]["estimate"] == "cross-validation" and verdict.clips == 15
    labels = [c.label for c in ds.clips]
    random.Random(3).shuffle(labels)
    for clip, label in zip(ds.clips, labels, strict=True):
        clip.label = label
    est, verdict, _ = estimate()
    assert not verdict.passed and "cross-validated accuracy" in verdict.reasons[0], est["int8_accuracy"]
