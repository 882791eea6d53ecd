"""Hostile messages and floods on the control path, against a real mosquitto and a real daemon streaming a live
MJPEG camera: deeply nested JSON on both command topics, a 60 kB key, a flood of ``set`` requests; then a valid
command still works and frames kept flowing. The control connection's thread is supervised (restarted if it ends
anyway). docs/fleet.md, "Hostile input"."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from edge_lrcn.config import ConfigSource, parse_sink, resolve
from edge_lrcn.fleet.control import Control
from edge_lrcn.fleet.keys import keygen
from edge_lrcn.fleet.remote import RemoteSettings
from edge_lrcn.fleet.state import StateDir
from tests.broker import Broker
from tests.conftest import wait_until
from tests.mjpeg_server import MjpegCamera
from tests.test_fleet import DEV, PREFIX, Device, make_kit, responses, wait
from tests.test_mqtt import Subscriber

pytestmark = pytest.mark.needs("mosquitto", "mosquitto_sub")


@pytest.fixture(scope="module")
def kit(tmp_path_factory, default_bundle):
    return make_kit(tmp_path_factory.mktemp("fleet"), default_bundle)


def publisher(port: int) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"hostile-{time.monotonic_ns()}")
    c.max_inflight_messages_set(1000)
    c.connect("127.0.0.1", port, 30)
    c.loop_start()
    return c


def answered(pub: mqtt.Client, sub: Subscriber, request: dict, timeout: float = 20.0) -> bool:
    """Send ``request`` until it is answered ok (a busy answer, or no answer yet, sends it again)."""
    def ok() -> bool:
        if any(a.get("transaction") == request["transaction"] and a["status"] == "ok"
               for a in responses(sub, "set/response")):
            return True
        pub.publish(f"{PREFIX}/set", json.dumps(request), qos=1)
        return False
    return wait_until(ok, timeout, 0.5)


@pytest.fixture()
def live(tmp_path):
    broker = Broker(tmp_path / "broker").start()
    cam = MjpegCamera("right", fps=15.0, seed=7)
    keygen(tmp_path / "keys", "alice")
    sub = Subscriber(broker.port, topics=(f"{PREFIX}/#",))
    dev = Device(broker, cam, tmp_path / "state", "--trusted-key", tmp_path / "keys" / "edge-lrcn.pub",
                 "--remote-settings", "--stats-interval", "1", env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    yield broker, sub, dev, tmp_path / "state"
    rc = dev.stop()
    sub.close()
    cam.close()
    broker.stop()
    assert rc == 0 and "Traceback" not in dev.log(), dev.log()[-3000:]


def stats(dev: Device) -> list[dict]:
    return [x for x in list(dev.lines) if x["type"] == "stats"]


def test_nested_json_and_a_huge_key_are_answered_and_a_valid_command_still_works(live):
    broker, sub, dev, state = live
    assert wait(lambda: sub.on(f"{PREFIX}/settings") and stats(dev)), dev.log()
    pub = publisher(broker.port)
    try:
        pub.publish(f"{PREFIX}/model/set", b"[" * 1100, qos=1).wait_for_publish(10)
        pub.publish(f"{PREFIX}/set", b"[" * 5000, qos=1).wait_for_publish(10)
        pub.publish(f"{PREFIX}/set", b'{"a": ' + b"[" * 2000, qos=1).wait_for_publish(10)
        pub.publish(f"{PREFIX}/set", json.dumps({"k" * 60000: 1, "transaction": "big"}), qos=1).wait_for_publish(10)
        pub.publish(f"{PREFIX}/set", json.dumps({"x" * 3000: 1, "transaction": "long"}), qos=1).wait_for_publish(10)
        assert wait(lambda: len(responses(sub, "set/response")) >= 4 and responses(sub, "model/response"), 30), \
            dev.log()
        model_answer = responses(sub, "model/response")[0]
        assert model_answer["status"] == "error" and "header" in model_answer["error"]
        answers = responses(sub, "set/response")
        assert "5000 bytes, over 4096" in answers[0]["error"] and "nested deeper" in answers[1]["error"]
        assert "over 4096" in answers[2]["error"] and answers[2]["transaction"] is None
        assert answers[3]["transaction"] == "long" and "not settable remotely" in answers[3]["error"]
        assert len(answers[3]["error"]) < 300  # the 3000-character key is quoted cut short
        assert answered(pub, sub, {"enter_threshold": 0.5, "transaction": "ok1"}), dev.log()
        ok = [a for a in responses(sub, "set/response") if a.get("transaction") == "ok1"][0]
        assert ok["status"] == "ok" and ok["settings"]["enter_threshold"] == 0.5
        assert json.loads((state / "settings.json").read_text()) == {"enter_threshold": 0.5}
    finally:
        pub.loop_stop()
        pub.disconnect()
    log = dev.log()
    assert "x" * 100 not in log and "[" * 100 not in log and len(log) < 20000, log[-3000:]


def test_a_set_flood_is_answered_busy_while_frames_keep_flowing(live):
    broker, sub, dev, state = live
    assert wait(lambda: sub.on(f"{PREFIX}/settings") and len(stats(dev)) >= 2), dev.log()
    pub = publisher(broker.port)
    done = threading.Event()

    def flood():
        for i in range(5000):
            pub.publish(f"{PREFIX}/set", json.dumps({"min_duration": 1.0 + (i % 10) / 10, "transaction": f"f{i}"}))
        done.set()

    before = stats(dev)[-1]["frames_kept"]
    threading.Thread(target=flood, daemon=True).start()
    try:
        assert wait(done.is_set, 120)
        # the flood is answered (ok or busy), and the daemon kept frames while it lasted
        assert wait(lambda: len(responses(sub, "set/response")) >= 5000, 120), len(responses(sub, "set/response"))
        assert wait(lambda: stats(dev)[-1]["frames_kept"] > before + 10, 30)
        answers = responses(sub, "set/response")
        busy = [a for a in answers if "busy" in (a.get("error") or "")]
        assert busy and all(a["status"] in ("ok", "error") for a in answers)
        kept = [a for a in answers if a["status"] == "ok"]
        assert kept and len(kept) < 5000  # rate-limited
        # the last accepted value is the one kept and applied
        last = kept[-1]["settings"]["min_duration"]
        assert json.loads((state / "settings.json").read_text())["min_duration"] == last
        assert answered(pub, sub, {"smoothing": 8, "agree": 2, "transaction": "after"}), dev.log()[-2000:]
        assert wait(lambda: json.loads(sub.on(f"{PREFIX}/settings")[-1][0])["smoothing"] == 8, 10)
        assert json.loads(sub.on(f"{PREFIX}/settings")[-1][0])["agree"] == 2
    finally:
        pub.loop_stop()
        pub.disconnect()


class _Blocked:
    """A config source whose load waits until released: the remote settings thread stuck on a slow disk."""

    def __init__(self, real: ConfigSource):
        self.real, self.release = real, threading.Event()

    def load(self, remote=None):
        self.release.wait(30)
        return self.real.load(remote=remote)


def test_the_backlog_of_settings_requests_is_bounded_and_a_batch_is_kept_once(tmp_path):
    source = ConfigSource({"state_dir": str(tmp_path / "state")}, None, False)
    settings = source.load()
    blocked = _Blocked(source)
    answers: list[dict] = []
    wakes: list[int] = []
    remote = RemoteSettings(blocked, settings, StateDir(tmp_path / "state"), answers.append, lambda obj: None,
                            lambda: wakes.append(1), backlog=8)
    taken = [remote.submit({"enter_threshold": 0.5 + i / 1000, "transaction": str(i)}) for i in range(100)]
    # the first request is being checked (the thread holds it), 8 wait: the rest is refused at once
    assert wait(lambda: remote.waiting <= 8, 5)
    assert 8 <= taken.count(True) <= 9 and remote.waiting <= 8
    blocked.release.set()
    assert wait(lambda: len(answers) == taken.count(True), 20)
    assert all(a["status"] == "ok" for a in answers)
    change = remote.take()
    assert change is not None and change.names == ["enter_threshold"] and remote.take() is None
    last = max(int(a["transaction"]) for a in answers)
    kept = json.loads((tmp_path / "state" / "settings.json").read_text())
    assert kept == {"enter_threshold": 0.5 + last / 1000} == {"enter_threshold": change.settings.events.enter_threshold}
    assert remote.applied <= 2  # the first request, then the eight that waited, as one batch
    remote.close()


def test_the_control_connection_is_restarted_if_its_thread_ends(tmp_path):
    broker = Broker(tmp_path / "broker").start()
    sub = Subscriber(broker.port, topics=(f"{PREFIX}/#",))
    settings = resolve({"state_dir": str(tmp_path / "state"), "remote_settings": True}, None)
    source = ConfigSource({"state_dir": str(tmp_path / "state")}, None, False)
    control = Control(parse_sink(f"mqtt://127.0.0.1:{broker.port}"), settings, PREFIX, DEV, None, lambda: None,
                      config=source, state=StateDir(tmp_path / "state"))
    pub = publisher(broker.port)
    try:
        assert wait(lambda: control.client.is_connected(), 20)
        loop = control.client.loop

        def fails_once(*args, **kwargs):
            control.client.loop = loop
            raise RuntimeError("injected")

        control.client.loop = fails_once  # the network thread ends (as an exception out of paho would end it)
        assert wait(lambda: not control.alive, 10)
        assert control.supervise() and control.alive and control.restarts == 1
        assert not control.supervise()  # alive: nothing to do
        assert answered(pub, sub, {"smoothing": 5, "transaction": "r1"})
        assert Path(tmp_path / "state" / "settings.json").exists()
    finally:
        pub.loop_stop()
        control.close()
        sub.close()
        broker.stop()


def test_two_daemons_with_one_device_id_stop_fighting_and_the_camera_state_is_offline_after_a_stop(tmp_path):
    from edge_lrcn.convert.synth import make_sequence
    from tests.conftest import launch

    broker = Broker(tmp_path / "broker").start()
    video = tmp_path / "v.avi"
    make_sequence(video, [("right", 90.0)], seed=1)
    logs = [tmp_path / f"d{i}.log" for i in range(2)]
    procs = [launch("run", "--source", video, "--realtime", "--device-id", "twin", "--sink",
                    f"mqtt://127.0.0.1:{broker.port}", "--remote-settings", "--state-dir", tmp_path / f"s{i}",
                    "--stats-interval", "0", stdout=subprocess.DEVNULL, stderr=open(logs[i], "w")) for i in range(2)]
    taken = "already connected, closing old connection"
    try:
        said = ("MQTT broker", "fleet control: the broker")  # the sink's and the control connection's
        assert wait(lambda: all(any(s in p.read_text() and "same client id" in p.read_text() for p in logs)
                                for s in said), 90), [p.read_text()[-3000:] for p in logs]
        # one of the two gave way, once for each connection; from now on the connections change hands rarely
        # (before: 114 times a minute)
        before = (tmp_path / "broker" / "broker.log").read_text().count(taken)
        time.sleep(10)  # an observation window, not a wait for a condition
        during = (tmp_path / "broker" / "broker.log").read_text().count(taken) - before
        assert during <= 4, during
        assert sum(p.read_text().count("same client id") for p in logs) <= 4  # said once per connection at most
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        rcs = [p.wait(15) for p in procs]
    assert rcs == [0, 0], [p.read_text()[-2000:] for p in logs]
    sub = Subscriber(broker.port, topics=("edge-lrcn/twin/#",))
    try:
        assert wait(lambda: sub.on("edge-lrcn/twin/camera") and sub.on("edge-lrcn/twin/availability"), 10)
        camera = json.loads(sub.on("edge-lrcn/twin/camera")[-1][0])
        assert camera["state"] == "offline" and camera["reason"] == "stopped"
        assert sub.on("edge-lrcn/twin/availability")[-1][0] == b"offline"
    finally:
        sub.close()
        broker.stop()


def test_push_all_survives_poisoned_retained_model_topics_of_other_devices(tmp_path, kit):  # noqa: F811 - kit: test_fleet's fixture
    from tests.conftest import run_cli

    broker = Broker(tmp_path / "broker").start()
    cam = MjpegCamera("right", fps=15.0, seed=9)
    dev = Device(broker, cam, tmp_path / "state", "--trusted-key", kit["pub"],
                 env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    sub = Subscriber(broker.port, topics=(f"{PREFIX}/#",))
    pub = publisher(broker.port)
    try:
        for name, payload in (("nested", b"[" * 5000), ("array", b"[1, 2]"), ("no_id", b'{"updates": true}'),
                              ("binary", b"\xff\xfe")):
            pub.publish(f"edge-lrcn/{name}/model", payload, qos=1, retain=True).wait_for_publish(10)
        assert wait(lambda: sub.on(f"{PREFIX}/model"), 60), dev.log()
        proc = run_cli("push", kit["a"], "--broker", f"mqtt://127.0.0.1:{broker.port}", "--all", "--timeout", "90",
                       timeout=150)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, (proc.stdout, proc.stderr)
        lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
        assert [(x["device"], x["status"]) for x in lines] == [(PREFIX, "ok")]
        assert proc.stderr.count("ignoring") == 4, proc.stderr
    finally:
        for name in ("nested", "array", "no_id", "binary"):
            pub.publish(f"edge-lrcn/{name}/model", b"", qos=1, retain=True)
        pub.loop_stop()
        sub.close()
        assert dev.stop() == 0
        cam.close()
        broker.stop()


def test_an_older_signed_bundle_is_refused_as_a_replay_unless_signed_again_as_a_rollback(tmp_path, kit):  # noqa: F811
    import shutil

    from edge_lrcn.fleet.keys import sign
    from edge_lrcn.fleet.release import is_rollback, release_of
    from edge_lrcn.model.bundle import read_bundle
    from tests.test_fleet import answer, push

    old, new = tmp_path / "old.lrcn", tmp_path / "new.lrcn"
    shutil.copy(kit["a"], old)
    shutil.copy(kit["b"], new)
    assert "" < release_of(read_bundle(old)) < release_of(read_bundle(new))  # kit signs a, then b
    broker = Broker(tmp_path / "broker").start()
    cam = MjpegCamera("right", fps=15.0, seed=10)
    dev = Device(broker, cam, tmp_path / "state", "--trusted-key", kit["pub"],
                 env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    try:
        assert answer(push(broker, new))["status"] == "ok", dev.log()
        assert (tmp_path / "state" / "release").read_text().strip() == release_of(read_bundle(new))
        replay = answer(push(broker, old))
        assert replay["status"] == "error" and "refused as a replay" in replay["error"], replay
        sign(old, kit["dir"] / "alice" / "edge-lrcn.key", rollback=True)
        assert is_rollback(read_bundle(old)) and release_of(read_bundle(old)) > release_of(read_bundle(new))
        assert answer(push(broker, old))["status"] == "ok", dev.log()
    finally:
        assert dev.stop() == 0
        cam.close()
        broker.stop()


def test_remote_settings_are_off_by_default_on_a_broker_that_does_not_ask_who_connects(tmp_path):
    broker = Broker(tmp_path / "broker").start()
    cam = MjpegCamera("right", fps=15.0, seed=11)
    state = tmp_path / "state"
    state.mkdir()
    (state / "paused").write_text("paused by whoever could publish\n")  # kept by an earlier run
    sub = Subscriber(broker.port)
    dev = Device(broker, cam, state, env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    pub = publisher(broker.port)
    try:
        assert wait(lambda: dev.events(), 60), dev.log()  # the kept pause is ignored: frames flow
        assert "ignoring the pause switch kept in" in dev.log() and "remote_settings = auto" in dev.log()
        pub.publish(f"{PREFIX}/set", json.dumps({"paused": True, "transaction": "p"}), qos=1).wait_for_publish(10)
        sent = cam.frames_sent
        assert wait(lambda: cam.frames_sent > sent + 45, 30)  # still streaming (a pause releases the camera)
        assert not responses(sub, "set/response") and "paused" not in [x.get("state") for x in dev.lines]
        configs = [t for t, p, _ in sub.messages if t.startswith("homeassistant/") and p]
        assert configs and not [t for t in configs if "/number/" in t or "/switch/" in t]
    finally:
        pub.loop_stop()
        assert dev.stop() == 0
        sub.close()
    # the same device authenticating to a broker that checks passwords: remote settings on
    pw = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(pw), "edge", "s3cret"], check=True)
    (tmp_path / "pwfile").write_text("s3cret\n")
    broker.stop()
    auth = Broker(tmp_path / "auth", password_file=pw).start()
    dev = Device(auth, cam, state, "--username", "edge", "--password-file", tmp_path / "pwfile",
                 env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    try:
        assert wait(lambda: [x for x in dev.lines if x["type"] == "camera" and x["state"] == "paused"], 60), \
            dev.log()  # with remote settings on, the kept pause applies again
    finally:
        assert dev.stop() == 0
        cam.close()
        auth.stop()
