"""The exported head (every trained head as one batched graph, convert/head_graph.py) against the Keras heads it is
built from, on real features: a synthetic video of every activity through the bundle's own int8 encoder."""

from __future__ import annotations

import numpy as np
import pytest

from edge_lrcn.convert.dataset import decode_clip
from edge_lrcn.convert.synth import make_sequence
from edge_lrcn.model.bundle import read_bundle
from edge_lrcn.model.interpreter import Encoder, Head, make_interpreter
from edge_lrcn.models import default_model_path

SEGMENTS = [("left", 2.5), ("still", 2.5), ("up", 2.5), ("right", 2.5), ("down", 2.5)]


def real_windows(bundle, tmp_path, step: int = 3) -> np.ndarray:
    """(N, T, D) feature windows, the daemon's way: kept frames, the bundle's transform, the int8 encoder."""
    video = tmp_path / "seq.avi"
    make_sequence(video, SEGMENTS, seed=11)
    h, w = bundle.input_size
    frames = decode_clip(video, h, w, bundle.fps, bundle.transform, bundle.lag, bundle.gain)
    enc = Encoder(make_interpreter(bundle.member("encoder_int8.tflite")), "encoder_int8.tflite", "cpu")
    feats = np.stack([enc.encode_rgb(f) for f in frames])
    starts = range(0, len(feats) - bundle.frames + 1, step)
    return np.stack([feats[s:s + bundle.frames] for s in starts])


def test_embedded_head_is_the_mean_of_the_five_trained_heads_on_real_features(tmp_path):
    import keras

    from edge_lrcn.convert.model import member_models

    path = default_model_path()
    b = read_bundle(path)
    x = real_windows(b, tmp_path)
    assert len(x) >= 10
    heads = member_models(keras.models.load_model(path.with_suffix(".keras"), compile=False))
    assert len(heads) == 5
    each = np.stack([h.predict(x, verbose=0, batch_size=len(x)) for h in heads])  # (5, N, labels)
    head = Head(make_interpreter(b.member("head.tflite")))
    got = np.stack([head(w) for w in x])
    np.testing.assert_allclose(got, each.mean(0), atol=1e-5)
    # the windows are of several activities, and the heads disagree on some: the mean is not one head's output
    assert len(set(got.argmax(1))) >= 3
    assert np.abs(each - each.mean(0)).max() > 1e-3
    # one graph: ~230 ops where the five unrolled heads exported layer by layer took ~1,500
    interp = make_interpreter(b.member("head.tflite"))
    assert len(interp._get_ops_details()) < 400


@pytest.mark.parametrize("encoder,motion", [("reference", "none"), ("reference", "both"), ("efficientnet", "both")])
def test_fused_head_follows_the_other_head_kinds(encoder, motion):
    """The builder handles every head kind convert trains (with and without a neck, each kind of feature change),
    not only the default's."""
    import keras

    from edge_lrcn.convert import export
    from edge_lrcn.convert.model import build_lrcn, member_models
    from edge_lrcn.convert.options import LrcnConfig

    cfg = LrcnConfig(encoder=encoder, input="frame", motion=motion, heads=2, frames=6, filters=(4, 4), pools=(8, 4),
                     neck_channels=4, delta_lag=2, lstm_units=8, labels=["a", "b", "c"])
    model = build_lrcn(cfg, weights=False)
    rng = np.random.default_rng(1)
    for layer in model.layers:  # random trained-like weights in the heads, not the initial zeros of the biases
        if layer.name != "td_encoder":
            layer.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32)
                           for w in layer.get_weights()])
    head = Head(make_interpreter(export.head_fp32(model)))
    x = np.random.default_rng(2).uniform(0, 2, (4, cfg.frames, head.feature_dim)).astype(np.float32)
    want = np.stack([m.predict(x, verbose=0) for m in member_models(model)]).mean(0)
    np.testing.assert_allclose(np.stack([head(w) for w in x]), want, atol=1e-5)
    keras.backend.clear_session()
