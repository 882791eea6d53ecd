"""The live view's side of the frame loop: the loop hands over references (the newest frame, the newest window's
probabilities) and never waits; JPEGs are encoded by the viewers' threads, once per new frame, and only while
somebody watches (no viewer: two attribute assignments per frame)."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np

from ..capture.codec import full_pixels
from ..publish.clips import fit_width

MAX_VIEWERS = 4
LIVE_WIDTH = 960
JPEG_QUALITY = 75
RESEND_S = 1.0  # Chrome shows a multipart part only when the next one begins: the last frame is sent again


class LiveFeed:
    """Frame loop side: :meth:`seen`. Viewer side: :meth:`jpeg`, :meth:`viewer`, :meth:`release`."""

    def __init__(self, max_viewers: int = MAX_VIEWERS):
        self._frame = None
        self.probs: dict[str | None, np.ndarray] = {}  # region (None without regions) -> its last window's
        self.frames_seen = 0
        self._viewers = threading.BoundedSemaphore(max_viewers)
        self.viewers = 0
        self._lock = threading.Lock()
        self._jpeg: tuple[int, bytes] | None = None  # (frame seq, bytes): encoded once for every viewer
        self.encoded = 0

    # ---- the frame loop: references only, never a lock ------------------------------------------------------------
    def seen(self, frame, probs: dict) -> None:
        """``probs``: the windows this frame completed, region -> probabilities (a new dict: readers never see
        one half updated)."""
        if frame.pixels is not None:
            self._frame = frame
        if probs:
            self.probs = {**self.probs, **probs}

    # ---- viewer threads -------------------------------------------------------------------------------------------
    def viewer(self) -> bool:
        """Take a viewer slot; False when MAX_VIEWERS already watch."""
        if not self._viewers.acquire(blocking=False):
            return False
        with self._lock:
            self.viewers += 1
        return True

    def release(self) -> None:
        with self._lock:
            self.viewers -= 1
        self._viewers.release()

    @property
    def size(self) -> tuple[int, int] | None:
        f = self._frame
        return None if f is None else (f.pixels.shape[1] * f.scale, f.pixels.shape[0] * f.scale)

    def jpeg(self) -> tuple[int, bytes] | None:
        """The newest frame as JPEG (seq, bytes), encoded at most once per frame whoever asks."""
        frame = self._frame
        if frame is None:
            return None
        with self._lock:
            if self._jpeg is None or self._jpeg[0] != frame.seq:
                # a frame decoded reduced for the model is decoded again whole (only while somebody watches)
                ok, buf = cv2.imencode(".jpg", fit_width(full_pixels(frame), LIVE_WIDTH),
                                       [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                if ok:
                    self._jpeg = (frame.seq, buf.tobytes())
                    self.encoded += 1
            return self._jpeg

    def collect(self, seconds: float, stopping: threading.Event) -> tuple[list[np.ndarray], list[float]]:
        """The frames of the next ``seconds`` (source time) as JPEG, encoded on the caller's thread (a recording)."""
        jpegs: list[np.ndarray] = []
        times: list[float] = []
        seq, deadline = None, time.monotonic() + seconds + 5.0
        while not stopping.is_set() and time.monotonic() < deadline:
            frame = self._frame
            if frame is not None and frame.seq != seq:
                if times and frame.t - times[0] >= seconds:
                    break
                seq = frame.seq
                jpegs.append(cv2.imencode(".jpg", full_pixels(frame), [cv2.IMWRITE_JPEG_QUALITY, 92])[1])
                times.append(frame.t)
            stopping.wait(0.01)
        return jpegs, times

    def stream(self, write, stopping: threading.Event, period: float = 0.03) -> None:
        """Write multipart parts (``write(bytes)``) as new frames come, the last one again every RESEND_S, until
        ``stopping`` or a write fails (the viewer left or stalled past the socket's timeout)."""
        sent_seq, sent_at = None, 0.0
        while not stopping.is_set():
            got = self.jpeg()
            now = time.monotonic()
            if got is not None and (got[0] != sent_seq or now - sent_at > RESEND_S):
                write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(got[1]) + got[1]
                      + b"\r\n")
                sent_seq, sent_at = got[0], now
            stopping.wait(period)
