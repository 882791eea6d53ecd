"""LiteRT interpreters for the bundle's encoder and head, with delegates: the runtime, :func:`make_interpreter`,
and the :class:`Encoder` and :class:`Head` wrappers. Which encoder runs is decided elsewhere: ``--encoder`` among the
CPU encoders in :mod:`.choice`, the accelerator and the fallback to the CPU in :mod:`.placement`.

Import chain: ``ai_edge_litert.interpreter`` (current LiteRT wheels), then ``tflite_runtime.interpreter`` (armv7,
older Pis), then ``tensorflow.lite`` (only if neither is installed; never imported otherwise).
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass

import numpy as np

from ..errors import BundleError, UsageError

log = logging.getLogger(__name__)

_CHAIN = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter", "tensorflow.lite")
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

