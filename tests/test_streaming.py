"""Streaming equals monolithic; the embedded model names the right activities, in order; eval and bench run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge_lrcn.bundle import read_bundle
from edge_lrcn.convert.synth import make_sequence
from edge_lrcn.interpreter import Encoder, Head, make_interpreter
from edge_lrcn.pacer import Pacer
from edge_lrcn.preprocess import preprocess
from edge_lrcn.sources import VideoFileSource
from edge_lrcn.stream import FeatureWindow
from tests.conftest import json_lines, run_cli


def test_streaming_fp16_encoder_plus_head_matches_monolithic_fp32(default_bundle, tmp_path):
    video = tmp_path / "v.avi"
    make_sequence(video, [("left", 5.0), ("still", 5.0), ("down", 5.0), ("right", 5.0)], seed=8)
    b = read_bundle(default_bundle)
    h, w = b.input_size
    enc = Encoder(make_interpreter(b.member("encoder_fp16.tflite")), "encoder_fp16.tflite", "cpu")
    head = Head(make_interpreter(b.member("head.tflite")))
    mono = make_interpreter(b.member("lrcn_fp32.tflite"))
    mi, mo = mono.get_input_details()[0]["index"], mono.get_output_details()[0]["index"]
    window = FeatureWindow(b.frames, b.feature_dim)
    frames = []
    pacer = Pacer(b.fps)
    same, diffs = 0, []
    with VideoFileSource(video) as src:
        while (f := src.read()) is not None:
            if not pacer.keep(f.t):
                continue
            x = preprocess(f.pixels, h, w)
            frames = (frames + [x])[-b.frames:]
            window.push(enc(x))
            if not window.full:
                continue
            p_stream = head(window.view())
            mono.set_tensor(mi, np.stack(frames)[None])
            mono.invoke()
            p_mono = mono.get_tensor(mo)[0]
            same += int(p_stream.argmax() == p_mono.argmax())
            diffs.append(float(np.abs(p_stream - p_mono).max()))
    n = len(diffs)
    print(f"streaming vs monolithic: {n} windows, top-1 identical {same}/{n}, max |dp| {max(diffs):.5f}")
    assert n >= 150
    assert same / n >= 0.99, f"top-1 identical on {same}/{n}; max prob diff {max(diffs):.4f}"
    assert max(diffs) < 0.05


def test_run_names_the_segments_in_order(default_bundle, tmp_path):
    """A fresh video of synth segments: the embedded model's activity_start labels, in order, are the segments."""
    segments = [("right", 7.0), ("still", 7.0), ("up", 7.0), ("left", 7.0), ("down", 7.0)]
    video = tmp_path / "segments.avi"
    truth = make_sequence(video, segments, seed=12345)
    proc = run_cli("run", "--source", video, "--sink", "stdout", "--stats-interval", "0")
    assert proc.returncode == 0, proc.stderr
    starts = [o for o in json_lines(proc.stdout) if o["type"] == "activity_start"]
    labels = [o["label"] for o in starts]
    assert labels == [s for s, _ in segments], labels
    for o, (_, a, b) in zip(starts, truth):
        assert a <= o["t"] <= b  # each start falls inside its segment (timely: no later than the segment's end)
    ends = [o for o in json_lines(proc.stdout) if o["type"] == "activity_end"]
    assert len(ends) == len(starts)


def test_eval_prints_per_class_metrics_and_confusion(default_bundle, tmp_path):
    from edge_lrcn.convert.synth import make_dataset

    make_dataset(tmp_path / "d", clips_per_class=2, seed=77)
    proc = run_cli("eval", tmp_path / "d", "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["clips"] == 10 and np.array(r["confusion_matrix"]).shape == (5, 5)
    assert r["windows"] == np.array(r["confusion_matrix"]).sum()
    assert set(r["per_class"]) == {"down", "left", "right", "still", "up"}
    assert r["accuracy"] >= 0.8
    proc = run_cli("eval", tmp_path / "d", "--plot", tmp_path / "cm.png")
    assert proc.returncode == 0 and "precision" in proc.stdout and (tmp_path / "cm.png").stat().st_size > 1000


def test_bench_json_reports_every_documented_key(default_bundle):
    proc = run_cli("bench", "--json", "--repeats", "20", timeout=900)
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    for key in ("encoder_int8_ms", "encoder_fp16_ms", "head_ms", "stream_step_ms", "monolithic_window_ms",
                "stream_speedup", "pipeline_fps", "bare_decode_resize_fps", "pipeline_vs_bare",
                "daemon_peak_rss_mb", "first_window_s"):
        assert isinstance(r[key], (int, float)) and r[key] > 0, key
    # bench measures; it asserts nothing about speed. Only sanity: a streaming step cannot cost more than a window.
    assert r["stream_step_ms"] < r["monolithic_window_ms"]
