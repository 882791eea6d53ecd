"""Nothing stale on the broker after faults: a reconnect that finds the event queue full still publishes
``online`` and the discovery configs; a reload that changes the MQTT settings during an outage hands the queued
events to the new connection. Real mosquitto brokers, a real daemon subprocess."""

from __future__ import annotations

import json
import signal
import time

import pytest

import edge_lrcn.config as C
from edge_lrcn.convert.synth import make_sequence
from edge_lrcn.publish.mqtt import MqttSink
from edge_lrcn.publish.sink import Kind, SinkContext
from tests.broker import Broker
from tests.conftest import launch, wait_until
from tests.test_mqtt import DEV, PREFIX, Subscriber, events_of

pytestmark = pytest.mark.needs("mosquitto")


def test_a_reconnect_with_the_event_queue_full_still_publishes_online_and_discovery(tmp_path):
    b = Broker(tmp_path / "b").start()  # no persistence: a restart forgets every retained message
    settings = C.resolve({"source": "x", "queue_limit": 3}, None, environ={})
    sink = MqttSink(C.parse_sink(f"mqtt://127.0.0.1:{b.port}"), settings.mqtt, SinkContext(DEV, ["left", "right"], "m"))
    try:
        sub = Subscriber(b.port)
        assert sub.wait_for(lambda: sub.on(f"{PREFIX}/availability"), 10)
        sub.close()
        b.stop()
        assert sub.wait_for(lambda: not sink.stats()["mqtt_connected"], 10)
        for i in range(10):
            sink.publish(Kind.EVENT, {"type": "activity_start", "i": i})
        assert sink.stats()["mqtt_dropped"] == 7 and sink.stats()["mqtt_queued"] == 3
        b.start()
        late = Subscriber(b.port)
        assert late.wait_for(lambda: len(late.on(f"{PREFIX}/events")) == 3, 30)
        assert late.wait_for(lambda: late.on(f"{PREFIX}/availability") == [(b"online", False)]
                             or (b"online", True) in late.on(f"{PREFIX}/availability"), 10)
        late.close()
        retained = Subscriber(b.port)  # what Home Assistant sees when it (re)subscribes
        assert retained.wait_for(lambda: [t for t, p, r in retained.messages if t.startswith("homeassistant/")
                                          and r and p] == [sink.discovery.topic], 10)
        assert retained.on(f"{PREFIX}/availability") == [(b"online", True)]
        retained.close()
    finally:
        sink.close()
        b.stop()


def test_a_reload_to_another_broker_during_an_outage_delivers_every_event(tmp_path):
    video = tmp_path / "long.avi"
    make_sequence(video, [("right", 4.0), ("still", 4.0), ("up", 4.0), ("still", 3.0), ("left", 4.0),
                          ("still", 3.0)], seed=5)
    b1, b2 = Broker(tmp_path / "b1").start(), Broker(tmp_path / "b2").start()
    sub1, sub2 = Subscriber(b1.port), Subscriber(b2.port)
    cfg = tmp_path / "c.toml"
    top = f'source = "{video}"\nrealtime = true\ndevice_id = "{DEV}"\nverify_model = false\n'
    cfg.write_text(top + f'sinks = ["stdout", "mqtt://127.0.0.1:{b1.port}"]\n')
    proc = launch("run", "--config", cfg)
    try:
        assert sub1.wait_for(lambda: sub1.on(f"{PREFIX}/events"), 30)
        b1.stop()
        time.sleep(5)  # events happen while the broker is away: queued in the sink
        cfg.write_text(top + f'sinks = ["stdout", "mqtt://127.0.0.1:{b2.port}"]\n[mqtt]\nkeepalive = 20\n')
        proc.send_signal(signal.SIGHUP)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err[-2000:]
        produced = events_of(out)
        first = [json.loads(p) for p, _ in sub1.on(f"{PREFIX}/events")]
        assert sub2.wait_for(lambda: len(first) + len(sub2.on(f"{PREFIX}/events")) >= len(produced), 20)
        second = [json.loads(p) for p, _ in sub2.on(f"{PREFIX}/events")]
        assert first + second == produced, (len(first), len(second), len(produced))
        handed = [line for line in err.splitlines() if "handed to the new mqtt sink" in line]
        assert handed, err[-2000:]  # some were queued during the outage: the test proves something
        assert "Traceback" not in err
    finally:
        proc.kill()
        sub1.close()
        sub2.close()
        b1.stop()
        b2.stop()


