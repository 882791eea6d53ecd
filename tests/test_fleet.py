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
from tests.broker import Broker
from tests.conftest import launch, run_cli
from tests.mjpeg_server import MjpegCamera
from tests.test_mqtt import Subscriber

DEV = "fleet1"
PREFIX = f"edge-lrcn/{DEV}"
pytestmark = pytest.mark.needs("mosquitto")


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
    d = tmp_path_factory.mktemp("fleet")
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
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


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
        n = len(dev.lines)
        proc = push(broker, kit["a"])
        got = answer(proc)
        new_id = read_bundle(kit["a"]).model_id
        assert proc.returncode == 0 and got["status"] == "ok" and got["model"] == new_id, proc.stdout + dev.log()
        assert retained(sub, "model")["signer"] == "alice" and retained(sub, "model")["id"] == new_id
        assert wait(lambda: any(e["type"] == "activity_start" for e in dev.events(n)) and
                    dev.events(n)[-1]["model"] == new_id), dev.log()
        after = dev.events(n)
        ended = [e for e in after if e["type"] == "activity_end" and e.get("reason") == "model"]
        assert ended and ended[0]["model"] == first["id"] and ended[0]["label"] == "right"  # closed by the swap
        starts = [e for e in after if e["type"] == "activity_start" and e["model"] == new_id]
        assert starts and all(e["label"].startswith("a_") for e in starts)
        assert read_bundle(state / "model.lrcn").model_id == new_id and dev.proc.poll() is None
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
