"""Decode only what the model keeps: the reader asks the pacer before it decodes, and the kept frames (timestamps,
pixels, probabilities) are exactly those of decoding every frame."""

from __future__ import annotations

import time

import numpy as np
import pytest

from edge_lrcn.capture.camera import END, Camera
from edge_lrcn.capture.reader import FrameReader, read_ahead
from edge_lrcn.capture.sources import Frame, OpenCVLiveSource, VideoFileSource
from edge_lrcn.classify.classifier import Classifier
from edge_lrcn.classify.pacer import Pacer
from edge_lrcn.config import CameraSettings
from edge_lrcn.convert.synth import make_sequence
from edge_lrcn.model.loader import load_bundle, open_model


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("skip")
    out = {}
    for fps in (30.0, 25.0, 12.0):  # 25 and 12 fps do not divide into the model's 10 fps: the pacer's tolerance works
        p = d / f"v{int(fps)}.avi"
        make_sequence(p, [("right", 2.0), ("up", 2.5)], seed=int(fps), fps=fps, size=(160, 120))
        out[fps] = p
    return out


def _every_frame(path) -> list[Frame]:
    frames = []
    with VideoFileSource(path) as src:
        while (f := src.read()) is not None:
            frames.append(f)
    return frames


def _through_reader(path, keep) -> list[Frame]:
    """As the daemon and ``eval`` read a file: a FrameReader thread that asks ``keep`` first (``read_ahead``)."""
    return list(read_ahead(VideoFileSource(path), keep))


@pytest.mark.parametrize("fps", [30.0, 25.0, 12.0])
def test_the_kept_frames_are_the_same_with_and_without_decode_skipping(videos, fps):
    full = _every_frame(videos[fps])
    pacer = Pacer(10.0)
    expected = [f for f in full if pacer.keep(f.t)]
    skipping = _through_reader(videos[fps], Pacer(10.0).keep)
    # every frame still comes, in order, with its timestamp: the camera supervisor and the counts see them all
    assert [f.t for f in skipping] == [f.t for f in full]
    assert [f.seq for f in skipping] == list(range(len(full)))
    kept = [f for f in skipping if f.kept]
    assert [f.t for f in kept] == [f.t for f in expected]
    assert len(kept) < len(full) or fps <= 10
    for a, b in zip(kept, expected, strict=True):
        np.testing.assert_array_equal(a.pixels, b.pixels)
    assert all(f.pixels is None and f.kept is False for f in skipping if not f.kept)
    assert all(f.kept is None for f in full)  # without a decision the source decodes everything, as before


def test_the_classifier_gives_the_same_probabilities_from_decided_frames(default_bundle, videos):
    model = open_model(load_bundle(str(default_bundle)), "cpu", 1, encoder="int8")
    a, b = Classifier(model, cut_threshold=0.07), Classifier(model, cut_threshold=0.07)
    steps_a = [a.push(f) for f in _every_frame(videos[30.0])]
    steps_b = [b.push(f) for f in _through_reader(videos[30.0], b.decide)]
    assert [s.kept for s in steps_a] == [s.kept for s in steps_b]
    probs_a = [s.probs for s in steps_a if s.probs is not None]
    probs_b = [s.probs for s in steps_b if s.probs is not None]
    assert len(probs_a) == len(probs_b) > 0
    for pa, pb in zip(probs_a, probs_b, strict=True):
        np.testing.assert_array_equal(pa, pb)
    assert (a.counts.frames, a.counts.kept, a.counts.windows) == (b.counts.frames, b.counts.kept, b.counts.windows)
    # eval reads the same way (read ahead, only kept frames decoded): the full windows of decoding every frame
    from edge_lrcn.evaluate import stream_file

    c, full = Classifier(model, cut_threshold=0.07), []
    for f in _every_frame(videos[30.0]):
        probs = c.push(f).probs
        if probs is not None and c.window.full:
            full.append(probs)
    windows, skipped = stream_file(Classifier(model, cut_threshold=0.07), videos[30.0])
    assert skipped == 0 and len(windows) == len(full) > 0
    np.testing.assert_array_equal(np.array(windows), np.array(full))


def test_the_camera_hands_its_reader_the_decision(videos):
    pacer = Pacer(10.0)
    cam = Camera(lambda: VideoFileSource(videos[25.0]), CameraSettings(stall_timeout=5.0, reopen_max_delay=1.0),
                 keep=pacer.keep)
    cam.open()  # a file opens on the caller's thread, as the daemon opens it (a live source opens off the loop)
    cam.start()
    items = []
    while (item := cam.read()) is not END:
        if item is not None:
            items.append(item)
    cam.close()
    decoded = [f for f in items if f.pixels is not None]
    assert len(items) == 112 and 0 < len(decoded) < len(items)
    assert all(f.kept for f in decoded)


