"""The daemon's signals and its shutdown order.

SIGTERM/SIGINT stop cleanly (the open activity is closed, queued messages flushed within a bound, ``offline``
published), SIGHUP asks for a reload; during start-up (before the loop runs) SIGTERM/SIGINT end the process at once,
exit 0, and a SIGHUP is applied once the loop runs (:func:`startup_signals`).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable

from .running import Running

SHUTDOWN_BUDGET_S = 4.0  # SIGTERM to exit, sinks included: under the 5 s we promise (TimeoutStopSec=15 is the backstop)
CLOSE_RESERVE_S = 1.5  # of which kept for closing the sinks (MQTT: publish offline, disconnect)
CLIPS_CLOSE_S = 1.5  # of which the clip writer may take to finish its open clips


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class Signals:
    """The two requests a signal makes while the loop runs: stop (``on_stop`` lets go of whatever blocks) and
    reload (taken by the loop between two frames)."""

    def __init__(self, on_stop: Callable[[], None]):
        self.on_stop = on_stop
        self.stop = threading.Event()
        self.reload = threading.Event()

    def request_stop(self, *_) -> None:
        self.stop.set()
        self.on_stop()

    def request_reload(self, *_) -> None:
        self.reload.set()

    def install(self) -> None:
        """Only the main thread may set handlers (a test runs the daemon on another thread: no handlers)."""
        if _main_thread():
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
            signal.signal(signal.SIGHUP, self.request_reload)

    def take_reload(self) -> bool:
        """Whether a reload was asked for since the last call."""
        if not self.reload.is_set():
            return False
        self.reload.clear()
        return True


class StopDuringStart(BaseException):
    """SIGTERM/SIGINT before the loop runs: raised by the start-up handler out of whatever blocks (reading the
    bundle, its check in a child process), so that the daemon stops at once with exit 0."""


def _stop_at_start(*_) -> None:
    raise StopDuringStart()


def startup_signals() -> list[int]:
    """The start-up handlers; the list returned gets an item for each SIGHUP received before the loop runs."""
    hup: list[int] = []
    if _main_thread():
        signal.signal(signal.SIGTERM, _stop_at_start)
        signal.signal(signal.SIGINT, _stop_at_start)
        signal.signal(signal.SIGHUP, lambda *_: hup.append(1))
    return hup


def shutdown(d: Running) -> None:
    """The order of a stop, within ``SHUTDOWN_BUDGET_S``: the open activity closes, open clips are finished, the
    last stats go out, no more frames, the fleet and the page close, the sinks flush and say offline, then the
    source is closed."""
    d.health.notifier.stopping()
    d.out.close(d.classifier.last_t, "shutdown")
    start = time.monotonic()
    if d.clips:  # open clips are finished (post-roll cut short) and renamed into place
        d.clips.close(CLIPS_CLOSE_S)
    if d.classifier.counts.frames and d.settings.events.stats_interval:
        d.publish_stats(d.health.stats(d.totals()))
    d.camera.stop()  # no more frames; the source is closed once the sinks are flushed
    if d.fleet:
        d.fleet.close()
    if d.page:
        d.page.close()
    d.out.fanout.close(SHUTDOWN_BUDGET_S - (time.monotonic() - start), CLOSE_RESERVE_S)
    d.camera.close()
    d.health.notifier.close()
