"""The converters of the schema: each takes a raw value (TOML, a flag's string, an environment variable, JSON)
and returns the typed value, or raises ValueError saying what is wrong (the caller names the key and where)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from ..publish.urls import SinkSpec, parse_sink
from .sections import HostPort, Region

MIN_REGION_SIDE = 0.02  # of the frame's width or height: a smaller region is a few pixels, nothing to classify


def boolean(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {v!r}")


boolean.expects = "true or false"  # type: ignore[attr-defined]


def boolean_or_auto(v: Any) -> bool | str:
    """``true``, ``false`` or ``auto`` (decided when the daemon starts: e.g. ``remote_settings``)."""
    if isinstance(v, str) and v.strip().lower() == "auto":
        return "auto"
    try:
        return boolean(v)
    except ValueError:
        raise ValueError(f"expected true, false or auto, got {v!r}") from None


def typed(conv: Callable[[Any], Any], v: Any) -> Any:
    """A value from a typed source (the TOML file, a JSON request): a number or a switch written as text (``"0.5"``,
    ``"true"``) is refused, as it is a mistake there (flags and environment variables are text, and convert)."""
    expects = getattr(conv, "expects", None)
    if expects and isinstance(v, str) and not (conv is boolean_or_auto and v.strip().lower() == "auto"):
        raise ValueError(f"expected {expects}, got the text {v!r} (write it without quotes)")
    return conv(v)


boolean_or_auto.expects = "true, false or auto"  # type: ignore[attr-defined]


def number(kind, lo=None, hi=None) -> Callable[[Any], Any]:
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
    conv.expects = "a whole number" if kind is int else "a number"  # type: ignore[attr-defined]
    return conv


def string(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError(f"expected a string, got {v!r}")
    return v


def choice(*options: str) -> Callable[[Any], str]:
    def conv(v):
        if v not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {v!r}")
        return v
    return conv


def topic_part(what: str, max_bytes: int, levels: bool) -> Callable[[Any], str]:
    """An MQTT name: UTF-8, no NUL or control characters, no wildcard (``#``, ``+``), not a ``$`` system topic, at
    most ``max_bytes``; ``levels``: may hold ``/`` (a prefix of several levels, none empty)."""
    def conv(v: Any) -> str:
        v = string(v)
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


def client_id(v: Any) -> str:
    v = string(v)
    if not v or "\0" in v or len(v.encode()) > 128:
        raise ValueError(f"MQTT client id {v!r} must be 1 to 128 bytes without NUL")
    return v


def str_list(v: Any) -> tuple[str, ...]:
    if isinstance(v, str):
        return tuple(s.strip() for s in v.split(",") if s.strip())
    if isinstance(v, (list, tuple)) and all(isinstance(s, str) for s in v):
        return tuple(v)
    raise ValueError(f"expected a list of strings, got {v!r}")


def sinks(v: Any) -> tuple[SinkSpec, ...]:
    """``stdout`` and/or ``mqtt[s]://[user@]host[:port]``, at least one."""
    if isinstance(v, (list, tuple)) and all(isinstance(s, SinkSpec) for s in v):
        specs = tuple(v)
    else:
        specs = tuple(parse_sink(s) for s in str_list(v))
    if not specs:
        raise ValueError("no sink: give stdout and/or mqtt://host")
    return specs


region_name = topic_part("region name", 64, False)  # one topic level and a Home Assistant id part: no "/"


def _box(v: Any, name: str) -> tuple[float, float, float, float]:
    if not isinstance(v, (list, tuple)) or len(v) != 4 or any(isinstance(x, bool) for x in v):
        raise ValueError(f"region {name!r}: box must be [x0, y0, x1, y1], got {v!r}")
    try:
        x0, y0, x1, y1 = (float(x) for x in v)
    except (TypeError, ValueError):
        raise ValueError(f"region {name!r}: box must be 4 numbers, got {v!r}") from None
    if not all(math.isfinite(x) and 0.0 <= x <= 1.0 for x in (x0, y0, x1, y1)):
        raise ValueError(f"region {name!r}: box {list(v)} leaves the frame (each coordinate in [0, 1])")
    if not (x0 < x1 and y0 < y1):
        raise ValueError(f"region {name!r}: box {list(v)} is empty or upside down (x0 < x1 and y0 < y1)")
    if x1 - x0 < MIN_REGION_SIDE or y1 - y0 < MIN_REGION_SIDE:
        raise ValueError(f"region {name!r}: box {list(v)} is too small (each side at least {MIN_REGION_SIDE})")
    return (x0, y0, x1, y1)


def region(v: Any) -> Region:
    """A :class:`Region` from ``{"name": ..., "box": [x0, y0, x1, y1]}`` (TOML, JSON) or ``NAME:x0,y0,x1,y1``."""
    if isinstance(v, Region):
        return v
    if isinstance(v, str):
        name, sep, box = v.partition(":")
        if not sep:
            raise ValueError(f"expected NAME:x0,y0,x1,y1, got {v!r}")
        return Region(region_name(name), _box(box.split(","), name))
    if isinstance(v, dict):
        extra = sorted(set(v) - {"name", "box"})
        if extra or "name" not in v or "box" not in v:
            raise ValueError(f"a region is {{name, box}}, got the keys {sorted(v)}")
        return Region(region_name(v["name"]), _box(v["box"], v["name"]))
    raise ValueError(f"expected a region (name and box), got {v!r}")


def regions(v: Any) -> tuple[Region, ...]:
    """Named rectangles, names unique; a JSON list (the environment) or a list of regions."""
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError as exc:
            raise ValueError(f"expected a JSON list of {{\"name\", \"box\"}} objects: {exc}") from None
    if not isinstance(v, (list, tuple)):
        raise ValueError(f"expected a list of regions, got {v!r}")
    out = tuple(region(r) for r in v)
    names = [r.name for r in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"region name {twice[0]!r} is used more than once")
    return out


def host_port(v: Any) -> HostPort:
    """``HOST:PORT``; an IPv6 address in brackets (``[::1]:8080``)."""
    if isinstance(v, HostPort):
        return v
    s = string(v).strip()
    host, sep, port = s.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected HOST:PORT (e.g. 127.0.0.1:8080; 0.0.0.0:8080 for every interface), got {v!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"put an IPv6 address in brackets: [{host}]:{port}")
    if not host or any(c.isspace() or c in "/[]@" for c in host):
        raise ValueError(f"bad host {host!r} in {s!r}")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"bad port {port!r} in {s!r} (1-65535)")
    return HostPort(host, int(port))
