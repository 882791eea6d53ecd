"""JSON lines on stdout, written by a thread of their own: a consumer that stops reading fills the pipe and blocks
``write()``, and that must block the writer thread, never the daemon's loop (which then drops and counts lines)."""

from __future__ import annotations

import json
import logging
import os
import queue
import sys
import threading
import time

from .sink import Kind, Sink

log = logging.getLogger(__name__)

QUEUE_LINES = 1000  # lines waiting for a slow reader; more are dropped and counted
STUCK_S = 0.5  # a flush gives up when the reader took no line for this long


class StdoutSink(Sink):
    """Events, stats, scores and camera changes, one JSON object per line (the retained state is MQTT's business).

    ``stream`` is a file object; when it has a file descriptor the lines go straight to it with ``os.write`` (no
    Python buffer left for the interpreter to flush, and block on, at exit)."""

    name = "stdout"
    KINDS = {Kind.EVENT, Kind.STATS, Kind.SCORES, Kind.CAMERA}

    def __init__(self, stream=None, queue_lines: int = QUEUE_LINES):
        self.stream = stream or sys.stdout
        self.fd = self._fd(self.stream)
        self.broken = False
        self.dropped = 0
        self.q: queue.Queue = queue.Queue(maxsize=queue_lines)
        self.thread = threading.Thread(target=self._run, name="stdout", daemon=True)
        self.thread.start()

    @staticmethod
    def _fd(stream) -> int | None:
        try:
            fd = stream.fileno()
        except (AttributeError, OSError, ValueError):
            return None
        try:
            stream.flush()  # what was written through the buffer before goes first
        except (OSError, ValueError):
            pass
        return fd

    def publish(self, kind: Kind, obj: dict) -> None:
        if kind not in self.KINDS or self.broken:
            return
        try:
            self.q.put_nowait(json.dumps(obj, separators=(",", ":")) + "\n")
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("stdout is not being read: %d lines dropped so far", self.dropped)

    def _run(self) -> None:
        while True:
            line = self.q.get()
            if line is None:
                return
            try:
                self._write(line.encode())
            except (BrokenPipeError, ValueError, OSError) as exc:  # reader went away: keep running for other sinks
                self.broken = True
                log.warning("stdout sink disabled: %s", exc)
                return
            finally:
                self.q.task_done()

    def _write(self, data: bytes) -> None:
        if self.fd is None:
            self.stream.write(data.decode())
            self.stream.flush()
            return
        while data:
            data = data[os.write(self.fd, data):]

    def stats(self) -> dict:
        return {"stdout_dropped": self.dropped}

    def flush(self, timeout: float) -> None:
        """Wait for the queued lines, at most ``timeout`` seconds, and less if the reader takes none for
        ``STUCK_S`` (the other sinks share the shutdown budget)."""
        deadline = time.monotonic() + timeout
        left, since = self.q.unfinished_tasks, time.monotonic()
        while self.q.unfinished_tasks and not self.broken and time.monotonic() < deadline:
            if self.q.unfinished_tasks != left:
                left, since = self.q.unfinished_tasks, time.monotonic()
            elif time.monotonic() - since > STUCK_S:
                return
            time.sleep(0.01)

    def close(self, timeout: float = 2.0) -> None:
        """Write what is queued within ``timeout``; a writer blocked on a full pipe is left behind (a daemon
        thread: the process exits anyway), its lines counted as dropped."""
        self.flush(timeout)
        left = self.q.unfinished_tasks
        if left and not self.broken:
            self.dropped += left
            log.warning("stdout: %d lines not written at shutdown (nobody reads stdout)", left)
        try:
            self.q.put_nowait(None)
        except queue.Full:
            pass
