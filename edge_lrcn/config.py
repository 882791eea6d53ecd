"""Run settings: flags > environment (``EDGE_LRCN_*``) > remote (``<prefix>/set``, kept in the state directory) >
config file (TOML) > defaults, from one schema.

Every setting has one name. In the TOML file it lives at top level or in its section (``[events]``, ``[mqtt]``,
``[camera]``, ``[service]``, ``[fleet]``, ``[clips]``); on the command line it is ``--name-with-dashes``; in the
environment
``EDGE_LRCN_NAME`` (upper case). Unknown keys and bad values are errors that name the key and where it came from
(with the closest key for a typo); the checks that involve several settings (threshold order, sink URLs and ports,
TLS file pairs) live here too, so ``check-config`` and the daemon refuse the same things. The ``live`` column marks
what a reload (SIGHUP) applies; a change to any other setting needs a restart.
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

from .errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10 (JetPack 6)
    import tomli as tomllib

log = logging.getLogger(__name__)
DEFAULT_CONFIG_PATH = "/etc/edge-lrcn/config.toml"
DEFAULT_TRUSTED_KEYS = "/etc/edge-lrcn/trusted-keys"  # a directory of *.pub files; optional
DEFAULT_STATE_DIR = "/var/lib/edge-lrcn"  # the unit's StateDirectory ($STATE_DIRECTORY wins)
REMOTE_SETTINGS = ("enter_threshold", "exit_threshold", "smoothing", "min_duration", "scores")  # <prefix>/set
REMOTE_FILE = "settings.json"  # in the state directory: the settings changed remotely


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
        if not math.isfinite(x):
            raise ValueError(f"expected a finite number, got {v!r}")
        if (lo is not None and x < lo) or (hi is not None and x > hi):
            raise ValueError(f"must be between {lo} and {hi}, got {x}")
        return x
    return conv


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"expected a string, got {v!r}")
    return v


def _choice(*options: str):
    def conv(v):
        if v not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {v!r}")
        return v
    return conv


def _topic_part(what: str, max_bytes: int, levels: bool):
    """An MQTT name: UTF-8, no NUL or control characters, no wildcard (``#``, ``+``), not a ``$`` system topic, at
    most ``max_bytes``; ``levels``: may hold ``/`` (a prefix of several levels, none empty)."""
    def conv(v: Any) -> str:
        v = _str(v)
        if not v:
            raise ValueError(f"{what} is empty")
        bad = sorted({c for c in v if c in "#+" or ord(c) < 32 or ord(c) == 127 or (c == "/" and not levels)})
        if bad:
            raise ValueError(f"{what} {v!r} holds {', '.join(map(repr, bad))}: not allowed in an MQTT topic")
        if v.startswith("$"):
            raise ValueError(f"{what} {v!r} starts with $ (reserved for the broker's own topics)")
        if levels and "" in v.rstrip("/").split("/"):
            raise ValueError(f"{what} {v!r} has an empty topic level")
        if len(v.encode()) > max_bytes:
            raise ValueError(f"{what} is {len(v.encode())} bytes long, at most {max_bytes}")
        return v
    return conv


def _client_id(v: Any) -> str:
    v = _str(v)
    if not v or "\0" in v or len(v.encode()) > 128:
        raise ValueError(f"MQTT client id {v!r} must be 1 to 128 bytes without NUL")
    return v


def _str_list(v: Any) -> list[str]:
    if isinstance(v, str):
        return [s.strip() for s in v.split(",") if s.strip()]
    if isinstance(v, list) and all(isinstance(s, str) for s in v):
        return list(v)
    raise ValueError(f"expected a list of strings, got {v!r}")


@dataclass(frozen=True)
class Setting:
    name: str
    section: str | None
    conv: Callable[[Any], Any]
    default: Any
    help: str
    flag: bool = True  # settable on the command line (secrets are not)
    live: bool = False  # a reload (SIGHUP) applies it; the others need a restart


S = Setting
SCHEMA: list[Setting] = [
    S("model", None, _str, None, "model bundle (.lrcn); default: the embedded model"),
    S("verify_model", None, _bool, True, "load a new bundle's models in a child process once before using them"),
    S("source", None, _str, "/dev/video0", "frame source: /dev/videoN, N, file, rtsp://..., gst:PIPELINE, picamera2[:N]"),
    S("realtime", None, _bool, False, "pace file sources at their native rate"),
    S("device_id", None, _topic_part("device id", 64, False), None, "device id in events and topics (default: hostname)"),
    S("threads", None, _num(int, 1, 64), None, "interpreter threads (default 1: the models are too small to split; see docs/deploy.md)"),
    S("delegate", None, _str, "cpu", "cpu, gpu (LiteRT GPU accelerator, then gpu_delegate_library), edgetpu or a "
      "delegate .so path"),
    S("encoder", None, _choice("auto", "int8", "fp16"), "auto", "CPU encoder: auto (the faster here of the bundle's "
      "encoders that are as accurate as the best, timed at start), int8 or fp16"),
    S("require_delegate", None, _bool, False, "exit 2 instead of falling back to the CPU"),
    S("gpu_delegate_library", None, _str, None, "legacy TFLite GPU delegate library (name or path), tried by "
      "--delegate gpu when LiteRT's own GPU accelerator cannot run the model"),
    S("stride", None, _num(int, 1, 1000), 1, "run the head every N kept frames"),
    S("sinks", None, _str_list, ["stdout"], "stdout and/or mqtt[s]://[user@]host[:port] (repeat --sink)", live=True),
    S("width", "camera", _num(int, 16, 8192), None, "camera capture width (default: from the model, see "
      "docs/deploy.md)"),
    S("height", "camera", _num(int, 16, 8192), None, "camera capture height (default: from the model)"),
    S("camera_fps", "camera", _num(float, 1, 240), None, "camera capture fps (default: from the model)"),
    S("stall_timeout", "camera", _num(float, 0.5, 3600), 5.0, "seconds without a new frame before a camera is offline",
      live=True),
    S("reopen_max_delay", "camera", _num(float, 0.5, 3600), 30.0, "cap of the camera reopen backoff (s)", live=True),
    S("enter_threshold", "events", _num(float, 0.0, 1.0), 0.4, "smoothed probability that starts an activity",
      live=True),
    S("exit_threshold", "events", _num(float, 0.0, 1.0), 0.3, "smoothed probability below which it ends", live=True),
    S("smoothing", "events", _num(int, 1, 1000), 12, "windows averaged", live=True),
    S("min_duration", "events", _num(float, 0.0, 3600), 1.5, "seconds a label must lead before activity_start",
      live=True),
    S("scores", "events", _bool, False, "also emit per-window scores", live=True),
    S("cut_threshold", "events", _num(float, 0.0, 1.0), 0.07,
      "mean absolute change between consecutive model inputs (0-1) that counts as a scene cut and restarts the "
      "window (0: off)", live=True),
    S("stats_interval", "events", _num(float, 0.0, 86400), 60.0, "seconds between stats objects (0: off)", live=True),
    S("topic_prefix", "mqtt", _topic_part("topic prefix", 512, True), None, "topic prefix (default edge-lrcn/<device_id>)", live=True),
    S("qos", "mqtt", _num(int, 0, 1), 1, "QoS of the activity events (0 or 1); availability, discovery, the activity "
      "state and the camera state are always QoS 1", live=True),
    S("keepalive", "mqtt", _num(int, 5, 3600), 30, "MQTT keepalive (s)", live=True),
    S("client_id", "mqtt", _client_id, None, "MQTT client id (default edge-lrcn-<device_id>)", live=True),
    S("ca_file", "mqtt", _str, None, "TLS CA certificate (PEM)", live=True),
    S("cert_file", "mqtt", _str, None, "TLS client certificate (PEM)", live=True),
    S("key_file", "mqtt", _str, None, "TLS client key (PEM)", live=True),
    S("tls_insecure", "mqtt", _bool, False, "do not verify the broker's host name (testing only)", live=True),
    S("username", "mqtt", _str, None, "MQTT user name (or user@ in the sink URL)", live=True),
    S("password_file", "mqtt", _str, None, "file holding the MQTT password", live=True),
    S("password_env", "mqtt", _str, None, "name of an environment variable holding the MQTT password", False,
      live=True),
    S("password_credential", "mqtt", _str, "mqtt-password", "systemd credential name ($CREDENTIALS_DIRECTORY)",
      live=True),
    S("queue_limit", "mqtt", _num(int, 1, 10_000_000), 10000, "QoS 1 messages kept while disconnected (the oldest "
      "undelivered ones; newer ones are dropped and counted)", live=True),
    S("ha_discovery", "mqtt", _bool, True, "publish Home Assistant discovery configs", live=True),
    S("ha_prefix", "mqtt", _topic_part("ha_prefix", 512, True), "homeassistant", "Home Assistant discovery prefix", live=True),
    S("idle_labels", "mqtt", _str_list, ["still", "idle", "none", "background"],
      "labels that are not activities: no Home Assistant binary sensor for them (case-insensitive; only the model's "
      "labels count)", live=True),
    S("snapshots", "mqtt", _bool, True, "publish a JPEG of the frame at each activity_start on <prefix>/snapshot "
      "(retained) with a Home Assistant image entity", live=True),
    S("watchdog", "service", _bool, True, "send systemd WATCHDOG=1 while frames advance", live=True),
    S("trusted_keys", "fleet", _str_list, [DEFAULT_TRUSTED_KEYS], "public keys (.pub files, or directories of "
      "them) whose signed bundles may be pushed over MQTT (repeat --trusted-key); none: no pushes"),
    S("require_signature", "fleet", _bool, False, "with trusted keys, also refuse an unsigned --model bundle"),
    S("state_dir", "fleet", _str, None, "where pushed models and remote settings are kept (default "
      f"$STATE_DIRECTORY, else {DEFAULT_STATE_DIR})"),
    S("max_model_bytes", "fleet", _num(int, 1024, 256 * 1024 * 1024), 32 * 1024 * 1024,
      "largest model bundle a push may carry (bytes)"),
    S("remote_settings", "fleet", _bool, True, "accept settings and the pause switch on <prefix>/set (and offer "
      "them to Home Assistant)"),
    S("clips_dir", "clips", _str, None, "write a video clip, a JSON sidecar and a snapshot per activity here "
      "(default: off; docs/clips.md)"),
    S("pre_roll", "clips", _num(float, 0.0, 60.0), 5.0, "seconds of video kept before each activity_start"),
    S("post_roll", "clips", _num(float, 0.0, 60.0), 3.0, "seconds recorded after each activity_end"),
    S("clips_max_mb", "clips", _num(float, 0.1, 10_000_000), 1024.0, "disk budget of the clips folder (MB); the "
      "oldest clips are removed first"),
    S("clips_max_width", "clips", _num(int, 16, 8192), 1280, "clips and snapshots wider than this are scaled down"),
    S("clips_fps", "clips", _num(float, 0.0, 240), 15.0, "frame rate cap of the clips (0: every frame); the clip "
      "writer's CPU is proportional to it"),
    S("clips_format", "clips", _choice("mp4", "webm"), "mp4", "mp4 (MPEG-4 Part 2: cheap; OpenCV, VLC, HA) or "
      "webm (VP8: plays in browsers, about 10x the encoding CPU)"),
    S("clips_buffer_mb", "clips", _num(float, 1.0, 4096), 64.0, "memory cap of the pre-roll buffer of JPEG frames "
      "(MB)"),
    S("http", "page", _str, None, "serve the page (live view, events, labelling) on HOST:PORT, e.g. "
      "127.0.0.1:8080 (default: off; docs/http.md)"),
    S("http_password_file", "page", _str, None, "file holding the page's password (needed to bind anything but "
      "loopback)"),
    S("dataset_dir", "page", _str, None, "the dataset folder the page labels clips into (convert's layout)"),
]
BY_NAME = {s.name: s for s in SCHEMA}
SECTIONS = {s.section for s in SCHEMA if s.section}


def env_name(name: str) -> str:
    return "EDGE_LRCN_" + name.upper()


def flag_of(name: str) -> str:
    return {"sinks": "--sink", "trusted_keys": "--trusted-key"}.get(name, "--" + name.replace("_", "-"))


def key_of(name: str) -> str:
    """The TOML key of a setting, with its section: ``events.enter_threshold``."""
    s = BY_NAME[name]
    return f"{s.section}.{name}" if s.section else name


# ---- sinks -------------------------------------------------------------------------------------------------------
class SinkType(Enum):
    STDOUT = "stdout"
    MQTT = "mqtt"


@dataclass(frozen=True)
class SinkSpec:
    """One ``sinks`` entry, parsed: ``stdout`` or ``mqtt[s]://[user@]host[:port]``."""

    type: SinkType
    url: str = "stdout"
    host: str = ""
    port: int = 0
    tls: bool = False
    username: str | None = None


def parse_sink(spec: str) -> SinkSpec:
    """Parse and check one sink spec; ValueError says what is wrong."""
    spec = spec.strip()
    if spec == "stdout":
        return SinkSpec(SinkType.STDOUT)
    if not spec.startswith(("mqtt://", "mqtts://")):
        raise ValueError(f"unknown sink {spec!r}: use stdout or mqtt://[user@]host[:port] (mqtts:// for TLS)")
    parts = urlsplit(spec)
    if parts.password is not None:
        raise ValueError("do not put the MQTT password in the sink URL (it would show in ps and logs): use "
                         "password_file, password_env or the systemd credential")
    if not parts.hostname:
        raise ValueError(f"MQTT sink {spec!r} has no host")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port if parts.port is not None else (8883 if tls else 1883)
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        raise ValueError(f"MQTT sink {spec!r}: bad port (1-65535)")
    return SinkSpec(SinkType.MQTT, spec, parts.hostname, port, tls, unquote(parts.username) if parts.username else None)


# ---- problems ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """One thing wrong with the settings: where (file and key, flag or environment variable) and what."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def _closest(word: str, options) -> str | None:
    found = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.6)
    return found[0] if found else None


