"""The fan-out: sink failures stay inside the sink, retained objects are replayed to a sink that asks."""

from __future__ import annotations

import io
import json
import logging

from edge_lrcn.publish.fanout import Fanout
from edge_lrcn.publish.sink import Kind, Sink
from edge_lrcn.publish.stdout import StdoutSink


class BrokenSink(Sink):
    """A sink with a bug: every call raises."""

    name = "broken"

    def publish(self, kind, obj):
        raise RuntimeError("sink bug")

    def replay_due(self):
        raise RuntimeError("sink bug")

    def stats(self):
        raise RuntimeError("sink bug")


class ReconnectingSink(Sink):
    """Records what it gets; says once that it reconnected."""

    name = "reconnecting"

    def __init__(self):
        self.got, self.reconnected = [], False

    def publish(self, kind, obj):
        self.got.append((kind, obj))

    def replay_due(self):
        due, self.reconnected = self.reconnected, False
        return due


def test_a_failing_sink_does_not_stop_the_others(caplog):
    out = io.StringIO()
    fan = Fanout([BrokenSink(), StdoutSink(out)])
    caplog.set_level(logging.ERROR)
    fan.publish(Kind.EVENT, {"type": "activity_start", "label": "a"})
    fan.tick()
    assert fan.stats() == {"stdout_dropped": 0}  # the broken sink's stats are left out
    fan.close(1.0, 0.5)  # stdout is written by its own thread: all of it by the close
    assert [json.loads(line)["label"] for line in out.getvalue().splitlines()] == ["a"]
    assert "sink broken failed to publish" in caplog.text


def test_retained_objects_are_replayed_to_a_reconnected_or_new_sink():
    sink = ReconnectingSink()
    fan = Fanout([sink])
    fan.publish(Kind.CAMERA, {"state": "online"})
    fan.publish(Kind.STATE, {"label": "a"})
    fan.publish(Kind.EVENT, {"type": "activity_start"})
    fan.publish(Kind.STATE, {"label": "b"})
    fan.tick()
    assert len(sink.got) == 4  # nothing replayed while the sink does not ask
    sink.reconnected = True
    fan.tick()
    assert sorted(sink.got[4:], key=lambda x: x[0].value) == [(Kind.CAMERA, {"state": "online"}),
                                                               (Kind.STATE, {"label": "b"})]
    new = ReconnectingSink()
    fan.replace([new])  # a reload: the new sink starts with the current truth
    assert sorted(new.got, key=lambda x: x[0].value) == [(Kind.CAMERA, {"state": "online"}),
                                                          (Kind.STATE, {"label": "b"})]
