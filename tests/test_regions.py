"""Regions of interest: each region of one camera's view is classified as a stream of its own (its window, resets and
tracker), and the training clips are cut as the daemon cuts a region. Real synthetic videos of two views side by
side (convert/synth.py ``make_panels``), the real daemon, the embedded model, a real broker."""

from __future__ import annotations

import json
import signal

import cv2
import numpy as np
import pytest

from edge_lrcn.classify.preprocess import aspect_mismatch, box_pixels, crop_box
from edge_lrcn.convert.synth import make_panels
from tests.conftest import json_lines, launch, run_cli, wait_until

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


def regions_toml(*regions, **top) -> str:
    lines = [f"{k} = {json.dumps(v)}" for k, v in top.items()]
    for name, box in regions:
        lines += ["[[regions]]", f"name = {json.dumps(name)}", f"box = {json.dumps(list(box))}"]
    return "\n".join(lines) + "\n"


def starts(objs, region):
    return [o["label"] for o in objs if o["type"] == "activity_start" and o.get("region") == region]


@pytest.mark.needs("mosquitto")
def test_two_regions_with_different_motion_give_different_events(two_views, tmp_path):
    """The left half moves right, the right half is still and then moves up: each region says its own activity;
    the whole frame does not (it never says right). Over MQTT each region has its own retained state and Home
    Assistant entities; each clip's sidecar names its region, and ``dataset add`` cuts it."""
    from tests.broker import Broker
    from tests.test_mqtt import Subscriber

    whole = json_lines(run_cli("run", "--source", two_views, "--stats-interval", "0").stdout)
    assert "right" not in starts(whole, None)
    cfg = tmp_path / "c.toml"
    cfg.write_text(regions_toml(("left", LEFT), ("right", RIGHT), source=str(two_views), device_id="cam"))
    broker = Broker(tmp_path / "broker").start()
    try:
        proc = run_cli("run", "--config", cfg, "--sink", "stdout", "--sink", f"mqtt://127.0.0.1:{broker.port}",
                       "--clips-dir", tmp_path / "clips", "--stats-interval", "0", "--pre-roll", "1")
        assert proc.returncode == 0, proc.stderr[-2000:]
        objs = json_lines(proc.stdout)
        assert starts(objs, "left") == ["right"]
        assert "up" in starts(objs, "right") and "right" not in starts(objs, "right")
        assert not starts(objs, None)  # every event names its region
        late = Subscriber(broker.port)
        assert late.wait_for(lambda: late.on("edge-lrcn/cam/activity/left") and late.on(
            "edge-lrcn/cam/activity/right") and late.on("homeassistant/device/edge_lrcn_cam/config"), 10)
        assert not late.on("edge-lrcn/cam/activity")  # several regions: no whole-frame state
        state = json.loads(late.on("edge-lrcn/cam/activity/left")[0][0])
        cmps = json.loads(late.on("homeassistant/device/edge_lrcn_cam/config")[0][0])["cmps"]
        late.close()
    finally:
        broker.stop()
    assert state["region"] == "left" and state["label"] == "none"  # the file ended: closed
    assert cmps["sensor_activity_left"]["state_topic"] == "edge-lrcn/cam/activity/left"
    assert "binary_sensor_right_up" in cmps and "sensor_activity" not in cmps
    up = next(o for o in objs if o["type"] == "activity_start" and o.get("region") == "right" and o["label"] == "up")
    sidecar = (tmp_path / "clips" / up["clip"]).with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    assert meta["region"] == "right" and meta["box"] == list(RIGHT) and "_right_up" in up["clip"]
    added = run_cli("dataset", "add", sidecar, "--data", tmp_path / "data")
    assert added.returncode == 0, added.stderr
    (clip,) = [p for p in (tmp_path / "data" / "up").rglob("*") if p.is_file()]
    assert clip.parent.parent == tmp_path / "data" / "up"  # DATA/up/<day>-<camera>/
    assert frames_of(clip)[0].shape == (120, 160, 3)  # the region's crop of the 320x120 clip


def test_a_region_change_by_sighup(tmp_path):
    """Regions changed in the file and SIGHUP: the region that went ends its activity (reason ``regions``), the new
    one starts with an empty window and its events follow; no restart."""
    import signal
    import threading

    from tests.conftest import launch, wait_until

    video = tmp_path / "long.avi"
    make_panels(video, [[("right", 30.0)], [("up", 30.0)]], seed=5)
    cfg = tmp_path / "c.toml"
    top = {"source": str(video), "realtime": True}
    cfg.write_text(regions_toml(("left", LEFT), **top))
    with open(tmp_path / "daemon.log", "w") as log:
        proc = launch("run", "--config", cfg, "--log-level", "INFO", "--stats-interval", "0", stderr=log)
        objs: list[dict] = []

        def read():
            for line in proc.stdout:
                objs.extend(json_lines(line))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            assert wait_until(lambda: starts(objs, "left"), 60)
            cfg.write_text(regions_toml(("door", RIGHT), **top))
            proc.send_signal(signal.SIGHUP)
            assert wait_until(lambda: starts(objs, "door"), 60)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
            reader.join(10)
        finally:
            proc.kill()
    ends = [o for o in objs if o["type"] == "activity_end" and o.get("region") == "left"]
    assert starts(objs, "left") == ["right"] and ends[0]["reason"] == "regions"
    assert starts(objs, "door")[0] == "up"
    assert not [o for o in objs[objs.index(ends[0]) + 1:] if o.get("region") == "left"]  # the region went
    assert "regions: door" in (tmp_path / "daemon.log").read_text()


