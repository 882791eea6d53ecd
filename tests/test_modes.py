"""What the camera is asked for when the user sets nothing: the mode from the model (pure functions; the V4L2
listing is parsed from v4l2-ctl's own output format)."""

from __future__ import annotations

from edge_lrcn.capture.modes import FALLBACK, Mode, capture_request, lores_size, parse_v4l2_modes, pick_mode, v4l2_modes

# v4l2-ctl --list-formats-ext of a typical UVC webcam (trimmed): YUYV small modes, MJPG up to 1280x720
LISTING = """ioctl: VIDIOC_ENUM_FMT
\tType: Video Capture

\t[0]: 'MJPG' (Motion-JPEG, compressed)
\t\tSize: Discrete 1280x720
\t\t\tInterval: Discrete 0.033s (30.000 fps)
\t\tSize: Discrete 640x480
\t\t\tInterval: Discrete 0.033s (30.000 fps)
\t\t\tInterval: Discrete 0.067s (15.000 fps)
\t\tSize: Discrete 352x288
\t\t\tInterval: Discrete 0.033s (30.000 fps)
\t\t\tInterval: Discrete 0.050s (20.000 fps)
\t\tSize: Discrete 320x240
\t\t\tInterval: Discrete 0.033s (30.000 fps)
\t[1]: 'YUYV' (YUYV 4:2:2)
\t\tSize: Discrete 640x480
\t\t\tInterval: Discrete 0.033s (30.000 fps)
\t\tSize: Discrete 352x288
\t\t\tInterval: Discrete 0.033s (30.000 fps)
\t\t\tInterval: Discrete 0.067s (15.000 fps)
\t\t\tInterval: Discrete 0.100s (10.000 fps)
\t\tSize: Discrete 320x240
\t\t\tInterval: Discrete 0.033s (30.000 fps)
"""


def test_the_listing_is_parsed_into_modes():
    modes = parse_v4l2_modes(LISTING)
    assert len(modes) == 11
    assert modes[0] == Mode(1280, 720, 30.0, "MJPG")
    assert Mode(352, 288, 20.0, "MJPG") in modes and Mode(352, 288, 10.0, "YUYV") in modes
    assert parse_v4l2_modes("") == [] and parse_v4l2_modes("garbage\n\tSize: Discrete 1x1\n") == []


def test_the_smallest_mode_four_times_the_model_at_a_multiple_of_its_fps():
    modes = parse_v4l2_modes(LISTING)
    # 320x240 is too short for 4 x 64 = 256; 352x288 is the smallest that is not; 20 fps is the lowest rate that is
    # a multiple (>= 2) of 10 (10 fps, once the model's own rate, is not enough: a drifting camera clock would leave
    # the pacer without a frame in time); MJPG is the only format with 20 fps there
    assert pick_mode(modes, 64, 64, 10.0) == Mode(352, 288, 20.0, "MJPG")
    # at 30 fps both formats have it: the uncompressed one needs no decoding
    only30 = [m for m in modes if m.fps == 30.0]
    assert pick_mode(only30, 64, 64, 10.0) == Mode(352, 288, 30.0, "YUYV")
    # a model at 15 fps: 30 is the multiple; a 7 fps model: no multiple listed, the highest rate
    assert pick_mode(modes, 64, 64, 15.0).fps == 30.0
    assert pick_mode(modes, 64, 64, 7.0).fps == 30.0
    # a larger model needs a larger mode; too large for every mode: None (the caller's fallback)
    assert pick_mode(modes, 112, 112, 10.0)[:2] == (640, 480)
    assert pick_mode(modes, 224, 224, 10.0) is None
    assert pick_mode([], 64, 64, 10.0) is None


def test_lores_sizes_for_picamera2():
    assert lores_size(64, 64) == (384, 288)
    assert lores_size(96, 128) == (512, 384)
    assert lores_size(1000, 1000) == (1280, 960)
    assert all(w % 64 == 0 and w * 3 == h * 4 for w, h in [lores_size(s, s) for s in (16, 64, 100, 200, 300)])


def test_what_each_source_is_asked_for(tmp_path):
    # the user's settings win; files and streams are not asked anything unless the user set it
    assert capture_request("/dev/video0", 800, 600, 25.0, 64, 64, 10.0) == ((800, 600), 25.0)
    assert capture_request("clip.mp4", None, None, None, 64, 64, 10.0) == (None, None)
    assert capture_request("rtsp://cam/stream", None, None, None, 64, 64, 10.0) == (None, None)
    assert capture_request("picamera2:1", None, None, None, 64, 64, 10.0) == ((384, 288), 20.0)
    assert capture_request("picamera2", 640, 480, None, 64, 64, 10.0) == ((640, 480), 20.0)
    # a V4L2 device whose modes cannot be listed (none here): the fallback, with what the user did set
    missing = str(tmp_path / "video9")
    assert v4l2_modes(missing) == []
    assert capture_request(missing.replace(str(tmp_path / "video"), "/dev/video"), None, None, 15.0, 64, 64,
                           10.0) == (FALLBACK[:2], 15.0)
