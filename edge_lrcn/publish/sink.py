"""Where objects go. Every sink has the same small interface: ``publish(kind, obj)``, ``flush``, ``close``,
``stats`` and ``replay_due``.

A sink never blocks the frame loop for long and never raises into it (the fan-out isolates the ones that do). It
never calls back into the daemon either: a sink that reconnected says so through :meth:`Sink.replay_due`, and the
fan-out sends it the retained objects again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Kind(Enum):
    """What an object is; each sink decides what it does with each kind."""

    EVENT = "event"  # activity_start / activity_end
    STATE = "state"  # the current activity (retained)
    CAMERA = "camera"  # camera online/offline (retained)
    STATS = "stats"  # periodic health
    SCORES = "scores"  # per-window scores (optional)
    SNAPSHOT = "snapshot"  # the frame at the last activity_start: {"jpeg": bytes, "label", "ts"[, "region"]} (retained)

    @property
    def retained(self) -> bool:
        """The last object of this kind is the current truth: a (re)connecting subscriber must get it."""
        return self in (Kind.STATE, Kind.CAMERA, Kind.SNAPSHOT)


@dataclass(frozen=True)
class SinkContext:
    """What a sink may need to know about the daemon it serves."""

    device_id: str
    labels: list[str]
    model: str
    regions: list[str] = field(default_factory=list)  # the regions' names (classify/regions.py); none: whole frame
    page_url: str | None = None  # the device's page (setting ``http``): Home Assistant's configuration_url

    @property
    def per_region(self) -> bool:
        """Several regions: each has its own retained state and snapshot topic and its own entities; one region
        (or none) keeps the topics and entities of a daemon without regions."""
        return len(self.regions) > 1


class Sink:
    name = "sink"

    def publish(self, kind: Kind, obj: dict) -> None:
        raise NotImplementedError

    def flush(self, timeout: float) -> None:
        """Deliver what is queued, waiting at most ``timeout`` seconds."""

    def close(self, timeout: float = 2.0) -> None:
        """Release the sink, taking at most ``timeout`` seconds."""

    def stats(self) -> dict:
        return {}

    def undelivered(self) -> list[tuple[Kind, dict]]:
        """What was published and is not known to be delivered (asked before :meth:`close` by a reload, which
        hands it to the sink that replaces this one)."""
        return []

    def relabel(self, ctx: SinkContext) -> None:
        """Another model runs now (``ctx`` has its labels and id): what depends on the labels is published again."""

    def replay_due(self) -> bool:
        """True (once) when the sink has reconnected and is ready to be sent the retained objects again."""
        return False
