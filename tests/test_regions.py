"""Regions of interest: each region of one camera's view is classified as a stream of its own (its window, resets and
tracker), and the training clips are cut as the daemon cuts a region. Real synthetic videos of two views side by
side (convert/synth.py ``make_panels``), the real daemon, the embedded model, a real broker."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from edge_lrcn.classify.preprocess import aspect_mismatch, box_pixels, crop_box
from edge_lrcn.convert.synth import make_panels
from tests.conftest import run_cli

LEFT, RIGHT = (0.0, 0.0, 0.5, 1.0), (0.5, 0.0, 1.0, 1.0)


@pytest.fixture(scope="module")
def two_views(tmp_path_factory):
    """320x120: on the left a shape moving right for 9 s; on the right a still scene, then a shape moving up."""
    path = tmp_path_factory.mktemp("regions") / "two.avi"
    make_panels(path, [[("right", 9.0)], [("still", 4.0), ("up", 5.0)]], seed=3)
    return path


def frames_of(path) -> list[np.ndarray]:
    cap, out = cv2.VideoCapture(str(path)), []
    while (got := cap.read())[0]:
        out.append(got[1])
    cap.release()
    return out


def test_a_box_covers_the_pixels_it_names():
    frame = np.arange(120 * 160 * 3, dtype=np.uint32).reshape(120, 160, 3)
    assert box_pixels((0.55, 0.2, 0.85, 0.7), 120, 160) == (88, 24, 136, 84)
    crop = crop_box(frame, (0.55, 0.2, 0.85, 0.7))
    assert crop.shape == (60, 48, 3) and (crop == frame[24:84, 88:136]).all()
    assert crop_box(frame, None) is frame
    assert box_pixels((0.999, 0.999, 1.0, 1.0), 120, 160) == (159, 119, 160, 120)  # at least one pixel
    assert aspect_mismatch((60, 48), (120, 160)) == pytest.approx(1.67, abs=0.01)  # 4:5 against 4:3
    assert aspect_mismatch((120, 150), (120, 160)) is None


def test_record_region_writes_the_crop_the_daemon_classifies(two_views, tmp_path):
    proc = run_cli("record", "--source", two_views, "--label", "up", "--seconds", "2", "--region", "0.5,0,1,1",
                   "--out", tmp_path / "data")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["box"] == list(RIGHT)
    (clip,) = out["clips"]
    recorded, source = frames_of(clip), frames_of(two_views)
    assert recorded[0].shape == (120, 160, 3)
    right, left = crop_box(source[0], RIGHT), crop_box(source[0], LEFT)
    near = np.abs(recorded[0].astype(int) - right).mean()
    assert near < 6 and near < np.abs(recorded[0].astype(int) - left).mean() / 3  # the right half, not the left


@pytest.mark.parametrize("box", ["0.5,0,1.2,1", "0.5,0.5,0.5,1", "a,b,c,d", "0,0,1"])
def test_record_refuses_a_bad_region_naming_it(two_views, tmp_path, box):
    proc = run_cli("record", "--source", two_views, "--label", "up", "--region", box, "--out", tmp_path)
    assert proc.returncode == 2 and "--region" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
