"""The fleet's commands (fleet/commands.py) applied by the daemon's loop between two frames, through one table
keyed by the command's type: a pushed model swapped in, remote settings applied as a reload applies them, the pause
switch releasing or reopening the camera."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from . import reload
from .fleet.commands import ApplySettings, Command, Pause, SwapModel
from .model.loader import release_memory
from .running import Running

log = logging.getLogger(__name__)
PER_TURN = 4  # commands applied per turn of the loop at most: frames come first


def swap_model(d: Running, command: SwapModel) -> None:
    """A pushed model that passed every check, swapped in between two frames: the open activity closes under the
    old model, the classifier and the announcer take the new one, and the old one's memory is given back."""
    fleet, prepared = d.fleet, command.prepared
    if fleet is None or not fleet.keep(prepared):
        return
    model = prepared.model
    d.out.close(d.classifier.last_t, "model")
    d.classifier.use(model)
    reload.decode_size(d)
    d.out.use_model(model.labels, model.model_id)
    fleet.swapped(prepared)
    release_memory()


def apply_settings(d: Running, command: ApplySettings) -> None:
    """Remote settings the remote settings' thread checked, kept and answered: only applied here."""
    reload.apply(d, command.settings, list(command.names))


def pause(d: Running, command: Pause) -> None:
    """The pause switch: the activity closes, the camera is released, nothing is encoded; resume reopens it."""
    if command.paused == d.paused:
        return
    d.paused = command.paused
    if d.paused:
        d.out.resets(d.classifier.restart("paused"))
        d.camera.release()
        d.out.camera("paused", d.camera.description)
        log.info("detection paused: camera released, no frames encoded")
    else:
        log.info("detection resumed: reopening the camera")
        d.camera.resume()
    if d.fleet:
        d.fleet.settings_changed(d.settings, d.paused)


HANDLERS: dict[type, Callable[[Running, Any], None]] = {  # each takes its own command type
    SwapModel: swap_model, ApplySettings: apply_settings, Pause: pause}


def apply(d: Running, command: Command) -> None:
    HANDLERS[type(command)](d, command)


def take_commands(d: Running, now: float) -> None:
    """Between two frames: a look at the control connection, then the commands waiting (checked and kept off the
    loop), ``PER_TURN`` at most."""
    if d.fleet is None:
        return
    d.fleet.supervise(now)
    for _ in range(PER_TURN):
        command = d.fleet.next_command()
        if command is None:
            return
        apply(d, command)
