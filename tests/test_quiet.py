"""Quiet by default (issue 11): TensorFlow's start-up lines, the converter's and LiteRT's C++ prints are hidden from
``convert`` unless ``--debug``; the command's own logs and the summary stay, Keras's epoch lines show only with
``--debug`` (issue 29); errors written to fd 2 by a crashing process still get through."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

NOISE = {
    "absl pre-init warning": r"All log messages before absl::InitializeLog",
    "oneDNN notice": r"oneDNN custom operations are on",
    "CUDA stub probe": r"Could not find cuda drivers",
    "CUDA init probe": r"failed call to cuInit",
    "glog-style C++ line": r"(?m)^[IW]\d{4} \d\d:\d\d:\d+",
    "converter print": r"fully_quantize: \d",
    "LiteRT info": r"INFO: Created TensorFlow Lite XNNPACK delegate",
}


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "EDGE_LRCN_CONFIG")}
    return env


def _convert(data, out, *extra) -> subprocess.CompletedProcess:
    # the reference encoder converts in seconds; the noise comes from TensorFlow, the converter and LiteRT alike
    return subprocess.run(
        [sys.executable, "-m", "edge_lrcn", "convert", "--data", str(data), "--out", str(out), "--encoder",
         "reference", "--epochs", "1", "--windows-per-clip", "2", "--val-split", "0.25", "--test-split", "0.25",
         "--calibration-frames", "20", "--allow-degraded", "--no-baseline", "--no-plots", *extra],
        capture_output=True, text=True, timeout=300, env=_env())


def _noise(text: str) -> list[str]:
    return [name for name, pattern in NOISE.items() if re.search(pattern, text)]


@pytest.mark.slow
def test_convert_is_quiet_unless_debug(tiny_data, tmp_path):
    quiet = _convert(tiny_data, tmp_path / "q.lrcn")
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    assert _noise(quiet.stderr) == [], quiet.stderr
    # what the command says itself stays: its log lines and the summary; no Keras epoch line without --debug
    assert "INFO edge_lrcn.convert.pipeline: exporting TFLite models" in quiet.stderr
    assert "WARNING edge_lrcn.convert.pipeline: writing a DEGRADED bundle" in quiet.stderr
    assert not re.search(r"loss: [0-9.]+ - val_accuracy", quiet.stdout + quiet.stderr), quiet.stdout
    assert "int8 streaming accuracy" in quiet.stdout and "bundle: " in quiet.stdout

    debug = _convert(tiny_data, tmp_path / "d.lrcn", "--debug")
    assert debug.returncode == 0, debug.stderr[-3000:]
    found = _noise(debug.stderr)
    assert re.search(r"\d+/\d+ - .*loss: [0-9.]+ - val_accuracy", debug.stdout), debug.stdout  # Keras's epoch line
    # the converter's and LiteRT's prints and TensorFlow's C++ log lines show with --debug
    assert {"converter print", "LiteRT info", "glog-style C++ line"} <= set(found), (found, debug.stderr[-3000:])


def test_the_filter_drops_noise_and_passes_errors_even_when_the_process_aborts():
    """Through the real fd-2 filter: noise dropped, an unknown line and a fatal error kept, order kept, although
    the process dies by abort (no Python clean-up) right after writing them."""
    code = (
        "import os, sys\n"
        "from edge_lrcn.convert.quiet import install\n"
        "install()\n"
        "os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n')\n"
        "os.write(2, b'I0000 00:00:1795616020.790871   28366 port.cc:153] oneDNN custom operations are on.\\n')\n"
        "os.write(2, b'fully_quantize: 0, inference_type: 6, input_inference_type: INT8, '\n"
        "           b'output_inference_type: INT8\\n')\n"
        "os.write(2, b'INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n')\n"
        "os.write(2, b'E0000 00:00:1795616024.557020   28366 some_kernel.cc:52] a real C++ error\\n')\n"
        "print('python stderr line', file=sys.stderr, flush=True)\n"
        "os.write(2, b'F0000 00:00:1795616024.6   28366 check.cc:1] Check failed: x == y\\n')\n"
        "os.abort()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=_env())
    assert proc.returncode != 0
    err = proc.stderr
    assert _noise(err) == [], err
    assert "a real C++ error" in err and "python stderr line" in err and "Check failed: x == y" in err, err
    assert err.index("a real C++ error") < err.index("Check failed"), err
