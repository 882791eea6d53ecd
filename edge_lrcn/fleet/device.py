"""The fleet side of a running daemon: the control connection, the state directory and what runs, wired once by
``build`` (:func:`start_fleet`) and told by the daemon's loop what it did (:class:`FleetDevice`)."""

from __future__ import annotations

import logging
import queue
from dataclasses import dataclass, field
from typing import Callable

from ..config import Settings, state_dir
from ..publish.urls import SinkType
from ..errors import BundleError
from ..model.bundle import Bundle
from ..model.loader import Model
from ..publish.mqtt import remote_on
from .control import Control, model_object
from .keys import PublicKey, load_trusted
from .remote import settings_object
from .state import StateDir
from .update import Prepared, check_required_signature, startup_bundle

log = logging.getLogger(__name__)
SUPERVISE_S = 1.0  # how often the loop looks at the control connection's thread


@dataclass
class Trust:
    """What a start decided: the trusted keys, the state directory, the bundle to run and its signer."""

    keys: list[PublicKey]
    state: StateDir
    model: str | None  # None: the embedded model
    signer: PublicKey | None = None
    problems: list[str] = field(default_factory=list)  # key files and folders refused (logged, skipped)

    @classmethod
    def of(cls, settings: Settings) -> "Trust":
        """A bad key file or folder is logged and skipped, the other keys are used (fleet/keyfiles.py); the pushed
        model kept in the state directory runs unless ``--model`` is given on the command line
        (update.startup_bundle)."""
        problems: list[str] = []
        keys = load_trusted(list(settings.fleet.trusted_keys), strict=False, problems=problems)
        state = StateDir(state_dir(settings.fleet))
        model, signer = startup_bundle(settings, keys, state)
        return cls(keys, state, model, signer, problems)

    def check(self, bundle: Bundle, settings: Settings) -> None:
        """``require_signature``: exit 3 for a bundle no trusted key signed, and for any ``model`` when every
        trusted key file was refused (a bad key file must not turn the requirement off)."""
        model = settings.run.model
        if settings.fleet.require_signature and model and not self.keys and self.problems:
            raise BundleError(f"require_signature is set and no trusted key could be read ({len(self.problems)} "
                              f"key file(s) refused, see above): {model} is not run")
        self.signer = self.signer or check_required_signature(bundle, settings, self.keys)


@dataclass
class FleetDevice:
    control: Control
    state: StateDir
    signer: PublicKey | None
    max_bytes: int
    _paused: bool = field(default=False, repr=False)
    _supervised: float = field(default=0.0, repr=False)

    @property
    def updates(self) -> bool:
        return self.control.updater is not None

    @property
    def paused_at_start(self) -> bool:
        """The pause switch kept in the state directory; only while remote settings are on (with them off nobody
        could switch it off again: a kept one is ignored, and said)."""
        if self.state.paused and not self.control.remote:
            log.warning("ignoring the pause switch kept in %s: remote settings are off (remote_settings)",
                        self.state.path)
            return False
        return self.state.paused

    def started(self, model: Model, settings, wake: Callable[[], None]) -> None:
        self.control.wake = wake
        self.control.publish_model(model_object(model, self.signer, self.updates, self.max_bytes))
        # paused before a restart: no "false" flicker
        self.settings_changed(settings, self.state.paused and self.control.remote is not None)

    def keep(self, prepared: Prepared) -> bool:
        """The checked bundle becomes the one a restart runs; False (answered) when it cannot be kept."""
        try:
            self.state.commit(prepared.staged)
            if prepared.release:
                self.state.write_release(prepared.release)
                self.control.updater.floor = prepared.release
        except OSError as exc:
            prepared.staged.unlink(missing_ok=True)
            self.control.refuse_model(prepared.transaction, f"cannot keep the model in {self.state.path}: "
                                                            f"{exc.strerror or exc}")
            return False
        return True

    def swapped(self, prepared: Prepared) -> None:
        self.signer = prepared.signer
        self.control.publish_model(model_object(prepared.model, prepared.signer, True, self.max_bytes))
        self.control.accept_model(prepared.transaction, prepared.model.model_id)
        log.info("now running the pushed model %s (labels: %s; signed by %s)", prepared.model.model_id,
                 ", ".join(prepared.model.labels), prepared.signer.name)

    def next_command(self):
        """Between two frames: ``("model", Prepared)``, ``("set", Change)`` or None. Models first (each is one);
        the settings requests checked since the last call come as one change."""
        try:
            return self.control.commands.get_nowait()
        except queue.Empty:
            pass
        change = self.control.remote.take() if self.control.remote else None
        return ("set", change) if change else None

    def took_settings(self, settings) -> None:
        """The loop's settings changed (a reload): remote requests are checked against these from now on."""
        if self.control.remote:
            self.control.remote.settings = settings

    def supervise(self, now: float) -> None:
        """Now and then (``SUPERVISE_S``): the control connection's thread restarted if it ended."""
        if now - self._supervised >= SUPERVISE_S:
            self._supervised = now
            self.control.supervise()

    @property
    def health(self) -> str:
        """What STATUS= says of the control connection."""
        c = self.control
        state = "up" if c.alive else "down"
        return f"control {state}" + (f", restarted {c.restarts}x" if c.restarts else "")

    def settings_changed(self, settings, paused: bool) -> dict:
        obj = settings_object(settings, paused)
        self.control.publish_settings(obj)
        return obj

    def close(self) -> None:
        self.control.close()


def start_fleet(settings: Settings, trust: Trust, device_id: str, open_model: Callable[[Bundle], Model],
                config=None) -> FleetDevice | None:
    """The control connection to the first MQTT sink's broker; None without an MQTT sink."""
    mqtt = [spec for spec in settings.run.sinks if spec.type is SinkType.MQTT]
    if not mqtt:
        if trust.keys:
            log.warning("trusted keys are set but there is no MQTT sink: this device takes no model pushes")
        return None
    trust.state.clean()
    mqtt_settings, fleet = settings.mqtt, settings.fleet
    prefix = (mqtt_settings.topic_prefix or f"edge-lrcn/{device_id}").rstrip("/")
    updater = dict(trusted=trust.keys, state=trust.state, max_bytes=fleet.max_model_bytes,
                   open_model=open_model) if trust.keys else None
    if fleet.remote_settings not in (True, False) and not remote_on(fleet, mqtt_settings, mqtt[0]):
        log.info("remote settings and the pause switch are off: this daemon does not authenticate to the broker "
                 "(remote_settings = auto; set it to true to take them from anyone who may publish on %s/set)",
                 prefix)
    control = Control(mqtt[0], settings, prefix, mqtt_settings.client_id or f"edge-lrcn-{device_id}",
                      updater, wake=lambda: None, config=config, state=trust.state)
    return FleetDevice(control, trust.state, trust.signer, fleet.max_model_bytes)