def _unknown_key(key: str, section: str | None) -> str:
    s = BY_NAME.get(key)
    if s is not None:  # a known key in the wrong place
        return f"unknown key (did you mean {'[' + s.section + '] ' if s.section else 'top-level '}{key}?)"
    near = _closest(key, [n for n in BY_NAME if BY_NAME[n].section == section]) or _closest(key, BY_NAME)
    return f"unknown key (did you mean {key_of(near)}?)" if near else "unknown key"


def read_file(path: str | os.PathLike | None, must_exist: bool = False) -> tuple[dict[str, Any], list[Problem]]:
    """Read and check a TOML config file: ({name: converted value}, every problem found)."""
    if path is None:
        return {}, []
    path = Path(path)
    if not path.exists():
        return {}, [Problem(str(path), "config file not found")] if must_exist else []
    if not path.is_file():  # a FIFO would block the daemon's start (and a reload) until something writes to it
        return {}, [Problem(str(path), "not a regular file")]
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        return {}, [Problem(str(path), f"not valid TOML: {exc}")]
    except UnicodeDecodeError as exc:
        return {}, [Problem(str(path), f"not a UTF-8 text file (byte {exc.start}: {exc.reason})")]
    except OSError as exc:
        return {}, [Problem(str(path), f"cannot read the config file: {exc.strerror or exc}")]
    out: dict[str, Any] = {}
    problems: list[Problem] = []

    def take(key, value, section):
        where = f"{path}: {section + '.' if section else ''}{key}"
        s = BY_NAME.get(key)
        if s is None or s.section != section:
            problems.append(Problem(where, _unknown_key(key, section)))
            return
        try:
            out[key] = s.conv(value)
        except (TypeError, ValueError) as exc:
            problems.append(Problem(where, str(exc)))

    for key, value in raw.items():
        if isinstance(value, dict) and key not in BY_NAME:
            if key not in SECTIONS:
                near = _closest(key, SECTIONS)
                problems.append(Problem(f"{path}: [{key}]", "unknown section" + (f" (did you mean [{near}]?)" if near
                                        else f" (sections: {', '.join(sorted(SECTIONS))})")))
                continue
            for k, v in value.items():
                take(k, v, key)
        else:
            take(key, value, None)
    return out, problems


