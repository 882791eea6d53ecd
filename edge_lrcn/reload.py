"""Settings that change while the daemon runs: SIGHUP reads the config file again (:func:`reload`), remote settings
arrive checked (fleet/remote.py); both are applied here between two frames (:func:`apply`), each stage taking its
new section. A changed setting that needs a restart is logged as such and keeps its old value."""

from __future__ import annotations

import logging

from .config import BY_NAME, REMOTE_SETTINGS, ConfigSource, Settings
from .errors import UsageError
from .running import Running

log = logging.getLogger(__name__)
SINK_SETTINGS = {"sinks"} | {s.name for s in BY_NAME.values() if s.section == "mqtt"}


def reload(d: Running, config: ConfigSource | None) -> None:
    """SIGHUP: read the settings again and apply those that may change while running."""
    new = reread(config)
    if new is None or config is None:
        return
    changed = d.settings.changed(new)
    later = [n for n in changed if not BY_NAME[n].live]
    if later:
        log.warning("reload: %s changed, which needs a restart (systemctl restart edge-lrcn); still running "
                    "with the old value%s", ", ".join(later), "s" if len(later) > 1 else "")
    apply(d, new, [n for n in changed if BY_NAME[n].live])
    log.info("reloaded settings from %s", config.path)


def apply(d: Running, new: Settings, live: list[str]) -> None:
    """Take the values of ``live`` from ``new`` and apply them while running (a reload, remote settings)."""
    sinks = bool(SINK_SETTINGS & set(live))
    if sinks and not d.out.replace_sinks(new):
        live = [n for n in live if n not in SINK_SETTINGS]
    elif sinks and d.fleet:
        log.warning("reload: the sinks use the new MQTT settings; model pushes and remote settings keep the old "
                    "connection until a restart (systemctl restart edge-lrcn)")
    s = d.settings.taking(new, live)
    d.settings = s
    d.out.apply(s)  # each stage its section
    d.classifier.apply(s.events)
    if "regions" in live:
        use_regions(d, s.camera.regions)
    d.camera.apply(s.camera)
    d.health.apply(s.service, s.events)
    if d.fleet:
        d.fleet.took_settings(s)
        if set(live) & set(REMOTE_SETTINGS):
            d.fleet.settings_changed(s, d.paused)


def use_regions(d: Running, regions) -> None:
    """Other regions between two frames: the streams that went or moved end their activities (``regions``), the
    new ones start with an empty window, the sinks get their topics and entities."""
    d.out.resets(d.classifier.set_regions(regions))
    decode_size(d)
    d.out.use_regions(list(regions or ()), d.classifier.last_t)
    log.info("regions: %s", ", ".join(f"{r.name} {list(r.box)}" for r in regions or ()) or "the whole frame")


def decode_size(d: Running) -> None:
    """How small the camera may decode a Motion-JPEG frame (capture/codec.py ``reduction``): what every region's crop
    needs (``Regions.min_size``), or the full size while clips are recorded (the clip writer stores every frame as
    decoded). Snapshots and the page decode a reduced frame again whole (``codec.full_pixels``). Called at start and
    whenever the regions or the model change."""
    d.camera.set_min_size(d.classifier.min_size if d.clips is None else None)

def reread(config: ConfigSource | None) -> Settings | None:
    """The settings read again for a reload; None (logged) when there is no file or it is wrong."""
    if config is None:
        log.warning("reload: this daemon has no config source; nothing to reload")
        return None
    try:
        return config.load()
    except UsageError as exc:
        log.error("reload failed, keeping the old settings: %s", exc)
    except Exception as exc:  # noqa: BLE001 - a reload must never end the daemon
        log.error("reload failed, keeping the old settings: %s: %s", type(exc).__name__, exc)
    return None
