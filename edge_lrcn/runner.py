"""``edge-lrcn run``: source -> pacer -> preprocess -> encoder -> window -> head -> tracker -> sinks.

The source is read by its own thread into a small queue, so a camera that blocks cannot freeze the loop: the loop
notices the stall, marks the camera offline, reopens it with capped backoff and carries on (live sources never end
the daemon; a file source ends it, exit 0). Signals: SIGTERM/SIGINT stop cleanly (the open activity is closed, queued
messages flushed within a bound, ``offline`` published); SIGHUP reloads thresholds and sinks from the config file.
"""

from __future__ import annotations

import argparse
import logging
import os
import queue
import signal
import threading
import time
from pathlib import Path

import numpy as np

from . import config as C
from .bundle import Bundle, read_bundle
from .errors import EXIT_OK, SourceError, UsageError
from .events import ActivityTracker, EventMaker, EventSettings, default_device_id
from .interpreter import open_models
from .notify import Notifier
from .pacer import Pacer
from .sinks import Sink, make_sinks
from .sources import Source, SourceReadError, open_source
from .stream import StreamingClassifier

log = logging.getLogger(__name__)
SHUTDOWN_BUDGET_S = 4.0  # SIGTERM to exit, sinks included: under the 5 s we promise (TimeoutStopSec=15 is the backstop)
CLOSE_RESERVE_S = 1.5  # of which kept for closing the sinks (MQTT: publish offline, disconnect)


def add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help=f"TOML config file (default {C.DEFAULT_CONFIG_PATH} if it exists; "
                                     f"env EDGE_LRCN_CONFIG)")
    for s in C.SCHEMA:
        if not s.flag or s.name == "sinks":
            continue
        flag = "--" + s.name.replace("_", "-")
        if s.conv is C._bool:
            p.add_argument(flag, dest=s.name, action="store_true", default=None, help=s.help)
            p.add_argument("--no-" + s.name.replace("_", "-"), dest=s.name, action="store_false", default=None,
                           help=f"turn {flag} off")
        else:
            p.add_argument(flag, dest=s.name, default=None, help=s.help)
    p.add_argument("--sink", dest="sinks", action="append", default=None,
                   help="stdout (default) or mqtt[s]://[user@]host[:port]; repeatable")


def config_path_from(args) -> tuple[str | None, bool]:
    """(path, must_exist): an explicit --config or EDGE_LRCN_CONFIG must exist; the default path is optional."""
    if getattr(args, "config", None):
        return args.config, True
    if os.environ.get("EDGE_LRCN_CONFIG"):
        return os.environ["EDGE_LRCN_CONFIG"], True
    return C.DEFAULT_CONFIG_PATH, False


def load_bundle(path: str | None, verify: bool = False) -> Bundle:
    """Read and check a bundle (the embedded default when ``path`` is empty). With ``verify``, a bundle that is not
    the embedded one has its models loaded and run once in a child process first (remembered by sha256), so a
    crafted model that would crash the interpreter is an exit 3, not a crash of the daemon."""
    from .models import default_model_path

    if not path:
        return read_bundle(default_model_path())
    bundle = read_bundle(path)
    if verify:
        from .verify import verify_once

        verify_once(bundle)
    return bundle


