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
import signal
import threading
import time
from functools import partial

from .announce import Announcer
from .capture.camera import END, Camera, CameraChange
from .capture.modes import capture_request
from .capture.sources import Frame, open_source, parse_source
from .classify.regions import Regions
from .config import BY_NAME, REMOTE_SETTINGS, ConfigSource, Settings, state_dir
from .errors import EXIT_OK, UsageError
from .events import default_device_id
from .fleet.device import FleetDevice, Trust, start_fleet
from .fleet.remote import RemoteSettings
from .fleet.state import StateDir
from .model.interpreter import default_threads
from .model.loader import load_bundle, open_model, release_memory
from .publish.clips import ClipOrigin, ClipRecorder
from .publish.fanout import make_sinks
from .publish.sink import Sink, SinkContext
from .service import Health, Notifier, Totals, memory_limit, tasks_limit
from .web.api import make_page

log = logging.getLogger(__name__)
SHUTDOWN_BUDGET_S = 4.0  # SIGTERM to exit, sinks included: under the 5 s we promise (TimeoutStopSec=15 is the backstop)
CLOSE_RESERVE_S = 1.5  # of which kept for closing the sinks (MQTT: publish offline, disconnect)
CLIPS_CLOSE_S = 1.5  # of which the clip writer may take to finish its open clips
SINK_SETTINGS = {"sinks"} | {s.name for s in BY_NAME.values() if s.section == "mqtt"}



def swap_model(prepared, classifier: Regions, out: Announcer, fleet: FleetDevice) -> None:
    """A pushed model that passed every check, swapped in between two frames: the open activity closes under the
    old model, the classifier and the announcer take the new one, and the old one's memory is given back."""
    if not fleet.keep(prepared):
        return
    model = prepared.model
    out.close(classifier.last_t, "model")
    classifier.use(model)
    out.use_model(model.labels, model.model_id)
    fleet.swapped(prepared)
    release_memory()

