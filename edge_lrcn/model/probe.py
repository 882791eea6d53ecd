"""Native accelerator code is tried in a child process before the daemon loads it.

LiteRT's prebuilt GPU accelerator (``libLiteRtWebGpuAccelerator.so``, loaded by ``CompiledModel``) is compiled for
newer ARM cores: on a Raspberry Pi 4's Cortex-A72 (no LSE atomics, no dot product) it dies with SIGILL ("This binary
was compiled with lse enabled, but this feature is not available on this processor") as soon as it is loaded,
without a Python exception; elsewhere its teardown has aborted (``free(): invalid pointer``). A delegate library
named by path may be built for another CPU as well. So ``--delegate gpu`` and every delegate library are first
loaded (and the model compiled) by ``python -m edge_lrcn.model.probe_child``: a signal, an abort, a hang (more than
``EDGE_LRCN_PROBE_TIMEOUT`` seconds, default 30) or an error there is :class:`.accelerator.Unavailable` with the
child's own text, cut short, and the daemon stays on its CPU encoder. Only after the child passed does the daemon
load the library itself. A library that crashed the probe is not probed again in this process.

``EDGE_LRCN_TEST_PROBE_FAULT`` (``sigill``, ``abort``, ``hang``, ``error``) makes the child die that way before it
loads anything: the tests use it to run each failure through a real child process.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys

from .accelerator import NOT_ACCELERATED, Unavailable, reason
from .accelerator import PROBE_UNAVAILABLE as _UNAVAILABLE

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0
TEXT_LIMIT = 240  # characters of the child's error text in the one warning line
_crashed: dict[str, str] = {}  # what crashed a probe here -> the reason, not tried again in this process
_passed: set[str] = set()  # libraries this process loaded itself after a probe passed


def timeout() -> float:
    """``EDGE_LRCN_PROBE_TIMEOUT`` seconds (an emulated CPU needs minutes), else :data:`DEFAULT_TIMEOUT`."""
    try:
        value = float(os.environ.get("EDGE_LRCN_PROBE_TIMEOUT", DEFAULT_TIMEOUT))
    except ValueError:
        return DEFAULT_TIMEOUT
    return value if value > 0 else DEFAULT_TIMEOUT


def probe(kind: str, model: bytes, library: str | None = None) -> None:
    """Return when ``kind`` (``gpu``: the LiteRT accelerator; ``delegate``: ``library``) loads and compiles
    ``model`` in a child process; else raise :class:`Unavailable` with the reason (one line)."""
    key = f"{kind}:{library or ''}"
    if key in _passed:
        return
    if key in _crashed:
        raise Unavailable(_crashed[key])
    args = [sys.executable, "-m", "edge_lrcn.model.probe_child", kind, *([library] if library else [])]
    limit = timeout()
    try:
        proc = subprocess.run(args, input=model, capture_output=True, timeout=limit)
    except subprocess.TimeoutExpired as exc:
        _crashed[key] = f"its probe did not finish in {limit:g} s{_tail(exc.stderr)}"
        raise Unavailable(_crashed[key]) from None
    except OSError as exc:
        raise Unavailable(f"its probe could not start ({exc})") from None
    text = proc.stderr.decode("utf-8", "replace")
    log.debug("%s probe (exit %s) wrote:\n%s", key, proc.returncode, text)
    if proc.returncode == 0:
        _passed.add(key)
        return
    if proc.returncode < 0:
        _crashed[key] = f"its probe died by {_signal_name(-proc.returncode)}{_tail(proc.stderr)}"
        raise Unavailable(_crashed[key])
    head, _, message = text.rpartition(_UNAVAILABLE)
    if proc.returncode == 3 and message.strip():
        message = message.strip().splitlines()[0]
        raise Unavailable(_cut(message if kind != "gpu" or message == NOT_ACCELERATED else reason(head, message)))
    raise Unavailable(f"its probe failed (exit {proc.returncode}){_tail(proc.stderr)}")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT - 3] + "..."


def _tail(stderr: bytes | str | None) -> str:
    """``: <the child's last lines>``, cut to :data:`TEXT_LIMIT`, or nothing when it wrote nothing."""
    if isinstance(stderr, bytes):
        stderr = stderr.decode("utf-8", "replace")
    printable = "".join(c if c.isprintable() or c == "\n" else " " for c in stderr or "")  # QEMU writes NULs
    lines = [line.strip() for line in printable.splitlines() if line.strip()]
    if not lines:
        return ""
    text = " | ".join(lines[-3:])
    return ": " + (text if len(text) <= TEXT_LIMIT else "..." + text[-(TEXT_LIMIT - 3):])
