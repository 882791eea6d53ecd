"""Sink URLs: ``stdout`` or ``mqtt[s]://[user@]host[:port]``, parsed and checked (the ``sinks`` setting's values,
``edge-lrcn push --broker``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from urllib.parse import unquote, urlsplit


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

    def __str__(self) -> str:
        return self.url


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
