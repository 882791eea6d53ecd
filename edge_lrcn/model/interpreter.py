"""LiteRT interpreters for the bundle's encoder and head, with delegates.

Import chain: ``ai_edge_litert.interpreter`` (current LiteRT wheels), then ``tflite_runtime.interpreter`` (armv7,
older Pis), then ``tensorflow.lite`` (only if neither is installed; never imported otherwise).
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from dataclasses import dataclass

import numpy as np

from . import choice as _choice
from .bundle import Bundle
from ..errors import BundleError, UsageError

log = logging.getLogger(__name__)

_CHAIN = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter", "tensorflow.lite")
DEFAULT_EDGETPU_DELEGATE = "libedgetpu.so.1"
ENCODERS = {"int8": "encoder_int8.tflite", "fp16": "encoder_fp16.tflite"}  # the CPU encoders --encoder names
ENCODER_CHOICES = ("auto", *ENCODERS)
# auto runs no encoder whose recorded test accuracy is lower than the best by more than this, or by more than one of
# the bundle's test windows where that is more (a single window is no evidence: the embedded model's int8 encoder is
# one of 90 behind fp16, and 98.1% against 98.0% on 1,538 fresh windows)
ACCURACY_TOLERANCE = 0.01
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
    """One interpreter thread unless ``threads`` says otherwise. The models here are too small to split: a second
    thread made the pretrained EfficientNet-Lite0 encoder 15% faster per frame (0.33 -> 0.28 ms) for 50% more CPU
    (0.34 -> 0.51 ms a frame), the head no faster for 60% more, and the daemon used no less CPU at a camera's pace
    (README "Measured"); an always-on daemon at 10 frames/s values CPU over latency."""
    return 1


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
    """Per-frame CNN: float32 (H, W, 3) in [0, 1] -> feature vector (feature_dim,) float32.

    :meth:`encode_rgb` takes the uint8 RGB frame itself (what preprocessing gives before ``to_float``) and writes it
    into one input buffer allocated here: an int8 input quantized as ``x * 255 - 128`` (scale 1/255, zero point
    -128, what convert writes) is the pixel with its top bit flipped, a uint8 input with scale 1/255 is the pixel,
    a float input is the pixel times 1/255; no float round trip and no allocation per frame. Another quantization
    goes the float way. Both paths give the same features (tests/test_encoder_choice.py)."""

    def __init__(self, interp, member: str, device: str):
        super().__init__(interp, f"encoder {member}")
        self.member, self.device = member, device
        if len(self.inp.shape) != 4 or self.inp.shape[0] != 1 or self.inp.shape[3] != 3:
            raise BundleError(f"encoder {member} input must be (1, H, W, 3), is {self.inp.shape}")
        self._buf = np.zeros(self.inp.shape, self.inp.dtype)
        self.pixel_path = _pixel_path(self.inp)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        return self.run(frame)[0]

    def encode_rgb(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 RGB (H, W, 3) at the model size -> feature vector."""
        dst = self._buf[0]
        if self.pixel_path == "flip":
            np.bitwise_xor(rgb, np.uint8(0x80), out=dst.view(np.uint8))
        elif self.pixel_path == "copy":
            np.copyto(dst, rgb)
        elif self.pixel_path == "scale":
            np.multiply(rgb, np.float32(1.0 / 255.0), out=dst)
        else:
            return self.run(rgb.astype(np.float32) * np.float32(1.0 / 255.0))[0]
        self._set(self.inp.index, self._buf)
        self._invoke()
        return self._dequantize(self._get(self.out.index))[0]


def _pixel_path(p: _Port) -> str:
    """How uint8 pixels become this input without floats: flip the top bit, copy, scale, or (None) quantize."""
    if p.dtype == np.float32:
        return "scale"
    if abs(p.scale * 255.0 - 1.0) > 1e-6:
        return "quantize"
    if p.dtype == np.int8 and p.zero_point == -128:
        return "flip"
    if p.dtype == np.uint8 and p.zero_point == 0:
        return "copy"
    return "quantize"


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
    from .accelerator import Unavailable, compile_for_gpu
    from .probe import probe

    problems, model = [], bundle.member(member)
    if delegate == "gpu":
        try:
            probe("gpu", model)  # in a child first: the library can SIGILL or abort (see .probe)
            return compile_for_gpu(model, member), []
        except Unavailable as exc:
            problems.append(f"LiteRT GPU accelerator unavailable ({exc})")
        if not libs:
            problems.append("no gpu_delegate_library set")
    for lib in libs:
        try:
            probe("delegate", model, lib)
            d = load_delegate(lib)
            return Encoder(make_interpreter(model, threads, [d], member), member, f"{delegate}:{lib}"), []
        except (Unavailable, ValueError, RuntimeError, OSError, AttributeError, BundleError) as exc:
            problems.append(f"delegate {lib} could not be used ({str(exc).splitlines()[0] if str(exc) else exc})")
    return None, problems


