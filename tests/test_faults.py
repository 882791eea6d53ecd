"""Camera faults driven by a fake clock through a fault-injecting source; a real file cut while being read."""

from __future__ import annotations

import io
import logging
import os
import threading
import time

import numpy as np
import pytest

from edge_lrcn import config as C
from edge_lrcn.capture.camera import Camera
from edge_lrcn.capture.sources import Frame, Source, SourceReadError
from edge_lrcn.classify.regions import Regions
from edge_lrcn.daemon import Daemon
from edge_lrcn.errors import SourceError
from edge_lrcn.publish.stdout import StdoutSink
from tests.conftest import json_lines, launch, wait_until


class FakeClock:
    def __init__(self):
        self.t = 1000.0
        self.lock = threading.Lock()

    def __call__(self):
        with self.lock:
            return self.t

    def advance(self, dt):
        with self.lock:
            self.t += dt


class ScriptedSource(Source):
    """A live source following a script of steps: ("frames", n), ("frozen", n), ("stall",), ("error",), ("raise",).
    Each delivered frame advances the fake clock by one camera period (30 fps)."""

    live = True
    close_unblocks_read = True  # like picamera2's stop(): a stalled read returns when the camera is closed

    def __init__(self, script, clock, tag):
        self.script = list(script)
        self.clock = clock
        self.description = f"fake camera {tag}"
        self.closed = threading.Event()
        self.seq = 0
        self.frozen_t = None
        self.pixels = np.random.default_rng(tag).integers(0, 255, (120, 160, 3), dtype=np.uint8)

    def read(self):
        while self.script:
            step = self.script[0]
            if step[0] in ("frames", "frozen") and step[1] > 0:
                self.script[0] = (step[0], step[1] - 1)
                self.clock.advance(1 / 30)
                if step[0] == "frozen":
                    self.frozen_t = self.frozen_t or self.clock()
                    t = self.frozen_t
                else:
                    t = self.clock()
                self.seq += 1
                time.sleep(0.0005)
                return Frame(self.pixels, t, self.seq)
            if step[0] in ("frames", "frozen"):
                self.script.pop(0)
                continue
            if step[0] == "stall":
                self.closed.wait(30)
                raise SourceReadError("closed while stalled")
            if step[0] == "error":
                self.script.pop(0)
                raise SourceReadError(f"{self.description}: no frame")
            if step[0] == "raise":
                self.script.pop(0)
                raise RuntimeError("driver bug")
        self.closed.wait(30)
        raise SourceReadError("script done")

    def close(self):
        self.closed.set()


def settings(**over):
    return C.resolve({"source": "fake", "stats_interval": 0, "stall_timeout": 5.0, "reopen_max_delay": 4.0, **over},
                     None, environ={})


def run_daemon(model, scripts, until, clock=None, source_cls=None, **over):
    """Run the daemon on a fault-injecting camera in a thread; ``scripts`` is a list, one per (re)open: a script or
    "gone" (open fails). Time is a fake clock: each frame advances it, and so does each wait between reopens."""
    clock = clock or FakeClock()
    source_cls = source_cls or ScriptedSource
    opened, waits, attempts = [], [], []
    plan = list(scripts)

    def factory():
        attempts.append(clock())
        step = plan.pop(0) if plan else [("stall",)]
        if step == "gone":
            raise SourceError("camera fake does not exist")
        src = source_cls(step, clock, len(opened))
        opened.append(src)
        return src

    def sleep(seconds):
        waits.append(seconds)
        clock.advance(seconds)

    s = settings(**over)
    out = io.StringIO()
    camera = Camera(factory, s.camera, clock=clock, sleep=sleep, poll=0.01)
    d = Daemon(s, Regions(model, (), s.run.stride, s.events.cut_threshold), [StdoutSink(out)], camera, clock=clock)
    rc = []
    th = threading.Thread(target=lambda: rc.append(d.run()), daemon=True)
    th.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not until(d, clock, opened):
        time.sleep(0.01)
    ok = until(d, clock, opened)
    d.request_stop()
    th.join(20)
    assert ok, f"condition not reached; waits {waits}, stdout {out.getvalue()[-2000:]}"
    assert not th.is_alive() and rc == [0]
    d.waits, d.attempts = waits, attempts
    return d, json_lines(out.getvalue()), opened


def camera_states(objs):
    return [(o["state"], o.get("reason", "")) for o in objs if o["type"] == "camera"]


def test_stall_marks_camera_offline_and_reopens(model):
    def until(d, clock, opened):
        if len(opened) == 1 and opened[0].script and opened[0].script[0] == ("stall",):
            clock.advance(0.5)  # time passes while the camera delivers nothing
        return d.camera.online and len(opened) == 2 and opened[1].seq > 5

    d, objs, opened = run_daemon(model, [[("frames", 60), ("stall",)], [("frames", 200)]], until)
    states = camera_states(objs)
    assert [s for s, _ in states] == ["online", "offline", "online"] and "no frame for" in states[1][1]
    assert opened[0].closed.is_set()


