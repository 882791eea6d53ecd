"""The dataset loader on real written videos: good clips, a short clip, an unreadable file, an empty class."""

import numpy as np
import pytest

from edge_lrcn.capture.sources import VideoFileSource
from edge_lrcn.classify.preprocess import resize_rgb
from edge_lrcn.convert import dataset as D
from edge_lrcn.convert.synth import CLASSES, Scene, make_dataset, write_clip
from edge_lrcn.errors import DatasetError


@pytest.fixture()
def messy(tmp_path):
    root = tmp_path / "data"
    make_dataset(root, clips_per_class=3, seed=5, classes=["left", "right"])
    rng = np.random.default_rng(0)
    write_clip(root / "left" / "short.avi", "left", rng, seconds=1.0)  # 10 frames at 10 fps < 20
    (root / "right" / "broken.avi").write_bytes(b"RIFF\x00\x00\x00\x00AVI garbage" * 10)
    (root / "empty_class").mkdir()
    (root / "left" / "notes.txt").write_text("not a video")
    return root


def test_loader_skips_and_reports_short_unreadable_and_empty(messy, tmp_path):
    ds = D.load(messy, cache_dir=tmp_path / "cache", progress=False)
    assert ds.labels == ["left", "right"]
    assert len(ds.clips) == 6
    reasons = {p.split("/")[-1]: r for p, r in ds.skipped}
    assert reasons["short.avi"].startswith("too short")
    assert reasons["broken.avi"].startswith(("unreadable", "too short: no decodable"))
    assert ds.empty_classes == ["empty_class"]
    assert "2 skipped" in ds.summary() and "empty_class" in ds.summary()


def test_cached_frames_are_the_runtime_frames_at_model_fps(messy, tmp_path):
    ds = D.load(messy, cache_dir=tmp_path / "cache", progress=False)
    clip = ds.clips[0]
    with VideoFileSource(clip.path) as src:
        n_file = src.frame_count
        first = src.read()
    assert clip.frames.dtype == np.uint8 and clip.frames.shape[1:] == (64, 64, 3)
    assert abs(len(clip.frames) - n_file * 10 / 25) <= 1  # 25 fps clip kept at 10 fps
    assert np.array_equal(clip.frames[0], resize_rgb(first.pixels, 64, 64))
    # second load comes from the on-disk cache, memory-mapped
    ds2 = D.load(messy, cache_dir=tmp_path / "cache", progress=False)
    assert isinstance(ds2.clips[0].frames, np.memmap)


def test_one_class_or_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        D.load(tmp_path / "nope")
    make_dataset(tmp_path / "one", clips_per_class=1, classes=["up"])
    with pytest.raises(DatasetError, match="at least two class"):
        D.load(tmp_path / "one")


def test_split_is_by_clip_and_stratified():
    clips = [D.Clip(path=f"c{lab}_{i}", label=lab) for lab in range(5) for i in range(40)]
    tr, va, te = D.split_by_clip(clips, 0.15, 0.15, seed=0)
    names = [set(c.path for c in s) for s in (tr, va, te)]
    assert not (names[0] & names[1]) and not (names[0] & names[2]) and not (names[1] & names[2])
    assert sum(map(len, names)) == 200
    for lab in range(5):
        assert sum(c.label == lab for c in te) == 6 and sum(c.label == lab for c in va) == 6
    assert D.split_by_clip(clips, seed=0)[2] == te  # deterministic for a seed
    assert D.split_by_clip(clips, seed=1)[2] != te


def test_windows_never_cross_clips_and_sample_at_model_fps():
    frames = np.arange(45 * 2 * 2 * 3, dtype=np.uint8).reshape(45, 2, 2, 3)
    clip = D.Clip("a", 1, frames)
    ws = list(D.windows([clip], 20, 4, np.random.default_rng(0)))
    assert len(ws) == 4 and all(x.shape == (20, 2, 2, 3) and y == 1 for x, y, _ in ws)
    assert D.window_starts(45, 20, 3, None) == [0, 12, 25]
    assert D.window_starts(10, 20, 3, None) == []
    assert D.uniform_indices(45, 20)[0] == 0 and D.uniform_indices(45, 20)[-1] == 44


def test_synth_classes_move_as_named():
    rng = np.random.default_rng(0)
    for label, (dx, dy) in {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}.items():
        s = Scene.random(label, rng)
        s.start = (80.0, 60.0)
        x0, y0 = s.centre(0.0)
        x1, y1 = s.centre(0.2)
        assert np.sign(x1 - x0) == dx and np.sign(y1 - y0) == dy
        assert 0.15 * 160 <= abs((x1 - x0) + (y1 - y0)) / 0.2 <= 0.40 * 160 + 1e-6
    assert set(CLASSES) == {"left", "right", "up", "down", "still"}


def test_synth_cli_writes_ucf_layout(tmp_path):
    import cv2

    from tests.conftest import run_cli

    proc = run_cli("synth", tmp_path / "d", "--clips-per-class", "1", "--seed", "2")
    assert proc.returncode == 0, proc.stderr
    vids = sorted(tmp_path.glob("d/*/*.avi"))
    assert [v.parent.name for v in vids] == sorted(CLASSES)
    cap = cv2.VideoCapture(str(vids[0]))
    fps, n = cap.get(cv2.CAP_PROP_FPS), cap.get(cv2.CAP_PROP_FRAME_COUNT)
    ok, f = cap.read()
    assert ok and f.shape == (120, 160, 3) and fps >= 25 and 3.0 <= n / fps <= 6.0
