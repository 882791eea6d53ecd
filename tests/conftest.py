"""Shared fixtures: real synthetic videos written with OpenCV, a real (tiny) trained bundle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def cli_env(env: dict | None = None) -> dict:
    """The environment of a CLI run in a test: this one, without a config file the test did not ask for
    (``EDGE_LRCN_CONFIG`` set where the tests run must not change what they test), plus ``env``."""
    e = {k: v for k, v in os.environ.items() if k != "EDGE_LRCN_CONFIG"}
    return {**e, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}


def run_cli(*args, timeout=600, env=None, input=None, cwd=None) -> subprocess.CompletedProcess:
    """Run ``python -m edge_lrcn ARGS`` as a user would; returns the completed process (text)."""
    return subprocess.run([sys.executable, "-m", "edge_lrcn", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=cli_env(env), input=input, cwd=cwd)


def launch(*args, env=None, stdout=subprocess.PIPE, stderr=subprocess.PIPE) -> subprocess.Popen:
    """Start ``python -m edge_lrcn ARGS`` (the daemon, usually) in the background; text pipes."""
    return subprocess.Popen([sys.executable, "-m", "edge_lrcn", *map(str, args)], stdout=stdout, stderr=stderr,
                            text=True, env=cli_env(env))


def wait_until(pred, timeout: float, step: float = 0.05) -> bool:
    """Poll ``pred`` every ``step`` s: True once it is true, False when ``timeout`` s passed first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return False


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]


class Lines:
    """Collects a daemon's stdout lines with the time each arrived."""

    def __init__(self, proc: subprocess.Popen):
        self.items: list[tuple[float, dict]] = []
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc):
        for line in proc.stdout:
            for obj in json_lines(line):
                self.items.append((time.monotonic(), obj))

    def of(self, type_: str) -> list[tuple[float, dict]]:
        return [(t, o) for t, o in list(self.items) if o["type"] == type_]

    def wait(self, cond, timeout: float) -> bool:
        return wait_until(cond, timeout) or cond()  # one last look at the deadline


def shared_dir(tmp_path_factory, name: str, build) -> Path:
    """A folder built once for the whole run: ``build(folder)`` fills it. Under pytest-xdist every worker is its own
    session, so the folder lives beside the workers' base temps (one run's parent) and the first worker to get its
    file lock builds it while the others wait, then reuse it; a failed build is retried by the next one."""
    import fcntl

    if not os.environ.get("PYTEST_XDIST_WORKER"):
        path = tmp_path_factory.mktemp(name)
        build(path)
        return path
    root = tmp_path_factory.getbasetemp().parent
    path, done = root / f"shared-{name}", root / f"shared-{name}.done"
    with open(root / f"shared-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            if path.exists():  # a worker failed halfway: start over
                import shutil

                shutil.rmtree(path)
            path.mkdir()
            build(path)
            done.touch()
    return path


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """5 classes x 4 clips, real MJPG .avi files (read only: built once, shared by every xdist worker)."""
    from edge_lrcn.convert.synth import make_dataset

    return shared_dir(tmp_path_factory, "tiny_data", lambda root: make_dataset(root, clips_per_class=4, seed=3))


@pytest.fixture(scope="session")
def tiny_bundle(tiny_data, tmp_path_factory) -> tuple[Path, dict]:
    """A real convert run on tiny data (2 epochs): the bundle path and its report (read only: built once, shared by
    every xdist worker)."""

    def build(d: Path) -> None:
        proc = run_cli("convert", "--data", tiny_data, "--out", d / "tiny.lrcn", "--epochs", "2",
                       "--windows-per-clip", "2", "--allow-degraded", "--quiet", "--calibration-frames", "50",
                       "--test-split", "0.25", "--val-split", "0.25", "--estimate", "holdout")
        assert proc.returncode == 0, proc.stderr[-3000:]

    out = shared_dir(tmp_path_factory, "tiny_bundle", build) / "tiny.lrcn"
    return out, json.loads(Path(str(out) + ".report.json").read_text())


@pytest.fixture(scope="session")
def default_bundle() -> Path:
    from edge_lrcn.models import default_model_path

    return default_model_path()


@pytest.fixture(scope="module")
def model(default_bundle):
    """The embedded model, opened with real interpreters on the CPU (2 threads)."""
    from edge_lrcn.model.loader import load_bundle, open_model

    return open_model(load_bundle(str(default_bundle)), "cpu", 2)


@pytest.fixture()
def broker(tmp_path):
    """A real mosquitto on a free loopback port (tests/broker.py), stopped after the test."""
    from tests.broker import Broker

    b = Broker(tmp_path / "broker").start()
    yield b
    b.stop()


# --- real components the tests use ---------------------------------------------------------------------------------
# A test marked @pytest.mark.needs("mosquitto", ...) is skipped where a component is missing, and FAILS in CI
# (CI=true): there a skip would let the suite pass without testing it. `bash scripts/test.sh` installs them as root.
TOOLS = {  # name: (found?, what to install)
    "mosquitto": (lambda: _which("mosquitto", "/usr/sbin/mosquitto"), "apt-get install mosquitto"),
    "mosquitto_sub": (lambda: _which("mosquitto_sub"), "apt-get install mosquitto-clients"),
    "mosquitto_pub": (lambda: _which("mosquitto_pub"), "apt-get install mosquitto-clients"),
    "mosquitto_passwd": (lambda: _which("mosquitto_passwd"), "apt-get install mosquitto"),
    "openssl": (lambda: _which("openssl"), "apt-get install openssl"),
    "systemd-analyze": (lambda: _which("systemd-analyze"), "apt-get install systemd"),
    "sysusers": (lambda: _which("systemd-sysusers") or _which("useradd"), "apt-get install systemd (or passwd)"),
}


def _which(name: str, *also: str) -> str | None:
    import shutil

    return shutil.which(name) or next((p for p in also if os.access(p, os.X_OK)), None)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def pytest_configure(config):
    config.addinivalue_line("markers", "needs(*components): real components the test runs (see TOOLS in conftest)")


@pytest.fixture(autouse=True)
def _needs_components(request):
    missing = []
    for mark in request.node.iter_markers("needs"):
        for name in mark.args:
            found, install = TOOLS[name]
            if not found():
                missing.append(f"{name} ({install})")
    if missing:
        msg = "not installed: " + ", ".join(missing) + "; `sudo bash scripts/test.sh` installs them"
        if in_ci():
            pytest.fail(f"CI=true and a component this test needs is missing: {msg}", pytrace=False)
        pytest.skip(msg)
