"""MQTT against real mosquitto brokers started by the tests (never mocked)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from edge_lrcn.convert.synth import make_sequence
from edge_lrcn.publish.discovery import per_entity
from tests.broker import Broker, make_certs
from tests.conftest import launch, wait_until

pytestmark = pytest.mark.needs("mosquitto")  # skipped where missing, a failure in CI (tests/conftest.py)

DEV = "testdev"
PREFIX = f"edge-lrcn/{DEV}"


class Subscriber:
    """A paho subscriber recording (topic, payload, retain) in arrival order."""

    def __init__(self, port: int, topics=("edge-lrcn/#", "homeassistant/#"), client_id=None, clean=True, **tls):
        self.messages: list[tuple[str, bytes, bool]] = []
        self.qos: list[tuple[str, int]] = []  # (topic, QoS it was delivered with: min of publish and subscribe)
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or "", clean_session=clean)
        if tls:
            self.c.tls_set(ca_certs=str(tls["ca"]))
        self.topics = topics

        def on_connect(c, u, f, rc, p):
            for t in topics:
                c.subscribe(t, qos=1)
            self.connected.set()

        def on_message(c, u, m):
            with self.lock:
                self.messages.append((m.topic, m.payload, bool(m.retain)))
                self.qos.append((m.topic, m.qos))

        self.c.on_connect = on_connect
        self.c.on_message = on_message
        self.c.on_disconnect = lambda *a: self.connected.clear()
        self.c.reconnect_delay_set(0.2, 1)
        self.c.connect_async("127.0.0.1" if not tls else "localhost", port, 10)
        self.c.loop_start()
        assert self.connected.wait(10), "subscriber did not connect"

    def on(self, topic: str):
        with self.lock:
            return [(p, r) for t, p, r in self.messages if t == topic]

    def wait_for(self, pred, timeout=30.0):
        return wait_until(pred, timeout)

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def daemon(port, video, *extra, scheme="mqtt", host="127.0.0.1", env=None, stdout=subprocess.PIPE):
    return launch("run", "--source", video, "--device-id", DEV, "--sink", f"{scheme}://{host}:{port}", "--sink",
                  "stdout", "--stats-interval", "1", *extra, env=env, stdout=stdout)


@pytest.fixture(scope="module")
def seq(tmp_path_factory):
    path = tmp_path_factory.mktemp("mqttvid") / "seq.avi"
    make_sequence(path, [("right", 5.0), ("up", 5.0), ("still", 5.0)], seed=21)
    return path


def events_of(stdout: str) -> list[dict]:
    return [json.loads(x) for x in stdout.splitlines() if x.startswith("{") and '"activity_' in x]


def test_run_publishes_availability_state_events_and_ha_discovery(broker, seq):
    sub = Subscriber(broker.port)
    proc = daemon(broker.port, seq)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    produced = events_of(out)
    assert produced, "the run produced no activity events"
    assert sub.wait_for(lambda: len(sub.on(f"{PREFIX}/events")) >= len(produced), 20)
    got = [json.loads(p) for p, _ in sub.on(f"{PREFIX}/events")]
    assert got == produced  # same objects, same order
    assert all(not r for _, r in sub.on(f"{PREFIX}/events"))
    # the daemon publishes offline after the events: wait for it rather than assume it has arrived
    assert sub.wait_for(lambda: [p for p, _ in sub.on(f"{PREFIX}/availability")][-1:] == [b"offline"], 20)
    avail = [p.decode() for p, _ in sub.on(f"{PREFIX}/availability")]
    assert avail[0] == "online" and avail[-1] == "offline"  # clean stop publishes offline itself
    states = [json.loads(p) for p, _ in sub.on(f"{PREFIX}/activity")]
    assert {"label", "confidence", "since"} <= set(states[-1]) and states[-1]["label"] == "none"
    assert any(s["label"] == produced[0]["label"] for s in states)
    stats = [json.loads(p) for p, _ in sub.on(f"{PREFIX}/stats")]
    assert stats and "mqtt_dropped" in stats[-1]
    sub.close()
    # a late subscriber gets the retained state, availability and discovery configs
    late = Subscriber(broker.port)
    assert late.wait_for(lambda: late.on(f"{PREFIX}/availability") and late.on(f"{PREFIX}/activity"), 10)
    assert late.on(f"{PREFIX}/availability")[0] == (b"offline", True)
    assert json.loads(late.on(f"{PREFIX}/activity")[0][0])["label"] == "none"
    device = [json.loads(p) for t, p, r in late.messages if t.startswith("homeassistant/") and p]
    late.close()
    assert len(device) == 1 and {"dev", "o", "cmps"} <= set(device[0])  # one device-based config
    configs = per_entity(device[0], DEV)
    sensors = [c for t, c in configs.items() if t.startswith("homeassistant/sensor/")]
    binaries = [c for t, c in configs.items() if t.startswith("homeassistant/binary_sensor/")]
    events = [c for t, c in configs.items() if t.startswith("homeassistant/event/")]
    # a binary sensor per activity label (not `still`) + camera; one event entity
    controls = [t for t in configs if t.split("/")[1] in ("number", "switch")]
    # Activity + 3 diagnostic sensors + Model; no controls: remote settings are `auto`, and this daemon does not
    # authenticate to the broker (anyone could publish on <prefix>/set: docs/fleet.md, "Who may pause a device")
    assert len(sensors) == 1 + 3 + 1 and len(binaries) == 4 + 1 and len(events) == 1 and controls == []
    for c in sensors + binaries + events:
        assert {"name", "unique_id", "state_topic", "availability_topic", "device", "origin"} <= set(c)
        assert c["availability_topic"] == f"{PREFIX}/availability" and c["device"]["identifiers"]
    assert len({c["unique_id"] for c in sensors + binaries + events}) == 5 + 5 + 1  # all distinct
    assert [c["state_topic"] for c in sensors if c["name"] == "Activity"] == [f"{PREFIX}/activity"]
    assert events[0]["state_topic"] == f"{PREFIX}/events"


def test_no_ha_discovery(broker, seq):
    sub = Subscriber(broker.port)
    proc = daemon(broker.port, seq, "--no-ha-discovery")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert sub.wait_for(lambda: sub.on(f"{PREFIX}/availability"), 10)  # it did talk to the broker
    # its last message, the offline at its clean stop: anything it published before it has arrived too
    assert sub.wait_for(lambda: any(p == b"offline" for p, _ in sub.on(f"{PREFIX}/availability")), 10)
    assert not [t for t, _, _ in sub.messages if t.startswith("homeassistant/")]
    sub.close()


def test_sigkill_leaves_the_retained_offline_will(broker, seq):
    sub = Subscriber(broker.port)
    proc = daemon(broker.port, seq, "--realtime")
    assert sub.wait_for(lambda: (b"online", False) in sub.on(f"{PREFIX}/availability")
                        or (b"online", True) in sub.on(f"{PREFIX}/availability"), 30)
    proc.kill()
    proc.wait()
    assert sub.wait_for(lambda: sub.on(f"{PREFIX}/availability")[-1][0] == b"offline", 10)
    sub.close()
    late = Subscriber(broker.port)
    assert late.wait_for(lambda: late.on(f"{PREFIX}/availability"), 5)
    assert late.on(f"{PREFIX}/availability")[0] == (b"offline", True)
    late.close()


def test_sigterm_closes_activity_publishes_offline_exits_0(broker, seq):
    sub = Subscriber(broker.port)
    proc = daemon(broker.port, seq, "--realtime")
    assert sub.wait_for(lambda: any(json.loads(p)["type"] == "activity_start" for p, _ in sub.on(f"{PREFIX}/events")),
                        60)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert time.monotonic() - t0 < 5
    assert sub.wait_for(lambda: sub.on(f"{PREFIX}/availability")[-1][0] == b"offline", 5)
    evs = [json.loads(p) for p, _ in sub.on(f"{PREFIX}/events")]
    assert evs[-1]["type"] == "activity_end" and evs[-1]["reason"] == "shutdown"
    assert json.loads(sub.on(f"{PREFIX}/activity")[-1][0])["label"] == "none"
    sub.close()


def test_sigterm_with_a_hung_broker_still_exits_within_5_s(broker, seq):
    """A broker that accepts the TCP connection but answers nothing (SIGSTOPped): the flush and the offline
    publish wait on acknowledgements that never come, and the stop must still finish in time."""
    sub = Subscriber(broker.port)
    proc = daemon(broker.port, seq, "--realtime")
    try:
        assert sub.wait_for(lambda: any(json.loads(p)["type"] == "activity_start"
                                        for p, _ in sub.on(f"{PREFIX}/events")), 60)
        broker.proc.send_signal(signal.SIGSTOP)  # the activity_end and state of the shutdown will wait for PUBACKs
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
        elapsed = time.monotonic() - t0
    finally:
        broker.proc.send_signal(signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
        sub.close()
    assert proc.returncode == 0, err
    assert elapsed < 5, elapsed
    assert "Traceback" not in err


def test_broker_outage_events_are_queued_and_delivered_in_order(tmp_path):
    video = tmp_path / "long.avi"
    make_sequence(video, [("right", 4.0), ("still", 4.0), ("up", 4.0), ("left", 4.0), ("down", 4.0),
                          ("still", 4.0)], seed=5)
    b = Broker(tmp_path / "pb", persistence=True).start()
    # a persistent QoS 1 session: the broker keeps what arrives while this subscriber is reconnecting
    sub = Subscriber(b.port, client_id="outage-sub", clean=False)
    proc = daemon(b.port, video, "--realtime")
    assert sub.wait_for(lambda: sub.on(f"{PREFIX}/events"), 30)
    b.stop()
    outage_start = time.time()
    time.sleep(7)  # the outage itself: events happen while the broker is away
    b.start()
    outage_end = time.time()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    produced = events_of(out)
    during = [e for e in produced if outage_start < _epoch(e["ts"]) < outage_end]
    assert during, "no event was produced during the outage: the test proves nothing"
    assert sub.wait_for(lambda: len(sub.on(f"{PREFIX}/events")) >= len(produced), 30)
    got = [json.loads(p) for p, _ in sub.on(f"{PREFIX}/events")]
    assert got == produced
    onl = [p for p, _ in sub.on(f"{PREFIX}/availability") if p == b"online"]
    assert len(onl) >= 2  # republished after the reconnect
    # the retained objects are sent again once the backlog is delivered: the camera state (online since the start)
    # and, last, the activity state that is current, not an older queued one
    # (live deliveries only: the subscriber's own resubscription gets a retained copy with the retain flag)
    cams = [json.loads(p)["state"] for p, retained in sub.on(f"{PREFIX}/camera") if not retained]
    assert cams == ["online", "online", "offline"], sub.on(f"{PREFIX}/camera")  # the last: the daemon stopped
    assert json.loads(sub.on(f"{PREFIX}/activity")[-1][0])["label"] == "none"
    assert "reconnecting" in err or "cannot connect" in err
    assert "Traceback" not in err and "failed to publish" not in err
    sub.close()
    b.stop()


def _epoch(ts: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


@pytest.mark.needs("openssl", "mosquitto_sub", "mosquitto_pub")
def test_tls_with_client_certificate_and_mosquitto_sub(tmp_path, seq):
    certs = make_certs(tmp_path / "certs")
    b = Broker(tmp_path / "tb", tls={**certs, "require_certificate": True}).start()
    tls = ["-h", "localhost", "-p", str(b.port), "--cafile", str(certs["ca"]), "--cert", str(certs["client_cert"]),
           "--key", str(certs["client_key"])]
    sub = subprocess.Popen(["mosquitto_sub", *tls, "-t", f"{PREFIX}/events", "-t", f"{PREFIX}/availability",
                            "-t", "probe", "-v", "-q", "1"], stdout=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(sub.stdout.readline, "")), daemon=True)
    reader.start()

    def subscribed() -> bool:  # the subscriber is ready once it hears a probe (no fixed sleep: CI is loaded)
        subprocess.run(["mosquitto_pub", *tls, "-t", "probe", "-m", "x"], check=False, timeout=10)
        return any(line.startswith("probe ") for line in lines)

    assert wait_until(subscribed, 30, 0.5)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[mqtt]\nca_file = "{certs["ca"]}"\ncert_file = "{certs["client_cert"]}"\n'
                   f'key_file = "{certs["client_key"]}"\n')
    proc = daemon(b.port, seq, "--config", cfg, scheme="mqtts", host="localhost")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    # the daemon's last message is offline: wait for it instead of assuming delivery within a fixed time
    assert wait_until(lambda: f"{PREFIX}/availability offline\n" in lines[-1:], 30), lines[-3:]
    sub.terminate()
    sub.wait(timeout=5)
    lines = [line.rstrip("\n") for line in lines if not line.startswith("probe ")]
    produced = events_of(out)
    got = [json.loads(line.split(" ", 1)[1]) for line in lines if line.startswith(f"{PREFIX}/events ")]
    assert produced and got == produced, (err, lines)
    assert f"{PREFIX}/availability online" in lines and lines[-1] == f"{PREFIX}/availability offline"
    assert "TLS" in err
    b.stop()


@pytest.mark.needs("mosquitto_passwd", "mosquitto_sub")
def test_password_from_file_and_wrong_password_is_logged_not_fatal(tmp_path, seq):
    pw = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(pw), "edge", "s3cret"], check=True)
    os.chmod(pw, 0o600)
    b = Broker(tmp_path / "ab", password_file=pw).start()
    good = tmp_path / "good"
    good.write_text("s3cret\n")
    # -C 1: the subscriber ends at the first message, the daemon's "online" (the broker has nothing retained yet)
    sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(b.port), "-u", "edge", "-P", "s3cret",
                            "-t", f"{PREFIX}/availability", "-v", "-C", "1"], stdout=subprocess.PIPE, text=True)
    assert wait_until(lambda: b.subscribed(f"{PREFIX}/availability") > 0, 10), "mosquitto_sub did not subscribe"
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[mqtt]\nusername = "edge"\npassword_file = "{good}"\n')
    proc = daemon(b.port, seq, "--config", cfg)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert f"{PREFIX}/availability online" in sub.communicate(timeout=30)[0]
    bad = tmp_path / "bad"
    bad.write_text("wrong\n")
    cfg.write_text(f'[mqtt]\nusername = "edge"\npassword_file = "{bad}"\n')
    proc = daemon(b.port, seq, "--config", cfg, "--realtime")
    time.sleep(6)  # an observation window (the refusals and their retries happen in it), not a wait for a condition
    assert proc.poll() is None  # still streaming, not crashed
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "refused the connection" in err and "check the username and password" in err
    assert err.count("refused the connection") == 1  # logged once, retried quietly with backoff
    assert "Traceback" not in err
    b.stop()


def test_password_in_url_is_refused(seq):
    proc = daemon(1883, seq, scheme="mqtt", host="u:pw@127.0.0.1")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "password" in err


def test_ack_bookkeeping_stays_bounded_under_qos0_traffic(broker, monkeypatch):
    """QoS 0 scores/stats get on_publish callbacks too: remembering their mids must not grow without bound (nor
    make a later QoS 1 message with a reused mid look delivered); QoS 1 events still count as queued until acked."""
    import edge_lrcn.config as C
    import edge_lrcn.publish.acks as acks
    import edge_lrcn.publish.mqtt as M
    from edge_lrcn.publish.sink import Kind, SinkContext

    monkeypatch.setattr(acks, "EARLY_ACK_S", 0.2)
    sub = Subscriber(broker.port)
    settings = C.resolve({"source": "x"}, None, environ={})
    sink = M.MqttSink(C.parse_sink(f"mqtt://127.0.0.1:{broker.port}"), settings.mqtt, SinkContext(DEV, ["a", "b"], "m"))
    try:
        assert sub.wait_for(lambda: sink.stats()["mqtt_connected"], 10)
        for i in range(4000):
            sink.publish(Kind.SCORES, {"type": "scores", "i": i})
            if i % 100 == 0:
                sink.publish(Kind.EVENT, {"type": "activity_start", "i": i})
            if i % 500 == 499:
                time.sleep(0.3)
        assert sub.wait_for(lambda: len(sub.on(f"{PREFIX}/events")) == 40)
        assert [json.loads(p)["i"] for p, _ in sub.on(f"{PREFIX}/events")] == list(range(0, 4000, 100))
        assert sub.wait_for(lambda: sink.stats()["mqtt_queued"] == 0, 10)
        assert sink.acks.remembered() <= 1500, sink.acks.remembered()
    finally:
        sink.close()
        sub.close()


def test_camera_state_is_retained_from_the_start_replacing_a_stale_offline(broker, seq):
    """Home Assistant's camera sensor must not stay unknown until the first outage, nor show the offline a
    previous run left retained while this one streams."""
    stale = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    stale.connect("127.0.0.1", broker.port)
    stale.loop_start()
    stale.publish(f"{PREFIX}/camera", json.dumps({"type": "camera", "state": "offline", "reason": "old run"}),
                  qos=1, retain=True).wait_for_publish(5)
    stale.loop_stop()
    stale.disconnect()
    proc = daemon(broker.port, seq, "--realtime")
    try:
        sub = Subscriber(broker.port)
        assert sub.wait_for(lambda: any(json.loads(p).get("state") == "online" for p, _ in sub.on(f"{PREFIX}/camera")),
                            30), sub.on(f"{PREFIX}/camera")
        sub.close()
        late = Subscriber(broker.port)  # what a Home Assistant that starts now reads
        assert late.wait_for(lambda: late.on(f"{PREFIX}/camera"), 10)
        payload, retained = late.on(f"{PREFIX}/camera")[0]
        assert retained and json.loads(payload)["state"] == "online" and "reason" not in json.loads(payload)
        late.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err


def test_qos_setting_is_the_events_qos_retained_topics_stay_qos_1(broker, seq):
    """``qos = 0`` makes the events QoS 0; availability, discovery, state and camera stay QoS 1 (as its help says)."""
    sub = Subscriber(broker.port)
    proc = daemon(broker.port, seq, "--qos", "0")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert events_of(out), "no event: the test proves nothing"
    assert sub.wait_for(lambda: len(sub.on(f"{PREFIX}/events")) >= len(events_of(out)), 20)
    sub.close()
    delivered = {}
    for topic, qos in sub.qos:
        delivered.setdefault(topic.split("/")[-1] if topic.startswith(PREFIX) else "discovery", set()).add(qos)
    assert delivered["events"] == {0}
    for retained in ("availability", "activity", "camera", "discovery"):
        assert delivered[retained] == {1}, (retained, delivered)
    help_text = subprocess.run([sys.executable, "-m", "edge_lrcn", "run", "--help"], capture_output=True,
                               text=True).stdout
    assert "always QoS 1" in " ".join(help_text.split())


def _retained(port: int, topic: str) -> dict[str, str]:
    """The retained messages on ``topic`` (a filter), read back with mosquitto_sub as an operator would."""
    proc = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-v", "--retained-only",
                           "-W", "2"], capture_output=True, text=True, timeout=30)
    return dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)


def _retained_configs(port: int, node: str) -> dict[str, dict]:
    """The entities of the retained device-based discovery config of ``node``, one per entity topic."""
    device = _retained(port, f"homeassistant/device/{node}/config")
    assert len(device) == 1, device
    return per_entity(json.loads(next(iter(device.values()))), node[len("edge_lrcn_"):])


def test_discovery_read_back_with_mosquitto_sub_is_current_and_stale_configs_go(broker, seq):
    """What Home Assistant reads: no ``object_id`` (removed in HA 2026.4), an ``origin`` block, the Activity sensor
    as an enum of the labels + ``none``, an ``event`` entity, no binary sensor for the idle label ``still`` and the
    diagnostic sensors; retained configs that an earlier version left (a ``still`` motion sensor, an entity this
    version no longer has) are cleared, and the ones it still has are replaced."""
    node = f"edge_lrcn_{DEV}"
    old = {"name": "still", "unique_id": f"{node}_still", "object_id": f"{node}_still",
           "state_topic": f"{PREFIX}/activity"}
    for topic, payload in ((f"homeassistant/binary_sensor/{node}/still/config", old),
                           (f"homeassistant/sensor/{node}/activity/config", {**old, "name": "Activity"}),
                           (f"homeassistant/sensor/{node}/retired/config", old)):
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-r", "-q", "1", "-t", topic,
                        "-m", json.dumps(payload)], check=True, timeout=10)
    proc = daemon(broker.port, seq, "--remote-settings")  # the controls too
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    configs = _retained_configs(broker.port, node)
    assert configs[f"homeassistant/sensor/{node}/activity/config"]["unique_id"] == f"{node}_activity"  # kept
    assert f"homeassistant/binary_sensor/{node}/still/config" not in configs  # stale: removed
    assert f"homeassistant/sensor/{node}/retired/config" not in configs
    assert _retained(broker.port, f"homeassistant/+/{node}/+/config") == {}  # every per-entity config cleared
    assert "removing stale Home Assistant config" in err
    assert f"migrating the Home Assistant config homeassistant/sensor/{node}/activity/config" in err
    assert sorted(t.split("/")[1] + "/" + t.split("/")[3] for t in configs) == sorted(
        ["sensor/activity", "sensor/fps", "sensor/camera_reopens", "sensor/mqtt_dropped", "event/activity",
         "binary_sensor/left", "binary_sensor/right", "binary_sensor/up", "binary_sensor/down",
         "binary_sensor/camera", "sensor/model", "number/enter_threshold", "number/exit_threshold",
         "number/min_duration", "switch/pause", "image/snapshot"])
    for topic, c in configs.items():
        assert "object_id" not in c, topic
        assert c["origin"]["name"] == "edge-lrcn" and c["origin"]["sw_version"]
        component = topic.split("/")[1]
        assert c["default_entity_id"].startswith(f"{component}.edge_lrcn_{DEV}_")
    activity = configs[f"homeassistant/sensor/{node}/activity/config"]
    assert activity["device_class"] == "enum"
    assert activity["options"] == ["down", "left", "right", "still", "up", "none"]  # the model's labels + none
    event = configs[f"homeassistant/event/{node}/activity/config"]
    assert event["event_types"] == ["down", "left", "right", "still", "up",
                                    "down_end", "left_end", "right_end", "still_end", "up_end"]
    assert event["state_topic"] == f"{PREFIX}/events"
    diagnostic = {t.split("/")[3]: c for t, c in configs.items() if c.get("entity_category") == "diagnostic"}
    assert set(diagnostic) == {"fps", "camera_reopens", "mqtt_dropped", "camera", "model"}
    assert {diagnostic[k]["state_topic"] for k in ("fps", "camera_reopens", "mqtt_dropped")} == {f"{PREFIX}/stats"}


def test_idle_labels_setting_chooses_which_labels_get_a_binary_sensor(broker, seq):
    node = f"edge_lrcn_{DEV}"
    proc = daemon(broker.port, seq, "--idle-labels", "still,UP")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    labels = sorted(t.split("/")[3] for t in _retained_configs(broker.port, node) if "/binary_sensor/" in t)
    assert labels == ["camera", "down", "left", "right"]
