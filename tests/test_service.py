"""systemd unit checks, the notify protocol seen on a real datagram socket, and install.sh into a staging root."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, launch

UNIT = ROOT / "systemd" / "edge-lrcn.service"
needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None and not os.environ.get("CI"),
                                   reason="systemd-analyze not installed (CI installs it)")


@needs_analyze
def test_unit_verifies(tmp_path):
    # verify the shipped unit, with ExecStart pointing at this machine's real edge-lrcn instead of /opt/...
    exe = Path(sys.executable).with_name("edge-lrcn")
    unit = tmp_path / "edge-lrcn.service"
    unit.write_text(UNIT.read_text().replace("/opt/edge-lrcn/venv/bin/edge-lrcn", str(exe)))
    proc = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    problems = [l for l in proc.stderr.splitlines() if "edge-lrcn.service" in l]
    assert proc.returncode == 0 and not problems, proc.stderr


@needs_analyze
def test_unit_security_exposure_at_most_2_5():
    proc = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(UNIT)], capture_output=True,
                          text=True)
    line = [l for l in proc.stdout.splitlines() if "Overall exposure level" in l]
    assert line, proc.stdout[-2000:] + proc.stderr
    score = float(line[0].split(":")[1].split()[0])
    assert score <= 2.5, line[0]


def test_unit_contract():
    text = UNIT.read_text()
    for needed in ("Type=notify", "WatchdogSec=", "Restart=on-failure", "StartLimitBurst=", "User=edge-lrcn",
                   "SupplementaryGroups=video", "LoadCredential=mqtt-password:", "/etc/edge-lrcn/config.toml",
                   "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "RestrictAddressFamilies=",
                   "SystemCallFilter=@system-service", "CapabilityBoundingSet=\n", "DeviceAllow=char-video4linux",
                   "DeviceAllow=char-media", "dma_heap", "RestartPreventExitStatus=2 3"):
        assert needed in text, needed


class NotifySocket:
    def __init__(self, path: Path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.path = path
        self.log: list[tuple[float, str]] = []

    def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                data = self.sock.recv(4096).decode()
            except socket.timeout:
                continue
            for line in data.splitlines():
                self.log.append((time.monotonic(), line))

    def times(self, msg: str) -> list[float]:
        return [t for t, line in self.log if line == msg]


def test_notify_ready_watchdog_stall_and_stopping(tmp_path):
    """READY=1, WATCHDOG=1 every ~WATCHDOG_USEC/2 while frames flow, none while the live source stalls, STOPPING=1."""
    from tests.mjpeg_server import MjpegCamera

    cam = MjpegCamera(fps=15)
    ns = NotifySocket(tmp_path / "notify.sock")
    proc = launch("run", "--source", cam.url, "--stats-interval", "0", "--stall-timeout", "30", "--sink", "stdout",
                  env={"NOTIFY_SOCKET": str(ns.path), "WATCHDOG_USEC": "1000000"}, stdout=subprocess.DEVNULL)
    try:
        ns.pump(4.0)
        assert len(ns.times("READY=1")) == 1, ns.log
        pings = ns.times("WATCHDOG=1")
        assert len(pings) >= 4, ns.log
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        assert all(0.4 <= g <= 0.75 for g in gaps), gaps  # about half of the 1 s watchdog timeout
        assert any(line.startswith("STATUS=") for _, line in ns.log)
        cam.stall.set()  # the camera stops delivering; the daemon itself keeps running
        ns.pump(0.8)  # frames already queued may still be processed
        n = len(ns.times("WATCHDOG=1"))
        ns.pump(2.5)
        assert len(ns.times("WATCHDOG=1")) == n, "WATCHDOG=1 sent while no frame advanced"
        assert proc.poll() is None
        cam.stall.clear()
        ns.pump(2.0)
        assert len(ns.times("WATCHDOG=1")) > n, "pings did not resume with the frames"
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        ns.pump(0.3)
        assert ns.times("STOPPING=1"), ns.log
        assert proc.returncode == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        cam.close()


def _tree(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if "/venv/" in rel and "__pycache__" in rel:
            continue
        if p.is_symlink():
            out[rel] = "->" + os.readlink(p)
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() + f" {p.stat().st_mtime_ns} {oct(p.stat().st_mode)}"
    return out


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None and shutil.which("useradd") is None,
                    reason="needs systemd-sysusers or useradd")
def test_install_into_staging_root_is_idempotent_and_uninstalls(tmp_path):
    stage = tmp_path / "stage"
    cmd = ["bash", str(ROOT / "deploy" / "install.sh"), "--root", str(stage), "--from", str(ROOT),
           "--gpu-delegate", "/usr/lib/aarch64-linux-gnu/libtensorflowlite_gpu_delegate.so"]
    p1 = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert p1.returncode == 0, p1.stdout + p1.stderr
    unit = stage / "etc/systemd/system/edge-lrcn.service"
    assert unit.read_text() == UNIT.read_text()
    assert os.readlink(stage / "etc/systemd/system/multi-user.target.wants/edge-lrcn.service") == \
        "/etc/systemd/system/edge-lrcn.service"
    cfg = stage / "etc/edge-lrcn/config.toml"
    text = cfg.read_text()
    assert 'gpu_delegate_library = "/usr/lib/aarch64-linux-gnu/libtensorflowlite_gpu_delegate.so"' in text
    assert 'delegate = "gpu"' in text
    pw = stage / "etc/edge-lrcn/mqtt-password"
    assert pw.exists() and oct(pw.stat().st_mode)[-3:] == "600"
    passwd = (stage / "etc/passwd").read_text()
    assert [l.split(":")[0] for l in passwd.splitlines()].count("edge-lrcn") == 1 and "/var/lib/edge-lrcn" in passwd
    group = (stage / "etc/group").read_text()
    assert any(l.startswith("video:") and "edge-lrcn" in l for l in group.splitlines())
    venv_exe = stage / "opt/edge-lrcn/venv/bin/edge-lrcn"
    ver = subprocess.run([str(venv_exe), "--version"], capture_output=True, text=True)
    assert ver.returncode == 0 and ver.stdout.startswith("edge-lrcn "), ver.stderr
    chk = subprocess.run([str(venv_exe), "check-config", str(cfg)], capture_output=True, text=True)
    assert chk.returncode == 0, chk.stderr
    before = _tree(stage)
    p2 = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert p2.returncode == 0, p2.stderr
    assert "nothing to do" in p2.stdout
    assert _tree(stage) == before  # a second run changes nothing
    cfg.write_text(text + "\n# edited by the user\n")
    p3 = subprocess.run(["bash", str(ROOT / "deploy" / "install.sh"), "--root", str(stage), "--uninstall"],
                        capture_output=True, text=True, timeout=120)
    assert p3.returncode == 0, p3.stderr
    assert not unit.exists() and not (stage / "opt/edge-lrcn").exists()
    assert not (stage / "usr/lib/sysusers.d/edge-lrcn.conf").exists()
    assert "edge-lrcn" not in (stage / "etc/passwd").read_text()
    assert "edge-lrcn" not in (stage / "etc/group").read_text()
    assert cfg.read_text().endswith("# edited by the user\n")  # the config is kept


def test_install_dry_run_changes_nothing(tmp_path):
    stage = tmp_path / "stage"
    p = subprocess.run(["bash", str(ROOT / "deploy" / "install.sh"), "--root", str(stage), "--dry-run",
                        "--from", str(ROOT)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "would run:" in p.stdout and not stage.exists()