def _cross_check(values: dict[str, Any], where, bad=frozenset()) -> list[Problem]:
    """The checks that involve more than one setting (each setting alone was checked by its converter); a check
    one of whose settings is in ``bad`` (could not be read) is skipped."""
    problems = []
    enter, exit_ = values["enter_threshold"], values["exit_threshold"]
    if not {"enter_threshold", "exit_threshold"} & bad and not 0 < exit_ <= enter <= 1:
        problems.append(Problem(where("exit_threshold"), f"{exit_} must be above 0 and at most enter_threshold "
                                f"{enter} ({where('enter_threshold')}): 0 < exit_threshold <= enter_threshold <= 1"))
    specs = []
    for spec in values["sinks"] if "sinks" not in bad else ():
        try:
            specs.append(parse_sink(spec))
        except ValueError as exc:
            problems.append(Problem(where("sinks"), str(exc)))
    if not values["sinks"]:
        problems.append(Problem(where("sinks"), "no sink: give stdout and/or mqtt://host"))
    mqtt = [s for s in specs if s.type is SinkType.MQTT]
    if any(s.tls for s in mqtt) and bool(values["cert_file"]) != bool(values["key_file"]):
        have, missing = ("cert_file", "key_file") if values["cert_file"] else ("key_file", "cert_file")
        problems.append(Problem(where(have), f"a TLS client certificate needs both cert_file and key_file; "
                                             f"{missing} is not set"))
    if mqtt and (values["password_file"] or values["password_env"]) and not values["username"] \
            and not all(s.username for s in mqtt):
        problems.append(Problem(where("password_file" if values["password_file"] else "password_env"),
                                "an MQTT password is set but no username (give user@host or username)"))
    problems += _check_http(values, where, bad)
    return problems


