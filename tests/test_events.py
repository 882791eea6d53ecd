import numpy as np
import pytest

from edge_lrcn.errors import UsageError
from edge_lrcn.events import ActivityTracker, EventMaker, EventSettings

LABELS = ["a", "b", "c"]


def probs(label, p):
    out = np.full(3, (1 - p) / 2, np.float32)
    out[LABELS.index(label)] = p
    return out


def feed(tracker, seq, t0=0.0, dt=0.1):
    events, t = [], t0
    for label, p in seq:
        events += tracker.update(probs(label, p), t)
        t += dt
    return events, t


def make(**kw):
    s = EventSettings(**{"enter_threshold": 0.6, "exit_threshold": 0.4, "smoothing": 1, "min_duration": 0.5, **kw})
    return ActivityTracker(LABELS, s, EventMaker("dev", "m0"))


def test_start_needs_min_duration_and_end_needs_exit_threshold():
    tr = make()
    ev, t = feed(tr, [("a", 0.9)] * 5)  # 0.0 .. 0.4 s: not yet 0.5 s
    assert ev == [] and tr.state()["label"] == "none"
    ev, t = feed(tr, [("a", 0.9)], t)
    assert [e["type"] for e in ev] == ["activity_start"] and ev[0]["label"] == "a" and ev[0]["t"] == 0.5
    assert tr.state()["label"] == "a" and tr.state()["since"] == ev[0]["ts"]
    ev, t = feed(tr, [("a", 0.45)] * 10, t)  # between the thresholds: stays on (hysteresis)
    assert ev == []
    ev, t = feed(tr, [("a", 0.3)], t)
    assert [e["type"] for e in ev] == ["activity_end"]
    assert ev[0]["label"] == "a" and ev[0]["peak_confidence"] == pytest.approx(0.9)
    assert ev[0]["duration_s"] == pytest.approx(1.6 - 0.5, abs=1e-6)  # ended at t=1.6, started at 0.5
    assert tr.state()["label"] == "none"


def test_flicker_shorter_than_min_duration_never_starts():
    tr = make()
    ev, _ = feed(tr, [("a", 0.9), ("a", 0.9), ("b", 0.9), ("a", 0.9), ("b", 0.9)] * 4)
    assert ev == []


def test_switch_closes_then_starts_the_new_label():
    tr = make(min_duration=0.0)
    ev, t = feed(tr, [("a", 0.9)] * 3 + [("b", 0.9)] * 3)
    assert [(e["type"], e["label"]) for e in ev] == [("activity_start", "a"), ("activity_end", "a"),
                                                     ("activity_start", "b")]


def test_smoothing_averages_windows():
    # the mean is over the windows seen so far (up to 3): "a" starts on the first window; one stray "b" window
    # does not end it, because the mean of "a" stays at (0.9 + 0.05) / 2 = 0.475 >= exit_threshold
    tr = make(smoothing=3, min_duration=0.0)
    ev, _ = feed(tr, [("a", 0.9), ("b", 0.9), ("a", 0.9)])
    assert [(e["type"], e["label"], e["t"]) for e in ev] == [("activity_start", "a", 0.0)]
    # without smoothing the stray window would have switched labels
    tr1 = make(smoothing=1, min_duration=0.0)
    ev1, _ = feed(tr1, [("a", 0.9), ("b", 0.9), ("a", 0.9)])
    assert [e["label"] for e in ev1 if e["type"] == "activity_start"] == ["a", "b", "a"]
    # enter at 0.7, with a leading "b" window:
    tr3 = make(smoothing=3, min_duration=0.0, enter_threshold=0.7)
    ev3, _ = feed(tr3, [("b", 0.9), ("a", 0.9), ("a", 0.9), ("a", 0.9)])
    # means of "a": 0.05, 0.475, 0.617, 0.9 -> "b" starts first (0.9), ends when its mean falls below 0.4 at
    # window 3 (0.333), and "a" starts at window 4 (0.9 >= 0.7)
    assert [(e["type"], e["label"]) for e in ev3] == [("activity_start", "b"), ("activity_end", "b"),
                                                      ("activity_start", "a")]
    assert ev3[-1]["t"] == pytest.approx(0.3)


def test_windows_that_agree_start_before_the_average_does():
    """``agree``: k windows in a row that each rank one label first with at least enter_threshold start it, while
    the 12-window mean (pulled down by the unsure windows before) is still below enter_threshold."""
    unsure = [("b", 0.4), ("c", 0.4), ("b", 0.4)]
    sure = [("a", 0.8)] * 3
    tr = make(smoothing=12, min_duration=0.0, agree=3)
    ev, _ = feed(tr, unsure + sure)
    assert [(e["type"], e["label"], e["t"]) for e in ev] == [("activity_start", "a", pytest.approx(0.5))]
    assert ev[0]["confidence"] == pytest.approx(0.8)  # the last window's probability: the mean was 0.5
    off, _ = feed(make(smoothing=12, min_duration=0.0, agree=0), unsure + sure)
    assert off == []  # the mean of "a" is 0.4 + ... below 0.6: without the rule nothing starts yet
    # two sure windows are not three; one window of another label in between breaks the run
    assert feed(make(smoothing=12, min_duration=0.0, agree=3), unsure + sure[:2])[0] == []
    broken = unsure + sure[:2] + [("b", 0.7)] + sure[:2]
    assert feed(make(smoothing=12, min_duration=0.0, agree=3), broken)[0] == []
    # a window below enter_threshold breaks it too, and min_duration still applies to a label the rule makes lead
    assert feed(make(smoothing=12, min_duration=0.0, agree=3), unsure + [("a", 0.8), ("a", 0.55), ("a", 0.8)])[0] == []
    ev, _ = feed(make(smoothing=12, min_duration=0.2, agree=3), unsure + sure + [("a", 0.8)] * 2)
    assert [e["t"] for e in ev] == [pytest.approx(0.7)]


def test_close_and_reset_end_the_open_activity_with_a_reason():
    tr = make(min_duration=0.0)
    feed(tr, [("c", 0.95)] * 2)
    ev = tr.close(3.0, reason="shutdown")
    assert ev[0]["type"] == "activity_end" and ev[0]["reason"] == "shutdown" and ev[0]["duration_s"] == 3.0
    assert tr.close(4.0) == []
    feed(tr, [("c", 0.95)] * 2, t0=10)
    ev = tr.reset(11.0, "camera")
    assert ev[0]["reason"] == "camera" and tr.state()["label"] == "none"


def test_every_object_carries_the_common_keys():
    tr = make(min_duration=0.0)
    ev, _ = feed(tr, [("a", 0.9)])
    e = ev[0]
    assert {"type", "v", "device", "ts", "model"} <= set(e) and e["ts"].endswith("Z") and e["v"] == 1
    sc = tr.scores(0.0)
    assert sc["type"] == "scores" and set(sc["scores"]) == set(LABELS)


@pytest.mark.parametrize("kw", [dict(enter_threshold=0.3, exit_threshold=0.5), dict(smoothing=0),
                                dict(min_duration=-1.0), dict(exit_threshold=0.0)])
def test_bad_settings_are_usage_errors(kw):
    """The settings layer refuses what the tracker cannot work with (each setting alone, and the threshold order)."""
    from edge_lrcn import config as C

    with pytest.raises(UsageError):
        C.resolve({"enter_threshold": 0.6, "exit_threshold": 0.4, **kw}, None, environ={})