class NoConcurrentCloseSource(ScriptedSource):
    """Like OpenCV's VideoCapture: a stalled read returns on its own after a (real) timeout, and close() must not
    run while a read is in progress. Records any overlap."""

    close_unblocks_read = False

    def __init__(self, *a):
        super().__init__(*a)
        self.in_read = False
        self.overlap = False

    def read(self):
        self.in_read = True
        try:
            if self.script and self.script[0] == ("stall",):
                time.sleep(1.5)  # the driver's own read timeout
                raise SourceReadError("select() timeout")
            return super().read()
        finally:
            self.in_read = False

    def close(self):
        self.overlap |= self.in_read
        super().close()


def test_a_source_stuck_in_read_is_closed_only_after_the_read_returns(model):
    def until(d, clock, opened):
        if len(opened) == 1 and opened[0].script and opened[0].script[0] == ("stall",):
            clock.advance(0.5)
        return d.camera.online and len(opened) == 2 and opened[1].seq > 5 and opened[0].closed.is_set()

    d, objs, opened = run_daemon(model, [[("frames", 60), ("stall",)], [("frames", 200)]], until,
                                 source_cls=NoConcurrentCloseSource)
    assert [s for s, _ in camera_states(objs)] == ["online", "offline", "online"]
    assert opened[0].closed.is_set() and not opened[0].overlap
    assert not any(o.overlap for o in opened)


def test_frozen_timestamps_are_a_stall(model):
    def until(d, clock, opened):
        return len(opened) == 2 and d.camera.online and opened[1].seq > 5

    d, objs, opened = run_daemon(model, [[("frames", 40), ("frozen", 400)], [("frames", 100)]], until)
    states = camera_states(objs)
    assert [s for s, _ in states] == ["online", "offline", "online"] and "frozen timestamps" in states[1][1]
    # detected after stall_timeout (5 s = 150 frames at 30 fps) of frozen frames, not at the first one
    assert 140 <= 400 - opened[0].script[0][1] <= 175


@pytest.mark.parametrize("fault,reason", [("error", "no frame"), ("raise", "RuntimeError: driver bug")])
def test_read_errors_and_exceptions_reopen(model, fault, reason):
    def until(d, clock, opened):
        return len(opened) == 2 and d.camera.online and opened[1].seq > 3

    d, objs, _ = run_daemon(model, [[("frames", 30), (fault,)], [("frames", 100)]], until)
    states = camera_states(objs)
    assert [s for s, _ in states] == ["online", "offline", "online"] and reason in states[1][1]


def test_camera_gone_for_a_while_backs_off_capped_and_recovers(model, caplog):
    def until(d, clock, opened):
        return len(opened) == 2 and d.camera.online and opened[1].seq > 3

    caplog.set_level(logging.INFO, logger="edge_lrcn")
    d, objs, _ = run_daemon(model, [[("frames", 30), ("error",)], *["gone"] * 25, [("frames", 100)]], until)
    # doubling, capped at reopen_max_delay (attempts[0] opened the camera, [1] was 0.5 s after the fault)
    assert np.allclose(np.diff(d.attempts[1:7]), [1.0, 2.0, 4.0, 4.0, 4.0], atol=0.03), d.attempts
    assert max(d.waits) <= 0.01  # the loop waits out the backoff in poll-sized steps, never blocked by it
    assert d.camera.reopens == 26
    assert [s for s, _ in camera_states(objs)] == ["online", "offline", "online"]
    # the same failure 25 times: logged the first time and the 21st, not 25 times
    loud = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "reopening" in r.getMessage()]
    assert len(loud) == 2 and "(attempt 1;" in loud[0] and "(attempt 21;" in loud[1], loud


def test_open_activity_is_closed_when_the_camera_drops(model):
    """With the real model on a moving scene, the activity on at the fault ends with reason camera."""
    from edge_lrcn.convert.synth import Scene

    scene = Scene.random("right", np.random.default_rng(4))

    class MovingSource(ScriptedSource):
        def read(self):
            f = super().read()
            f.pixels = scene.render(f.t - 1000.0)
            return f

    def until(d, clock, opened):
        return len(opened) == 2 and opened[1].seq > 3

    _, objs, _ = run_daemon(model, [[("frames", 240), ("error",)], [("frames", 30)]], until,
                            source_cls=MovingSource)
    kinds = [(o["type"], o.get("label"), o.get("reason")) for o in objs if o["type"].startswith("activity")]
    assert kinds and kinds[0][:2] == ("activity_start", "right"), kinds
    assert ("activity_end", "right", "camera") in kinds