def _check_http(values: dict[str, Any], where, bad) -> list[Problem]:
    """The page (``http``): HOST:PORT; anything but loopback only with a password file (docs/http.md)."""
    if not values["http"] or "http" in bad:
        return []
    from .web.auth import is_loopback
    from .web.server import parse_http

    try:
        host, _ = parse_http(values["http"])
    except UsageError as exc:
        return [Problem(where("http"), str(exc))]
    if not values["http_password_file"] and not is_loopback(host):
        return [Problem(where("http"), f"{values['http']}: binding anything but loopback needs "
                                       f"http_password_file (a file holding the page's password)")]
    return []


# ---- settings ----------------------------------------------------------------------------------------------------
class Settings(Mapping):
    """The checked settings: every name of :data:`SCHEMA`, converted, as attributes (``s.enter_threshold``) and
    items; :meth:`where` says where a value came from (flag, environment variable, file and key, or default)."""

    def __init__(self, values: dict[str, Any], origins: dict[str, str]):
        self._values, self._origins = dict(values), dict(origins)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def where(self, name: str) -> str:
        return self._origins.get(name, f"default {key_of(name)}")

    @property
    def sink_specs(self) -> list[SinkSpec]:
        return [parse_sink(s) for s in self.sinks]

    def changed(self, other: "Settings") -> list[str]:
        """The names whose value differs in ``other``, in schema order."""
        return [s.name for s in SCHEMA if self[s.name] != other[s.name]]

    def taking(self, other: "Settings", names) -> "Settings":
        """These settings with the values (and origins) of ``names`` taken from ``other``."""
        names = list(names)
        return Settings({**self._values, **{n: other[n] for n in names}},
                        {**self._origins, **{n: other._origins[n] for n in names if n in other._origins}})


