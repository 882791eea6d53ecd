"""A live MJPEG-over-HTTP camera on loopback (what IP cameras serve), with faults the tests can switch on:
``stall`` (connection open, no frames), ``down`` (connections refused/closed)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

from edge_lrcn.convert.synth import Scene


class MjpegCamera:
    def __init__(self, label: str = "right", fps: float = 15.0, seed: int = 0, size=(320, 240), port: int = 0):
        self.scene = Scene.random(label, np.random.default_rng(seed), *size)
        self.fps = fps
        self.stall = threading.Event()
        self.down = threading.Event()
        self.frames_sent = 0
        self.sent_at: list[float] = []  # when each frame went out (monotonic), every connection
        self.streams = 0  # connections being sent frames now
        self.lock = threading.Lock()
        self.t0 = time.monotonic()
        cam = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                if cam.down.is_set():
                    self.close_connection = True
                    return
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                due = time.monotonic()  # a camera's clock: frame n is due at the start + n / fps
                with cam.lock:
                    cam.streams += 1
                try:
                    while not cam.down.is_set():
                        if cam.stall.is_set():
                            time.sleep(0.05)
                            due = time.monotonic()
                            continue
                        img = cam.scene.render(time.monotonic() - cam.t0)
                        ok, jpg = cv2.imencode(".jpg", img)
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                         + str(len(jpg)).encode() + b"\r\n\r\n" + jpg.tobytes() + b"\r\n")
                        cam.frames_sent += 1
                        cam.sent_at.append(time.monotonic())
                        # paced by the schedule, not by a sleep after the work: rendering and encoding on a busy
                        # machine (tests running beside this one) would slow the stream below its fps otherwise.
                        # More than a frame behind (a starved process): start a new schedule, as a camera drops
                        # frames rather than send a burst
                        due += 1.0 / cam.fps
                        now = time.monotonic()
                        if due > now:
                            time.sleep(due - now)
                        elif now - due > 1.0 / cam.fps:
                            due = now
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with cam.lock:
                        cam.streams -= 1

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/stream.mjpg"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.down.set()
        self.server.shutdown()
        self.server.server_close()
