"""The LiteRT GPU accelerator (``ai_edge_litert.compiled_model.CompiledModel`` with ``HardwareAccelerator.GPU``,
WebGPU over Vulkan underneath), tried first by ``--delegate gpu`` for the float16 encoder.

UNTESTED ON GPU HARDWARE. On the development machine (x86_64, no GPU, Mesa's lavapipe rejected by the WebGPU
layer) the accelerator finds no adapter, so only the refusal path runs in the tests; :class:`CompiledEncoder`, the
success path, has run on no GPU so far. It is accepted only when ``is_fully_accelerated()`` says every op runs on
the GPU (a partly accelerated model would copy tensors between GPU and CPU for every frame).

LiteRT writes its own log lines (INFO and ERROR, from C++) straight to file descriptor 2 while it looks for an
adapter; they are captured here and reduced to one reason, so a fallback is one warning line (``--debug`` logs
the captured text).
"""

from __future__ import annotations

import gc
import logging
import os
import re
import tempfile
from contextlib import contextmanager, nullcontext

import numpy as np

log = logging.getLogger(__name__)

DEVICE = "gpu:litert-accelerator"


class Unavailable(Exception):
    """The accelerator cannot run this model here; the message is the reason, one line."""


@contextmanager
def _captured_fd2(out: list[str]):
    """Send what native code writes to fd 2 to a file for the duration; its text is appended to ``out``."""
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            out.append(tmp.read().decode("utf-8", "replace"))


PROBE_UNAVAILABLE = "UNAVAILABLE: "  # the probe child's last line when the library refused cleanly (.probe)
NOT_ACCELERATED = "the model is not fully accelerated on the GPU (some ops would run on the CPU)"


def reason(native_log: str, error: str | None) -> str:
    """One line from LiteRT's log: the ERROR lines' messages, and a missing Vulkan loader if it said so."""
    errors = re.findall(r"ERROR: \[[^\]]*\] (.+)", native_log)
    vulkan = re.search(r"Couldn't load Vulkan: ([^\n]+)", native_log)
    parts = list(dict.fromkeys(e.strip() for e in errors if e.strip()))[-2:]
    if vulkan:
        parts.append(f"Couldn't load Vulkan: {vulkan.group(1).strip()}")
    if not parts and error:
        parts.append(error)
    return "; ".join(parts) or "unknown reason"


def compile_for_gpu(model: bytes, member: str, capture: bool = True) -> CompiledEncoder:
    """The encoder compiled for the LiteRT GPU accelerator, or :class:`Unavailable` with the reason. Call it only
    after :func:`.probe.probe` passed: the library can kill the process (SIGILL on a Cortex-A72). ``capture=False``
    (the probe child) leaves LiteRT's own text on fd 2, where it survives a crash, and the reason is the error
    alone."""
    try:
        from ai_edge_litert.compiled_model import CompiledModel, HardwareAccelerator
    except ImportError as exc:  # tflite-runtime or tensorflow.lite: no CompiledModel API
        raise Unavailable(f"this LiteRT has no CompiledModel API ({exc})") from None
    native: list[str] = []
    compiled, error, accelerated = None, None, False
    with _captured_fd2(native) if capture else nullcontext():
        try:
            compiled = CompiledModel.from_buffer(model, hardware_accel=HardwareAccelerator.GPU)
            accelerated = compiled.is_fully_accelerated()
        except Exception as exc:  # noqa: BLE001 - LiteRT raises RuntimeError, or anything from its bindings
            error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if not accelerated:
            compiled = None
        gc.collect()  # LiteRT's environment logs its teardown: let that happen while fd 2 is captured
    log.debug("LiteRT GPU accelerator output:\n%s", native[0] if native else "")
    if error is not None:
        raise Unavailable(reason(native[0] if native else "", error))
    if compiled is None:
        raise Unavailable(NOT_ACCELERATED)
    return CompiledEncoder(compiled, member)


class _Port:
    def __init__(self, shape, dtype):
        self.shape, self.dtype = tuple(shape), dtype


class CompiledEncoder:
    """Same interface as :class:`.interpreter.Encoder` (``member``, ``device``, ``inp``/``out`` shapes, call with a
    float32 (H, W, 3) frame -> feature vector), on a CompiledModel. UNTESTED ON GPU HARDWARE (see the module)."""

    def __init__(self, compiled, member: str):
        self.compiled = compiled
        self.member = member
        self.device = DEVICE
        signature = next(iter(compiled.get_signature_list()))
        ins = list(compiled.get_input_tensor_details(signature).values())
        outs = list(compiled.get_output_tensor_details(signature).values())
        if len(ins) != 1 or len(outs) != 1:
            raise Unavailable(f"the encoder must have one input and one output, has {len(ins)} and {len(outs)}")
        self.inp, self.out = _Port(ins[0]["shape"], np.float32), _Port(outs[0]["shape"], np.float32)
        self._n_out = int(np.prod(self.out.shape))
        self._in, self._outs = compiled.create_input_buffers(0), compiled.create_output_buffers(0)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        self._in[0].write(np.ascontiguousarray(frame, dtype=np.float32).reshape(self.inp.shape))
        self.compiled.run_by_index(0, self._in, self._outs)
        return self._outs[0].read(self._n_out, np.float32).reshape(self.out.shape)[0]

    def encode_rgb(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 RGB (H, W, 3) -> feature vector, like :meth:`.interpreter.Encoder.encode_rgb` (float input)."""
        return self(rgb.astype(np.float32) * np.float32(1.0 / 255.0))
