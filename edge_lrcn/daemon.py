"""``edge-lrcn run``: the daemon wires the stages and runs the loop; each stage is one object.

    camera (capture/) -> frame -> classifier (classify/) -> probabilities or a reset -> tracker (events.py)
        -> events and state -> fan-out (publish/) -> sinks;   health (service.py): systemd and stats

A frame flows one way. Live sources never end the daemon (the camera supervisor reopens them); a file source ends
it, exit 0. Signals: SIGTERM/SIGINT stop cleanly (the open activity is closed, queued messages flushed within a
bound, ``offline`` published); SIGHUP reloads the config file and applies the settings that may change while
running (the window is kept); a changed setting that needs a restart is logged as such.
"""

from __future__ import annotations

import logging
import signal
import threading
import time

from .capture.camera import END, Camera, CameraChange
from .capture.modes import capture_request
from .capture.sources import Frame, open_source
from .classify.classifier import Classifier
from .config import BY_NAME, ConfigSource, Settings
from .errors import EXIT_OK, UsageError
from .events import ActivityTracker, EventMaker, EventSettings, default_device_id
from .model.loader import load_bundle, open_model
from .publish.fanout import Fanout, make_sinks
from .publish.sink import Kind, Sink, SinkContext
from .service import Health, Notifier, Totals

log = logging.getLogger(__name__)
SHUTDOWN_BUDGET_S = 4.0  # SIGTERM to exit, sinks included: under the 5 s we promise (TimeoutStopSec=15 is the backstop)
CLOSE_RESERVE_S = 1.5  # of which kept for closing the sinks (MQTT: publish offline, disconnect)
SINK_SETTINGS = {"sinks"} | {s.name for s in BY_NAME.values() if s.section == "mqtt"}


