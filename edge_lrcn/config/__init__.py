"""Run settings, from one schema into typed sections (docs/architecture.md, "Settings"):

- :mod:`.schema`: the rows (name, section, converter, default, help, flag, live);
- :mod:`.convert`: the converters (each raw value to its type, or ValueError);
- :mod:`.sections`: the frozen dataclasses per section and :class:`Settings`;
- :mod:`.load`: reading the TOML file, merging flags > environment > remote > file > defaults, the cross checks;
- :mod:`.flags`: the ``run`` flags;
- :mod:`.remote`: the remote settings file in the state directory.
"""

from ..publish.urls import SinkSpec, SinkType, parse_sink
from .flags import add_arguments
from .load import ConfigSource, Problem, gather, read_file, resolve
from .remote import REMOTE_FILE, REMOTE_SETTINGS, read_remote, state_dir
from .schema import (
    BY_NAME,
    DEFAULT_CONFIG_PATH,
    DEFAULT_STATE_DIR,
    SCHEMA,
    SECTIONS,
    Setting,
    env_name,
    flag_of,
    key_of,
)
from .sections import (
    DEFAULT_TRUSTED_KEYS,
    CameraSettings,
    ClipsSettings,
    EventSettings,
    FleetSettings,
    HostPort,
    HttpSettings,
    MqttSettings,
    Region,
    RunSettings,
    ServiceSettings,
    Settings,
)

__all__ = ["BY_NAME", "DEFAULT_CONFIG_PATH", "DEFAULT_STATE_DIR", "DEFAULT_TRUSTED_KEYS", "REMOTE_FILE",
           "REMOTE_SETTINGS", "SCHEMA", "SECTIONS", "CameraSettings", "ClipsSettings", "ConfigSource",
           "EventSettings", "FleetSettings", "HostPort", "HttpSettings", "MqttSettings", "Problem", "Region",
           "RunSettings", "ServiceSettings", "Setting", "Settings", "SinkSpec", "SinkType", "add_arguments",
           "env_name", "flag_of", "gather", "key_of", "parse_sink", "read_file", "read_remote", "resolve",
           "state_dir"]
