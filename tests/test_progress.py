"""Long work shows one progress line on a terminal and nothing without one (edge_lrcn/progress.py)."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios

from tests.conftest import cli_env, run_cli


def test_synth_shows_a_progress_line_on_a_terminal_only(tmp_path):
    piped = run_cli("synth", tmp_path / "a", "--clips-per-class", "1")
    assert piped.returncode == 0 and "writing clips" not in piped.stderr and "%|" not in piped.stderr
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.run([sys.executable, "-m", "edge_lrcn", "synth", str(tmp_path / "b"), "--clips-per-class", "1"],
                          stdout=subprocess.PIPE, stderr=child, env=cli_env(), timeout=300)
    os.close(child)
    out = b""
    try:
        while chunk := os.read(main, 65536):
            out += chunk
    except OSError:  # the child side closed: all read
        pass
    os.close(main)
    assert proc.returncode == 0
    text = out.decode("utf-8", "replace")
    assert "writing clips" in text and "5/5" in text, text[-500:]
    assert text.count("\n") <= 2  # one line, redrawn in place