@pytest.mark.parametrize("box, name, what", [([0.5, 0.0, 1.2, 1.0], "door", "leaves the frame"),
                                             ([0.5, 0.5, 0.5, 1.0], "door", "empty"),
                                             ([0.0, 0.0, 0.5, 1.0], "a/b", "not allowed in an MQTT topic"),
                                             ([0.0, 0.0, 0.5, 1.0], "a+b", "not allowed in an MQTT topic")])
def test_a_bad_region_is_exit_2_naming_the_key(two_views, tmp_path, box, name, what):
    cfg = tmp_path / "c.toml"
    cfg.write_text(regions_toml((name, box), source=str(two_views)))
    proc = run_cli("run", "--config", cfg)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "regions" in proc.stderr and what in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_the_bundle_records_the_clips_shape_and_run_warns_about_a_region_of_another(tiny_bundle, tiny_data,
                                                                                    tmp_path):
    """``convert`` records the frame size of the clips (160x120 here); a region four times taller than wide is
    stretched very differently to the model's input, and ``run`` says so, once, naming the region."""
    from edge_lrcn.model.bundle import read_bundle

    bundle, report = tiny_bundle
    assert report["dataset"]["clip_shapes"] == {"120x160": report["dataset"]["clips"]}
    assert read_bundle(bundle).clip_shape == (120, 160)
    video = next(tiny_data.glob("*/*.avi"))
    cfg = tmp_path / "c.toml"
    cfg.write_text(regions_toml(("pole", (0.0, 0.0, 0.25, 1.0)), ("wide", (0.0, 0.0, 1.0, 1.0)), source=str(video),
                                model=str(bundle), verify_model=False))
    proc = run_cli("run", "--config", cfg, "--stats-interval", "0")
    assert proc.returncode == 0, proc.stderr[-2000:]
    warned = [line for line in proc.stderr.splitlines() if "WARNING" in line and "aspect" in line]
    assert len(warned) == 1 and "region pole is 40x120 pixels" in warned[0] and "record --region pole" in warned[0]


def test_changing_the_regions_keeps_the_window_of_a_region_that_did_not_move(two_views, default_bundle):
    """``Regions.set_regions`` (a reload): an unchanged region keeps its window and tracker state; a moved one and a
    removed one end (their resets are returned); a new one starts empty. One pacer decision and one decoded frame
    feed every region."""
    from edge_lrcn.capture.sources import VideoFileSource
    from edge_lrcn.classify.regions import Regions
    from edge_lrcn.model.loader import load_bundle, open_model

    regions = Regions(open_model(load_bundle(str(default_bundle))), [("a", LEFT), ("b", RIGHT)], 1, 0.07)
    with VideoFileSource(two_views) as src:
        for _ in range(75):  # 3 s at 25 fps: 30 kept frames, both windows full
            regions.push(src.read())
        full = {name: clf.window.count for name, clf in regions.streams.items()}
        assert regions.counts.frames == 75 and regions.counts.kept == 30 and min(full.values()) >= 20
        ended = regions.set_regions([("a", LEFT), ("b", (0.5, 0.0, 1.0, 0.5)), ("c", (0.25, 0.0, 0.75, 1.0))])
        assert sorted(name for name, reset in ended) == ["b"] and ended[0][1].reason == "regions"
        assert regions.streams["a"].window.count == full["a"]  # kept
        assert regions.streams["b"].window.count == 0 and regions.streams["c"].window.count == 0
        kept, steps = regions.push(src.read())
        assert [s.region for s in steps] in ([], ["a", "b", "c"])
        gone = regions.set_regions([])  # none: the whole frame, as without regions
    assert sorted(name for name, _ in gone) == ["a", "b", "c"] and regions.names == [None]


def test_the_page_lists_the_regions_each_with_its_own_activity_and_scores(two_views, tmp_path):
    """``/api/status`` of the device page lists the configured regions (names, boxes), each with its tracker's
    activity and its own last window's scores, not one whole-frame region."""
    from tests.broker import free_port
    from tests.test_page import request

    port = free_port()
    cfg = tmp_path / "c.toml"
    cfg.write_text(regions_toml(("left", LEFT), ("right", RIGHT), source=str(two_views)))
    proc = launch("run", "--config", cfg, "--realtime", "--http", f"127.0.0.1:{port}", "--stats-interval", "0")
    try:
        def status():  # once both regions have scores and the left one says its motion
            try:
                got = request(port, "GET", "/api/status")[1]
            except OSError:
                return None
            ready = all(r["scores"] for r in got["regions"]) and got["regions"][0]["activity"] == "right"
            return got if ready else None
        got = {}
        assert wait_until(lambda: got.update(status() or {}) or got or proc.poll() is not None, 60, 0.2)
        assert got, f"no scores for every region: {proc.poll()} {proc.stderr.read() if proc.poll() else ''}"
        regions = {r["name"]: r for r in got["regions"]}
        assert list(regions) == ["left", "right"]
        assert regions["left"]["box"] == list(LEFT) and regions["right"]["box"] == list(RIGHT)
        assert regions["left"]["scores"] != regions["right"]["scores"]  # each region its own window
        assert got["activity"] == "right" and regions["right"]["activity"] != "right"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err, err[-2000:]