def test_a_live_stream_skips_decoding_what_the_pacer_drops():
    from tests.mjpeg_server import MjpegCamera

    cam = MjpegCamera(fps=30)
    try:
        src = OpenCVLiveSource(cam.url, description="test stream")
        assert src.packets  # an MJPEG-over-HTTP stream comes as packets: FFmpeg would decode every frame in grab()
        calls = []

        def keep(t):
            calls.append(t)
            return len(calls) % 3 == 1

        frames = [src.read(keep) for _ in range(9)]
        src.close()
    finally:
        cam.close()
    assert len(calls) == 9 and [f.t for f in frames] == calls
    assert [f.pixels is not None for f in frames] == [True, False, False] * 3
    assert all(f.pixels.shape == (240, 320, 3) for f in frames if f.kept)
    assert calls == sorted(calls) and time.monotonic() >= calls[-1]


def test_a_live_queue_that_overflows_drops_declined_frames_before_kept_ones():
    """The loop stalls while a live camera runs on: the reader has already asked the pacer about every frame, so a
    kept frame it dropped would be a hole in the window; it drops the frames the pacer declined first."""
    import queue
    import threading

    from edge_lrcn.capture.sources import Source

    class Burst(Source):  # a live camera delivering 30 frames at once, one in three kept (30 fps for a 10 fps model)
        live = True
        description = "burst"

        def __init__(self):
            self.n, self.done = 0, threading.Event()

        def read(self, keep=None):
            if self.n == 30:
                self.done.set()
                return None  # the end of the burst (a live source's end: the reader stops)
            self.n += 1
            kept = keep(self.n / 30)
            return Frame(np.zeros((4, 4, 3), np.uint8) if kept else None, self.n / 30, self.n, kept)

        def close(self):
            pass

    src = Burst()
    reader = FrameReader(src, maxsize=3, keep=lambda t: round(t * 30) % 3 == 0)
    # the source ends at the read after the 30th frame: the reader had put all 30 by then (nobody took any); its END
    # waits for room in the full queue, and is not counted below
    assert src.done.wait(5)
    waiting = []
    while True:
        try:
            item = reader.q.get_nowait()
        except queue.Empty:
            break
        if item is not FrameReader.END:
            waiting.append(item)
    reader.close()
    assert [f.seq for f in waiting] == [24, 27, 30] and all(f.kept for f in waiting)
    assert reader.dropped == 27


def _ffmpeg_frames(path):
    """Every frame as FFmpeg decodes it (OpenCV's default), with its timestamp: what the source read before."""
    import cv2

    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    out = []
    while cap.grab():
        out.append((cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0, cap.retrieve()[1]))
    cap.release()
    return out


def test_a_motion_jpeg_file_comes_as_packets_decoded_only_when_kept(videos):
    """FFmpeg decodes in grab(), so a 30 fps MJPEG file paced to 10 fps was decoded in full; as packets, only the
    kept frames are decoded (by libjpeg-turbo, as OpenCV's V4L2 backend decodes an MJPEG camera), with the same
    timestamps and frames within JPEG decoder differences of FFmpeg's."""
    from edge_lrcn.classify.preprocess import resize_rgb

    reference = _ffmpeg_frames(videos[30.0])
    src = VideoFileSource(videos[30.0])
    assert src.packets
    decoded = []
    real = src.decode_kept
    src.decode_kept = lambda: decoded.append(1) or real()
    pacer = Pacer(10.0)
    frames = []
    while (f := src.read(pacer.keep)) is not None:
        frames.append(f)
    src.close()
    assert [f.t for f in frames] == pytest.approx([t for t, _ in reference])
    kept = [f for f in frames if f.kept]
    assert len(decoded) == len(kept) and len(kept) < len(frames) / 2  # declined frames were never decoded
    by_t = dict(reference)
    for f in kept:
        ref = by_t[f.t]
        assert f.pixels.shape == ref.shape and f.pixels.dtype == np.uint8
        # two JPEG decoders (IDCT, chroma upsampling) differ by about a grey level; the model input far less
        assert np.abs(f.pixels.astype(int) - ref).mean() < 3
        assert np.abs(resize_rgb(f.pixels, 64, 64).astype(int) - resize_rgb(ref, 64, 64)).mean() < 1.5


def test_other_codecs_are_decoded_by_ffmpeg(tmp_path):
    import cv2

    p = tmp_path / "v.mp4"
    w = cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (160, 120))
    for i in range(20):
        w.write(np.full((120, 160, 3), i * 10, np.uint8))
    w.release()
    with VideoFileSource(p) as src:
        assert not src.packets
        frames = []
        while (f := src.read()) is not None:
            frames.append(f)
    assert len(frames) == 20 and frames[5].pixels.shape == (120, 160, 3)