class FrameReader:
    """Reads a source on its own thread. Files: every frame, in order (blocking queue). Live: the latest frames
    (a full queue drops the oldest, counted), so a slow loop never works on a stale backlog.

    The reader owns closing the source (:meth:`close`): OpenCV's VideoCapture must not be released while ``read()``
    runs on another thread (a use after free in the capture backend), so a source stuck in ``read()`` is closed by
    the reader thread itself once that read returns (V4L2 times out after 10 s, FFmpeg streams after 30 s), unless
    the source declares that ``close()`` from another thread is safe and unblocks the read."""

    END = object()

    def __init__(self, source: Source, maxsize: int = 4):
        self.source = source
        self.q: queue.Queue = queue.Queue(maxsize=maxsize)
        self.dropped = 0
        self.error: Exception | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._done = self._close_requested = self._closed = False
        self.thread = threading.Thread(target=self._run, name="frame-reader", daemon=True)
        self.thread.start()

    def _put(self, item) -> None:
        if not self.source.live or item is self.END:
            while not self._stop.is_set():
                try:
                    self.q.put(item, timeout=0.2)
                    return
                except queue.Full:
                    continue
            return
        try:
            self.q.put_nowait(item)
        except queue.Full:
            try:
                self.q.get_nowait()
                self.dropped += 1
            except queue.Empty:
                pass
            self.q.put_nowait(item)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                frame = self.source.read()
                if frame is None:
                    break
                self._put(frame)
        except SourceReadError as exc:
            self.error = exc
        except Exception as exc:  # a driver bug must surface as a camera fault, not kill the thread silently
            self.error = SourceReadError(f"{self.source.description}: {type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._done = True
                late_close = self._close_requested and not self._closed
                self._closed = self._closed or late_close
            if late_close:
                self._close_source()
                log.info("%s closed after its pending read returned", self.source.description)
        self._put(self.END)

    def get(self, timeout: float):
        return self.q.get(timeout=timeout)

    def stop(self) -> None:
        """Stop delivering frames (the source stays open until :meth:`close`)."""
        self._stop.set()

    def close(self, timeout: float = 0.5) -> None:
        """Stop reading and close the source now, or hand the close to the reader thread if it is inside read()."""
        self._stop.set()
        self.thread.join(timeout)
        with self._lock:
            self._close_requested = True
            now = not self._closed and (self._done or self.source.close_unblocks_read)
            self._closed = self._closed or now
        if now:
            self._close_source()
        elif not self._closed:
            log.warning("%s is still inside a read: it will be closed when that read returns",
                        self.source.description)

    def _close_source(self) -> None:
        try:
            self.source.close()
        except Exception:
            log.debug("closing the source failed", exc_info=True)


class Stats:
    def __init__(self, now: float = 0.0):
        self.reset_window(now)
        self.frames_in = self.frames_kept = self.windows = 0
        self.skipped_before = self.dropped_before = 0  # counts of sources closed by reopens

    def reset_window(self, now: float) -> None:
        self.t0 = now
        self.w_in = self.w_kept = self.w_windows = 0
        self.enc_s = self.head_s = 0.0


class Daemon:
    """The streaming daemon. ``clock``, ``wait`` and ``source_factory`` can be replaced (tests drive a fake clock
    and a fault-injecting source through them); by default they are the monotonic clock, an interruptible sleep
    and :func:`~edge_lrcn.sources.open_source` on the configured spec."""

    def __init__(self, settings: dict, config_path: str | None = None, config_must_exist: bool = False,
                 flags: dict | None = None, clock=time.monotonic, source_factory=None, poll: float = 0.25):
        self.settings = settings
        self.config_path, self.config_must_exist, self.flags = config_path, config_must_exist, flags or {}
        self.clock = clock
        self.poll = poll
        self.source_factory = source_factory or self._open_source
        self.tracker_settings = self._event_settings(settings)
        self.tracker_settings.validate()
        self.bundle = load_bundle(settings["model"], verify=settings.get("verify_model", True))
        self.device_id = settings["device_id"] or default_device_id()
        self.make = EventMaker(self.device_id, self.bundle.model_id)
        self.tracker = ActivityTracker(self.bundle.labels, self.tracker_settings, self.make)
        self.pacer = Pacer(self.bundle.fps)
        self.notifier = Notifier()
        self.stats = Stats(clock())
        self._stop = threading.Event()
        self._reload = threading.Event()
        self.source: Source | None = None
        self.reader: FrameReader | None = None
        self.sinks: list[Sink] = []
        self.source_description = str(settings["source"])
        self.camera_online: bool | None = None
        self.reopen_attempts = 0
        self._backoff = 0.5
        self._reopen_failures, self._reopen_last_error = 0, None
        self.last_t: float | None = None  # source time of the last kept frame
        self._newest_t: float | None = None  # newest source timestamp seen (frozen timestamps do not advance it)
        self._progress = clock()  # daemon clock when a frame with a new timestamp last arrived
        self._prev_x = None  # the previous kept frame's model input, for scene-cut detection

    @staticmethod
    def _event_settings(s: dict) -> EventSettings:
        return EventSettings(s["enter_threshold"], s["exit_threshold"], s["smoothing"], s["min_duration"])

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True if a stop was requested meanwhile."""
        return self._stop.wait(seconds)

    # ---- sinks -------------------------------------------------------------------------------------------------
    def publish(self, kind: str, obj: dict) -> None:
        for sink in self.sinks:
            try:
                sink.publish(kind, obj)
            except Exception:  # a sink must never take the daemon down
                log.exception("sink %s failed to publish", sink.name)

    def _emit(self, events: list[dict]) -> None:
        for ev in events:
            self.publish("event", ev)
        if events:
            self.publish("state", self.tracker.state())

    def _ctx(self):
        return {"device_id": self.device_id, "labels": self.bundle.labels, "model": self.bundle.model_id,
                "state": self.tracker.state}

    # ---- lifecycle ---------------------------------------------------------------------------------------------
    def _open_source(self) -> Source:
        s = self.settings
        return open_source(s["source"], realtime=s["realtime"], size=(s["width"], s["height"]), fps=s["camera_fps"])

    def request_stop(self, *_):
        self._stop.set()

    def request_reload(self, *_):
        self._reload.set()

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        if hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, self.request_reload)

    def reload(self) -> None:
        """SIGHUP: re-read thresholds and sinks from the config file; the feature window is kept."""
        try:
            new = C.resolve(self.flags, self.config_path, must_exist=self.config_must_exist)
            self.tracker.update_settings(self._event_settings(new))
        except UsageError as exc:
            log.error("reload failed, keeping the old settings: %s", exc)
            return
        if new["sinks"] != self.settings["sinks"] or any(
                new[k] != self.settings[k] for k in C.BY_NAME if C.BY_NAME[k].section == "mqtt"):
            try:
                sinks = make_sinks(new["sinks"], new, self._ctx())
            except UsageError as exc:
                log.error("reload: sinks unchanged: %s", exc)
            else:
                old, self.sinks = self.sinks, sinks
                for sink in old:
                    sink.flush(1.0)
                    sink.close()
                self.publish("state", self.tracker.state())
        self.settings = {**self.settings, **{k: new[k] for k in new if k not in ("model", "source", "delegate")}}
        log.info("reloaded settings from %s", self.config_path)

    def _set_camera(self, online: bool, reason: str = "") -> None:
        if self.camera_online == online:
            return
        self.camera_online = online
        obj = self.make("camera", state="online" if online else "offline", source=self.source_description,
                        **({"reason": reason} if reason else {}))
        (log.info if online else log.warning)("camera %s%s", obj["state"], f": {reason}" if reason else "")
        self.publish("camera", obj)

    def _stats_obj(self, now: float) -> dict:
        st = self.stats
        dt = max(1e-6, now - st.t0)
        extra = {}
        for sink in self.sinks:
            extra.update(sink.stats())
        return self.make("stats", fps_in=round(st.w_in / dt, 2), fps_kept=round(st.w_kept / dt, 2),
                         encoder_ms=round(1000 * st.enc_s / max(1, st.w_kept), 3),
                         head_ms=round(1000 * st.head_s / max(1, st.w_windows), 3),
                         frames_in=st.frames_in, frames_kept=st.frames_kept, windows=st.windows,
                         frames_skipped=st.skipped_before + (self.source.skipped if self.source else 0),
                         frames_dropped=st.dropped_before + (self.reader.dropped if self.reader else 0),
                         camera="online" if self.camera_online else "offline",
                         camera_reopens=self.reopen_attempts, activity=self.tracker.label, **extra)

    def run(self) -> int:
        s = self.settings
        self.source = self.source_factory()  # before the interpreters: a missing camera is one line, exit 4
        self.source_description = self.source.description
        try:
            self.encoder, self.head = open_models(self.bundle, s["delegate"], s["threads"], s["require_delegate"],
                                                  s["gpu_delegate_library"])
            h, w = self.bundle.input_size
            self.classifier = StreamingClassifier(self.encoder, self.head, h, w, self.bundle.frames, s["stride"])
            self.sinks = make_sinks(s["sinks"], s, self._ctx())
        except BaseException:
            self.source.close()
            raise
        self._install_signals()
        self._start_reader()
        self.camera_online = True
        self.stats.reset_window(self.clock())  # rates count from the first frame, not from model loading
        self.publish("state", self.tracker.state())
        self.notifier.ready(f"streaming {self.source.description}")
        log.info("streaming %s through %s (%s, %d frames at %g fps, labels: %s)", self.source.description,
                 self.bundle.path, self.bundle.model_id, self.bundle.frames, self.bundle.fps,
                 ", ".join(self.bundle.labels))
        try:
            return self._loop()
        finally:
            self._shutdown()

    def _start_reader(self) -> None:
        self.reader = FrameReader(self.source, maxsize=2 if self.source.live else 4)
        self._progress = self.clock()
        self._newest_t = None

    def _loop(self) -> int:
        st = self.stats
        last_stats = last_ping = last_status = self.clock()
        advanced = False
        while not self._stop.is_set():
            if self._reload.is_set():
                self._reload.clear()
                self.reload()
            s = self.settings
            if self.camera_online or self._reopen():
                try:
                    item = self.reader.get(timeout=self.poll)
                except queue.Empty:
                    item = None
                if item is FrameReader.END:
                    if not self.source.live:
                        log.info("end of %s: %d frames, %d kept, %d windows, %d undecodable skipped",
                                 self.source.description, st.frames_in, st.frames_kept, st.windows,
                                 self.source.skipped)
                        return EXIT_OK
                    self._camera_fault(str(self.reader.error or "the source ended"))
                elif item is not None:
                    advanced |= self._on_frame(item)
                now = self.clock()
                if self.camera_online and self.source.live and now - self._progress > s["stall_timeout"]:
                    what = "frozen timestamps" if item is not None else "no frame"
                    self._camera_fault(f"{what} for {now - self._progress:.1f} s")
            # the periodic part runs while the camera is offline too: stats and STATUS= matter most then
            now = self.clock()
            if self.notifier.watchdog_interval and s["watchdog"] and advanced \
                    and now - last_ping >= self.notifier.watchdog_interval:
                self.notifier.watchdog()
                last_ping, advanced = now, False
            if self.notifier.enabled and now - last_status >= 5:
                last_status = now
                dt = max(1e-6, now - st.t0)
                self.notifier.status(f"{st.w_kept / dt:.1f} fps kept, activity {self.tracker.label}, camera "
                                     f"{'online' if self.camera_online else 'offline'}")
            if s["stats_interval"] and now - last_stats >= s["stats_interval"]:
                self.publish("stats", self._stats_obj(now))
                st.reset_window(now)
                last_stats = now
        log.info("stopping on request")
        return EXIT_OK

    def _on_frame(self, frame) -> bool:
        """One frame from the source; True when it advanced the pipeline (a kept, encoded frame)."""
        st = self.stats
        st.frames_in += 1
        st.w_in += 1
        if self._newest_t is None or frame.t > self._newest_t:
            self._newest_t = frame.t
            self._progress = self.clock()
        if not self.pacer.keep(frame.t):
            return False
        if self.last_t is not None and frame.t - self.last_t > 3.0 / self.bundle.fps and frame.t > self.last_t:
            log.info("%.1f s gap in the stream: restarting the window", frame.t - self.last_t)
            self.classifier.reset()
            self._emit(self.tracker.reset(self.last_t, "gap"))
        self.last_t = frame.t
        st.frames_kept += 1
        st.w_kept += 1
        t0 = time.perf_counter()
        x = self.classifier.preprocess(frame.pixels)
        cut = self.settings["cut_threshold"]
        if cut and self._prev_x is not None and float(np.abs(x - self._prev_x).mean()) > cut:
            # a window must not span a scene cut (another camera, a light switched on, a PTZ move): half of it
            # would show one scene and half another, which no training window ever did
            log.info("scene cut at t=%.2f: restarting the window", frame.t)
            self.classifier.reset()
            self._emit(self.tracker.reset(frame.t, "cut"))
        self._prev_x = x
        feat = self.classifier.encoder(x)
        t1 = time.perf_counter()
        probs = self.classifier.push_features(feat)
        st.enc_s += t1 - t0
        if probs is not None:
            st.head_s += time.perf_counter() - t1
            st.windows += 1
            st.w_windows += 1
            self._emit(self.tracker.update(probs, frame.t))
            if self.settings["scores"]:
                self.publish("scores", self.tracker.scores(frame.t))
        return True

    def _camera_fault(self, reason: str) -> None:
        """The live source stalled, froze or failed: close the activity, forget the window, mark the camera offline."""
        if self.last_t is not None:
            self._emit(self.tracker.reset(self.last_t, "camera"))
        self.classifier.reset()
        self.pacer.reset()
        self.last_t = None
        self._prev_x = None
        self.stats.skipped_before += self.source.skipped
        self.stats.dropped_before += self.reader.dropped
        self.reader.close()
        self._backoff = 0.5  # the per-outage reopen state starts here, and only here
        self._reopen_failures, self._reopen_last_error = 0, None
        self._set_camera(False, reason)

    def _reopen(self) -> bool:
        """One reopen attempt after the current backoff (capped exponential); True once the camera is back."""
        if self.wait(self._backoff):
            return False
        self.reopen_attempts += 1
        try:
            self.source = self.source_factory()
        except (SourceError, UsageError) as exc:
            self._backoff = min(self._backoff * 2, self.settings["reopen_max_delay"])
            # a camera gone for days must not fill the journal: the same failure is logged again every 20 tries
            failures, self._reopen_failures = self._reopen_failures, self._reopen_failures + 1
            loud = str(exc) != self._reopen_last_error or failures % 20 == 0
            self._reopen_last_error = str(exc)
            (log.warning if loud else log.debug)("reopening %s failed (attempt %d; next try in %.1f s): %s",
                                                 self.source_description, failures + 1, self._backoff, exc)
            return False
        self._start_reader()
        self._set_camera(True)
        return True

    def _shutdown(self) -> None:
        self.notifier.stopping()
        if self.last_t is not None:
            self._emit(self.tracker.close(self.last_t, reason="shutdown"))
        if self.stats.frames_in and self.settings["stats_interval"]:
            self.publish("stats", self._stats_obj(self.clock()))
        if self.reader:
            self.reader.stop()  # no more frames; the source is closed below, once the sinks are flushed
        deadline = time.monotonic() + SHUTDOWN_BUDGET_S
        for sink in self.sinks:
            try:
                sink.flush(max(0.0, deadline - CLOSE_RESERVE_S - time.monotonic()))
            except Exception:
                log.exception("flushing sink %s failed", sink.name)
        for sink in self.sinks:
            try:
                sink.close(max(0.5, deadline - time.monotonic()))
            except Exception:
                log.exception("closing sink %s failed", sink.name)
        if self.reader:
            self.reader.close()
        elif self.source:
            self.source.close()
        self.notifier.close()


def run_from_args(args) -> int:
    path, must_exist = config_path_from(args)
    flags = {s.name: getattr(args, s.name, None) for s in C.SCHEMA}
    settings = C.resolve(flags, path, must_exist=must_exist)
    return Daemon(settings, path, must_exist, flags).run()