def gather(flags: dict[str, Any], config_path, environ=None, must_exist: bool = False, remote=None) \
        -> tuple[Settings | None, list[Problem]]:
    """Merge flags (non-None) > environment > ``remote`` (the settings changed over MQTT) > config file > defaults
    and check them: the settings (None when a value could not be read) and every problem found."""
    environ = os.environ if environ is None else environ
    from_file, problems = read_file(config_path, must_exist)
    values, origins = {}, {}
    bad = {name for name in BY_NAME for p in problems if p.where.endswith(f": {key_of(name)}")}
    for s in SCHEMA:
        if flags.get(s.name) is not None:
            raw, where = flags[s.name], flag_of(s.name)
        elif env_name(s.name) in environ:
            raw, where = environ[env_name(s.name)], env_name(s.name)
        elif remote and s.name in remote:
            raw, where = remote[s.name], f"remote {s.name}"
        elif s.name in from_file:
            values[s.name], origins[s.name] = from_file[s.name], f"{config_path}: {key_of(s.name)}"
            continue
        else:
            values[s.name] = s.default
            continue
        try:
            values[s.name], origins[s.name] = s.conv(raw), where
        except (TypeError, ValueError) as exc:
            problems.append(Problem(where, str(exc)))
            values[s.name], origins[s.name] = s.default, where
            bad.add(s.name)
    settings = Settings(values, origins)
    problems += _cross_check(values, settings.where, bad)
    return (None if problems else settings), problems


