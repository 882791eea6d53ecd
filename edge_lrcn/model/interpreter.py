"""LiteRT interpreters for the bundle's encoder and head, with delegates.

Import chain: ``ai_edge_litert.interpreter`` (current LiteRT wheels), then ``tflite_runtime.interpreter`` (armv7,
older Pis), then ``tensorflow.lite`` (only if neither is installed; never imported otherwise).
"""

from __future__ import annotations

import importlib
import logging
import os
from dataclasses import dataclass

import numpy as np

from .bundle import Bundle
from ..errors import BundleError, UsageError

log = logging.getLogger(__name__)

_CHAIN = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter", "tensorflow.lite")
DEFAULT_EDGETPU_DELEGATE = "libedgetpu.so.1"
_module = None


def runtime():
    """The first importable interpreter module of the chain (cached)."""
    global _module
    if _module is None:
        for name in _CHAIN:
            try:
                _module = importlib.import_module(name)
                log.debug("TFLite interpreter from %s", name)
                break
            except ImportError:
                continue
        else:
            raise UsageError("no TFLite interpreter installed: pip install ai-edge-litert "
                             "(or tflite-runtime on 32-bit Raspberry Pi OS)")
    return _module


def runtime_name() -> str:
    return runtime().__name__


def default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def load_delegate(library: str, options: dict | None = None):
    """Load a delegate library. It is dlopen()ed with ctypes first: LiteRT's Delegate object raises in ``__del__``
    when its own load fails, which would print a stray traceback."""
    import ctypes

    lib = ctypes.CDLL(library)  # OSError with the loader's reason if it cannot be loaded
    missing = [f for f in ("tflite_plugin_create_delegate", "tflite_plugin_destroy_delegate") if not hasattr(lib, f)]
    if missing:  # a library that loads but is no delegate (LiteRT would raise twice, once in __del__)
        raise OSError(f"{library} is not a TFLite delegate (no {missing[0]} entry point)")
    return runtime().load_delegate(library, options or {})


def make_interpreter(model: bytes, threads: int | None = None, delegates=(), what: str = "model"):
    """Build and allocate an interpreter from model bytes; a model it cannot load is a BundleError."""
    rt = runtime()
    kwargs = {"model_content": model, "num_threads": threads or default_threads()}
    if delegates:
        kwargs["experimental_delegates"] = list(delegates)
    try:
        interp = rt.Interpreter(**kwargs)
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise BundleError(f"the {what} in the bundle cannot be loaded: {str(exc).splitlines()[0]}") from None
    return interp


@dataclass
class _Port:
    index: int
    shape: tuple
    dtype: type
    scale: float
    zero_point: int


def _port(detail) -> _Port:
    scale, zp = detail.get("quantization", (0.0, 0))
    return _Port(detail["index"], tuple(int(x) for x in detail["shape"]), detail["dtype"], float(scale), int(zp))


class _Model:
    def __init__(self, interp, what: str):
        self.interp = interp
        ins, outs = interp.get_input_details(), interp.get_output_details()
        if len(ins) != 1 or len(outs) != 1:
            raise BundleError(f"the {what} must have one input and one output, has {len(ins)} and {len(outs)}")
        self.inp, self.out = _port(ins[0]), _port(outs[0])
        self._invoke = interp.invoke
        self._set = interp.set_tensor
        self._get = interp.get_tensor

    def _quantize(self, x: np.ndarray) -> np.ndarray:
        p = self.inp
        if p.dtype == np.float32:
            return x.astype(np.float32, copy=False)
        info = np.iinfo(p.dtype)
        q = np.round(x / p.scale + p.zero_point)
        return np.clip(q, info.min, info.max).astype(p.dtype)

    def _dequantize(self, y: np.ndarray) -> np.ndarray:
        p = self.out
        if p.dtype == np.float32:
            return y
        return (y.astype(np.float32) - p.zero_point) * np.float32(p.scale)

    def run(self, x: np.ndarray) -> np.ndarray:
        self._set(self.inp.index, self._quantize(x).reshape(self.inp.shape))
        self._invoke()
        return self._dequantize(self._get(self.out.index))


class Encoder(_Model):
    """Per-frame CNN: float32 (H, W, 3) in [0, 1] -> feature vector (feature_dim,) float32."""

    def __init__(self, interp, member: str, device: str):
        super().__init__(interp, f"encoder {member}")
        self.member, self.device = member, device
        if len(self.inp.shape) != 4 or self.inp.shape[0] != 1 or self.inp.shape[3] != 3:
            raise BundleError(f"encoder {member} input must be (1, H, W, 3), is {self.inp.shape}")

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        return self.run(frame)[0]


