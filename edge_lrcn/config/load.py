"""Loading and merging: flags > environment (``EDGE_LRCN_*``) > remote (``<prefix>/set``, kept in the state
directory) > config file (TOML) > defaults, each value checked by its converter, then the checks that involve
several settings (threshold order, TLS file pairs, the device page's password), so that ``check-config`` and the
daemon refuse the same things. Unknown keys and bad values are problems that name the key and where it came from
(with the closest key for a typo)."""

from __future__ import annotations

import difflib
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..publish.urls import SinkType
from .convert import typed
from .remote import REMOTE_FILE, read_remote, state_dir
from .schema import BY_NAME, DEFAULT_CONFIG_PATH, HOMES, SCHEMA, SECTIONS, env_name, flag_of, key_of
from .sections import Settings

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10 (JetPack 6)
    import tomli as tomllib

log = logging.getLogger(__name__)


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
            out[key] = typed(s.conv, value)
        except (TypeError, ValueError) as exc:
            problems.append(Problem(where, str(exc)))

    for key, value in raw.items():
        if isinstance(value, dict) and (key in SECTIONS or key not in BY_NAME):
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
    mqtt = [s for s in values["sinks"] if s.type is SinkType.MQTT] if "sinks" not in bad else []
    if any(s.tls for s in mqtt) and bool(values["cert_file"]) != bool(values["key_file"]):
        have, missing = ("cert_file", "key_file") if values["cert_file"] else ("key_file", "cert_file")
        problems.append(Problem(where(have), f"a TLS client certificate needs both cert_file and key_file; "
                                             f"{missing} is not set"))
    if mqtt and (values["password_file"] or values["password_env"]) and not values["username"] \
            and not all(s.username for s in mqtt):
        problems.append(Problem(where("password_file" if values["password_file"] else "password_env"),
                                "an MQTT password is set but no username (give user@host or username)"))
    bind = values["http"]
    if bind is not None and not bind.loopback and not values["http_password_file"] and "http" not in bad:
        problems.append(Problem(where("http"), f"{bind} is not a loopback address: anyone on the network could "
                                "use the device page; set http_password_file (or bind 127.0.0.1)"))
    return problems


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
            values[s.name], origins[s.name] = s.default, f"default {key_of(s.name)}"
            continue
        try:
            values[s.name] = typed(s.conv, raw) if where.startswith("remote ") else s.conv(raw)
            origins[s.name] = where
        except (TypeError, ValueError) as exc:
            problems.append(Problem(where, str(exc)))
            values[s.name], origins[s.name] = s.default, where
            bad.add(s.name)
    settings = Settings.of_values(values, HOMES, origins)
    problems += _cross_check(values, settings.where, bad)
    return (None if problems else settings), problems


def resolve(flags: dict[str, Any], config_path, environ=None, must_exist: bool = False, remote=None) -> Settings:
    """The checked settings; UsageError naming the first problem (and how many more there are)."""
    settings, problems = gather(flags, config_path, environ, must_exist, remote)
    if problems:
        more = f" (and {len(problems) - 1} more: run edge-lrcn check-config)" if len(problems) > 1 else ""
        raise UsageError(f"{problems[0]}{more}")
    assert settings is not None  # gather gives settings exactly when it found no problem
    return settings


@dataclass(frozen=True)
class ConfigSource:
    """Where the daemon's settings come from: the flags it was started with and a config file, read again on
    every reload."""

    flags: dict[str, Any]
    path: str | None = None
    must_exist: bool = False  # an explicit --config or EDGE_LRCN_CONFIG must exist; the default path is optional

    @classmethod
    def from_args(cls, args, environ=None) -> ConfigSource:
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
        remote = read_remote(state_dir(base.fleet)) if kept else remote
        if not remote:
            return base
        try:
            return resolve(self.flags, self.path, must_exist=self.must_exist, remote=remote)
        except UsageError as exc:
            if not kept:
                raise
            log.warning("ignoring the remote settings kept in %s: %s", state_dir(base.fleet) / REMOTE_FILE, exc)
            return base
