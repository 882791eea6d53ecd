"""Run settings: flags > environment (``EDGE_LRCN_*``) > config file (TOML) > defaults, from one schema.

Every setting has one name. In the TOML file it lives at top level or in its section (``[events]``, ``[mqtt]``,
``[camera]``, ``[service]``); on the command line it is ``--name-with-dashes``; in the environment
``EDGE_LRCN_NAME`` (upper case). Unknown keys and bad values are errors that name the key and where it came from.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10 (JetPack 6)
    import tomli as tomllib

DEFAULT_CONFIG_PATH = "/etc/edge-lrcn/config.toml"


def _bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {v!r}")


def _num(kind, lo=None, hi=None):
    def conv(v):
        if isinstance(v, bool):
            raise ValueError(f"expected a number, got {v!r}")
        if kind is int and isinstance(v, float) and not v.is_integer():
            raise ValueError(f"expected a whole number, got {v!r}")
        x = kind(v)
        if (lo is not None and x < lo) or (hi is not None and x > hi):
            raise ValueError(f"must be between {lo} and {hi}, got {x}")
        return x
    return conv


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"expected a string, got {v!r}")
    return v


def _str_list(v: Any) -> list[str]:
    if isinstance(v, str):
        return [s.strip() for s in v.split(",") if s.strip()]
    if isinstance(v, list) and all(isinstance(s, str) for s in v):
        return list(v)
    raise ValueError(f"expected a list of strings, got {v!r}")


def _choice(*options):
    def conv(v):
        v = _str(v)
        if v not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {v!r}")
        return v
    return conv


@dataclass(frozen=True)
class Setting:
    name: str
    section: str | None
    conv: Callable[[Any], Any]
    default: Any
    help: str
    flag: bool = True  # settable on the command line (secrets are not)


S = Setting
SCHEMA: list[Setting] = [
    S("model", None, _str, None, "model bundle (.lrcn); default: the embedded model"),
    S("verify_model", None, _bool, True, "load a new bundle's models in a child process once before using them"),
    S("source", None, _str, "/dev/video0", "frame source: /dev/videoN, N, file, rtsp://..., gst:PIPELINE, picamera2[:N]"),
    S("realtime", None, _bool, False, "pace file sources at their native rate"),
    S("device_id", None, _str, None, "device id in events and topics (default: hostname)"),
    S("threads", None, _num(int, 1, 64), None, "interpreter threads (default: min(4, cores))"),
    S("delegate", None, _str, "cpu", "cpu, gpu, edgetpu or a delegate .so path"),
    S("require_delegate", None, _bool, False, "exit 2 instead of falling back to the CPU"),
    S("gpu_delegate_library", None, _str, "libtensorflowlite_gpu_delegate.so", "GPU delegate library (name or path)"),
    S("stride", None, _num(int, 1, 1000), 1, "run the head every N kept frames"),
    S("sinks", None, _str_list, ["stdout"], "stdout and/or mqtt[s]://[user@]host[:port] (repeat --sink)"),
    S("width", "camera", _num(int, 16, 8192), 640, "camera capture width"),
    S("height", "camera", _num(int, 16, 8192), 480, "camera capture height"),
    S("camera_fps", "camera", _num(float, 1, 240), 30.0, "camera capture fps"),
    S("stall_timeout", "camera", _num(float, 0.5, 3600), 5.0, "seconds without a new frame before a camera is offline"),
    S("reopen_max_delay", "camera", _num(float, 0.5, 3600), 30.0, "cap of the camera reopen backoff (s)"),
    S("enter_threshold", "events", _num(float, 0.0, 1.0), 0.4, "smoothed probability that starts an activity"),
    S("exit_threshold", "events", _num(float, 0.0, 1.0), 0.3, "smoothed probability below which it ends"),
    S("smoothing", "events", _num(int, 1, 1000), 12, "windows averaged"),
    S("min_duration", "events", _num(float, 0.0, 3600), 1.5, "seconds a label must lead before activity_start"),
    S("scores", "events", _bool, False, "also emit per-window scores"),
    S("cut_threshold", "events", _num(float, 0.0, 1.0), 0.07,
      "mean absolute change between consecutive model inputs (0-1) that counts as a scene cut and restarts the "
      "window (0: off)"),
    S("stats_interval", "events", _num(float, 0.0, 86400), 60.0, "seconds between stats objects (0: off)"),
    S("topic_prefix", "mqtt", _str, None, "topic prefix (default edge-lrcn/<device_id>)"),
    S("qos", "mqtt", _num(int, 0, 1), 1, "QoS of events and availability"),
    S("keepalive", "mqtt", _num(int, 5, 3600), 30, "MQTT keepalive (s)"),
    S("client_id", "mqtt", _str, None, "MQTT client id (default edge-lrcn-<device_id>)"),
    S("ca_file", "mqtt", _str, None, "TLS CA certificate (PEM)"),
    S("cert_file", "mqtt", _str, None, "TLS client certificate (PEM)"),
    S("key_file", "mqtt", _str, None, "TLS client key (PEM)"),
    S("tls_insecure", "mqtt", _bool, False, "do not verify the broker's host name (testing only)"),
    S("username", "mqtt", _str, None, "MQTT user name (or user@ in the sink URL)"),
    S("password_file", "mqtt", _str, None, "file holding the MQTT password"),
    S("password_env", "mqtt", _str, None, "name of an environment variable holding the MQTT password", False),
    S("password_credential", "mqtt", _str, "mqtt-password", "systemd credential name ($CREDENTIALS_DIRECTORY)"),
    S("queue_limit", "mqtt", _num(int, 0, 10_000_000), 10000, "QoS 1 messages kept while disconnected"),
    S("ha_discovery", "mqtt", _bool, True, "publish Home Assistant discovery configs"),
    S("ha_prefix", "mqtt", _str, "homeassistant", "Home Assistant discovery prefix"),
    S("watchdog", "service", _bool, True, "send systemd WATCHDOG=1 while frames advance"),
]
BY_NAME = {s.name: s for s in SCHEMA}
SECTIONS = {s.section for s in SCHEMA if s.section}


def env_name(name: str) -> str:
    return "EDGE_LRCN_" + name.upper()


def load_config_file(path: str | os.PathLike | None, must_exist: bool = False) -> dict[str, Any]:
    """Read and check a TOML config file; returns {name: converted value}."""
    if path is None:
        return {}
    path = Path(path)
    if not path.exists():
        if must_exist:
            raise UsageError(f"config file not found: {path}")
        return {}
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise UsageError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    out: dict[str, Any] = {}

    def take(key, value, section):
        where = f"{path}: {section + '.' if section else ''}{key}"
        s = BY_NAME.get(key)
        if s is None or (s.section is not None and s.section != section) or (s.section is None and section):
            hint = f" (did you mean [{s.section}] {key}?)" if s and s.section != section else ""
            raise UsageError(f"{where}: unknown key{hint}")
        try:
            out[key] = s.conv(value)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"{where}: {exc}") from None

    for key, value in raw.items():
        if isinstance(value, dict):
            if key not in SECTIONS:
                raise UsageError(f"{path}: unknown section [{key}] (sections: {', '.join(sorted(SECTIONS))})")
            for k, v in value.items():
                take(k, v, key)
        else:
            take(key, value, None)
    return out


def resolve(flags: dict[str, Any], config_path: str | os.PathLike | None, environ=None,
            must_exist: bool = False) -> dict[str, Any]:
    """Merge settings: flags (non-None) > environment > config file > defaults."""
    environ = os.environ if environ is None else environ
    from_file = load_config_file(config_path, must_exist)
    out = {}
    for s in SCHEMA:
        if flags.get(s.name) is not None:
            try:
                out[s.name] = s.conv(flags[s.name])
            except (TypeError, ValueError) as exc:
                raise UsageError(f"--{s.name.replace('_', '-')}: {exc}") from None
        elif env_name(s.name) in environ:
            try:
                out[s.name] = s.conv(environ[env_name(s.name)])
            except (TypeError, ValueError) as exc:
                raise UsageError(f"{env_name(s.name)}: {exc}") from None
        elif s.name in from_file:
            out[s.name] = from_file[s.name]
        else:
            out[s.name] = s.default
    return out