class Head(_Model):
    """LSTM + Dense over (T, feature_dim) -> class probabilities."""

    def __init__(self, interp):
        super().__init__(interp, "head")
        shape = self.inp.shape  # a head of another rank is refused by the shape check of open_models
        self.frames, self.feature_dim = (shape[1], shape[2]) if len(shape) == 3 else (0, 0)

    def __call__(self, window: np.ndarray) -> np.ndarray:
        return self.run(window)[0]


def _delegate_encoder(bundle: Bundle, delegate: str, threads: int | None, gpu_library: str | None,
                      edgetpu_library: str):
    """The encoder on the accelerator asked for, or None and the reasons it could not be used. ``gpu``: the LiteRT
    GPU accelerator first, then the legacy GPU delegate library when one is set."""
    if delegate == "gpu":
        member, libs = "encoder_fp16.tflite", [gpu_library] if gpu_library else []
    elif delegate == "edgetpu":
        member, libs = "encoder_edgetpu.tflite", [edgetpu_library]
    elif delegate.endswith(".so") or ".so." in delegate or os.sep in delegate:
        member, libs = "encoder_fp16.tflite", [delegate]
    else:
        raise UsageError(f"--delegate {delegate!r}: use cpu, gpu, edgetpu or the path to a delegate .so")
    if not bundle.has(member):
        return None, [f"the bundle has no {member}"]
    problems = []
    if delegate == "gpu":
        from .accelerator import Unavailable, compile_for_gpu

        try:
            return compile_for_gpu(bundle.member(member), member), []
        except Unavailable as exc:
            problems.append(f"LiteRT GPU accelerator unavailable ({exc})")
        if not libs:
            problems.append("no gpu_delegate_library set")
    for lib in libs:
        try:
            d = load_delegate(lib)
            return Encoder(make_interpreter(bundle.member(member), threads, [d], member), member, f"{delegate}:{lib}"), []
        except (ValueError, RuntimeError, OSError, AttributeError, BundleError) as exc:
            problems.append(f"delegate {lib} could not be used ({str(exc).splitlines()[0] if str(exc) else exc})")
    return None, problems


def open_models(bundle: Bundle, delegate: str = "cpu", threads: int | None = None, require_delegate: bool = False,
                gpu_library: str | None = None, edgetpu_library: str = DEFAULT_EDGETPU_DELEGATE):
    """The encoder (on the delegate asked for, falling back to the CPU int8 encoder with one warning) and the head
    (always CPU)."""
    delegate = (delegate or "cpu").strip()
    enc, problems = (None, []) if delegate == "cpu" else _delegate_encoder(bundle, delegate, threads, gpu_library,
                                                                          edgetpu_library)
    if enc is None and problems:
        if require_delegate:
            raise UsageError(f"--delegate {delegate}: {'; '.join(problems)} (and --require-delegate is set)")
        log.warning("--delegate %s: %s: falling back to the CPU int8 encoder", delegate, "; ".join(problems))
    if enc is None:
        member = "encoder_int8.tflite"
        enc = Encoder(make_interpreter(bundle.member(member), threads, (), member), member, "cpu")
    head = Head(make_interpreter(bundle.member("head.tflite"), threads, (), "head"))
    _check_shapes(bundle, enc, head)
    log.info("encoder %s runs on %s; head runs on cpu (%s, %d threads)", enc.member, enc.device, runtime_name(),
             threads or default_threads())
    return enc, head


def _check_shapes(bundle: Bundle, enc, head: Head) -> None:
    """Every port against the manifest and the other model, exactly: encoder (1, H, W, 3) -> (1, D), head
    (1, T, D) -> (1, labels). A shape that only agrees in its last axes would pass load and crash the first
    window."""
    (h, w), d, t, n = bundle.input_size, bundle.feature_dim, bundle.frames, len(bundle.labels)
    want = {"encoder input": (enc.inp.shape, (1, h, w, 3)), "encoder output": (enc.out.shape, (1, d)),
            "head input": (head.inp.shape, (1, t, d)), "head output": (head.out.shape, (1, n))}
    for what, (got, expected) in want.items():
        if tuple(got) != expected:
            raise BundleError(f"{what} shape {tuple(got)} does not match the manifest: expected "
                              f"{expected} (input {h}x{w}, feature_dim {d}, {t} frames, {n} labels)")
