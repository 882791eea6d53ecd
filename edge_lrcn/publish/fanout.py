"""The fan-out: the one place the daemon publishes to, whatever sinks are configured.

It isolates the sinks from the daemon and from each other (a sink that raises is logged, the others still get the
object), remembers the last object of each retained kind (the activity state, the camera) and sends them again to a
sink that reconnected or that a reload added, and closes every sink within one time budget at shutdown.
"""

from __future__ import annotations

import logging
import time

from ..config.sections import Settings
from .sink import Kind, Sink, SinkContext
from .urls import SinkType

log = logging.getLogger(__name__)


def make_sinks(settings: Settings, ctx: SinkContext) -> list[Sink]:
    """The sinks the (checked) settings name."""
    sinks: list[Sink] = []
    for spec in settings.run.sinks:
        if spec.type is SinkType.STDOUT:
            from .stdout import StdoutSink

            sinks.append(StdoutSink())
        else:
            from .mqtt import MqttSink, read_password, remote_on

            sinks.append(MqttSink(spec, settings.mqtt, ctx, read_password(settings.mqtt),
                                  controls=remote_on(settings.fleet, settings.mqtt, spec)))
    return sinks


class Fanout:
    def __init__(self, sinks: list[Sink]):
        self.sinks = list(sinks)
        self._retained: dict[tuple[Kind, str | None], dict] = {}  # per kind and region

    def publish(self, kind: Kind, obj: dict) -> None:
        if kind.retained:
            self._retained[kind, obj.get("region")] = obj
        for sink in self.sinks:
            self._send(sink, kind, obj)

    def tick(self) -> None:
        """Send the retained objects again to every sink that asks for them (it reconnected)."""
        for sink in self.sinks:
            try:
                due = sink.replay_due()
            except Exception:
                log.exception("sink %s failed", sink.name)
                continue
            if due:
                self._replay(sink)

    def replace(self, sinks: list[Sink]) -> None:
        """Swap in new sinks (a reload): the old ones are flushed and closed, what they could not deliver (a broker
        away) goes to the new sink of the same name, in order, and the new ones get the retained objects."""
        old, self.sinks = self.sinks, list(sinks)
        for sink in old:
            self._call(sink, "flush", 1.0)
            left = self._call(sink, "undelivered") or []
            self._call(sink, "close")
            heirs = [s for s in self.sinks if s.name == sink.name]
            if left and not heirs:
                log.warning("reload: %d undelivered %s messages dropped with the %s sink", len(left), sink.name,
                            sink.name)
            elif left:
                log.info("reload: %d undelivered %s messages handed to the new %s sink", len(left), sink.name,
                         sink.name)
            for heir in heirs[:1]:
                for kind, obj in left:
                    self._send(heir, kind, obj)
        for sink in self.sinks:
            self._replay(sink)

    def relabel(self, ctx: SinkContext) -> None:
        """Other labels or regions: each sink is told; the retained objects of regions that went are forgotten."""
        regions: set[str | None] = set(ctx.regions) or {None}
        self._retained = {(k, r): o for (k, r), o in self._retained.items() if r in regions or k is Kind.CAMERA}
        for sink in self.sinks:
            self._call(sink, "relabel", ctx)

    def stats(self) -> dict:
        out: dict = {}
        for sink in self.sinks:
            out.update(self._call(sink, "stats") or {})
        return out

    def close(self, budget_s: float, close_reserve_s: float) -> None:
        """Flush every sink, then close them, in ``budget_s`` seconds in all (``close_reserve_s`` of them kept for
        closing: MQTT publishes ``offline`` and disconnects)."""
        deadline = time.monotonic() + budget_s
        for sink in self.sinks:
            self._call(sink, "flush", max(0.0, deadline - close_reserve_s - time.monotonic()))
        for sink in self.sinks:
            self._call(sink, "close", max(0.5, deadline - time.monotonic()))

    def _replay(self, sink: Sink) -> None:
        for (kind, _), obj in self._retained.items():
            self._send(sink, kind, obj)

    @staticmethod
    def _send(sink: Sink, kind: Kind, obj: dict) -> None:
        try:
            sink.publish(kind, obj)
        except Exception:  # a sink must never take the daemon down
            log.exception("sink %s failed to publish", sink.name)

    @staticmethod
    def _call(sink: Sink, what: str, *args):
        try:
            return getattr(sink, what)(*args)
        except Exception:
            log.exception("%s of sink %s failed", what, sink.name)
            return None