class Daemon:
    """Runs ``camera -> classifier -> announcer (tracker, fan-out, sinks)``. Every stage comes in built (see
    :func:`build`), so a test can give a fault-injecting camera, a fake clock and its own sinks. The daemon decides
    when things happen (frames, camera changes, signals, fleet commands, the shutdown); what is said is the
    announcer's (announce.py)."""

    def __init__(self, settings: Settings, classifier: Regions, sinks: list[Sink], camera: Camera,
                 config: ConfigSource | None = None, clock=time.monotonic, fleet: FleetDevice | None = None,
                 clips: ClipRecorder | None = None, page=None):
        self.settings, self.classifier, self.camera, self.config = settings, classifier, camera, config
        self.fleet, self.paused, self._woken = fleet, False, threading.Event()
        self.clips, self.page = clips, page
        model = classifier.model
        ctx = SinkContext(settings.run.device_id or default_device_id(), model.labels, model.model_id,
                          [n for n in classifier.names if n is not None])
        self.out = Announcer(settings, ctx, sinks, clips, classifier.boxes, page)
        self.health = Health(Notifier(), clock, settings.service.watchdog, settings.events.stats_interval)
        self._stop, self._reload = threading.Event(), threading.Event()
        self._reload_at_start = False

    def request_stop(self, *_) -> None:
        self._stop.set()
        self.camera.interrupt()
        if self.clips:
            self.clips.interrupt()  # a long pre-roll being copied, a loop waiting for the writer: both let go

    def request_reload(self, *_) -> None:
        self._reload.set()

    def run(self) -> int:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
            signal.signal(signal.SIGHUP, self.request_reload)
        if self._reload_at_start:
            self._reload.set()
        paused = bool(self.fleet and self.fleet.paused_at_start)  # paused before a restart: the camera stays closed
        first = None if paused else self.camera.start()  # a file is online now; a live camera: read() says
        if first is not None:
            self._camera_changed(first)
        self.health.start(self._totals())
        self.out.state()
        if self.fleet:
            self.fleet.started(self.classifier.model, self.settings, lambda: (self._woken.set(), self.camera.wake()))
            if paused:
                self._pause(True)
        if self.page:
            self.page.start(partial(page_view, self), lambda: self.classifier.model.bundle, *page_settings(self))
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
            if self.fleet:
                self._commands()
            item, kept = (None if self.paused else self.camera.read()), False
            if self.paused:  # nothing is captured: wait for a command
                self._woken.wait(0.25)
                self._woken.clear()
            if item is END:
                c = self.classifier.counts
                log.info("end of %s: %d frames, %d kept, %d windows, %d undecodable skipped",
                         self.camera.description, c.frames, c.kept, c.windows, self.camera.skipped)
                return EXIT_OK
            if isinstance(item, CameraChange):
                self._camera_changed(item)
            elif isinstance(item, Frame):
                kept = self._on_frame(item)
            self.out.fanout.tick()
            stats = self.health.tick(kept or self.paused, self._totals)  # paused on purpose is not stuck
            if stats:
                self._publish_stats(stats)
        log.info("stopping on request")
        return EXIT_OK

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

    def _totals(self) -> Totals:
        c, cam = self.classifier.counts, self.camera
        return Totals(c.frames, c.kept, c.windows, c.encode_s, c.head_s, cam.skipped, cam.dropped, cam.reopens,
                      cam.online, self.out.labels_now(), self.fleet.health if self.fleet else "")

    def _publish_stats(self, fields: dict) -> None:
        self.out.stats({**fields, "encoder_device": self.classifier.model.encoder.device, "head_device": "cpu"})

    def _commands(self) -> None:
        """Between two frames: the pushed models that passed every check, the newest remote settings and the pause
        switch (checked and kept off the loop: fleet/remote.py), and a look at the control connection."""
        self.fleet.supervise(self.health.clock())
        for _ in range(4):  # at most a few per turn: frames come first
            command = self.fleet.next_command()
            if command is None:
                return
            kind, item = command
            if kind == "model":
                swap_model(item, self.classifier, self.out, self.fleet)
            else:
                self._remote_set(item)

    def _remote_set(self, change) -> None:
        """A change the remote settings' thread checked, kept and answered: only applied here."""
        if change.names:
            self._apply(change.settings, change.names)
        if change.paused is not None and change.paused != self.paused:
            self._pause(change.paused)

    def _pause(self, paused: bool) -> None:
        """The pause switch: the activity closes, the camera is released, nothing is encoded; resume reopens it."""
        self.paused = paused
        if paused:
            self.out.resets(self.classifier.restart("paused"))
            self.camera.release()
            self.out.camera("paused", self.camera.description)
            log.info("detection paused: camera released, no frames encoded")
        else:
            log.info("detection resumed: reopening the camera")
            self.camera.resume()
        self.fleet.settings_changed(self.settings, paused)

    def reload(self) -> None:
        """SIGHUP: read the settings again and apply those that may change while running."""
        new = _reread(self.config)
        if new is None:
            return
        changed = self.settings.changed(new)
        later = [n for n in changed if not BY_NAME[n].live]
        if later:
            log.warning("reload: %s changed, which needs a restart (systemctl restart edge-lrcn); still running "
                        "with the old value%s", ", ".join(later), "s" if len(later) > 1 else "")
        self._apply(new, [n for n in changed if BY_NAME[n].live])
        log.info("reloaded settings from %s", self.config.path)

    def _apply(self, new: Settings, live: list[str]) -> None:
        """Take the values of ``live`` from ``new`` and apply them while running (a reload, remote settings)."""
        sinks = bool(SINK_SETTINGS & set(live))
        if sinks and not self.out.replace_sinks(new):
            live = [n for n in live if n not in SINK_SETTINGS]
        elif sinks and self.fleet:
            log.warning("reload: the sinks use the new MQTT settings; model pushes and remote settings keep the old "
                        "connection until a restart (systemctl restart edge-lrcn)")
        self.settings = s = self.settings.taking(new, live)
        self.out.apply(s)  # each stage its section
        self.classifier.apply(s.events)
        if "regions" in live:
            self._use_regions(s.camera.regions)
        self.camera.apply(s.camera)
        self.health.apply(s.service, s.events)
        if self.fleet:
            self.fleet.took_settings(s)
            if set(live) & set(REMOTE_SETTINGS):
                self.fleet.settings_changed(s, self.paused)

    def _use_regions(self, regions) -> None:
        """Other regions between two frames: the streams that went or moved end their activities (``regions``),
        the new ones start with an empty window, the sinks get their topics and entities."""
        self.out.resets(self.classifier.set_regions(regions))
        self.out.use_regions(list(regions or ()), self.classifier.last_t)
        log.info("regions: %s", ", ".join(f"{r.name} {list(r.box)}" for r in regions or ()) or "the whole frame")

    def _shutdown(self) -> None:
        self.health.notifier.stopping()
        self.out.close(self.classifier.last_t, "shutdown")
        start = time.monotonic()
        if self.clips:  # open clips are finished (post-roll cut short) and renamed into place
            self.clips.close(CLIPS_CLOSE_S)
        if self.classifier.counts.frames and self.settings.events.stats_interval:
            self._publish_stats(self.health.stats(self._totals()))
        self.camera.stop()  # no more frames; the source is closed once the sinks are flushed
        if self.fleet:
            self.fleet.close()
        if self.page:
            self.page.close()
        self.out.fanout.close(SHUTDOWN_BUDGET_S - (time.monotonic() - start), CLOSE_RESERVE_S)
        self.camera.close()
        self.health.notifier.close()


def _reread(config: ConfigSource | None) -> Settings | None:
    """The settings read again for a reload; None (logged) when there is no file or it is wrong."""
    if config is None:
        log.warning("reload: this daemon has no config source; nothing to reload")
        return None
    try:
        return config.load()
    except UsageError as exc:
        log.error("reload failed, keeping the old settings: %s", exc)
    except Exception as exc:  # noqa: BLE001 - a reload must never end the daemon
        log.error("reload failed, keeping the old settings: %s: %s", type(exc).__name__, exc)
    return None


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
    d._woken.set()  # a paused loop, and a camera's reopen back-off, wait no longer
    d.camera.wake()


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


class _StopDuringStart(BaseException):
    """SIGTERM/SIGINT before the loop runs: raised by the start-up handler out of whatever blocks (reading the
    bundle, its check in a child process), so that the daemon stops at once with exit 0."""


def _stop_at_start(*_) -> None:
    raise _StopDuringStart()


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
    return Daemon(settings, classifier, sinks, camera, config, fleet=fleet, clips=clips, page=page)


def run_from_args(args) -> int:
    """SIGTERM/SIGINT are handled before anything that can block: during start-up they end the process (exit 0);
    a SIGHUP during start-up is applied once the loop runs."""
    hup = []
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop_at_start)
        signal.signal(signal.SIGINT, _stop_at_start)
        signal.signal(signal.SIGHUP, lambda *_: hup.append(1))
    try:
        daemon = build(ConfigSource.from_args(args))
        daemon._reload_at_start = bool(hup)
        return daemon.run()
    except _StopDuringStart:
        log.info("stopped during start-up")
        return EXIT_OK
