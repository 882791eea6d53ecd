import numpy as np

from edge_lrcn.classify.pacer import Pacer
from edge_lrcn.classify.preprocess import preprocess, resize_rgb, to_float
from edge_lrcn.classify.window import FeatureWindow


def test_preprocess_is_bgr_to_rgb_area_resize_and_unit_scale():
    bgr = np.zeros((120, 160, 3), np.uint8)
    bgr[..., 0] = 255  # pure blue in BGR
    x = preprocess(bgr, 64, 64)
    assert x.shape == (64, 64, 3) and x.dtype == np.float32
    assert np.allclose(x[..., 2], 1.0) and np.allclose(x[..., :2], 0.0)  # blue is channel 2 in RGB
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    assert np.array_equal(preprocess(img, 64, 64), to_float(resize_rgb(img, 64, 64)))
    assert 0.0 <= preprocess(img, 32, 48).min() and preprocess(img, 32, 48).max() <= 1.0


def test_trainer_and_runtime_share_the_one_preprocessing_function():
    import edge_lrcn.classify.classifier as K
    import edge_lrcn.convert.dataset as D
    from edge_lrcn.classify.preprocess import transform_stack

    assert D.resize_rgb is resize_rgb and D.to_float is to_float and D.transform_stack is transform_stack
    # the daemon hands the encoder uint8 pixels; Encoder.encode_rgb gives the features of to_float's input
    # (tests/test_encoder_choice.py)
    assert K.resize_rgb is resize_rgb and not hasattr(K, "to_float")
    assert preprocess(np.zeros((4, 4, 3), np.uint8), 2, 2).shape == (2, 2, 3)


def test_pacer_keeps_one_frame_in_three_from_30fps_with_jitter():
    rng = np.random.default_rng(1)
    p = Pacer(10)
    ts = np.arange(900) / 30.0 + rng.uniform(-0.004, 0.004, 900)
    kept = [t for t in ts if p.keep(t)]
    assert 295 <= len(kept) <= 305
    gaps = np.diff(kept)
    assert gaps.min() > 0.06 and gaps.max() < 0.14


def test_pacer_25fps_file_averages_model_fps_and_resyncs_after_gap():
    p = Pacer(10)
    kept = [t for t in np.arange(250) / 25.0 if p.keep(t)]
    assert len(kept) == 100  # 10 s at 10 fps
    p = Pacer(10)
    assert p.keep(0.0) and not p.keep(0.05) and p.keep(0.1)
    assert p.keep(5.0)  # after a gap it restarts at once
    assert not p.keep(5.04) and p.keep(5.1)
    assert p.keep(1.0)  # time going backwards (a reopened source) restarts too


def test_feature_window_is_the_last_T_in_order():
    w = FeatureWindow(3, 2)
    for i in range(7):
        w.push(np.array([i, -i], np.float32))
        if i >= 2:
            assert w.full
            assert w.view()[:, 0].tolist() == [i - 2, i - 1, i]
    w.clear()
    assert not w.full


def test_difference_is_exact_integer_arithmetic_with_gain_and_clipping():
    from edge_lrcn.classify.preprocess import difference, transform_stack

    cur = np.array([[[0, 255, 128, 130]]], np.uint8)
    prev = np.array([[[255, 0, 128, 126]]], np.uint8)
    assert difference(cur, prev, 1).tolist() == [[[0, 255, 128, 132]]]
    assert difference(cur, prev, 4).tolist() == [[[0, 255, 128, 144]]]  # 128 + 4 * 4
    frames = np.stack([np.full((2, 2, 3), v, np.uint8) for v in (10, 11, 12, 20, 30)])
    d = transform_stack(frames, "difference", lag=3, gain=2)  # frame k against frame k - 3
    assert d.shape == (2, 2, 2, 3)
    assert d[0, 0, 0, 0] == 128 + 2 * (20 - 10) and d[1, 0, 0, 0] == 128 + 2 * (30 - 11)
