"""``edge-lrcn info --verify``: load and run every model of a bundle in a child process.

Hashes prove a bundle is intact, not that its models are benign: a crafted ``.tflite`` whose hashes match (a
bundle signed by nobody) could still crash the interpreter. The child takes the crash; the parent reports it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

from .errors import BundleError

_CHILD = r"""
import json, sys
import numpy as np
from edge_lrcn.bundle import read_bundle
from edge_lrcn.interpreter import make_interpreter
b = read_bundle(sys.argv[1])
out = {}
for name, info in b.manifest["files"].items():
    if not name.endswith(".tflite"):
        continue
    it = make_interpreter(b.member(name), threads=1, what=name)
    for d in it.get_input_details():
        it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
    it.invoke()
    outs = [it.get_tensor(d["index"]) for d in it.get_output_details()]
    out[name] = "ok: " + ", ".join(str(tuple(o.shape)) for o in outs)
print(json.dumps(out))
"""


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
        raise BundleError(f"invalid model bundle {path}: a model fails to run ({last})")
    return json.loads(proc.stdout.strip().splitlines()[-1])
