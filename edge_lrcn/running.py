"""What a running daemon offers the modules that act on it between two frames (reload.py, commands.py,
lifecycle.py): its stages and its settings. :class:`edge_lrcn.daemon.Daemon` is one; a structural type, so those
modules never import the daemon (no import cycle)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .announce import Announcer
    from .capture.camera import Camera
    from .classify.regions import Regions
    from .config import Settings
    from .fleet.device import FleetDevice
    from .publish.clips import ClipRecorder
    from .service import Health


class Running(Protocol):
    settings: Settings
    classifier: Regions
    camera: Camera
    out: Announcer
    health: Health
    fleet: FleetDevice | None
    clips: ClipRecorder | None
    page: Any
    paused: bool

    def publish_stats(self, fields: dict) -> None: ...

    def totals(self): ...
