"""The one schema of the run settings: name, TOML section, converter, default, help, whether a flag sets it and
whether a reload applies it (``live``). The typed sections (sections.py) mirror it field for field.

Every setting has one name. In the TOML file it lives at top level or in its section (``[events]``, ``[mqtt]``,
``[camera]``, ``[service]``, ``[fleet]``, ``[clips]``, ``[http]``); on the command line it is
``--name-with-dashes``; in the environment ``EDGE_LRCN_NAME`` (upper case)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..publish.urls import SinkSpec, SinkType
from .convert import (
    boolean,
    boolean_or_auto,
    choice,
    client_id,
    host_port,
    number,
    regions,
    sinks,
    str_list,
    string,
    topic_part,
)
from .sections import DEFAULT_TRUSTED_KEYS

DEFAULT_CONFIG_PATH = "/etc/edge-lrcn/config.toml"
DEFAULT_STATE_DIR = "/var/lib/edge-lrcn"  # the unit's StateDirectory ($STATE_DIRECTORY wins)


@dataclass(frozen=True)
class Setting:
    name: str
    section: str | None  # the TOML table; None: top level
    conv: Callable[[Any], Any]
    default: Any
    help: str
    flag: bool = True  # settable on the command line (secrets are not)
    live: bool = False  # a reload (SIGHUP) applies it; the others need a restart
    home: str | None = None  # the typed section that holds it (default: ``section``, top level: ``run``)

    @property
    def group(self) -> str:
        """The attribute of :class:`Settings` whose dataclass holds this setting."""
        return self.home or self.section or "run"


S = Setting
SCHEMA: list[Setting] = [
    S("model", None, string, None, "model bundle (.lrcn); default: the embedded model"),
    S("verify_model", None, boolean, True, "load a new bundle's models in a child process once before using them"),
    S("source", None, string, "/dev/video0", "frame source: /dev/videoN, N, file, rtsp://..., "
      "gst:PIPELINE, picamera2[:N]"),
    S("realtime", None, boolean, False, "pace file sources at their native rate"),
    S("device_id", None, topic_part("device id", 64, False), None,
      "device id in events and topics (default: hostname)"),
    S("threads", None, number(int, 1, 64), None,
      "interpreter threads (default 1: the models are too small to split; see docs/deploy.md)"),
    S("delegate", None, string, "cpu", "cpu, gpu (LiteRT GPU accelerator, then gpu_delegate_library), edgetpu or a "
      "delegate .so path"),
    S("encoder", None, choice("auto", "int8", "fp16"), "auto", "CPU encoder: auto (the faster here of the bundle's "
      "encoders that are as accurate as the best, timed at start), int8 or fp16"),
    S("require_delegate", None, boolean, False, "exit 2 instead of falling back to the CPU"),
    S("gpu_delegate_library", None, string, None, "legacy TFLite GPU delegate library (name or path), tried by "
      "--delegate gpu when LiteRT's own GPU accelerator cannot run the model"),
    S("stride", None, number(int, 1, 1000), 1, "run the head every N kept frames"),
    S("sinks", None, sinks, (SinkSpec(SinkType.STDOUT),), "stdout and/or mqtt[s]://[user@]host[:port] (repeat --sink)",
      live=True),
    S("regions", None, regions, (), "named rectangles of the frame, each classified as its own stream: TOML "
      "[[regions]] tables with name and box = [x0, y0, x1, y1] (0-1); repeat --region NAME:x0,y0,x1,y1; none: the "
      "whole frame (docs/deploy.md)", live=True, home="camera"),
    S("width", "camera", number(int, 16, 8192), None, "camera capture width (default: from the model, see "
      "docs/deploy.md)"),
    S("height", "camera", number(int, 16, 8192), None, "camera capture height (default: from the model)"),
    S("camera_fps", "camera", number(float, 1, 240), None, "camera capture fps (default: from the model)"),
    S("stall_timeout", "camera", number(float, 0.5, 3600), 5.0,
      "seconds without a new frame before a camera is offline", live=True),
    S("reopen_max_delay", "camera", number(float, 0.5, 3600), 30.0, "cap of the camera reopen backoff (s)", live=True),
    S("enter_threshold", "events", number(float, 0.0, 1.0), 0.6, "smoothed probability that starts an activity",
      live=True),
    S("exit_threshold", "events", number(float, 0.0, 1.0), 0.3, "smoothed probability below which it ends", live=True),
    S("smoothing", "events", number(int, 1, 1000), 12, "windows averaged", live=True),
    S("min_duration", "events", number(float, 0.0, 3600), 0.0, "seconds a label must lead before activity_start",
      live=True),
    S("agree", "events", number(int, 0, 1000), 3, "windows in a row that each rank one label first with at least "
      "enter_threshold also start it, before the smoothed mean does (0: off)", live=True),
    S("scores", "events", boolean, False, "also emit per-window scores", live=True),
    S("cut_threshold", "events", number(float, 0.0, 1.0), 0.07,
      "a grid cell's mean absolute change between consecutive model inputs (0-1, in any colour channel) above which "
      "the cell changed; a "
      "scene cut (the window restarts) is 0.8 of the 8x8 cells changed, or a brightness step (docs/events.md; 0: off)",
      live=True),
    S("stats_interval", "events", number(float, 0.0, 86400), 60.0, "seconds between stats objects (0: off)", live=True),
    S("topic_prefix", "mqtt", topic_part("topic prefix", 512, True), None,
      "topic prefix (default edge-lrcn/<device_id>)", live=True),
    S("qos", "mqtt", number(int, 0, 1), 1, "QoS of the activity events (0 or 1); availability, discovery, the activity "
      "state and the camera state are always QoS 1", live=True),
    S("keepalive", "mqtt", number(int, 5, 3600), 30, "MQTT keepalive (s)", live=True),
    S("client_id", "mqtt", client_id, None, "MQTT client id (default edge-lrcn-<device_id>)", live=True),
    S("ca_file", "mqtt", string, None, "TLS CA certificate (PEM)", live=True),
    S("cert_file", "mqtt", string, None, "TLS client certificate (PEM)", live=True),
    S("key_file", "mqtt", string, None, "TLS client key (PEM)", live=True),
    S("tls_insecure", "mqtt", boolean, False, "do not verify the broker's host name (testing only)", live=True),
    S("username", "mqtt", string, None, "MQTT user name (or user@ in the sink URL)", live=True),
    S("password_file", "mqtt", string, None, "file holding the MQTT password", live=True),
    S("password_env", "mqtt", string, None, "name of an environment variable holding the MQTT password", False,
      live=True),
    S("password_credential", "mqtt", string, "mqtt-password", "systemd credential name ($CREDENTIALS_DIRECTORY)",
      live=True),
    S("queue_limit", "mqtt", number(int, 1, 10_000_000), 10000, "QoS 1 messages kept while disconnected (the oldest "
      "undelivered ones; newer ones are dropped and counted)", live=True),
    S("ha_discovery", "mqtt", boolean, True, "publish Home Assistant discovery configs", live=True),
    S("ha_prefix", "mqtt", topic_part("ha_prefix", 512, True), "homeassistant",
      "Home Assistant discovery prefix", live=True),
    S("idle_labels", "mqtt", str_list, ("still", "idle", "none", "background"),
      "labels that are not activities: no Home Assistant binary sensor for them (case-insensitive; only the model's "
      "labels count)", live=True),
    S("snapshots", "mqtt", boolean, True, "publish a JPEG of the frame at each activity_start on <prefix>/snapshot "
      "(retained) with a Home Assistant image entity", live=True),
    S("watchdog", "service", boolean, True, "send systemd WATCHDOG=1 while frames advance", live=True),
    S("trusted_keys", "fleet", str_list, (DEFAULT_TRUSTED_KEYS,), "public keys (.pub files, or directories of "
      "them) whose signed bundles may be pushed over MQTT (repeat --trusted-key); none: no pushes"),
    S("require_signature", "fleet", boolean, False, "with trusted keys, also refuse an unsigned --model bundle"),
    S("state_dir", "fleet", string, None, "where pushed models and remote settings are kept (default "
      f"$STATE_DIRECTORY, else {DEFAULT_STATE_DIR})"),
    S("max_model_bytes", "fleet", number(int, 1024, 256 * 1024 * 1024), 32 * 1024 * 1024,
      "largest model bundle a push may carry (bytes)"),
    S("remote_settings", "fleet", boolean_or_auto, "auto", "accept settings and the pause switch on <prefix>/set "
      "(and offer them to Home Assistant); auto: only when the daemon authenticates to the broker (docs/fleet.md)"),
    S("clips_dir", "clips", string, None, "write a video clip, a JSON sidecar and a snapshot per activity here "
      "(default: off; docs/clips.md)"),
    S("pre_roll", "clips", number(float, 0.0, 60.0), 5.0, "seconds of video kept before each activity_start"),
    S("post_roll", "clips", number(float, 0.0, 60.0), 3.0, "seconds recorded after each activity_end"),
    S("clips_max_mb", "clips", number(float, 0.1, 10_000_000), 1024.0, "disk budget of the clips folder (MB); the "
      "oldest clips are removed first"),
    S("clips_max_width", "clips", number(int, 16, 8192), 1280, "clips and snapshots wider than this are scaled down"),
    S("clips_fps", "clips", number(float, 0.0, 240), 15.0, "frame rate cap of the clips (0: every frame); the clip "
      "writer's CPU is proportional to it"),
    S("clips_format", "clips", choice("mp4", "webm"), "mp4", "mp4 (MPEG-4 Part 2: cheap; OpenCV, VLC, HA) or "
      "webm (VP8: plays in browsers, about 10x the encoding CPU)"),
    S("clips_buffer_mb", "clips", number(float, 1.0, 256), 64.0, "memory cap of the pre-roll buffer of JPEG frames "
      "(MB)"),
    S("dataset_dir", "clips", string, None, "where clips labelled on the device page go, in convert's class-folder "
      "layout (default: off)"),
    S("http", "http", host_port, None, "HOST:PORT to serve the device page on (default: off); anything but "
      "loopback needs http_password_file"),
    S("http_password_file", "http", string, None, "file holding the device page's password or token"),
]


BY_NAME = {s.name: s for s in SCHEMA}
SECTIONS = {s.section for s in SCHEMA if s.section}
HOMES = {s.name: s.group for s in SCHEMA}
FLAGS = {"sinks": "--sink", "trusted_keys": "--trusted-key", "regions": "--region"}  # repeatable flags


def env_name(name: str) -> str:
    return "EDGE_LRCN_" + name.upper()


def flag_of(name: str) -> str:
    return FLAGS.get(name, "--" + name.replace("_", "-"))


def key_of(name: str) -> str:
    """The TOML key of a setting, with its section: ``events.enter_threshold``."""
    s = BY_NAME[name]
    return f"{s.section}.{name}" if s.section else name