def _realtime_daemon(video):
    proc = launch("run", "--source", video, "--realtime", "--stats-interval", "1000")
    # started and reading: the video is open in the process (its start-up takes seconds on a busy machine)
    assert wait_until(lambda: _has_open(proc.pid, video) or proc.poll() is not None, 60), "the video was not opened"
    return proc


def _has_open(pid: int, path) -> bool:
    fds = f"/proc/{pid}/fd"
    try:
        return any(os.readlink(f"{fds}/{fd}") == os.path.realpath(path) for fd in os.listdir(fds))
    except OSError:
        return False


def test_file_truncated_while_read_ends_cleanly(tmp_path):
    from edge_lrcn.convert.synth import make_sequence

    video = tmp_path / "v.avi"
    make_sequence(video, [("left", 6.0)], seed=3)
    proc = _realtime_daemon(video)
    time.sleep(1.5)  # it reads in real time: 1.5 s of the 6 s, less than the half that stays
    with open(video, "r+b") as f:
        f.truncate(os.path.getsize(video) // 2)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    stats = [o for o in json_lines(out) if o["type"] == "stats"][-1]
    assert stats["frames_in"] < 150 and stats["frames_skipped"] > 0
    assert stats["frames_in"] + stats["frames_skipped"] == 150
    assert "Traceback" not in err


def test_file_deleted_while_read_plays_to_the_end(tmp_path):
    from edge_lrcn.convert.synth import make_sequence

    video = tmp_path / "v.avi"
    make_sequence(video, [("up", 4.0)], seed=3)
    proc = _realtime_daemon(video)
    time.sleep(0.5)  # it reads in real time: the file goes while it is being read
    video.unlink()  # the open descriptor keeps the data
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    stats = [o for o in json_lines(out) if o["type"] == "stats"][-1]
    assert stats["frames_in"] == 100 and stats["frames_skipped"] == 0


def test_sighup_reloads_settings_and_sinks_keeping_the_window(tmp_path):
    import signal

    from tests.mjpeg_server import MjpegCamera

    cam = MjpegCamera(fps=20)
    cfg = tmp_path / "c.toml"
    top = f'source = "{cam.url}"\n'
    cfg.write_text(top + "[events]\nscores = false\nstats_interval = 0\n")
    proc = launch("run", "--config", cfg)
    lines: list[tuple[float, str]] = []
    reader = threading.Thread(target=lambda: [lines.append((time.monotonic(), ln)) for ln in proc.stdout], daemon=True)
    reader.start()
    try:
        # the daemon streams, then its window fills: 2 s at 10 fps (time passing is what is waited for here)
        assert wait_until(lambda: any('"camera"' in ln and '"online"' in ln for _, ln in lines), 60), lines
        time.sleep(3.0)
        assert not [ln for _, ln in lines if '"scores"' in ln]
        cfg.write_text(top + "[events]\nscores = true\nenter_threshold = 0.9\nstats_interval = 0\n")
        t_hup = time.monotonic()
        proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: any('"scores"' in ln for _, ln in lines), 10), "no scores after the reload"
        scores = [t for t, ln in lines if '"scores"' in ln]
        # a kept window gives scores at the next kept frame; a dropped one would need 20 frames (2 s) first
        assert scores[0] - t_hup < 1.0, scores[0] - t_hup
        cfg.write_text(top + "[events]\nscores = true\nstats_interval = -1\n")
        proc.send_signal(signal.SIGHUP)  # a bad config is logged and the old settings stay
        time.sleep(0.5)  # an observation window: the daemon survives the bad reload
        assert proc.poll() is None
        # a setting that only a restart applies is named as such, and the live ones beside it still apply
        cfg.write_text(top + "stride = 3\nthreads = 1\n[events]\nscores = false\nstats_interval = 0\n")
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)  # the reload is applied (nothing on stdout says so) ...
        n_scores = len([ln for _, ln in lines if '"scores"' in ln])
        time.sleep(1.0)  # ... then an observation window: no scores come in it
        assert len([ln for _, ln in lines if '"scores"' in ln]) == n_scores, "scores = false was not applied"
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0
        assert "reloaded settings" in err and "reload failed, keeping the old settings" in err
        restart = [ln for ln in err.splitlines() if "needs a restart" in ln]
        assert len(restart) == 1 and "threads, stride changed" in restart[0], err
    finally:
        if proc.poll() is None:
            proc.kill()
        cam.close()


def test_stats_keep_flowing_while_the_camera_is_offline(model):
    def until(d, clock, opened):
        return d.camera.reopens >= 4

    d, objs, _ = run_daemon(model, [[("frames", 30), ("error",)], "gone", "gone", "gone", "gone", "gone"],
                            until, stats_interval=1.0)
    offline_stats = [o for o in objs if o["type"] == "stats" and o["camera"] == "offline"]
    assert offline_stats and offline_stats[-1]["camera_reopens"] >= 2
