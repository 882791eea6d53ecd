"""The classifier ``run`` and ``eval`` share: frames in, probabilities or a reset out (real model, real videos)."""

from __future__ import annotations

import numpy as np

from edge_lrcn.capture.sources import Frame
from edge_lrcn.classify.classifier import Classifier, Reset
from edge_lrcn.convert.synth import Scene, make_sequence
from edge_lrcn.evaluate import stream_file
from edge_lrcn.model.loader import load_bundle, open_model


def warm_up(bundle) -> int:
    """Kept frames after a (re)start that only fill the history of a transformed input (none for frames; the first
    only, for a model trained on short lags): the classifier's own rule."""
    if not bundle.transform:
        return 0
    return 1 if bundle.short_lags else bundle.lag


def frames(scene, t0, seconds, fps=30.0):
    for i in range(int(seconds * fps)):
        t = t0 + i / fps
        yield Frame(scene.render(t), t, i)


def test_window_then_gap_then_cut_then_restart(model):
    rng = np.random.default_rng(5)
    a, b = Scene.random("right", rng), Scene.random("left", rng)
    clf = Classifier(model, stride=1, cut_threshold=0.07)
    steps = [clf.push(f) for f in frames(a, 0.0, 3.0)]
    assert sum(s.kept for s in steps) == 30 and not any(s.reset for s in steps)
    probs = [i for i, s in enumerate(steps) if s.probs is not None]
    # one per kept frame once the window is full (after the history of a difference model, too); a model trained on
    # early windows (window.prefill) from the first difference on
    wait = 0 if model.bundle.prefill else model.bundle.frames - 1
    assert len(probs) == 30 - warm_up(model.bundle) - wait
    last_t = clf.last_t
    # a 2 s gap in the timestamps (a stalled stream, a seek): the window restarts, the activity ends at the last frame
    steps = [clf.push(f) for f in frames(a, 5.0, 0.5)]
    assert steps[0].reset == Reset(last_t, "gap") and steps[0].probs is None
    kept = [s for s in steps if s.kept]
    assert not any(s.probs is not None for s in kept[:warm_up(model.bundle) + wait])  # the window starts again
    # another scene without a gap: a cut at the first frame of it
    steps = [clf.push(f) for f in frames(b, 5.5, 3.0)]
    cuts = [s.reset for s in steps if s.reset]
    assert cuts == [Reset(5.5, "cut")]
    last_t = clf.last_t
    assert clf.restart("camera") == Reset(last_t, "camera") and clf.last_t is None
    assert clf.restart("camera") is None  # nothing kept since


def test_eval_streams_files_with_the_daemons_cut_resets(model, tmp_path):
    video = tmp_path / "cuts.avi"
    make_sequence(video, [("right", 4.0), ("left", 4.0)], seed=4)
    with_cuts, _ = stream_file(Classifier(model, 1, 0.07), video)
    without, _ = stream_file(Classifier(model, 1, 0.0), video)
    # the cut at 4 s restarts the window (and a difference model's history): T - 1 (+ lag) fewer windows than without
    assert len(without) - len(with_cuts) == model.bundle.frames - 1 + warm_up(model.bundle)


def test_a_difference_model_is_fed_exactly_what_training_saw(tiny_bundle, tmp_path):
    """Train/serve contract for ``input.transform = difference``: the daemon's encoder inputs are the trainer's
    cached inputs, bit for bit: right after the start the restart's short-lag inputs (window.short_lags: the 2nd and
    3rd kept frames against the 1st, convert's short_lag_inputs at frame 0), then every kept frame against the one
    ``lag`` before it."""
    import dataclasses

    from edge_lrcn.classify.preprocess import to_float
    from edge_lrcn.convert.dataset import decode_with_early

    bundle = load_bundle(str(tiny_bundle[0]))
    assert bundle.transform == "difference" and bundle.lag >= 1
    model = open_model(bundle, "cpu", 1)
    seen = []

    class Recording:  # the encoder's pixel input (uint8), as the classifier hands it over
        def encode_rgb(self, x):
            seen.append(x.copy())
            return model.encoder.encode_rgb(x)

    clf = Classifier(dataclasses.replace(model, encoder=Recording()), stride=1, cut_threshold=0.0)
    video = tmp_path / "clip.avi"
    make_sequence(video, [("up", 4.0)], seed=11)
    assert bundle.prefill == "rest" and bundle.short_lags  # convert's default: trained on early windows too
    assert bundle.lag == 3
    assert len(seen) == 1 and (seen.pop() == 128).all()  # the rest input, encoded once for the window's prefill
    windows, _ = stream_file(clf, video)
    h, w = bundle.input_size
    expected, _, early = decode_with_early(video, h, w, bundle.fps, "difference", bundle.lag, bundle.gain)
    assert early is not None and early.shape[:2] == (len(expected), bundle.lag - 1)
    assert len(seen) == bundle.lag - 1 + len(expected) and len(expected) > bundle.frames
    # the trainer's cached uint8 inputs, bit for bit: the restart's short lags, then the full lag
    np.testing.assert_array_equal(np.stack(seen), np.concatenate([early[0], expected]))
    assert not (early[0][0] == expected[0]).all()  # a shorter lag is another input
    # and the encoder's features of them are those of the float inputs the trainer feeds the float model
    np.testing.assert_array_equal(model.encoder.encode_rgb(seen[0]), model.encoder(to_float(seen[0])))
    assert len(windows) == len(seen) - bundle.frames + 1  # full windows: those with no prefill left


def test_a_model_trained_on_early_windows_answers_from_the_first_difference(tiny_bundle, tmp_path):
    """window.short_lags: after the start and after a scene cut the head answers from the 2nd kept frame (its
    difference to the 1st); window.prefill = rest alone: as soon as the first full-lag difference is encoded (lag + 1
    kept frames), not after a full window; a bundle with neither waits for ``frames``."""
    from edge_lrcn.capture.sources import VideoFileSource

    video = tmp_path / "seq.avi"
    make_sequence(video, [("up", 3.0), ("left", 3.0)], seed=5)
    bundle = load_bundle(str(tiny_bundle[0]))
    assert bundle.short_lags
    for prefill in ("short", "rest", None):
        if prefill == "rest":
            bundle.manifest["window"].pop("short_lags")
        if prefill is None:
            bundle.manifest["window"].pop("prefill")
        clf = Classifier(open_model(bundle, "cpu", 1), stride=1, cut_threshold=0.07)
        with VideoFileSource(video) as src:
            kept = [s for f in iter(src.read, None) if (s := clf.push(f)).kept]
        cut = next(i for i, s in enumerate(kept) if s.reset)
        wait = 1 if prefill == "short" else bundle.lag + (0 if prefill else bundle.frames - 1)
        for first in (0, cut):
            assert [s.probs is not None for s in kept[first:first + wait + 1]] == [False] * wait + [True], prefill
        assert all(s.probs is not None for s in kept[cut + wait:])
        probs = np.stack([s.probs for s in kept if s.probs is not None])
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