def test_two_devices_with_one_client_id_are_named_as_such(tmp_path, caplog):
    """Two sinks with the same device id (two Pis both called raspberrypi, before the machine tag) take the
    session from each other at the broker, for ever: one clear error naming device_id, not a reconnect loop."""
    import logging

    caplog.set_level(logging.INFO, logger="edge_lrcn")
    b = Broker(tmp_path / "b").start()
    settings = C.resolve({"source": "x", "ha_discovery": False}, None, environ={})
    spec, ctx = C.parse_sink(f"mqtt://127.0.0.1:{b.port}"), SinkContext("raspberrypi", ["a", "b"], "m")
    one, two = MqttSink(spec, settings.mqtt, ctx), MqttSink(spec, settings.mqtt, ctx)
    try:
        wait_until(lambda: any("same client id" in r.getMessage() for r in caplog.records), 30, 0.2)
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert errors and "'edge-lrcn-raspberrypi'" in errors[0] and "device_id" in errors[0], errors
        assert len(errors) <= 2  # once per sink, not once per takeover
    finally:
        one.close()
        two.close()
        b.stop()


def test_the_default_device_id_is_the_host_name_and_a_machine_tag(tmp_path):
    import socket

    from edge_lrcn.events import default_device_id

    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("0123456789abcdef0123456789abcdef\n")
    b.write_text("fedcba9876543210fedcba9876543210\n")
    host = socket.gethostname().split(".")[0]
    ida, idb = default_device_id(str(a)), default_device_id(str(b))
    assert ida.startswith(host + "-") and idb.startswith(host + "-") and ida != idb and len(ida) == len(host) + 7
    assert "0123456789abcdef" not in ida  # a hash, not the machine id itself
    assert default_device_id(str(tmp_path / "none")) == host
    # the template unit edge-lrcn@back sets EDGE_LRCN_INSTANCE=back: each camera of a machine has its own id
    assert default_device_id(str(a), "back") == ida + "-back" != default_device_id(str(b), "back")
    assert len(default_device_id(str(a), "x" * 100)) <= 64 and default_device_id(str(a), "a/b") == ida + "-a-b"
    C.resolve({"source": "x", "device_id": ida}, None, environ={})  # a valid device id


def test_discovery_again_when_home_assistant_comes_online_and_gone_entities_are_removed(tmp_path):
    """Home Assistant's birth message (``homeassistant/status`` = ``online``) brings the device config again; a
    relabel to other regions removes the entities that went (platform only) and clears their retained state."""
    b = Broker(tmp_path / "b").start()
    settings = C.resolve({"source": "x"}, None, environ={})
    sink = MqttSink(C.parse_sink(f"mqtt://127.0.0.1:{b.port}"), settings.mqtt,
                    SinkContext(DEV, ["left", "right"], "m", ["door", "bed"]))
    try:
        sub = Subscriber(b.port)
        assert sub.wait_for(lambda: sub.on(sink.discovery.topic), 10)
        sink.publish(Kind.STATE, {"label": "left", "confidence": 0.9, "since": None, "region": "bed"})
        assert sub.wait_for(lambda: sub.on(f"{PREFIX}/activity/bed"), 10)
        n = len(sub.on(sink.discovery.topic))
        sub.c.publish("homeassistant/status", "online", qos=1)
        assert sub.wait_for(lambda: len(sub.on(sink.discovery.topic)) == n + 1, 10)
        sub.c.publish("homeassistant/status", "offline", qos=1)
        sink.relabel(SinkContext(DEV, ["left", "right"], "m", ["door", "hall"]))
        assert sub.wait_for(lambda: len(sub.on(sink.discovery.topic)) == n + 2, 10)
        cmps = json.loads(sub.on(sink.discovery.topic)[-1][0])["cmps"]
        assert cmps["sensor_activity_bed"] == {"p": "sensor"}
        assert cmps["binary_sensor_bed_left"] == {"p": "binary_sensor"}
        assert cmps["sensor_activity_hall"]["state_topic"] == f"{PREFIX}/activity/hall"
        assert sub.wait_for(lambda: sub.on(f"{PREFIX}/activity/bed")[-1] == (b"", False), 10)  # cleared
        sub.close()
    finally:
        sink.close()
        b.stop()