def eligible_encoders(bundle: Bundle) -> list[str]:
    """The CPU encoders ``--encoder auto`` may run: those in the bundle whose accuracy on the bundle's test windows
    (manifest ``validation.<kind>_accuracy``, written by convert) is within ``ACCURACY_TOLERANCE`` of the best of
    them, or within one test window (``validation.test_windows``) where that is more, so that the choice never
    trades a measurable accuracy for speed. Without those figures only int8, the encoder that convert's quality
    gate judged."""
    present = [k for k, member in ENCODERS.items() if bundle.has(member)]
    validation = bundle.manifest.get("validation")
    acc = {k: validation.get(f"{k}_accuracy") for k in present} if isinstance(validation, dict) else {}
    if not acc or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in acc.values()):
        return ["int8"] if "int8" in present else present[:1]
    windows = validation.get("test_windows")
    one_window = 1.0 / windows if isinstance(windows, int) and not isinstance(windows, bool) and windows > 0 else 0.0
    best, tolerance = max(acc.values()), max(ACCURACY_TOLERANCE, one_window)
    return [k for k in present if acc[k] >= best - tolerance - 1e-9]


def time_encoders(encoders: dict[str, Encoder], rounds: int = 60, warmup: int = 10) -> dict[str, float]:
    """ms per frame of each encoder on the daemon's path (uint8 pixels), timed in alternation so that a slow spell
    of the machine hits all of them alike; the lower quartile, which a busy machine moves least (the first
    invocations pack the weights: the warm-up)."""
    rng = np.random.default_rng(0)
    frames = {k: rng.integers(0, 256, (*e.inp.shape[1:3], 3), dtype=np.uint8) for k, e in encoders.items()}
    times: dict[str, list[float]] = {k: [] for k in encoders}
    for i in range(warmup + rounds):
        for k, enc in encoders.items():
            t = time.perf_counter()
            enc.encode_rgb(frames[k])
            if i >= warmup:
                times[k].append(time.perf_counter() - t)
    return {k: float(np.percentile(v, 25) * 1000) for k, v in times.items()}


def cpu_encoder(bundle: Bundle, choice: str = "auto", threads: int | None = None, remember: bool = True) -> Encoder:
    """The CPU encoder: ``int8`` or ``fp16`` as asked (a bundle without it is exit 2), or with ``auto`` the faster
    here of :func:`eligible_encoders`, timed at the first start (a few dozen frames each) and logged; later starts
    with the same bundle on the same machine use the remembered choice (model/choice.py) unless ``remember`` is
    False."""
    if choice not in ENCODER_CHOICES:
        raise UsageError(f"--encoder {choice!r}: use one of {', '.join(ENCODER_CHOICES)}")
    kinds = eligible_encoders(bundle) if choice == "auto" else [choice]
    threads_n = threads or default_threads()
    known = _choice.remembered(bundle, threads_n, runtime_name(), kinds) if remember and len(kinds) > 1 else None
    if known:
        log.info("--encoder auto: %s here (timed at an earlier start; delete %s to time again)", known,
                 _choice.cache_root() / "encoder-choice")
        kinds = [known]
    encoders = {}
    for kind in kinds:
        member = ENCODERS[kind]
        if not bundle.has(member):
            raise UsageError(f"--encoder {kind}: the bundle has no {member} (it has "
                             f"{', '.join(m for m in ENCODERS.values() if bundle.has(m)) or 'no CPU encoder'})")
        encoders[kind] = Encoder(make_interpreter(bundle.member(member), threads, (), member), member, "cpu")
    if len(encoders) == 1:
        return next(iter(encoders.values()))
    ms = time_encoders(encoders)
    kind = min(ms, key=ms.get)
    log.info("--encoder auto: %s here (%s ms per frame)", kind, ", ".join(f"{k} {v:.3f}" for k, v in ms.items()))
    if remember:
        _choice.remember(bundle, threads_n, runtime_name(), kind, ms)
    return encoders[kind]


def open_models(bundle: Bundle, delegate: str = "cpu", threads: int | None = None, require_delegate: bool = False,
                gpu_library: str | None = None, edgetpu_library: str = DEFAULT_EDGETPU_DELEGATE,
                encoder: str = "auto"):
    """The encoder (on the delegate asked for, falling back to the CPU encoder with one warning; on the CPU the one
    ``encoder`` names, see :func:`cpu_encoder`) and the head (always CPU)."""
    delegate = (delegate or "cpu").strip()
    enc, problems = (None, []) if delegate == "cpu" else _delegate_encoder(bundle, delegate, threads, gpu_library,
                                                                          edgetpu_library)
    if enc is None and problems:
        if require_delegate:
            raise UsageError(f"--delegate {delegate}: {'; '.join(problems)} (and --require-delegate is set)")
        log.warning("--delegate %s: %s: falling back to the CPU encoder", delegate, "; ".join(problems))
    if enc is None:
        enc = cpu_encoder(bundle, encoder, threads)
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
