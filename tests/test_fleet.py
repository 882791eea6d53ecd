"""Fleet updates against a real mosquitto and real daemons (``python -m edge_lrcn run``) streaming a live MJPEG
camera: signed model pushes (accepted, refused, oversize, while the camera is offline, two in a row, kept across a
restart), remote settings and the pause switch, and the Home Assistant controls. docs/fleet.md."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import threading
import time
import zipfile
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from edge_lrcn.fleet.keys import keygen, load_public, sign, verify
from edge_lrcn.fleet.protocol import encode_push
from edge_lrcn.model.bundle import read_bundle, write_bundle
from edge_lrcn.publish.discovery import per_entity
from tests.broker import Broker
from tests.conftest import launch, run_cli, wait_until
from tests.mjpeg_server import MjpegCamera
from tests.test_mqtt import Subscriber, _retained_configs

DEV = "fleet1"
PREFIX = f"edge-lrcn/{DEV}"
pytestmark = pytest.mark.needs("mosquitto", "mosquitto_sub")


# ---- bundles and keys -------------------------------------------------------------------------------------------
def relabel(src: Path, out: Path, labels: list[str]) -> Path:
    """The same models under other label names (the head's output size stays the label count)."""
    b = read_bundle(src)
    manifest = {k: v for k, v in b.manifest.items() if k not in ("format", "version", "files")}
    manifest["labels"] = labels
    write_bundle(out, manifest, {n: (b.members[n], f["role"], f.get("dtype", "")) for n, f in
                                 b.manifest["files"].items()})
    return out


def alter_member(src: Path, out: Path, name: str = "head.tflite") -> Path:
    """A member changed after signing, its sha256 in the manifest updated to match (the signature is kept)."""
    with zipfile.ZipFile(src) as z:
        items = {i.filename: z.read(i.filename) for i in z.infolist()}
    items[name] += b"\0"
    manifest = json.loads(items["manifest.json"])
    manifest["files"][name]["sha256"] = hashlib.sha256(items[name]).hexdigest()
    items["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(out, "w") as z:
        for n, blob in items.items():
            z.writestr(n, blob)
    return out


@pytest.fixture(scope="module")
def kit(tmp_path_factory, default_bundle):
    return make_kit(tmp_path_factory.mktemp("fleet"), default_bundle)


def make_kit(d: Path, default_bundle: Path) -> dict:
    """Alice's and Mallory's keys, and bundles relabelled from the embedded one: signed, unsigned, altered."""
    keygen(d / "alice", "alice")
    keygen(d / "mallory", "mallory")
    k = {"dir": d, "pub": d / "alice" / "edge-lrcn.pub"}
    for name, labels in (("a", ["a_down", "a_left", "a_right", "a_still", "a_up"]),
                         ("b", ["b_down", "b_left", "b_right", "b_still", "b_up"])):
        k[name] = relabel(default_bundle, d / f"{name}.lrcn", labels)
        sign(k[name], d / "alice" / "edge-lrcn.key")
    k["unsigned"] = relabel(default_bundle, d / "unsigned.lrcn", ["u1", "u2", "u3", "u4", "u5"])
    k["mallory"] = relabel(default_bundle, d / "mallory.lrcn", ["m1", "m2", "m3", "m4", "m5"])
    sign(k["mallory"], d / "mallory" / "edge-lrcn.key")
    k["altered"] = alter_member(k["a"], d / "altered.lrcn")
    return k


def test_keygen_sign_and_info_on_the_command_line(tmp_path, default_bundle):
    assert run_cli("keygen", "--out", tmp_path / "k", "--name", "ci@host").returncode == 0
    key, pub = tmp_path / "k" / "edge-lrcn.key", tmp_path / "k" / "edge-lrcn.pub"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and pub.read_text().split()[2] == "ci@host"
    again = run_cli("keygen", "--out", tmp_path / "k")
    assert again.returncode == 2 and "never overwrites" in again.stderr and key.read_bytes()
    bundle = relabel(default_bundle, tmp_path / "m.lrcn", ["p", "q", "r", "s", "t"])
    unsigned = json.loads(run_cli("info", bundle, "--trusted-key", pub).stdout)
    assert unsigned["signature"] is None
    proc = run_cli("sign", bundle, "--key", key)
    assert proc.returncode == 0 and "ci@host" in proc.stdout, proc.stderr
    assert verify(read_bundle(bundle), [load_public(pub)]).name == "ci@host"
    keygen(tmp_path / "other", "other")
    good = json.loads(run_cli("info", bundle, "--trusted-key", pub).stdout)["signature"]
    bad = json.loads(run_cli("info", bundle, "--trusted-key", tmp_path / "other" / "edge-lrcn.pub").stdout)
    assert good["signer"] == "ci@host" and good["verified"] is True and good["verified_by"] == "ci@host"
    assert bad["signature"]["verified"] is False and "not one of the 1 trusted" in bad["signature"]["error"]
    assert read_bundle(bundle).labels == ["p", "q", "r", "s", "t"]  # signing changed nothing else


# ---- a running device -------------------------------------------------------------------------------------------
class Device:
    """A daemon streaming the MJPEG camera to the broker (and stdout, collected here)."""

    def __init__(self, broker: Broker, cam: MjpegCamera, state: Path, *extra, env=None):
        self.err = open(state.parent / f"daemon-{time.monotonic_ns()}.log", "w")
        self.proc = launch("run", "--source", cam.url, "--device-id", DEV, "--sink", f"mqtt://127.0.0.1:{broker.port}",
                           "--sink", "stdout", "--state-dir", state, "--stall-timeout", "1", "--reopen-max-delay", "2",
                           "--stats-interval", "0", *extra, env=env, stderr=self.err)
        self.lines: list[dict] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.lines.append(json.loads(line))

    def events(self, since: int = 0) -> list[dict]:
        return [e for e in self.lines[since:] if e["type"].startswith("activity_")]

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(15)
        self.reader.join(5)
        self.err.close()
        return rc

    def log(self) -> str:
        return Path(self.err.name).read_text()


def push(broker: Broker, bundle: Path, *extra) -> subprocess.CompletedProcess:
    return run_cli("push", bundle, "--broker", f"mqtt://127.0.0.1:{broker.port}", "--device", DEV, "--timeout",
                   "90", *extra, timeout=120)


def answer(proc: subprocess.CompletedProcess) -> dict:
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    assert len(lines) == 1, (proc.stdout, proc.stderr)
    return lines[0]


def retained(sub: Subscriber, sub_topic: str) -> dict:
    return json.loads(sub.on(f"{PREFIX}/{sub_topic}")[-1][0])


def wait(pred, timeout=60.0) -> bool:
    return wait_until(pred, timeout, 0.1)


@pytest.fixture()
def rig(tmp_path):
    broker = Broker(tmp_path / "broker").start()
    cam = MjpegCamera("right", fps=15.0, seed=4)
    yield broker, cam, tmp_path / "state", {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    cam.close()
    broker.stop()


def test_signed_push_swaps_the_model_between_frames_refusals_change_nothing_and_a_restart_keeps_it(rig, kit):
    broker, cam, state, env = rig
    sub = Subscriber(broker.port)
    dev = Device(broker, cam, state, "--trusted-key", kit["pub"], env=env)
    try:
        assert wait(lambda: dev.events()), dev.log()  # the embedded model sees the shape moving right
        first = retained(sub, "model")
        assert first["labels"] == ["down", "left", "right", "still", "up"] and first["updates"] is True
        assert first["signer"] is None  # the embedded model is part of the package
        for bad, reason in ((kit["unsigned"], "is not signed"), (kit["mallory"], "not one of the 1 trusted"),
                            (kit["altered"], "not one of the 1 trusted")):
            proc = push(broker, bad)
            got = answer(proc)
            assert proc.returncode == 1 and got["status"] == "error" and reason in got["error"], (proc.stdout, bad)
        assert retained(sub, "model")["id"] == first["id"] and not (state / "model.lrcn").exists()
        # what the swap is to close: an open activity when the push is sent (on a loaded machine a camera stall
        # may have closed the last one and the next one takes min_duration to start)
        assert wait(lambda: dev.events()[-1]["type"] == "activity_start"), dev.log()
        n = len(dev.lines)
        proc = push(broker, kit["a"])
        got = answer(proc)
        new_id = read_bundle(kit["a"]).model_id
        assert proc.returncode == 0 and got["status"] == "ok" and got["model"] == new_id, proc.stdout + dev.log()
        # the answer reached the push client; the retained model topic reaches this subscriber on its own connection
        assert wait(lambda: retained(sub, "model")["id"] == new_id, 10) and retained(sub, "model")["signer"] == "alice"
        assert wait(lambda: any(e["type"] == "activity_start" for e in dev.events(n)) and
                    dev.events(n)[-1]["model"] == new_id), dev.log()
        after = dev.events(n)
        old = [e for e in dev.events() if e["model"] == first["id"]]
        assert old[-1]["type"] == "activity_end", dev.log()  # the swap left nothing of the old model open
        if old[-1].get("reason") != "model":  # closed before the swap landed: by a gap in the stream, a scene cut
            # or a camera reset on a loaded machine (each logged), never left to the new model
            assert old[-1].get("reason") in ("gap", "cut", "camera") and old[-1] in after, (old[-1], dev.log())
        else:  # the activity open at the swap is closed by it, under the old model
            assert old[-1]["label"] == "right" and len([e for e in after if e.get("reason") == "model"]) == 1
        starts = [e for e in after if e["type"] == "activity_start" and e["model"] == new_id]
        assert starts and all(e["label"].startswith("a_") for e in starts)
        assert read_bundle(state / "model.lrcn").model_id == new_id and dev.proc.poll() is None
        # Home Assistant follows the labels: the new ones' entities, none of the old ones left retained
        def binaries():
            return sorted(t.split("/")[3] for t, c in _retained_configs(broker.port, f"edge_lrcn_{DEV}").items()
                          # a component listed by ``p`` alone is removed
                          if "/binary_sensor/" in t and "unique_id" in c)

        # `right` & co. removed
        assert wait(lambda: binaries() == ["a_down", "a_left", "a_right", "a_still", "a_up", "camera"], 30), binaries()
        ha = _retained_configs(broker.port, f"edge_lrcn_{DEV}")
        assert ha[f"homeassistant/sensor/edge_lrcn_{DEV}/activity/config"]["options"] == [
            "a_down", "a_left", "a_right", "a_still", "a_up", "none"]
    finally:
        assert dev.stop() == 0
    # a restart runs the pushed model; --model on the command line still wins
    again = Device(broker, cam, state, "--trusted-key", kit["pub"], env=env)
    try:
        assert wait(lambda: again.events()), again.log()
        assert again.events()[0]["model"] == new_id and again.events()[0]["label"].startswith("a_")
    finally:
        assert again.stop() == 0
    chosen = Device(broker, cam, state, "--trusted-key", kit["pub"], "--model", kit["b"], env=env)
    try:
        assert wait(lambda: chosen.events()), chosen.log()
        assert chosen.events()[0]["model"] == read_bundle(kit["b"]).model_id
    finally:
        assert chosen.stop() == 0
        sub.close()


def raw_push(port: int, payload: bytes, topic: str = f"{PREFIX}/model/set") -> None:
    """Publish without edge-lrcn push (which refuses an oversize bundle itself, before sending it)."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="raw-pusher")
    c.connect("127.0.0.1", port)
    c.loop_start()
    c.publish(topic, payload, qos=1).wait_for_publish(10)
    c.disconnect()
    c.loop_stop()


def responses(sub: Subscriber, sub_topic: str) -> list[dict]:
    return [json.loads(p) for p, _ in sub.on(f"{PREFIX}/{sub_topic}")]


def test_oversize_offline_camera_two_pushes_in_a_row(rig, kit):
    broker, cam, state, env = rig
    cap = os.path.getsize(kit["a"]) + 4096
    state.mkdir()
    (state / ".incoming-crashed.lrcn").write_bytes(b"half a bundle")  # a push checked when the power went
    sub = Subscriber(broker.port)
    dev = Device(broker, cam, state, "--trusted-key", kit["pub"], "--max-model-bytes", cap, env=env)
    try:
        assert wait(lambda: sub.on(f"{PREFIX}/model")), dev.log()
        assert retained(sub, "model")["max_bytes"] == cap
        big = state.parent / "big.lrcn"
        big.write_bytes(kit["a"].read_bytes() + os.urandom(cap))
        proc = push(broker, big)  # the client reads the device's announced cap and refuses before sending
        assert proc.returncode == 1 and "over edge-lrcn/fleet1's max_model_bytes" in answer(proc)["error"]
        # a little over the cap gets through the broker (the device's MQTT 5 Maximum Packet Size leaves room for
        # the topic and header) and is refused from its length: the zip never opened, nothing parsed or written
        raw_push(broker.port, encode_push(big.read_bytes()[:cap + 2000], "big-1"))
        assert wait(lambda: any(r["transaction"] == "big-1" for r in responses(sub, "model/response")), 20)
        got = [r for r in responses(sub, "model/response") if r["transaction"] == "big-1"][0]
        assert got["status"] == "error" and f"over this device's max_model_bytes {cap}" in got["error"]
        assert "(transaction big-1): push is" in dev.log() and "pushed bundle (transaction big-1)" not in dev.log()
        # twice the cap: the broker does not send it to the device at all (the answer to the next push comes,
        # this one never does)
        raw_push(broker.port, encode_push(big.read_bytes(), "big-2"))
        assert not list(state.glob(".incoming-*")) and not (state / "model.lrcn").exists()  # the leftover too
        # the camera goes away: a push is still checked and applied (the loop does not wait for a frame)
        cam.down.set()
        assert wait(lambda: any(json.loads(p).get("state") == "offline" for p, _ in sub.on(f"{PREFIX}/camera")),
                    20), dev.log()
        proc = push(broker, kit["a"])
        assert proc.returncode == 0 and answer(proc)["model"] == read_bundle(kit["a"]).model_id, dev.log()
        assert "big-2" not in dev.log() and all(r["transaction"] != "big-2" for r in responses(sub, "model/response"))
        cam.down.clear()
        # two pushes in a row, the second sent before the device answered the first: both answered ok, in order.
        # Signed again now, b then a: a device refuses a release older than the last it accepted (fleet/release.py),
        # and a ran above. Each is on the broker before the next is sent (two concurrent `push` processes could
        # reach it in either order, and b after a is rightly refused as a replay)
        for n in ("b", "a"):
            sign(kit[n], kit["dir"] / "alice" / "edge-lrcn.key")
        for n in ("b", "a"):
            raw_push(broker.port, encode_push(kit[n].read_bytes(), f"row-{n}"))
        assert wait(lambda: len(responses(sub, "model/response")) >= 4), dev.log()
        assert [(r["transaction"], r["status"]) for r in responses(sub, "model/response")[-2:]] == \
            [("row-b", "ok"), ("row-a", "ok")], responses(sub, "model/response")
        oks = [r["model"] for r in responses(sub, "model/response") if r["status"] == "ok"]
        assert len(oks) == 3 and set(oks[1:]) == {read_bundle(kit["a"]).model_id, read_bundle(kit["b"]).model_id}
        assert retained(sub, "model")["id"] == oks[-1] == read_bundle(state / "model.lrcn").model_id
        assert read_bundle(state / "model.previous.lrcn").model_id == oks[-2]
        # --all: every device whose retained <base>/+/model says it takes pushes (here the one)
        sign(kit["b"], kit["dir"] / "alice" / "edge-lrcn.key")  # newer than the a that runs
        proc = run_cli("push", kit["b"], "--broker", f"mqtt://127.0.0.1:{broker.port}", "--all", "--timeout", "90",
                       timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert answer(proc)["device"] == PREFIX and answer(proc)["model"] == read_bundle(kit["b"]).model_id
        assert dev.proc.poll() is None
    finally:
        assert dev.stop() == 0
        sub.close()


def set_request(port: int, obj) -> None:
    raw_push(port, json.dumps(obj).encode(), f"{PREFIX}/set")


def test_remote_settings_pause_switch_and_home_assistant_controls(rig, kit):
    broker, cam, state, env = rig
    sub = Subscriber(broker.port)
    dev = Device(broker, cam, state, "--exit-threshold", "0.25", "--remote-settings", env=env)  # no pushes
    try:
        assert wait(lambda: sub.on(f"{PREFIX}/settings") and dev.events()), dev.log()
        assert retained(sub, "settings") == {"enter_threshold": 0.6, "exit_threshold": 0.25, "smoothing": 12,
                                             "min_duration": 0.0, "agree": 3, "scores": False, "regions": [],
                                             "paused": False}
        assert retained(sub, "model")["updates"] is False
        set_request(broker.port, {"enter_threshold": 0.55, "min_duration": 0.5, "transaction": "t1"})
        set_request(broker.port, {"enter_threshold": 0.2, "transaction": "t2"})  # below exit_threshold 0.25
        set_request(broker.port, {"exit_threshold": 0.1, "transaction": "t3"})  # the command line fixed it
        set_request(broker.port, {"source": "/dev/video1", "transaction": "t4"})
        assert wait(lambda: len(responses(sub, "set/response")) == 4, 20), dev.log()
        r = {x["transaction"]: x for x in responses(sub, "set/response")}
        assert r["t1"]["status"] == "ok" and r["t1"]["settings"]["enter_threshold"] == 0.55
        assert r["t2"]["status"] == "error" and "at most enter_threshold" in r["t2"]["error"]
        assert r["t3"]["status"] == "error" and "--exit-threshold" in r["t3"]["error"]
        assert r["t4"]["status"] == "error" and "not settable remotely: source" in r["t4"]["error"]
        assert retained(sub, "settings")["enter_threshold"] == 0.55
        assert json.loads((state / "settings.json").read_text()) == {"enter_threshold": 0.55, "min_duration": 0.5}
        # the pause switch: the activity closes, the camera is released (the server stops sending), state paused
        n = len(dev.lines)
        set_request(broker.port, {"paused": True, "transaction": "p1"})
        assert wait(lambda: any(x.get("state") == "paused" for x in dev.lines[n:] if x["type"] == "camera"), 20)
        assert [e.get("reason") for e in dev.events(n) if e["type"] == "activity_end"] == ["paused"]
        assert wait(lambda: cam.streams == 0, 10)  # the server noticed the closed connection at its next write
        sent = cam.frames_sent
        time.sleep(1.5)  # an observation window: no frames are sent in it
        assert cam.frames_sent == sent and retained(sub, "settings")["paused"] is True and (state / "paused").exists()
        m = len(dev.lines)
        set_request(broker.port, {"paused": False, "transaction": "p2"})
        assert wait(lambda: cam.frames_sent > sent + 5 and any(e["type"] == "activity_start" for e in dev.events(m)),
                    30), dev.log()
        assert [x["state"] for x in dev.lines[m:] if x["type"] == "camera"][:1] == ["online"]
        assert retained(sub, "settings")["paused"] is False and not (state / "paused").exists()
        configs = {}  # the last device-based config, as the per-entity configs Home Assistant builds from it
        for t, p, _ in sub.messages:
            if t == f"homeassistant/device/edge_lrcn_{DEV}/config" and p:
                configs = per_entity(json.loads(p), DEV)
        set_request(broker.port, {"paused": True, "transaction": "p3"})  # paused for privacy, then a power cut:
        assert wait(lambda: len(responses(sub, "set/response")) == 7, 20)  # it must stay paused after the restart
    finally:
        assert dev.stop() == 0
    node = f"edge_lrcn_{DEV}"
    numbers = {t.split("/")[3]: c for t, c in configs.items() if t.startswith("homeassistant/number/")}
    assert set(numbers) == {"enter_threshold", "exit_threshold", "min_duration"}
    assert numbers["enter_threshold"]["command_topic"] == f"{PREFIX}/set"
    assert numbers["enter_threshold"]["command_template"].replace("{{ value }}", "0.5") == '{"enter_threshold": 0.5}'
    switch = configs[f"homeassistant/switch/{node}/pause/config"]
    assert json.loads(switch["payload_on"]) == {"paused": True} and switch["state_topic"] == f"{PREFIX}/settings"
    assert configs[f"homeassistant/sensor/{node}/model/config"]["state_topic"] == f"{PREFIX}/model"
    # a restart keeps the remote settings (command line > remote > config file > defaults) and the pause
    again = Device(broker, cam, state, "--remote-settings", env=env)
    try:
        assert wait(lambda: len(sub.on(f"{PREFIX}/settings")) and retained(sub, "settings")["exit_threshold"] == 0.3,
                    30)
        assert retained(sub, "settings")["enter_threshold"] == 0.55 and retained(sub, "settings")["min_duration"] == 0.5
        assert wait(lambda: [x["state"] for x in again.lines if x["type"] == "camera"][-1:] == ["paused"], 20)
        assert retained(sub, "settings")["paused"] is True
        assert wait(lambda: cam.streams == 0, 10)  # the server noticed the closed connection at its next write
        sent = cam.frames_sent
        time.sleep(1.5)  # an observation window: no frames are sent in it
        assert cam.frames_sent == sent and not again.events()
    finally:
        assert again.stop() == 0
        sub.close()


def test_require_signature_refuses_an_unsigned_model_and_a_bad_key_file_is_skipped(kit, tmp_path):
    # the bundle is checked before the source is opened: exit 3 with one line, no traceback
    proc = run_cli("run", "--source", tmp_path / "none.avi", "--model", kit["unsigned"], "--trusted-key", kit["pub"],
                   "--require-signature", "--state-dir", tmp_path / "state", timeout=120)
    assert proc.returncode == 3 and "is not signed" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    proc = run_cli("run", "--source", tmp_path / "none.avi", "--model", kit["mallory"], "--trusted-key", kit["pub"],
                   "--require-signature", "--state-dir", tmp_path / "state", timeout=120)
    assert proc.returncode == 3 and "not one of the 1 trusted" in proc.stderr, proc.stderr
    # without require_signature an unsigned --model still runs (exit 4 here: the source is missing)
    proc = run_cli("run", "--source", tmp_path / "none.avi", "--model", kit["unsigned"], "--trusted-key", kit["pub"],
                   "--state-dir", tmp_path / "state", timeout=120)
    assert proc.returncode == 4, proc.stderr
    (tmp_path / "bad.pub").write_text("ssh-ed25519 AAAA alice\n")
    # a bad or missing key file is an error line and skipped: the device runs on (exit 4: the source is missing)
    for key, says in ((tmp_path / "bad.pub", "is not an edge-lrcn public key"), (tmp_path / "gone.pub", "not found")):
        proc = run_cli("run", "--source", tmp_path / "none.avi", "--trusted-key", key, timeout=120)
        assert proc.returncode == 4 and says in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    # but it never turns require_signature off: with no key left, a --model is not run (exit 3)
    proc = run_cli("run", "--source", tmp_path / "none.avi", "--model", kit["unsigned"], "--trusted-key",
                   tmp_path / "bad.pub", "--require-signature", "--state-dir", tmp_path / "state", timeout=120)
    assert proc.returncode == 3 and "no trusted key could be read" in proc.stderr, proc.stderr
    proc = run_cli("push", kit["a"], "--broker", "mqtt://127.0.0.1:1")
    assert proc.returncode == 2 and "name the target" in proc.stderr


def test_signing_again_replaces_the_signature_and_a_malformed_one_is_refused(kit, tmp_path):
    from edge_lrcn.errors import BundleError
    from edge_lrcn.fleet.keys import load_trusted

    b = relabel(kit["unsigned"], tmp_path / "x.lrcn", ["v", "w", "x", "y", "z"])
    sign(b, kit["dir"] / "mallory" / "edge-lrcn.key")
    sign(b, kit["dir"] / "alice" / "edge-lrcn.key")  # re-signed: one signature.json, alice's
    with zipfile.ZipFile(b) as z:
        assert [i.filename for i in z.infolist()].count("signature.json") == 1
    keys = load_trusted([kit["dir"] / "alice", kit["dir"] / "mallory" / "edge-lrcn.pub"])  # a directory, a file
    assert [k.name for k in keys] == ["alice", "mallory"] and verify(read_bundle(b), keys).name == "alice"
    with pytest.raises(BundleError, match="not one of the 1 trusted"):
        verify(read_bundle(b), keys[1:])
    with zipfile.ZipFile(b) as z:
        items = {i.filename: z.read(i.filename) for i in z.infolist()}
    items["signature.json"] = b'{"algorithm": "ed25519", "signature": "not base64!"}'
    with zipfile.ZipFile(b, "w") as z:
        for n, blob in items.items():
            z.writestr(n, blob)
    with pytest.raises(BundleError, match="signature.json is malformed"):
        verify(read_bundle(b), keys)
