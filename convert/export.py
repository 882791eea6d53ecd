"""Keras -> TFLite: int8 encoder, fp16 encoder, float32 head (built from the weights), float32 monolithic reference.

Every Keras model goes through ``keras.export.ExportArchive`` with a fixed batch of 1 and ``training=False``, then
``tf.lite.TFLiteConverter.from_saved_model``: converting the whole Keras 3 LRCN to int8 does not work (the LSTM is a
WHILE loop), ``from_concrete_functions`` leaves variables unfrozen, and a dynamic batch fails (TensorListReserve).
The head is a ``tf.function`` whose weights are constants (no variables), converted from its concrete function.
``convert()`` leaks memory per call in TF 2.20/2.21: fine for a CLI run, do not loop it in one process.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def _saved_model(model, input_shape: tuple, directory: Path) -> Path:
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name="serve", fn=lambda x: model(x, training=False),
                         input_signature=[tf.TensorSpec(input_shape, tf.float32)])
    archive.write_out(str(directory), verbose=False)
    return directory


def _convert(model, input_shape: tuple, configure: Callable | None = None) -> bytes:
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="edge-lrcn-export-") as tmp:
        path = _saved_model(model, input_shape, Path(tmp) / "saved_model")
        converter = tf.lite.TFLiteConverter.from_saved_model(str(path), signature_keys=["serve"])
        if configure:
            configure(converter)
        return converter.convert()


def encoder_int8(encoder, representative: Iterable[np.ndarray]) -> bytes:
    """Full-integer int8 encoder (CONV_2D, MAX_POOL_2D, RESHAPE): XNNPACK, GPU and EdgeTPU friendly.

    ``representative`` yields float32 model inputs (H, W, C) in [0, 1] from every class of the training split.
    """
    import tensorflow as tf

    frames = list(representative)

    def rep():
        for f in frames:
            yield [f[None].astype(np.float32)]

    def configure(c):
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        c.representative_dataset = rep
        c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        c.inference_input_type = tf.int8
        c.inference_output_type = tf.int8

    return _convert(encoder, (1, *encoder.input_shape[1:]), configure)


def encoder_fp16(encoder) -> bytes:
    import tensorflow as tf

    def configure(c):
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        c.target_spec.supported_types = [tf.float16]

    return _convert(encoder, (1, *encoder.input_shape[1:]), configure)


def head_fp32(model) -> bytes:
    """Every head of the trained model as one batched float32 graph (convert/head_graph.py): the heads' mean to
    float rounding, in ~230 ops instead of ~1,500."""
    import tensorflow as tf

    from .head_graph import head_function, head_weights

    fn = head_function(head_weights(model))
    module = tf.Module()
    module.head = fn
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], module)
    return converter.convert()


def lrcn_fp32(model) -> bytes:
    _, t, h, w, c = model.input_shape
    return _convert(model, (1, t, h, w, c))


def op_names(model_bytes: bytes) -> list[str]:
    """Operator names in a .tflite model (for the report and the tests)."""
    from tensorflow.lite.python import analyzer  # noqa: F401 - only to make sure TF's schema is present
    from tensorflow.lite.tools import flatbuffer_utils

    m = flatbuffer_utils.convert_bytearray_to_object(bytearray(model_bytes))
    names = set()
    from tensorflow.lite.python.schema_py_generated import BuiltinOperator

    code_names = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}
    for sub in m.subgraphs:
        for op in sub.operators:
            code = m.operatorCodes[op.opcodeIndex]
            builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
            names.add(code_names.get(builtin, str(builtin)) if code.customCode is None
                      else code.customCode.decode())
    return sorted(names)
