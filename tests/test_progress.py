"""Long work shows one progress line on a terminal and nothing without one (edge_lrcn/progress.py)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import pytest

from tests.conftest import cli_env, run_cli


def _on_a_terminal(args: list[str], timeout: float = 300) -> tuple[subprocess.CompletedProcess, str]:
    """``edge-lrcn ARGS`` with its stderr on a pseudo-terminal: the process and what the terminal received."""
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "edge_lrcn", *args], stdout=subprocess.PIPE, stderr=child,
                            env=cli_env())
    os.close(child)
    out = b""
    try:
        while chunk := os.read(main, 65536):  # read while it runs: a full terminal buffer would block the child
            out += chunk
    except OSError:  # the child side closed: all read
        pass
    os.close(main)
    stdout = proc.communicate(timeout=timeout)[0]
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout), out.decode("utf-8", "replace")


def test_synth_shows_a_progress_line_on_a_terminal_only(tmp_path):
    piped = run_cli("synth", tmp_path / "a", "--clips-per-class", "1")
    assert piped.returncode == 0 and "writing clips" not in piped.stderr and "%|" not in piped.stderr
    proc, text = _on_a_terminal(["synth", str(tmp_path / "b"), "--clips-per-class", "1"])
    assert proc.returncode == 0
    assert "writing clips" in text and "5/5" in text, text[-500:]
    assert text.count("\n") <= 2  # one line, redrawn in place


@pytest.mark.slow
def test_convert_shows_export_and_validation_progress_on_a_terminal(tiny_data, tmp_path):
    """Item 5 of issue 29: the TFLite export (a model per step) and the validation (the test clips through each
    encoder, then the monolithic model's windows) each show one progress line, ending complete."""
    proc, text = _on_a_terminal(
        ["convert", "--data", str(tiny_data), "--out", str(tmp_path / "t.lrcn"), "--encoder", "reference", "--epochs",
         "1", "--windows-per-clip", "2", "--val-split", "0.25", "--test-split", "0.25", "--calibration-frames", "20",
         "--allow-degraded", "--no-baseline", "--no-plots"])
    assert proc.returncode == 0, text[-3000:]
    assert re.search(r"exporting TFLite models: 100%\|[^\n]*\| 5/5", text), text[-3000:]
    done = re.findall(r"validating: 100%\|[^\n]*\| (\d+)/(\d+)", text)
    assert done and done[-1][0] == done[-1][1] and int(done[-1][0]) > 2, text[-3000:]