def resolve(flags: dict[str, Any], config_path, environ=None, must_exist: bool = False, remote=None) -> Settings:
    """The checked settings; UsageError naming the first problem (and how many more there are)."""
    settings, problems = gather(flags, config_path, environ, must_exist, remote)
    if problems:
        more = f" (and {len(problems) - 1} more: run edge-lrcn check-config)" if len(problems) > 1 else ""
        raise UsageError(f"{problems[0]}{more}")
    return settings


# ---- where the settings come from ---------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``run`` flags, one per setting of the schema (secrets excepted)."""
    p.add_argument("--config", help=f"TOML config file (default {DEFAULT_CONFIG_PATH} if it exists; "
                                     f"env EDGE_LRCN_CONFIG)")
    for s in SCHEMA:
        if not s.flag or s.name in ("sinks", "trusted_keys"):
            continue
        flag = "--" + s.name.replace("_", "-")
        if s.conv is _bool:
            p.add_argument(flag, dest=s.name, action="store_true", default=None, help=s.help)
            p.add_argument("--no-" + s.name.replace("_", "-"), dest=s.name, action="store_false", default=None,
                           help=f"turn {flag} off")
        else:
            p.add_argument(flag, dest=s.name, default=None, help=s.help)
    p.add_argument("--sink", dest="sinks", action="append", default=None,
                   help="stdout (default) or mqtt[s]://[user@]host[:port]; repeatable")
    p.add_argument("--trusted-key", dest="trusted_keys", action="append", default=None,
                   help=f"{BY_NAME['trusted_keys'].help} (default {DEFAULT_TRUSTED_KEYS}/*.pub)")


@dataclass(frozen=True)
class ConfigSource:
    """Where the daemon's settings come from: the flags it was started with and a config file, read again on
    every reload."""

    flags: dict[str, Any]
    path: str | None = None
    must_exist: bool = False  # an explicit --config or EDGE_LRCN_CONFIG must exist; the default path is optional

    @classmethod
    def from_args(cls, args, environ=None) -> "ConfigSource":
        env = os.environ if environ is None else environ
        flags = {s.name: getattr(args, s.name, None) for s in SCHEMA}
        if getattr(args, "config", None):
            return cls(flags, args.config, True)
        if env.get("EDGE_LRCN_CONFIG"):
            return cls(flags, env["EDGE_LRCN_CONFIG"], True)
        return cls(flags, DEFAULT_CONFIG_PATH, False)

    def load(self, remote: dict | None = None) -> Settings:
        """The settings; the remote layer is ``remote``, or else the one kept in the state directory (a kept file
        that no longer passes the checks is logged and left out, never fatal)."""
        base = resolve(self.flags, self.path, must_exist=self.must_exist)
        kept = remote is None
        remote = read_remote(state_dir(base)) if kept else remote
        if not remote:
            return base
        try:
            return resolve(self.flags, self.path, must_exist=self.must_exist, remote=remote)
        except UsageError as exc:
            if not kept:
                raise
            log.warning("ignoring the remote settings kept in %s: %s", state_dir(base) / REMOTE_FILE, exc)
            return base


def state_dir(settings) -> Path:
    """``state_dir``, else the unit's ``$STATE_DIRECTORY`` (its first entry), else /var/lib/edge-lrcn."""
    env = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(settings["state_dir"] or env or DEFAULT_STATE_DIR)


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
