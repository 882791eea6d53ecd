"""``<prefix>/set``: the settings that may change without a restart, and the pause switch, set over MQTT.

A request is a JSON object of settings (``enter_threshold``, ``exit_threshold``, ``smoothing``, ``min_duration``,
``scores``, ``regions``) and/or ``"paused": true|false``, with an optional ``transaction``. Each value is checked by the same
typed settings as the config file (edge_lrcn.config), the threshold order included, against the merged result. Accepted
values are kept in the state directory's ``settings.json`` and apply at once. Precedence: command line (flags and
``EDGE_LRCN_*``) > remote > config file > defaults; a request for a setting the command line fixes is refused.
"""

from __future__ import annotations

from ..config import REMOTE_SETTINGS, Settings, read_remote
from ..config.remote import jsonable
from ..errors import UsageError
from .state import StateDir


def settings_object(settings: Settings, paused: bool) -> dict:
    """The retained ``<prefix>/settings``: what Home Assistant's numbers and switch show."""
    values = settings.values()
    return {**{n: jsonable(values[n]) for n in REMOTE_SETTINGS}, "paused": paused}


def remote_change(request: dict, config, settings: Settings, state: StateDir):
    """Check, keep and return ``(new settings, names set, paused or None)``; UsageError says why not (and then
    nothing was changed)."""
    allowed = set(REMOTE_SETTINGS) | {"paused", "transaction"}
    unknown = sorted(set(request) - allowed)
    if unknown:
        raise UsageError(f"not settable remotely: {', '.join(unknown)} (remote settings: "
                         f"{', '.join(REMOTE_SETTINGS)}, paused)")
    values = {k: request[k] for k in REMOTE_SETTINGS if k in request}
    for name in values:
        if settings.where(name).startswith(("--", "EDGE_LRCN_")):
            raise UsageError(f"{name} is set by {settings.where(name)}, which wins over remote settings")
    paused = request.get("paused")
    if paused is not None and not isinstance(paused, bool):
        raise UsageError(f"paused: expected true or false, got {paused!r}")
    if config is None:
        raise UsageError("this daemon has no config source: remote settings are off")
    merged = {**read_remote(state.path), **values}
    new = config.load(remote=merged) if values else settings
    try:
        if values:
            state.write_settings(merged)
        if paused is not None:
            state.set_paused(paused)
    except OSError as exc:
        raise UsageError(f"cannot keep the settings in {state.path}: {exc.strerror or exc}") from None
    return new, list(values), paused
