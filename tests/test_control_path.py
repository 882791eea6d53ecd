"""Nothing blocks the daemon's loop: a camera that accepts the connection and never answers (at start and at a
reopen), a stdout nobody reads, a camera that appears after the daemon started. Real subprocesses of
``python -m edge_lrcn run``, real sockets, a real MJPEG camera."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time

import cv2
import numpy as np

from tests.conftest import Lines, launch
from tests.mjpeg_server import MjpegCamera


class SilentCamera:
    """A TCP listener that accepts connections and never says a word (a network camera hung in its firmware)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                self.conns.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


def stop(proc: subprocess.Popen) -> tuple[float, int, str]:
    """SIGTERM; how long the process took to end, its exit code and its stderr."""
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        return 99.0, proc.returncode, err
    return time.monotonic() - t0, proc.returncode, err


def stops_cleanly(proc: subprocess.Popen) -> str:
    """SIGTERM ends the daemon within 5 s, exit 0, without a traceback; its stderr."""
    took, rc, err = stop(proc)
    assert rc == 0 and took <= 5.0, (took, rc, err[-2000:])
    assert "Traceback" not in err
    return err


def assert_regular(times: list[float], interval: float, slack: float = 1.0) -> None:
    gaps = np.diff(times)
    assert len(gaps) >= 3 and gaps.max() < interval + slack, gaps


def test_a_camera_that_never_answers_at_start_is_offline_and_sigterm_ends_the_daemon(tmp_path):
    cam = SilentCamera()
    proc = launch("run", "--source", f"http://127.0.0.1:{cam.port}/video.mjpg", "--stats-interval", "1",
                  "--stall-timeout", "2", "--no-verify-model")
    lines = Lines(proc)
    try:
        assert lines.wait(lambda: len(lines.of("stats")) >= 5, 20), lines.items
        camera = [o for _, o in lines.of("camera")]
        assert [c["state"] for c in camera] == ["offline"] and "no answer" in camera[0]["reason"], camera
        assert_regular([t for t, _ in lines.of("stats")], 1.0)
        assert all(o["camera"] == "offline" for _, o in lines.of("stats"))
        stops_cleanly(proc)
    finally:
        proc.kill()
        cam.close()


def test_a_reopen_that_hangs_does_not_stop_stats_or_sigterm():
    cam = MjpegCamera(fps=20)
    proc = launch("run", "--source", cam.url, "--stats-interval", "1", "--stall-timeout", "1",
                  "--reopen-max-delay", "1", "--no-verify-model")
    lines = Lines(proc)
    try:
        assert lines.wait(lambda: any(o["state"] == "online" for _, o in lines.of("camera")), 20), lines.items
        cam.stall.set()  # connections stay open, no frame ever comes: the reopen blocks inside FFmpeg
        assert lines.wait(lambda: any(o["state"] == "offline" for _, o in lines.of("camera")), 10)
        t_off = time.monotonic()
        assert lines.wait(lambda: time.monotonic() - t_off > 5, 10)
        assert_regular([t for t, o in lines.of("stats") if t > t_off], 1.0)
        stops_cleanly(proc)
    finally:
        proc.kill()
        cam.close()


def _video(path, seconds: float, fps: float = 25.0) -> None:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (160, 120))
    rng = np.random.default_rng(0)
    for i in range(int(seconds * fps)):
        img = np.full((120, 160, 3), 40, np.uint8)
        cv2.rectangle(img, (i % 140, 40), (i % 140 + 20, 60), (255, 255, 255), -1)
        w.write(img + rng.integers(0, 8, img.shape, dtype=np.uint8))
    w.release()


def test_a_stdout_nobody_reads_does_not_block_sigterm(tmp_path):
    video = tmp_path / "v.avi"
    _video(video, 40)
    r, w = os.pipe()  # a pipe already full when the daemon starts: its first write() would block for ever
    os.set_blocking(w, False)
    try:
        while True:
            os.write(w, b"x" * 4096)
    except BlockingIOError:
        pass
    os.set_blocking(w, True)
    proc = launch("run", "--source", video, "--realtime", "--scores", "--no-verify-model", stdout=w)
    os.close(w)
    try:
        time.sleep(6)  # the camera line, then scores at 10 a second: all queued behind the blocked writer
        assert proc.poll() is None
        err = stops_cleanly(proc)
        assert "lines not written at shutdown" in err, err[-2000:]
    finally:
        proc.kill()
        os.close(r)


def test_a_camera_that_appears_after_start_comes_online_and_classifies():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there yet: connection refused
    proc = launch("run", "--source", f"http://127.0.0.1:{port}/stream.mjpg", "--scores", "--reopen-max-delay", "2",
                  "--no-verify-model")
    lines = Lines(proc)
    cam = None
    try:
        assert lines.wait(lambda: lines.of("camera"), 15), proc.stderr
        assert lines.of("camera")[0][1]["state"] == "offline"
        time.sleep(10)  # an observation window (the camera stays absent), not a wait for a condition
        assert proc.poll() is None, "a camera absent at start must not end the daemon"
        cam = MjpegCamera(fps=20, port=port)
        assert lines.wait(lambda: len(lines.of("scores")) >= 5, 20), lines.items
        assert [o["state"] for _, o in lines.of("camera")] == ["offline", "online"]
        stops_cleanly(proc)
    finally:
        proc.kill()
        if cam:
            cam.close()
