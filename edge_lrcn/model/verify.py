"""``edge-lrcn info --verify``: load and run every model of a bundle in a child process.

Hashes prove a bundle is intact, not that its models are benign: a crafted ``.tflite`` whose hashes match (a
bundle signed by nobody) could still crash the interpreter. The child takes the crash; the parent reports it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from ..errors import BundleError
from .choice import cache_root

_CHILD = r"""
import json, sys
import numpy as np
try:
    from edge_lrcn.model.bundle import read_bundle
    from edge_lrcn.model.interpreter import make_interpreter
    from edge_lrcn.model.placement import open_models
    b = read_bundle(sys.argv[1])
    out = {}
    for name in b.manifest["files"]:
        if not name.endswith(".tflite"):
            continue
        it = make_interpreter(b.member(name), threads=1, what=name)
        for d in it.get_input_details():
            it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
        it.invoke()
        outs = [it.get_tensor(d["index"]) for d in it.get_output_details()]
        out[name] = "ok: " + ", ".join(str(tuple(o.shape)) for o in outs)
    open_models(b, "cpu", 1)  # shapes agree with each other and with the manifest
except Exception as exc:
    print(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, file=sys.stderr)
    sys.exit(1)
print(json.dumps(out))
"""


def _cache_dir() -> Path | None:
    root = cache_root()
    return root / "verified" if root else None


def verify_once(bundle) -> None:
    """Verify a bundle's models in a child process unless this exact bundle (by sha256) passed before."""
    cache = _cache_dir()
    mark = cache / bundle.sha256 if cache else None
    if mark is not None and mark.exists():
        return
    verify_in_child(bundle.path)
    if mark is not None:
        try:
            mark.parent.mkdir(parents=True, exist_ok=True)
            mark.write_text("ok\n")
        except OSError:  # a read-only home: verify again next time, no harm
            pass


def verify_in_child(path: str, timeout: float = 120.0) -> dict:
    try:
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BundleError(f"invalid model bundle {path}: loading its models did not finish in {timeout:g} s") \
            from None
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        raise BundleError(f"invalid model bundle {path}: a model crashed the interpreter ({name})")
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise BundleError(f"invalid model bundle {path}: {last}" if last.startswith("the ") or "bundle" in last
                          else f"invalid model bundle {path}: a model fails to run ({last})")
    return json.loads(proc.stdout.strip().splitlines()[-1])