def test_a_motion_jpeg_file_whose_first_packet_is_no_jpeg_is_read_by_ffmpeg(videos, tmp_path):
    """A packet that libjpeg cannot decode on its own (here: the first frame's start-of-image marker destroyed) sends
    the whole file back to FFmpeg's decoder, which reads what it can."""
    data = bytearray(videos[30.0].read_bytes())
    soi = data.index(b"\xff\xd8\xff")
    data[soi:soi + 2] = b"\x00\x00"
    bad = tmp_path / "bad_first.avi"
    bad.write_bytes(bytes(data))
    with VideoFileSource(bad) as src:
        assert not src.packets
        frames = []
        while (f := src.read()) is not None:
            frames.append(f)
    assert len(frames) >= len(_ffmpeg_frames(videos[30.0])) - 1


def test_the_reduction_leaves_at_least_the_size_asked_for():
    from edge_lrcn.capture.codec import reduction
    from edge_lrcn.classify.preprocess import model_min_size

    assert model_min_size(64, 64) == (128, 128)  # twice the model's input, on each side
    assert model_min_size(64, 64, [None, (0.5, 0.5, 1.0, 1.0)]) == (256, 256)  # a quarter's crop: twice that
    assert reduction(480, 640, (128, 128)) == 2  # 240x320 (1/4 would leave 120 rows)
    assert reduction(576, 768, (128, 128)) == 4  # 144x192
    assert reduction(1080, 1920, (128, 128)) == 8  # 135x240
    assert reduction(121, 160, (61, 80)) == 2  # a reduced side is rounded up, as libjpeg does
    assert reduction(120, 160, (128, 128)) == reduction(480, 640, None) == reduction(0, 0, (1, 1)) == 1


def test_a_large_motion_jpeg_frame_is_decoded_reduced_for_the_model_and_whole_for_the_picture(tmp_path):
    """A 640x480 frame and a 64x64 model: the kept frames decode at 320x240 in libjpeg's DCT (no more is needed for
    twice the model's input), the model input stays within a grey level of the full decode's, and
    ``full_pixels`` (snapshots, the page) decodes the same packet whole."""
    import cv2

    from edge_lrcn.capture.codec import full_pixels
    from edge_lrcn.classify.preprocess import model_min_size, resize_rgb

    p = tmp_path / "v640.avi"
    make_sequence(p, [("right", 1.0)], seed=3, fps=30.0, size=(640, 480))
    full = _every_frame(p)
    with VideoFileSource(p) as src:
        assert src.packets and (src.height, src.width) == (480, 640)
        src.min_size = model_min_size(64, 64)
        frames = []
        while (f := src.read()) is not None:
            frames.append(f)
    assert len(frames) == len(full)
    for f, ref in zip(frames, full, strict=True):
        assert f.scale == 2 and f.pixels.shape == (240, 320, 3) and ref.scale == 1 and ref.packet is None
        assert np.array_equal(full_pixels(f), ref.pixels) and full_pixels(ref) is ref.pixels
        diff = np.abs(resize_rgb(f.pixels, 64, 64).astype(int) - resize_rgb(ref.pixels, 64, 64))
        assert diff.mean() < 1.0
    assert cv2.imdecode(frames[0].packet, cv2.IMREAD_COLOR).shape == (480, 640, 3)


def test_the_daemon_decodes_whole_frames_while_clips_are_recorded():
    """``reload.decode_size``: the regions' need without clips; the full size with them (the clip writer stores
    every frame as decoded)."""
    from types import SimpleNamespace

    from edge_lrcn.reload import decode_size

    camera = Camera(lambda: None, CameraSettings())
    d = SimpleNamespace(camera=camera, classifier=SimpleNamespace(min_size=(128, 128)), clips=None)
    decode_size(d)
    assert camera.min_size == (128, 128)
    d.clips = object()
    decode_size(d)
    assert camera.min_size is None


def test_the_page_and_snapshots_show_a_reduced_frame_whole(tmp_path):
    """The live view, its frame size and a snapshot come from the packet decoded again whole, not from the pixels the
    model got."""
    import cv2

    from edge_lrcn.capture.codec import decode_jpeg, full_pixels
    from edge_lrcn.publish.clip import snapshot_jpeg
    from edge_lrcn.web.live import LiveFeed

    picture = np.random.default_rng(1).integers(0, 255, (480, 640, 3), np.uint8)
    packet = cv2.imencode(".jpg", picture)[1]
    small = decode_jpeg(packet, 2)
    assert small is not None and small.shape == (240, 320, 3)
    frame = Frame(small, 0.0, 0, True, 2, packet)
    feed = LiveFeed()
    feed.seen(frame, {})
    assert feed.size == (640, 480)
    got = feed.jpeg()
    assert got is not None and cv2.imdecode(np.frombuffer(got[1], np.uint8), cv2.IMREAD_COLOR).shape == (480, 640, 3)
    snap = snapshot_jpeg(full_pixels(frame), 1280)
    assert cv2.imdecode(np.frombuffer(snap, np.uint8), cv2.IMREAD_COLOR).shape == (480, 640, 3)
