"""``edge-lrcn run``: the daemon wires the stages and runs the loop; each stage is one object.

    camera (capture/) -> frame -> classifier (classify/) -> probabilities or a reset -> tracker (events.py)
        -> events and state -> fan-out (publish/) -> sinks;   health (service.py): systemd and stats

A frame flows one way. Live sources never end the daemon (the camera supervisor reopens them); a file source ends
it, exit 0. Signals: SIGTERM/SIGINT stop cleanly (the open activity is closed, queued messages flushed within a
bound, ``offline`` published); SIGHUP reloads the config file and applies the settings that may change while
running (the window is kept); a changed setting that needs a restart is logged as such.

Fleet commands (fleet/, docs/fleet.md) reach the loop as values between two frames: a pushed model that passed
every check off the loop is swapped in, remote settings are applied as a reload applies them, the pause switch
releases and reopens the camera.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import partial

from . import commands, reload
from .announce import Announcer
from .capture.camera import END, Camera, CameraChange
from .capture.modes import capture_request
from .capture.sources import Frame, open_source, parse_source
from .classify.regions import Regions
from .config import ConfigSource, Settings, state_dir
from .errors import EXIT_OK, UsageError
from .events import default_device_id
from .fleet.commands import Pause
from .fleet.device import FleetDevice, Trust, start_fleet
from .fleet.remote import RemoteSettings
from .fleet.state import StateDir
from .lifecycle import Signals, StopDuringStart, shutdown, startup_signals
from .model.interpreter import default_threads
from .model.loader import load_bundle, open_model
from .publish.clips import ClipOrigin, ClipRecorder
from .publish.fanout import make_sinks
from .publish.sink import Sink, SinkContext
from .service import Health, Notifier, Totals, memory_limit, tasks_limit
from .web.api import make_page

log = logging.getLogger(__name__)


class Daemon:
    """Runs ``camera -> classifier -> announcer (tracker, fan-out, sinks)``. Every stage comes in built (see
    :func:`build`), so a test can give a fault-injecting camera, a fake clock and its own sinks. The daemon decides
    when things happen (frames, camera changes, signals, fleet commands, the shutdown); what is said is the
    announcer's (announce.py). Signals and the shutdown order: lifecycle.py; reloads: reload.py; fleet commands:
    commands.py (each acts on the daemon between two frames)."""

    def __init__(self, settings: Settings, classifier: Regions, sinks: list[Sink], camera: Camera,
                 config: ConfigSource | None = None, clock=time.monotonic, fleet: FleetDevice | None = None,
                 clips: ClipRecorder | None = None, page=None):
        self.settings = settings
        self.classifier = classifier
        self.camera = camera
        self.config = config
        self.fleet = fleet
        self.clips = clips
        self.page = page
        self.paused = False
        self._woken = threading.Event()
        model = classifier.model
        ctx = SinkContext(settings.run.device_id or default_device_id(), model.labels, model.model_id,
                          [n for n in classifier.names if n is not None])
        self.out = Announcer(settings, ctx, sinks, clips, classifier.boxes, page)
        self.health = Health(Notifier(), clock, settings.service.watchdog, settings.events.stats_interval)
        self.signals = Signals(self._interrupt)

    def request_stop(self, *_) -> None:
        self.signals.request_stop()

    def request_reload(self, *_) -> None:
        self.signals.request_reload()

    def _interrupt(self) -> None:
        self.camera.interrupt()
        if self.clips:
            self.clips.interrupt()  # a long pre-roll being copied, a loop waiting for the writer: both let go

    def run(self) -> int:
        self.signals.install()
        self._start()
        try:
            return self._loop()
        finally:
            shutdown(self)

    def _start(self) -> None:
        paused = bool(self.fleet and self.fleet.paused_at_start)  # paused before a restart: the camera stays closed
        first = None if paused else self.camera.start()  # a file is online now; a live camera: read() says
        if first is not None:
            self._camera_changed(first)
        self.health.start(self.totals())
        self.out.state()
        if self.fleet:
            self.fleet.started(self.classifier.model, self.settings, self.wake)
            if paused:
                commands.apply(self, Pause(True))
        if self.page:
            self.page.start(partial(page_view, self), lambda: self.classifier.model.bundle, *page_settings(self))
        self.health.notifier.ready(f"streaming {self.camera.description}")
        b = self.classifier.model.bundle
        log.info("streaming %s through %s (%s, %d frames at %g fps, labels: %s)", self.camera.description, b.path,
                 b.model_id, b.frames, b.fps, ", ".join(b.labels))

    def wake(self) -> None:
        """A command waits (called from the fleet's threads): a paused loop or a camera read stops waiting."""
        self._woken.set()
        self.camera.wake()

    def _loop(self) -> int:
        while not self.signals.stop.is_set():
            if self.signals.take_reload():
                reload.reload(self, self.config)
            if self.fleet:
                commands.take_commands(self, self.health.clock())
            item = None if self.paused else self.camera.read()
            if self.paused:  # nothing is captured: wait for a command
                self._woken.wait(0.25)
                self._woken.clear()
            if item is END:
                self._ended()
                return EXIT_OK
            kept = self._take(item)
            self.out.fanout.tick()
            stats = self.health.tick(kept or self.paused, self.totals)  # paused on purpose is not stuck
            if stats:
                self.publish_stats(stats)
        log.info("stopping on request")
        return EXIT_OK

    def _take(self, item) -> bool:
        """What the camera said: a change of its state or a frame; whether a frame was kept (encoded)."""
        if isinstance(item, CameraChange):
            self._camera_changed(item)
        elif isinstance(item, Frame):
            return self._on_frame(item)
        return False

    def _ended(self) -> None:
        c = self.classifier.counts
        log.info("end of %s: %d frames, %d kept, %d windows, %d undecodable skipped",
                 self.camera.description, c.frames, c.kept, c.windows, self.camera.skipped)

    def _on_frame(self, frame: Frame) -> bool:
        if self.clips:
            self.clips.frame(frame)  # queued for the clip writer's pre-roll and open clips; never waits
        kept, steps = self.classifier.push(frame)
        if self.page:  # references only: the page encodes on its own threads
            self.page.seen(frame, {step.region: step.probs for step in steps if step.probs is not None})
        for step in steps:  # one per region (one, named None, without regions)
            self.out.reset(step.region, step.reset)
            if step.probs is not None:
                self.out.probabilities(step.region, step.probs, frame)
        return kept

    def _camera_changed(self, change: CameraChange) -> None:
        if not change.online:  # close the activity, forget the window: the next frames are another stream
            self.health.frames_stopped()  # no WATCHDOG=1 for the frames before the fault
            self.out.resets(self.classifier.restart("camera"))
        self.out.camera("online" if change.online else "offline", change.description, change.reason)

    def totals(self) -> Totals:
        c = self.classifier.counts
        cam = self.camera
        return Totals(c.frames, c.kept, c.windows, c.encode_s, c.head_s, cam.skipped, cam.dropped, cam.reopens,
                      cam.online, self.out.labels_now(), self.fleet.health if self.fleet else "")

    def publish_stats(self, fields: dict) -> None:
        self.out.stats({**fields, "encoder_device": self.classifier.model.encoder.device, "head_device": "cpu"})


def page_settings(d: Daemon) -> tuple[RemoteSettings, bool]:
    """Where the page's region editor saves (web/editor.py), and whether the page owns it: the MQTT remote settings'
    checker and writer of settings.json when there is one (its changes reach the loop with the fleet's commands),
    else one of the page's own, whose kept change the loop applies as a reload (``remote_settings`` is about MQTT:
    docs/http.md)."""
    shared = d.fleet.control.remote if d.fleet else None
    if shared is not None:
        return shared, False
    return RemoteSettings(d.config, d.settings, StateDir(state_dir(d.settings.fleet)), lambda _: None,
                          lambda _: None, partial(_reload_now, d)), True


def _reload_now(d: Daemon) -> None:
    d.request_reload()
    d.wake()  # a paused loop, and a camera's reopen back-off, wait no longer


def page_view(d: Daemon) -> dict:
    """What the page shows of the daemon, read (never written) by the page's threads."""
    c, model, tracker = d.classifier.counts, d.classifier.model, d.out.tracker
    return {"model": model.model_id, "labels": list(model.labels), "activity": tracker.label,
            "confidence": round(tracker.confidence, 4), "kept": c.kept, "source": d.camera.description,
            "device": d.out.ctx.device_id, "regions": _page_regions(d.out),
            "regions_from": d.settings.where("regions"),
            "camera": "paused" if d.paused else ("online" if d.camera.online else "offline"),
            "ms_encoder": round(1000 * c.encode_s / c.kept, 3) if c.kept else None,
            "ms_head": round(1000 * c.head_s / c.windows, 3) if c.windows else None}


def _page_regions(out: Announcer) -> list[dict]:
    """Each region's name (None without regions), box (the whole frame without one) and current activity."""
    boxes = dict(out.boxes)
    return [{"name": name, "box": list(boxes.get(name) or (0.0, 0.0, 1.0, 1.0)), "activity": t.label,
             "confidence": round(t.confidence, 4)} for name, t in list(out.trackers.items())]


TASKS_BESIDE_INTERPRETERS = 16  # main, reader, camera open, stdout, MQTT, the model check's child, headroom


def _check_tasks(threads: int) -> None:
    """Each interpreter (encoder and head) runs ``threads`` threads: more than the unit's TasksMax allows would
    fail at the first thread the daemon cannot start, long after start-up (exit 2 now instead)."""
    limit = tasks_limit()
    need = 2 * threads + TASKS_BESIDE_INTERPRETERS
    if limit is not None and need > limit:
        raise UsageError(f"threads = {threads} needs about {need} tasks, and this service may start {limit} "
                         f"(TasksMax, cgroup pids.max): lower threads or raise TasksMax")


MEMORY_BESIDE_CLIPS_MB = 250  # the daemon without its pre-roll: interpreters, libraries, a push being checked, queues


def _check_memory(settings) -> None:
    """The pre-roll buffer (``clips_buffer_mb``) and the rest of the daemon must fit the unit's MemoryMax: over it
    the kernel kills the service in the middle of a clip (exit 2 at start instead)."""
    limit = memory_limit()
    if not settings.clips_dir or limit is None:
        return
    need = settings.clips_buffer_mb + MEMORY_BESIDE_CLIPS_MB
    if need * 1e6 > limit:
        raise UsageError(f"clips_buffer_mb = {settings.clips_buffer_mb:g} needs about {need:g} MB with the rest of "
                         f"the daemon (about {MEMORY_BESIDE_CLIPS_MB} MB), and this service may use "
                         f"{limit / 1e6:.0f} MB (MemoryMax, cgroup memory.max): lower clips_buffer_mb or raise "
                         f"MemoryMax")


def build(config: ConfigSource) -> Daemon:
    """Settings (exit 2), then the bundle (exit 3), a file source (exit 4), the interpreters and the sinks. A live
    source is not opened here: the daemon's camera opens it off the loop (absent at start: offline, retried)."""
    settings = config.load()
    s, cam = settings.run, settings.camera
    _check_tasks(s.threads or default_threads())
    _check_memory(settings.clips)
    spec = parse_source(s.source)  # a malformed spec: exit 2
    trust = Trust.of(settings)
    bundle = load_bundle(trust.model, verify=s.verify_model)
    trust.check(bundle, settings)
    size, fps = capture_request(spec, cam.width, cam.height, cam.camera_fps, *bundle.input_size, bundle.fps)
    camera = Camera(lambda: open_source(spec, realtime=s.realtime, size=size, fps=fps),
                    cam, description=spec.description)
    if not spec.live:
        camera.open()  # before the interpreters: a missing file is one line, exit 4, at once
    try:
        opener = partial(open_model, delegate=s.delegate, threads=s.threads, require_delegate=s.require_delegate,
                         gpu_library=s.gpu_delegate_library, encoder=s.encoder)
        classifier = Regions(opener(bundle), cam.regions, s.stride, settings.events.cut_threshold)
        device_id = s.device_id or default_device_id()
        sinks = make_sinks(settings, SinkContext(device_id, bundle.labels, bundle.model_id,
                                                 [n for n in classifier.names if n is not None]))
        fleet = start_fleet(settings, trust, device_id, opener, config)
    except BaseException:
        camera.close()
        raise
    try:
        page = make_page(settings, bundle.labels)  # binds the port: in use, or no password off loopback, is exit 2
    except BaseException:
        camera.close()
        raise
    clips = ClipRecorder(settings.clips, ClipOrigin(device_id, bundle.model_id, camera.description, camera.live)) \
        if settings.clips.clips_dir else None
    # the reader skips decoding the frames the pacer drops; the clip writer wants frames of its own
    camera.keep = classifier.decide if clips is None else None
    daemon = Daemon(settings, classifier, sinks, camera, config, fleet=fleet, clips=clips, page=page)
    reload.decode_size(daemon)
    return daemon



def run_from_args(args) -> int:
    """SIGTERM/SIGINT are handled before anything that can block: during start-up they end the process (exit 0);
    a SIGHUP during start-up is applied once the loop runs."""
    hup = startup_signals()
    try:
        daemon = build(ConfigSource.from_args(args))
        if hup:
            daemon.request_reload()
        return daemon.run()
    except StopDuringStart:
        log.info("stopped during start-up")
        return EXIT_OK
