"""The GPU accelerator and delegate libraries are tried in a child process first (edge_lrcn/model/probe.py): a
child that really dies (SIGILL, abort, a hang, an error: the probe's test hook) leaves the daemon on its CPU encoder
with the child's own text in one warning, and ``--require-delegate`` exits 2. No test here loads the accelerator
library in the pytest process."""

import glob
import subprocess
import sys

import pytest

from edge_lrcn.convert.synth import make_sequence
from edge_lrcn.model.accelerator import Unavailable
from tests.conftest import json_lines, run_cli

FAULTS = {"sigill": "its probe died by SIGILL: edge-lrcn probe test fault: sigill",
          "abort": "its probe died by SIGABRT: edge-lrcn probe test fault: abort",
          "hang": "its probe did not finish in 5 s: edge-lrcn probe test fault: hang",
          "error": "its probe failed (exit 1): "}


@pytest.fixture(scope="module")
def seq_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "seq.avi"
    make_sequence(path, [("left", 4.0), ("still", 4.0)], seed=11)
    return path


def _events(out: str) -> list[tuple]:
    return [(o["type"], o["label"], o["t"]) for o in json_lines(out) if o["type"].startswith("activity")]


@pytest.fixture(scope="module")
def cpu_events(default_bundle, seq_video):
    proc = run_cli("run", "--model", default_bundle, "--source", seq_video, "--encoder", "int8")
    assert proc.returncode == 0, proc.stderr
    return _events(proc.stdout)


def _fault_env(fault: str) -> dict:
    return {"EDGE_LRCN_TEST_PROBE_FAULT": fault, "EDGE_LRCN_PROBE_TIMEOUT": "5"}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_gpu_probe_that_dies_leaves_the_daemon_on_the_cpu(default_bundle, seq_video, cpu_events, fault):
    proc = run_cli("run", "--model", default_bundle, "--source", seq_video, "--encoder", "int8", "--delegate", "gpu",
                   "--stats-interval", "1000", env=_fault_env(fault))
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 1, proc.stderr
    assert f"--delegate gpu: LiteRT GPU accelerator unavailable ({FAULTS[fault]}" in warnings[0]
    assert warnings[0].endswith("no gpu_delegate_library set: falling back to the CPU encoder")
    assert len(warnings[0]) < 600 and "Traceback" not in proc.stderr.replace(warnings[0], "")
    stats = [o for o in json_lines(proc.stdout) if o["type"] == "stats"][-1]
    assert stats["encoder_device"] == "cpu"
    assert _events(proc.stdout) == cpu_events != []


def test_require_delegate_is_exit_2_when_the_probe_dies(default_bundle, seq_video):
    proc = run_cli("run", "--model", default_bundle, "--source", seq_video, "--delegate", "gpu", "--require-delegate",
                   env=_fault_env("abort"))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"edge-lrcn run: error: --delegate gpu: LiteRT GPU accelerator unavailable ({FAULTS['abort']}); no "
        "gpu_delegate_library set (and --require-delegate is set)"], proc.stderr


def test_a_delegate_library_is_probed_before_the_daemon_loads_it(default_bundle, seq_video, cpu_events):
    lib = sorted(glob.glob("/lib/*/libm.so.6") + glob.glob("/usr/lib/*/libm.so.6") + glob.glob("/lib*/libm.so.6"))[0]
    proc = run_cli("run", "--model", default_bundle, "--source", seq_video, "--encoder", "int8", "--delegate", lib,
                   env=_fault_env("sigill"))
    assert proc.returncode == 0, proc.stderr
    assert f"delegate {lib} could not be used ({FAULTS['sigill']})" in proc.stderr
    assert _events(proc.stdout) == cpu_events


def test_a_crashed_probe_is_remembered_and_the_child_text_is_cut(monkeypatch):
    from edge_lrcn.model import probe

    monkeypatch.setattr(probe, "_crashed", {})
    monkeypatch.setenv("EDGE_LRCN_TEST_PROBE_FAULT", "sigill")
    with pytest.raises(Unavailable, match="died by SIGILL: edge-lrcn probe test fault: sigill"):
        probe.probe("gpu", b"not a model")
    monkeypatch.setenv("EDGE_LRCN_TEST_PROBE_FAULT", "error")  # not run again: the library crashed here once
    with pytest.raises(Unavailable, match="died by SIGILL"):
        probe.probe("gpu", b"not a model")
    assert probe._tail(b"FATAL ERROR: lse\x00\nqemu: uncaught target signal 4") == \
        ": FATAL ERROR: lse | qemu: uncaught target signal 4"  # no control characters in a log line
    assert probe._tail("x" * 5000).startswith(": ...") and len(probe._tail("x" * 5000)) == probe.TEXT_LIMIT + 2


_LOADED = r"""
import sys
from edge_lrcn.model.bundle import read_bundle
from edge_lrcn.model.placement import open_models
enc, head = open_models(read_bundle(sys.argv[1]), "gpu", 1, encoder="int8")
maps = open("/proc/self/maps").read()
print(enc.device, "libLiteRtWebGpuAccelerator" in maps, "ai_edge_litert.compiled_model" in sys.modules)
"""


def test_after_a_fallback_the_daemon_process_never_loaded_the_accelerator(default_bundle):
    """Where the probe finds no GPU (this machine), the process that goes on holds neither the accelerator's library
    nor LiteRT's CompiledModel module (run in a child: no test loads the accelerator here)."""
    proc = subprocess.run([sys.executable, "-c", _LOADED, str(default_bundle)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    if proc.stdout.split()[0] != "cpu":
        pytest.skip("the LiteRT GPU accelerator works here: nothing falls back")
    assert proc.stdout.split() == ["cpu", "False", "False"], proc.stdout
