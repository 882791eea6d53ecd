"""JSON lines on stdout."""

from __future__ import annotations

import json
import logging
import sys

from .sink import Kind, Sink

log = logging.getLogger(__name__)


class StdoutSink(Sink):
    """Events, stats, scores and camera changes, one JSON object per line (the retained state is MQTT's business)."""

    name = "stdout"
    KINDS = {Kind.EVENT, Kind.STATS, Kind.SCORES, Kind.CAMERA}

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.broken = False

    def publish(self, kind: Kind, obj: dict) -> None:
        if kind not in self.KINDS or self.broken:
            return
        try:
            self.stream.write(json.dumps(obj, separators=(",", ":")) + "\n")
            self.stream.flush()
        except (BrokenPipeError, ValueError, OSError) as exc:  # reader went away: keep running for other sinks
            self.broken = True
            log.warning("stdout sink disabled: %s", exc)
