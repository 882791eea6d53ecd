"""Quiet by default: the C++ start-up and info lines of TensorFlow, the TFLite converter and LiteRT are hidden from
``train``, ``convert`` and ``demo`` unless ``--debug``.

``TF_CPP_MIN_LOG_LEVEL=2`` (set by the CLI before TensorFlow is imported) hides TensorFlow's C++ INFO and WARNING
logs once absl logging is set up, but not what TensorFlow prints while it loads (the oneDNN notice, the CUDA stub
probe, "All log messages before absl::InitializeLog() ..."), the CUDA probe's error on a machine without a GPU,
nor the plain C++ prints of the converter (``fully_quantize: 0, ...``) and LiteRT (``INFO: Created TensorFlow Lite
XNNPACK delegate for CPU.``). So :func:`install` sends file descriptor 2 through a filter process that drops the
lines matching :data:`NOISE` and passes everything else on as it comes; Python's own ``sys.stderr`` keeps writing
to the real stderr directly (logs, tracebacks, tqdm bars, and its ``isatty()``, are unchanged). The filter is a
separate process so that whatever a crashing command writes to fd 2 (an abort, a fatal error) still gets through:
it reads until every writer has gone. Subprocesses the command starts (the demo's ``run``) inherit the filtered fd 2.

No TensorFlow import here: this module also runs as the filter (``python -m edge_lrcn.convert.quiet``).
"""

from __future__ import annotations

import atexit
import os
import re
import subprocess
import sys

# whole lines, matched after stripping the line end
NOISE = [
    # absl/TSL glog-style INFO and WARNING lines (I0000 00:00:1795615820.896763   26377 port.cc:153] ...)
    re.compile(r"[IW]\d{4} \d\d:\d\d:\d+(\.\d+)? +\d+ [\w./+-]+:\d+\] "),
    re.compile(r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$"),
    re.compile(r"To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags\.$"),
    # the TFLite converter's (MLIR quantizer's) plain prints
    re.compile(r"fully_quantize: \d+, inference_type: \d+, input_inference_type: \w+, output_inference_type: \w+$"),
    re.compile(r"Estimated count of arithmetic ops: .*"),
    # LiteRT / TFLite minimal logging at INFO
    re.compile(r"INFO: (Created TensorFlow Lite .*delegate for CPU|Initialized TensorFlow Lite runtime)\.$"),
]
# the CUDA probe's errors: noise on a machine without an NVIDIA driver, a real problem where there is one
CUDA_PROBE = re.compile(r"E\d{4} \d\d:\d\d:\d+(\.\d+)? +\d+ [\w./+-]+:\d+\] (failed call to cuInit|"
                        r"Unable to register cu(DNN|FFT|BLAS) factory)")


def _gpu_driver_present() -> bool:
    return os.path.exists("/proc/driver/nvidia") or os.path.exists("/dev/nvidia0")


def is_noise(line: str, gpu_driver: bool = False) -> bool:
    text = line.rstrip("\r\n")
    if any(p.match(text) for p in NOISE):
        return True
    return not gpu_driver and bool(CUDA_PROBE.match(text))


def _filter(src: int = 0, dst: int = 2) -> None:
    """Copy ``src`` to ``dst`` line by line (a line ends in \\n or \\r), dropping noise, until end of file."""
    gpu = _gpu_driver_present()
    split = re.compile(rb"(?<=[\r\n])")
    buf = b""

    def write(data: bytes) -> None:
        try:
            while data:
                data = data[os.write(dst, data):]
        except OSError:  # the terminal went away: keep draining so that the writers never block
            pass

    while True:
        try:
            chunk = os.read(src, 65536)
        except InterruptedError:
            continue
        if not chunk:
            break
        parts = split.split(buf + chunk)
        buf = parts.pop()  # an unfinished line waits for its end
        out = [p for p in parts if not is_noise(p.decode("utf-8", "replace"), gpu)]
        if out:
            write(b"".join(out))
    if buf and not is_noise(buf.decode("utf-8", "replace"), gpu):
        write(buf)


_installed = None


def install() -> None:
    """Route fd 2 through the filter for the rest of this process (and its children); ``sys.stderr`` stays direct."""
    global _installed
    if _installed is not None:
        return
    sys.stderr.flush()
    real = os.dup(2)
    r, w = os.pipe()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "edge_lrcn.convert.quiet"], stdin=r, stdout=subprocess.DEVNULL,
                                stderr=real, close_fds=True)
    except OSError:
        os.close(r), os.close(w), os.close(real)
        return  # no filter: noisy, not broken
    os.close(r)
    old = sys.stderr
    sys.stderr = os.fdopen(os.dup(real), "w", buffering=1, encoding=getattr(old, "encoding", None) or "utf-8",
                           errors="backslashreplace")
    os.dup2(w, 2)
    os.close(w)
    _installed = (proc, real, old)
    atexit.register(uninstall)


def uninstall() -> None:
    """Give fd 2 back and let the filter pass on what it still holds."""
    global _installed
    if _installed is None:
        return
    proc, real, old = _installed
    _installed = None
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    sys.stderr = old  # the direct stream stays open: logging handlers may still hold it
    os.dup2(real, 2)  # closes this process's end of the pipe
    os.close(real)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:  # a child of ours still holds the pipe: the filter ends when it does
        pass


if __name__ == "__main__":
    _filter()
