"""The probe's child (``python -m edge_lrcn.model.probe_child gpu|delegate [LIBRARY]``, the model on stdin): loads
the library and compiles the model; exit 0 when it worked, 3 with ``UNAVAILABLE: reason`` as its last line when the
library refused, or whatever a library built for another CPU does (SIGILL, abort). See :mod:`.probe`."""

from __future__ import annotations

import os
import signal
import sys

from .accelerator import PROBE_UNAVAILABLE as _UNAVAILABLE
from .accelerator import Unavailable


def _test_fault(fault: str) -> None:
    """Die as a library built for another CPU would (the tests' hook, EDGE_LRCN_TEST_PROBE_FAULT: see .probe)."""
    print(f"edge-lrcn probe test fault: {fault}", file=sys.stderr, flush=True)
    if fault == "sigill":
        os.kill(os.getpid(), signal.SIGILL)
    elif fault == "abort":
        os.abort()
    elif fault == "hang":
        signal.pause()
    raise RuntimeError(f"test fault {fault!r}")


def _child(argv: list[str]) -> int:
    fault = os.environ.get("EDGE_LRCN_TEST_PROBE_FAULT")
    if fault:
        _test_fault(fault)
    model = sys.stdin.buffer.read()
    try:
        if argv[0] == "gpu":
            from .accelerator import compile_for_gpu

            compile_for_gpu(model, "probe", capture=False)  # the native text goes to the parent as it comes
        else:
            from .interpreter import load_delegate, make_interpreter

            make_interpreter(model, 1, [load_delegate(argv[1])], "probe")
    except Unavailable as exc:
        print(_UNAVAILABLE + str(exc), file=sys.stderr, flush=True)
        return 3
    except Exception as exc:  # noqa: BLE001 - whatever the library raises is the reason
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(_UNAVAILABLE + message, file=sys.stderr, flush=True)
        return 3
    return 0


if __name__ == "__main__":
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_child(sys.argv[1:]))  # no interpreter teardown: LiteRT's GPU teardown has aborted (free())
