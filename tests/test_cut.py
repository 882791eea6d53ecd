"""The scene-cut rule (classify/cut.py) in both directions, on generated frames and on synth's segment videos."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from edge_lrcn.classify.cut import cut_points, is_cut
from edge_lrcn.convert.dataset import decode_clip
from edge_lrcn.convert.synth import make_sequence

S = 64  # the model's input size: the rule sees the frames the model sees
THRESHOLD = 0.07  # the cut_threshold default


def _texture(rng, size=S + 40) -> np.ndarray:
    """A static scene like synth's textured backgrounds: smoothed blobs and stripes over a random colour."""
    blobs = cv2.resize(rng.normal(0, 1, (size // 12, size // 12, 3)).astype(np.float32), (size, size),
                       interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    angle, freq = rng.uniform(0, math.pi), rng.uniform(0.1, 0.3)
    stripes = np.sin((xx * math.cos(angle) + yy * math.sin(angle)) * freq)[..., None]
    return np.clip(rng.uniform(60, 200, 3) + 40 * blobs + 25 * stripes, 0, 255).astype(np.float32)


def _plain(rng, size=S + 40) -> np.ndarray:
    return np.broadcast_to(rng.uniform(40, 220, 3).astype(np.float32), (size, size, 3)).copy()


def _view(scene, rng, dx=0, dy=0, noise=0.0, gain=1.0) -> np.ndarray:
    """The camera's 64x64 view of ``scene`` (panned by dx, dy), with sensor noise and an exposure gain."""
    img = scene[20 + dy:20 + dy + S, 20 + dx:20 + dx + S] * gain
    if noise:
        img = img + rng.normal(0, noise, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _person(rng, w, h) -> np.ndarray:
    """A large textured object (clothes are not flat colour)."""
    t = cv2.resize(rng.normal(0, 1, (h // 6 + 1, w // 6 + 1, 3)).astype(np.float32), (w, h),
                   interpolation=cv2.INTER_CUBIC)
    return np.clip(rng.uniform(0, 255, 3) + 70 * t, 0, 255).astype(np.uint8)


def _paste(img, obj, x, y) -> np.ndarray:
    img = img.copy()
    h, w = obj.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(S, x + w), min(S, y + h)
    if x1 > x0 and y1 > y0:
        img[y0:y1, x0:x1] = obj[y0 - y:y1 - y, x0 - x:x1 - x]
    return img


@pytest.mark.parametrize("background", ["plain", "texture"])
@pytest.mark.parametrize("size", [(45, 45), (32, 64), (64, 32)])  # half the frame: a square, a standing, a lying one
def test_large_motion_inside_the_frame_never_cuts(background, size):
    rng = np.random.default_rng([len(background), *size])
    for trial in range(20):
        scene = _texture(rng) if background == "texture" else _plain(rng)
        person = _person(rng, *size)
        noise = 12.0 if trial % 2 else 0.0
        x, y = int(rng.integers(-size[0] // 3, S - size[0] // 2)), int(rng.integers(0, S - size[1] + 1))
        dx, dy = (0, 6) if trial % 4 == 0 else (6, 0)  # 6 px per kept frame, across or along
        frames = [_paste(_view(scene, rng, noise=noise), person, x + dx * k, y + dy * k) for k in range(6)]
        assert cut_points(frames, THRESHOLD) == [], (background, size, trial)


def test_real_cuts_reset():
    rng = np.random.default_rng(3)
    for trial in range(20):
        a = _texture(rng) if trial % 2 else _plain(rng)
        b = _plain(rng) if trial % 3 else _texture(rng)
        noise = 8.0 if trial % 2 else 0.0
        before = _view(a, rng, noise=noise)
        assert is_cut(before, _view(b, rng, noise=noise), THRESHOLD), ("another scene", trial)
        assert is_cut(before, _view(a, rng, noise=noise, gain=0.35), THRESHOLD), ("lights off", trial)
        assert is_cut(_view(a, rng, noise=noise, gain=0.35), before, THRESHOLD), ("lights on", trial)
        if trial % 2:  # a pan on a plain wall shows the same wall: nothing to see, nothing to cut
            assert is_cut(before, _view(a, rng, dx=16, noise=noise), THRESHOLD), ("camera moved", trial)
            assert is_cut(before, _view(a, rng, dx=-12, dy=10, noise=noise), THRESHOLD), ("camera moved", trial)
        # the same scene, only sensor noise: never a cut; and 0 turns the rule off
        assert not is_cut(before, _view(a, rng, noise=noise), THRESHOLD)
        assert not is_cut(before, _view(b, rng), 0.0)


def test_a_scene_of_another_tint_is_a_cut():
    """Two textured walls of one brightness, one dark red and one orange: the mean change over the three channels
    stays under the threshold in every cell, but one channel's does not (the rule until 2026-12-06 missed this)."""
    rng = np.random.default_rng(7)
    for trial in range(10):
        base = _texture(rng) - _texture(rng).mean(axis=(0, 1))  # a texture around 0
        red = np.clip(base * 0.3 + np.array([124, 40, 40], np.float32), 0, 255)
        orange = np.clip(base * 0.3 + np.array([138, 62, 26], np.float32), 0, 255)
        a, b = _view(red, rng, noise=4.0), _view(orange, rng, noise=4.0)
        mean_change = cv2.absdiff(a, b).astype(np.float32).mean(axis=2).mean() / 255
        assert mean_change < THRESHOLD, trial  # what the old rule saw: no cell changed
        assert is_cut(a, b, THRESHOLD) and is_cut(b, a, THRESHOLD), trial
        assert not is_cut(a, _view(red, rng, noise=4.0), THRESHOLD), trial  # the same wall again


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_segment_videos_cut_where_the_scene_changes(tmp_path, seed):
    """``synth --sequence`` videos (a new random scene per segment): one cut at the first kept frame of every new
    segment, none inside a segment, on the frames convert's loader and the daemon keep (10 fps, 64x64)."""
    video = tmp_path / "seq.avi"
    truth = make_sequence(video, [(label, 2.0) for label in ("right", "still", "up", "left", "down")], seed=seed)
    frames = decode_clip(video, S, S, 10.0)
    assert len(frames) == 100
    assert cut_points(frames, THRESHOLD) == [round(start * 10) for _, start, _ in truth[1:]]


def test_one_scene_sequences_never_cut_and_the_shape_goes_on(tmp_path):
    """``synth --sequence --one-scene``: the activity changes and nothing else (the windows straddle it): no cut on
    the kept frames, and the shape is where the previous segment left it."""
    from edge_lrcn.convert.synth import Scene

    video = tmp_path / "one.avi"
    segs = [(label, 2.0) for label in ("right", "still", "up", "left", "down")]
    truth = make_sequence(video, segs, seed=5, one_scene=True)
    assert [(label, a, b) for label, a, b in truth] == [(lab, 2.0 * i, 2.0 * i + 2) for i, (lab, _) in enumerate(segs)]
    frames = decode_clip(video, S, S, 10.0)
    assert len(frames) == 100 and cut_points(frames, THRESHOLD) == []
    scene = Scene.random("right", np.random.default_rng(0))
    scene.start = (80.0, 60.0)  # mid-frame: half a second at <= 40% of the width per second never wraps
    end = scene.path(0.5)
    assert end[0] > 80.0 and end[1] == 60.0
    scene.label, scene.start = "up", end
    assert scene.path(0.0) == end and scene.path(0.5)[0] == end[0] and scene.path(0.5)[1] < end[1]


def test_convert_windows_never_span_a_cut_as_in_the_daemon(default_bundle, tmp_path):
    """Train/serve parity: convert's loader splits a clip at the daemon's cuts, and its windows are the daemon's
    (every window of the clip with stride 1, counted both ways)."""
    from edge_lrcn.classify.classifier import Classifier
    from edge_lrcn.convert.dataset import clip_starts, load
    from edge_lrcn.evaluate import stream_file
    from edge_lrcn.model.loader import load_bundle, open_model

    bundle = load_bundle(str(default_bundle))
    for label, seed in (("right", 21), ("left", 22)):
        (tmp_path / label).mkdir()
        make_sequence(tmp_path / label / "two_scenes.avi", [(label, 4.0), (label, 4.0)], seed=seed)
    ds = load(tmp_path, fps=bundle.fps, min_frames=bundle.frames, progress=False, transform=bundle.transform,
              lag=bundle.lag, gain=bundle.gain, cache_dir=tmp_path / "cache")
    lag = bundle.lag
    for clip in ds.clips:
        assert clip.scenes == [(0, 40 - lag), (40, 80 - lag)]
        starts = clip_starts(clip, bundle.frames, 1000, None)  # every window position
        assert all(any(a <= s and s + bundle.frames <= b for a, b in clip.scenes) for s in starts)
        daemon, _ = stream_file(Classifier(open_model(bundle, "cpu", 1), 1, THRESHOLD), clip.path)
        assert len(starts) == 2 * (40 - lag - bundle.frames + 1)
        # a model trained on short lags: after each restart the daemon's first lag - 1 inputs are the short lags, so
        # its first lag - 1 full windows of a scene still hold one (convert trains those as early windows)
        short = lag - 1 if bundle.short_lags else 0
        assert len(daemon) == len(starts) + 2 * short
