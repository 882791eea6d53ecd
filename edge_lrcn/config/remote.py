"""The remote settings file, ``settings.json`` in the state directory: the settings changed over MQTT
(``<prefix>/set``, fleet/remote.py), read as the remote layer of every load and written (atomically, by the
state directory) when a request is accepted. This module alone knows its name and format."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from .schema import DEFAULT_STATE_DIR
from .sections import FleetSettings

log = logging.getLogger(__name__)
REMOTE_SETTINGS = ("enter_threshold", "exit_threshold", "smoothing", "min_duration", "agree", "scores", "regions")
REMOTE_FILE = "settings.json"


def state_dir(fleet: FleetSettings) -> Path:
    """``state_dir``, else the unit's ``$STATE_DIRECTORY`` (its first entry), else /var/lib/edge-lrcn."""
    env = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(fleet.state_dir or env or DEFAULT_STATE_DIR)


def read_remote(directory: Path) -> dict[str, Any]:
    """The settings changed remotely (``<prefix>/set``) and kept in ``directory``; {} when none or unreadable."""
    path = directory / REMOTE_FILE
    try:
        values = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring the remote settings in %s: %s", path, exc)
        return {}
    if not isinstance(values, dict):
        log.warning("ignoring the remote settings in %s: not a JSON object", path)
        return {}
    return {k: v for k, v in values.items() if k in REMOTE_SETTINGS}


def remote_bytes(values: dict[str, Any]) -> bytes:
    """What :func:`read_remote` reads back: the file's contents for these values."""
    return json.dumps(jsonable(values), indent=2, sort_keys=True).encode() + b"\n"


def jsonable(value: Any) -> Any:
    """A setting's value as JSON (a region is ``{"name", "box"}``, a tuple a list)."""
    if is_dataclass(value) and not isinstance(value, type):
        return jsonable(asdict(value))
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value