class Daemon:
    """Runs ``camera -> classifier -> tracker -> sinks``. Every stage comes in built (see :func:`build`), so a test
    can give a fault-injecting camera, a fake clock and its own sinks."""

    def __init__(self, settings: Settings, classifier: Classifier, sinks: list[Sink], camera: Camera,
                 config: ConfigSource | None = None, clock=time.monotonic):
        self.settings, self.classifier, self.camera, self.config = settings, classifier, camera, config
        model = classifier.model
        self.ctx = SinkContext(settings.device_id or default_device_id(), model.labels, model.model_id)
        self.make = EventMaker(self.ctx.device_id, model.model_id)
        self.tracker = ActivityTracker(model.labels, EventSettings.of(settings), self.make)
        self.fanout = Fanout(sinks)
        self.health = Health(Notifier(), clock, settings.watchdog, settings.stats_interval)
        self._stop, self._reload = threading.Event(), threading.Event()

    def request_stop(self, *_) -> None:
        self._stop.set()
        self.camera.interrupt()

    def request_reload(self, *_) -> None:
        self._reload.set()

    def run(self) -> int:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
            signal.signal(signal.SIGHUP, self.request_reload)
        self._camera_changed(self.camera.start())  # the first retained camera state: online
        self.health.start(self._totals())
        self.fanout.publish(Kind.STATE, self.tracker.state())
        self.health.notifier.ready(f"streaming {self.camera.description}")
        b = self.classifier.model.bundle
        log.info("streaming %s through %s (%s, %d frames at %g fps, labels: %s)", self.camera.description, b.path,
                 b.model_id, b.frames, b.fps, ", ".join(b.labels))
        try:
            return self._loop()
        finally:
            self._shutdown()

    def _loop(self) -> int:
        while not self._stop.is_set():
            if self._reload.is_set():
                self._reload.clear()
                self.reload()
            item, kept = self.camera.read(), False
            if item is END:
                c = self.classifier.counts
                log.info("end of %s: %d frames, %d kept, %d windows, %d undecodable skipped",
                         self.camera.description, c.frames, c.kept, c.windows, self.camera.skipped)
                return EXIT_OK
            if isinstance(item, CameraChange):
                self._camera_changed(item)
            elif isinstance(item, Frame):
                kept = self._on_frame(item)
            self.fanout.tick()
            stats = self.health.tick(kept, self._totals)
            if stats:
                self._publish_stats(stats)
        log.info("stopping on request")
        return EXIT_OK

    def _on_frame(self, frame: Frame) -> bool:
        step = self.classifier.push(frame)
        if step.reset:
            self._emit(self.tracker.reset(step.reset.t, step.reset.reason))
        if step.probs is not None:
            self._emit(self.tracker.update(step.probs, frame.t))
            if self.settings.scores:
                self.fanout.publish(Kind.SCORES, self.tracker.scores(frame.t))
        return step.kept

    def _camera_changed(self, change: CameraChange) -> None:
        if not change.online:  # close the activity, forget the window: the next frames are another stream
            reset = self.classifier.restart("camera")
            if reset:
                self._emit(self.tracker.reset(reset.t, reset.reason))
        self.fanout.publish(Kind.CAMERA, self.make("camera", state="online" if change.online else "offline",
                                                   source=change.description,
                                                   **({"reason": change.reason} if change.reason else {})))

    def _emit(self, events: list[dict]) -> None:
        for ev in events:
            self.fanout.publish(Kind.EVENT, ev)
        if events:
            self.fanout.publish(Kind.STATE, self.tracker.state())

    def _totals(self) -> Totals:
        c, cam = self.classifier.counts, self.camera
        return Totals(c.frames, c.kept, c.windows, c.encode_s, c.head_s, cam.skipped, cam.dropped, cam.reopens,
                      cam.online, self.tracker.label)

    def _publish_stats(self, fields: dict) -> None:
        runs_on = {"encoder_device": self.classifier.model.encoder.device, "head_device": "cpu"}
        self.fanout.publish(Kind.STATS, self.make("stats", **fields, **runs_on, **self.fanout.stats()))

    def reload(self) -> None:
        """SIGHUP: read the settings again and apply those that may change while running."""
        if self.config is None:
            log.warning("reload: this daemon has no config source; nothing to reload")
            return
        try:
            new = self.config.load()
        except UsageError as exc:
            log.error("reload failed, keeping the old settings: %s", exc)
            return
        changed = self.settings.changed(new)
        later = [n for n in changed if not BY_NAME[n].live]
        if later:
            log.warning("reload: %s changed, which needs a restart (systemctl restart edge-lrcn); still running "
                        "with the old value%s", ", ".join(later), "s" if len(later) > 1 else "")
        live = [n for n in changed if BY_NAME[n].live]
        if SINK_SETTINGS & set(live):
            try:
                self.fanout.replace(make_sinks(new, self.ctx))
            except UsageError as exc:
                log.error("reload: sinks unchanged: %s", exc)
                live = [n for n in live if n not in SINK_SETTINGS]
        self.settings = s = self.settings.taking(new, live)
        self.tracker.update_settings(EventSettings.of(s))
        self.classifier.cut_threshold = s.cut_threshold
        self.camera.stall_timeout, self.camera.reopen_max_delay = s.stall_timeout, s.reopen_max_delay
        self.health.watchdog, self.health.stats_interval = s.watchdog, s.stats_interval
        log.info("reloaded settings from %s", self.config.path)

    def _shutdown(self) -> None:
        self.health.notifier.stopping()
        if self.classifier.last_t is not None:
            self._emit(self.tracker.close(self.classifier.last_t, reason="shutdown"))
        if self.classifier.counts.frames and self.settings.stats_interval:
            self._publish_stats(self.health.stats(self._totals()))
        self.camera.stop()  # no more frames; the source is closed once the sinks are flushed
        self.fanout.close(SHUTDOWN_BUDGET_S, CLOSE_RESERVE_S)
        self.camera.close()
        self.health.notifier.close()


def build(config: ConfigSource) -> Daemon:
    """Settings (exit 2), then the bundle (exit 3), the source (exit 4), the interpreters and the sinks."""
    s = config.load()
    bundle = load_bundle(s.model, verify=s.verify_model)
    size, fps = capture_request(s.source, s.width, s.height, s.camera_fps, *bundle.input_size, bundle.fps)
    camera = Camera(lambda: open_source(s.source, realtime=s.realtime, size=size, fps=fps),
                    s.stall_timeout, s.reopen_max_delay)
    camera.open()  # before the interpreters: a missing camera is one line, exit 4, at once
    try:
        classifier = Classifier(open_model(bundle, s.delegate, s.threads, s.require_delegate,
                                           s.gpu_delegate_library, s.encoder), s.stride, s.cut_threshold)
        sinks = make_sinks(s, SinkContext(s.device_id or default_device_id(), bundle.labels, bundle.model_id))
    except BaseException:
        camera.close()
        raise
    camera.keep = classifier.decide  # the reader skips decoding the frames the pacer would drop
    return Daemon(s, classifier, sinks, camera, config)


def run_from_args(args) -> int:
    return build(ConfigSource.from_args(args)).run()
