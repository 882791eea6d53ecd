"""Where events go. Every sink has the same small interface: ``publish(kind, obj)`` and ``close()``.

``kind`` is one of ``event`` (activity_start/end), ``state`` (the retained current activity), ``stats``, ``scores``,
``camera`` (retained camera online/offline). A sink never blocks the frame loop for long and never raises into it.
"""

from __future__ import annotations

import json
import logging
import sys

log = logging.getLogger(__name__)


class Sink:
    name = "sink"

    def publish(self, kind: str, obj: dict) -> None:
        raise NotImplementedError

    def flush(self, timeout: float) -> None:
        """Deliver what is queued, waiting at most ``timeout`` seconds."""

    def close(self, timeout: float = 2.0) -> None:
        """Release the sink, taking at most ``timeout`` seconds."""

    def stats(self) -> dict:
        return {}


class StdoutSink(Sink):
    """JSON lines on stdout: events, stats, scores and camera changes (the retained state is MQTT's business)."""

    name = "stdout"
    KINDS = {"event", "stats", "scores", "camera"}

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.broken = False

    def publish(self, kind: str, obj: dict) -> None:
        if kind not in self.KINDS or self.broken:
            return
        try:
            self.stream.write(json.dumps(obj, separators=(",", ":")) + "\n")
            self.stream.flush()
        except (BrokenPipeError, ValueError, OSError) as exc:  # reader went away: keep running for other sinks
            self.broken = True
            log.warning("stdout sink disabled: %s", exc)


def make_sinks(specs: list[str], settings: dict, ctx) -> list[Sink]:
    from .errors import UsageError

    sinks: list[Sink] = []
    for spec in specs:
        spec = spec.strip()
        if spec == "stdout":
            sinks.append(StdoutSink())
        elif spec.startswith(("mqtt://", "mqtts://")):
            from .mqtt import MqttSink

            sinks.append(MqttSink.from_url(spec, settings, ctx))
        else:
            raise UsageError(f"unknown sink {spec!r}: use stdout or mqtt://[user@]host[:port] (mqtts:// for TLS)")
    if not sinks:
        raise UsageError("no sink: give --sink stdout and/or --sink mqtt://host")
    return sinks
