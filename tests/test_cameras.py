"""Several cameras on one device: two daemons started the way systemd/edge-lrcn@.service starts its instances
(the unit's own ExecStart= and Environment= lines, %i and %H expanded), two video sources, one real mosquitto.

Each instance must publish under its own device id (<hostname>-<instance>) without disturbing the other: its own
topics, its own availability, all of its events, its own Home Assistant entities."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from edge_lrcn.convert.synth import make_sequence
from edge_lrcn.events import default_device_id
from tests.conftest import ROOT, wait_until

TEMPLATE = ROOT / "systemd" / "edge-lrcn@.service"
pytestmark = pytest.mark.needs("mosquitto", "mosquitto_sub")


def instance_command(name: str, etc: Path) -> tuple[list[str], dict[str, str]]:
    """ExecStart= and Environment= of edge-lrcn@NAME.service, with %i/%H expanded as systemd does, the venv and
    /etc/edge-lrcn mapped to this machine's edge-lrcn and a test folder."""
    host = socket.gethostname()
    env: dict[str, str] = {}
    argv: list[str] = []
    for line in TEMPLATE.read_text().splitlines():
        line = line.replace("%i", name).replace("%H", host).replace("/etc/edge-lrcn/", f"{etc}/")
        if line.startswith("Environment="):
            key, _, value = line.split("=", 1)[1].partition("=")
            env[key] = value
        elif line.startswith("ExecStart="):
            argv = shlex.split(line.split("=", 1)[1])
    assert argv[0] == "/opt/edge-lrcn/venv/bin/edge-lrcn", argv
    return [sys.executable, "-m", "edge_lrcn", *argv[1:]], env


def mosquitto_sub(port: int, *topics: str, retained_only: bool = False) -> subprocess.Popen:
    cmd = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-F", "%r %t %p",
           "-T", "edge-lrcn/+/snapshot"]  # JPEG bytes, not lines of text (tests/test_clips.py reads them)
    if retained_only:
        cmd += ["--retained-only", "-W", "3"]
    for t in topics:
        cmd += ["-t", t]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read_sub(proc: subprocess.Popen) -> list[tuple[bool, str, str]]:
    return _parse(proc.communicate(timeout=10)[0].splitlines())


def _parse(lines) -> list[tuple[bool, str, str]]:
    msgs = []
    for line in lines:
        retain, topic, payload = (line.split(" ", 2) + [""])[:3]
        msgs.append((retain == "1", topic, payload))
    return msgs


def read_sub_until_marker(proc: subprocess.Popen, port: int, timeout: float = 30) -> list[tuple[bool, str, str]]:
    """Publish a marker on edge-lrcn/test-marker after everything the test waits for (its publishers are done), read
    the subscriber's lines until the marker arrives, then stop it: the messages before the marker, in order (one
    broker delivers to a QoS 1 subscriber in the order it took them)."""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", "edge-lrcn/test-marker",
                    "-m", "done"], check=True, timeout=10)
    marker = "0 edge-lrcn/test-marker done"
    found = wait_until(lambda: any(line.rstrip("\n") == marker for line in lines), timeout)
    proc.terminate()
    proc.communicate(timeout=10)
    reader.join(10)
    assert found, f"the marker did not come back in {timeout} s"
    return _parse(line.rstrip("\n") for line in lines[:[ln.rstrip("\n") for ln in lines].index(marker)])


