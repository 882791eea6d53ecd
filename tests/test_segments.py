"""``eval`` on a segment video: the delay from each activity's start to its activity_start, with the daemon's own
classifier and tracker (the same events ``run`` prints)."""

from __future__ import annotations

import json

import pytest

from edge_lrcn.segments import Segment, read_timeline, score

from .conftest import json_lines, run_cli


def test_score_counts_delays_wrong_false_and_repeated_starts():
    segs = [Segment("right", 0.0, 5.0), Segment("none", 5.0, 8.0), Segment("up", 8.0, 12.0),
            Segment("left", 12.0, 15.0)]
    starts = [("still", 0.4), ("right", 0.9), ("right", 3.0), ("up", 6.0), ("up", 8.6), ("down", 20.0)]
    r = score(starts, segs, ["down", "left", "right", "still", "up"])
    assert [p["delay"] for p in r["segments"]] == [0.9, None, 0.6, None]
    assert r["activities"] == 3 and r["announced"] == 2  # "none" is not one of the model's labels
    assert (r["wrong_starts"], r["false_starts"], r["repeats"]) == (1, 2, 1)
    assert r["delay_median_s"] == pytest.approx(0.75) and r["delay_max_s"] == 0.9


def test_eval_delays_are_those_of_the_daemons_own_events(default_bundle, tmp_path):
    video = tmp_path / "seq.avi"
    proc = run_cli("synth", video, "--sequence", "right:4,still:4,up:4", "--seed", "21")
    assert proc.returncode == 0, proc.stderr
    segs = read_timeline(tmp_path / "seq.avi.timeline.csv")
    assert [(s.label, s.start, s.end) for s in segs] == [("right", 0, 4), ("still", 4, 8), ("up", 8, 12)]
    runs = {}
    for name, flags in (("defaults", []), ("slow", ["--min-duration", "1.5"])):
        proc = run_cli("eval", video, "--json", *flags)
        assert proc.returncode == 0, proc.stderr
        r = json.loads(proc.stdout)
        run = run_cli("run", "--source", video, "--sink", "stdout", "--stats-interval", "0", *flags)
        assert run.returncode == 0, run.stderr
        starts = [(e["label"], e["t"]) for e in json_lines(run.stdout) if e["type"] == "activity_start"]
        # eval scores exactly the starts the daemon emits
        delays = [round(t - s.start, 3) for (_, t), s in zip(starts, segs, strict=True)]
        assert [p["delay"] for p in r["segments"]] == delays
        assert r["announced"] == 3 and r["wrong_starts"] == r["false_starts"] == 0, r
        runs[name] = r
    # min_duration delays every start by at least its time, less the windows' spacing
    for d, slow in zip(runs["defaults"]["segments"], runs["slow"]["segments"], strict=True):
        assert slow["delay"] - d["delay"] >= 1.5 - runs["defaults"]["settings"]["min_duration"] - 0.1 - 1e-6
    # the embedded model answers early windows (window.prefill): every activity within 2 s of its scene, where a
    # full window alone took 2.2 s
    assert runs["defaults"]["delay_max_s"] < 2.0, runs["defaults"]
    proc = run_cli("eval", video)
    assert proc.returncode == 0 and "delay median" in proc.stdout and "announced 3 of 3" in proc.stdout


def test_eval_timeline_errors_are_one_line(tmp_path):
    video = tmp_path / "seq.avi"
    assert run_cli("synth", video, "--sequence", "right:2", "--seed", "1").returncode == 0
    (tmp_path / "seq.avi.timeline.csv").unlink()
    proc = run_cli("eval", video)
    assert proc.returncode == 2 and "--timeline" in proc.stderr and "Traceback" not in proc.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("start_s,end_s,label\n0,2,right\n3,1,up\n")
    proc = run_cli("eval", video, "--timeline", bad)
    assert proc.returncode == 2 and "line 3" in proc.stderr and "Traceback" not in proc.stderr
