"""The typed settings: one frozen dataclass per section, each handed to the stage that uses it
(``stage.apply(section)`` on a reload), and :class:`Settings`, all of them with where each value came from.

The fields mirror the schema (schema.py) row for row: same name, same default, same section (a test checks it).
A setting's TOML section is its dataclass, top-level settings are :class:`RunSettings`, except ``regions``
(top-level ``[[regions]]`` tables in the file), which is the camera's."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from ..publish.urls import SinkSpec, SinkType

DEFAULT_TRUSTED_KEYS = "/etc/edge-lrcn/trusted-keys"  # a directory of *.pub files; optional


@dataclass(frozen=True)
class Region:
    """A named rectangle of the frame, ``box = (x0, y0, x1, y1)`` in normalized coordinates (0-1)."""

    name: str
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class HostPort:
    """``HOST:PORT`` to listen on (``[::1]:8080`` for IPv6)."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


@dataclass(frozen=True)
class RunSettings:
    """Top-level: the model, the source, the interpreters, the sinks."""

    model: str | None = None
    verify_model: bool = True
    source: str = "/dev/video0"
    realtime: bool = False
    device_id: str | None = None
    threads: int | None = None
    delegate: str = "cpu"
    encoder: str = "auto"
    require_delegate: bool = False
    gpu_delegate_library: str | None = None
    stride: int = 1
    sinks: tuple[SinkSpec, ...] = (SinkSpec(SinkType.STDOUT),)


@dataclass(frozen=True)
class CameraSettings:
    width: int | None = None
    height: int | None = None
    camera_fps: float | None = None
    stall_timeout: float = 5.0
    reopen_max_delay: float = 30.0
    regions: tuple[Region, ...] = ()


@dataclass(frozen=True)
class EventSettings:
    """[events]: the tracker's thresholds, smoothing and minimum duration (the threshold order is checked by the
    settings layer), the scores switch, the classifier's cut threshold and the stats interval."""

    enter_threshold: float = 0.6
    exit_threshold: float = 0.3
    smoothing: int = 12  # windows averaged
    min_duration: float = 0.0  # seconds a label must lead above enter_threshold before activity_start
    scores: bool = False
    cut_threshold: float = 0.07
    stats_interval: float = 60.0
    agree: int = 3  # windows in a row that each rank one label first above enter_threshold also start it (0: off)


@dataclass(frozen=True)
class MqttSettings:
    topic_prefix: str | None = None
    qos: int = 1
    keepalive: int = 30
    client_id: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    tls_insecure: bool = False
    username: str | None = None
    password_file: str | None = None
    password_env: str | None = None
    password_credential: str | None = "mqtt-password"
    queue_limit: int = 10000
    ha_discovery: bool = True
    ha_prefix: str = "homeassistant"
    idle_labels: tuple[str, ...] = ("still", "idle", "none", "background")
    snapshots: bool = True


@dataclass(frozen=True)
class ServiceSettings:
    watchdog: bool = True


@dataclass(frozen=True)
class FleetSettings:
    trusted_keys: tuple[str, ...] = (DEFAULT_TRUSTED_KEYS,)
    require_signature: bool = False
    state_dir: str | None = None
    max_model_bytes: int = 32 * 1024 * 1024
    remote_settings: bool | str = "auto"  # "auto": on when the daemon authenticates to the broker


@dataclass(frozen=True)
class ClipsSettings:
    clips_dir: str | None = None
    pre_roll: float = 5.0
    post_roll: float = 3.0
    clips_max_mb: float = 1024.0
    clips_max_width: int = 1280
    clips_fps: float = 15.0
    clips_format: str = "mp4"
    clips_buffer_mb: float = 64.0
    dataset_dir: str | None = None


@dataclass(frozen=True)
class HttpSettings:
    http: HostPort | None = None
    http_password_file: str | None = None


SECTION_TYPES: dict[str, type] = {"run": RunSettings, "camera": CameraSettings, "events": EventSettings,
                                  "mqtt": MqttSettings, "service": ServiceSettings, "fleet": FleetSettings,
                                  "clips": ClipsSettings, "http": HttpSettings}


@dataclass(frozen=True)
class Settings:
    """The checked settings, one typed section per stage; :meth:`where` says where a value came from (flag,
    environment variable, file and key, remote, or the default)."""

    run: RunSettings = RunSettings()
    camera: CameraSettings = CameraSettings()
    events: EventSettings = EventSettings()
    mqtt: MqttSettings = MqttSettings()
    service: ServiceSettings = ServiceSettings()
    fleet: FleetSettings = FleetSettings()
    clips: ClipsSettings = ClipsSettings()
    http: HttpSettings = HttpSettings()
    origins: Mapping[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def of_values(cls, values: Mapping[str, Any], homes: Mapping[str, str], origins: Mapping[str, str]) \
            -> Settings:
        """From ``{name: value}``, each name going to its section ``homes[name]``."""
        parts: dict[str, dict[str, Any]] = {home: {} for home in SECTION_TYPES}
        for name, value in values.items():
            parts[homes[name]][name] = value
        return cls(**{home: SECTION_TYPES[home](**kw) for home, kw in parts.items()}, origins=dict(origins))

    def sections(self) -> dict[str, Any]:
        return {home: getattr(self, home) for home in SECTION_TYPES}

    def values(self) -> dict[str, Any]:
        """Every setting by name: for the generic code (what changed, the remote settings object)."""
        return {f.name: getattr(part, f.name) for part in self.sections().values() for f in fields(part)}

    def where(self, name: str) -> str:
        return self.origins.get(name, f"default {name}")

    def changed(self, other: Settings) -> list[str]:
        """The names whose value differs in ``other``, section by section."""
        mine, theirs = self.values(), other.values()
        return [name for name in mine if mine[name] != theirs[name]]

    def taking(self, other: Settings, names) -> Settings:
        """These settings with the values (and origins) of ``names`` taken from ``other``."""
        names = set(names)
        parts = {}
        for home, part in self.sections().items():
            mine = {f.name for f in fields(part)} & names
            parts[home] = replace(part, **{n: getattr(getattr(other, home), n) for n in mine}) if mine else part
        origins = {**self.origins, **{n: other.origins[n] for n in names if n in other.origins}}
        return Settings(**parts, origins=origins)