def test_two_instances_two_sources_one_broker_do_not_clash(tmp_path, broker):
    cams = {"front": [("right", 6.0), ("still", 4.0)], "back": [("up", 6.0), ("still", 4.0)]}
    etc = tmp_path / "etc"
    etc.mkdir()
    example = (ROOT / "deploy" / "config.example.toml").read_text()
    procs, ids = {}, {}
    before = broker.subscribed("homeassistant/#")
    sub = mosquitto_sub(broker.port, "edge-lrcn/#", "homeassistant/#")
    try:
        # the subscriber has subscribed before the daemons say anything
        assert wait_until(lambda: broker.subscribed("homeassistant/#") > before, 10), "mosquitto_sub did not subscribe"
        for i, (name, segments) in enumerate(cams.items()):
            video = tmp_path / f"{name}.avi"
            make_sequence(video, segments, seed=40 + i)
            # the config an `install.sh --camera NAME --source VIDEO` would write, pointed at the test broker
            cfg = example.replace('source = "/dev/video0"', f'source = "{video}"\nrealtime = true')
            cfg = cfg.replace('sinks = ["stdout"]', f'sinks = ["stdout", "mqtt://127.0.0.1:{broker.port}"]')
            cfg = cfg.replace("stats_interval = 60.0", "stats_interval = 1.0")
            (etc / f"{name}.toml").write_text(cfg)
            argv, env = instance_command(name, etc)
            ids[name] = default_device_id(instance=env["EDGE_LRCN_INSTANCE"])  # what the daemon will take
            e = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_LRCN_")}
            procs[name] = subprocess.Popen(argv, env={**e, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                           text=True)
        outs = {name: p.communicate(timeout=120) for name, p in procs.items()}
    except BaseException:
        sub.kill()
        raise
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
    msgs = read_sub_until_marker(sub, broker.port)
    assert ids == {"front": default_device_id() + "-front", "back": default_device_id() + "-back"}
    for name, p in procs.items():
        assert p.returncode == 0, outs[name][1][-2000:]

    for name, dev in ids.items():
        other = ids["back" if name == "front" else "front"]
        prefix = f"edge-lrcn/{dev}"
        # its availability: online, then offline at its own clean stop; the other instance never touches it
        avail = [p for r, t, p in msgs if t == f"{prefix}/availability"]
        assert avail and avail[0] == "online" and avail[-1] == "offline", avail
        # every event it printed reached the broker on its own topic, with its own device id
        printed = [json.loads(ln) for ln in outs[name][0].splitlines() if ln.startswith("{") and '"activity_' in ln]
        assert printed, f"{name}: no activity events"
        got = [json.loads(p) for r, t, p in msgs if t == f"{prefix}/events"]
        assert got == printed
        assert {e["device"] for e in got} == {dev}
        stats = [json.loads(p) for r, t, p in msgs if t == f"{prefix}/stats"]
        assert stats and {s["device"] for s in stats} == {dev}
        # no message of this device id under the other's prefix
        assert not [t for r, t, p in msgs if t.startswith(f"edge-lrcn/{other}/") and f'"device": "{dev}"' in p]
    # the first activity each camera saw is its own scene's
    first = {n: [json.loads(p) for r, t, p in msgs if t == f"edge-lrcn/{d}/events"][0]["label"] for n, d in ids.items()}
    assert first == {"front": "right", "back": "up"}, first
    # both were online at the same time: the two connections did not replace each other
    order = [(t.split("/")[1], p) for r, t, p in msgs if t.endswith("/availability")]
    both_on = order.index((ids["front"], "online")) < order.index((ids["back"], "offline")) and \
        order.index((ids["back"], "online")) < order.index((ids["front"], "offline"))
    assert both_on, order
    # Home Assistant: two devices, no shared entity or config topic
    configs = {}
    for _, t, p in msgs:
        if t.startswith("homeassistant/") and p:
            configs[t] = json.loads(p)
    def device(c):  # full or abbreviated keys; a device-based config keeps its entities under "components"/"cmps"
        return json.dumps(c.get("device", c.get("dev", {})))

    def unique_ids(c):
        parts = [c, *(c.get("components") or c.get("cmps") or {}).values()]
        return {p.get("unique_id", p.get("uniq_id")) for p in parts} - {None}

    per_dev = {d: {t: c for t, c in configs.items() if d in device(c)} for d in ids.values()}
    front, back = per_dev[ids["front"]], per_dev[ids["back"]]
    assert front and back and len(front) == len(back) and not set(front) & set(back)
    uf = set().union(*map(unique_ids, front.values()))
    ub = set().union(*map(unique_ids, back.values()))
    assert uf and ub and not uf & ub
    # what stays on the broker afterwards: each device's own retained offline and idle state
    late = read_sub(mosquitto_sub(broker.port, "edge-lrcn/+/availability", "edge-lrcn/+/activity",
                                  retained_only=True))
    for dev in ids.values():
        assert (True, f"edge-lrcn/{dev}/availability", "offline") in late, late
        state = [json.loads(p) for r, t, p in late if t == f"edge-lrcn/{dev}/activity"]
        assert state and state[0]["label"] == "none"
