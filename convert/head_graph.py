"""The exported head: every trained head of a model as one batched graph, built from the trained weights.

The Keras model has ``heads`` separate heads (neck -> feature changes -> LSTM -> Dense softmax), averaged. Exported
layer by layer (each LSTM unrolled) that is ~1,500 TFLite ops, and the interpreter's cost per op made the five heads
cost more than the encoder. Here the same arithmetic runs with the heads as a batch axis:

- the five necks as one FULLY_CONNECTED over every grid cell of every frame (their kernels side by side);
- the LSTM input projection as one BATCH_MATMUL of each head's (T, F) inputs with its own kernel; the feature change
  ``x_t - x_{t-lag}`` is linear, so it is taken after the projection, on 4*units columns instead of F;
- the recurrence once per step for all heads (BATCH_MATMUL of the (heads, 1, units) state with the recurrent
  kernels); the first ``lag`` steps, whose inputs are constant, fold into constants;
- the Dense layers as one BATCH_MATMUL, a softmax per head, the mean.

No weight is retrained or approximated: the outputs equal the Keras heads' mean to float rounding (~1e-7;
tests/test_head_graph.py on real features). About 230 ops; 0.2 against 0.7 ms for the unrolled layers here
(README "Measured"). Imported only by the host-side commands.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class HeadWeights:
    """The trained weights of every head of a model, stacked on a leading heads axis."""

    frames: int
    feature_dim: int
    kernel: np.ndarray  # (heads, F, 4*units), or (heads, F, 8*units) for motion "both": [frame part | change part]
    recurrent: np.ndarray  # (heads, units, 4*units)
    bias: np.ndarray  # (heads, 1, 4*units)
    dense: np.ndarray  # (heads, units, labels)
    dense_bias: np.ndarray  # (heads, 1, labels)
    motion: str = "none"  # "none", "delta" or "both"
    lag: int = 1
    neck: np.ndarray | None = None  # (channels, heads*neck_channels): every head's 1x1 projection side by side
    neck_bias: np.ndarray | None = None
    cells: int = 0

    @property
    def heads(self) -> int:
        return self.recurrent.shape[0]

    @property
    def units(self) -> int:
        return self.recurrent.shape[1]


def _check_activations(model, sfx: str) -> None:
    lstm, names = model.get_layer("lstm" + sfx), {layer.name for layer in model.layers}
    acts = (lstm.activation.__name__, lstm.recurrent_activation.__name__)
    if acts != ("tanh", "sigmoid") or not lstm.use_bias:
        raise ValueError(f"lstm{sfx}: the fused head needs tanh/sigmoid activations and a bias, has {acts}")
    if model.get_layer("probs" + sfx).activation.__name__ != "softmax":
        raise ValueError(f"probs{sfx}: the fused head needs a softmax output")
    if "neck" + sfx in names and model.get_layer("neck" + sfx).activation.__name__ != "relu":
        raise ValueError(f"neck{sfx}: the fused head needs a relu neck")


def _motion(model, sfx: str) -> tuple[str, int]:
    names = {layer.name for layer in model.layers}
    if "motion_delta" + sfx not in names:
        return "none", 1
    lag = model.get_layer("motion_prev" + sfx).cropping[1]
    return ("both" if "motion_concat" + sfx in names else "delta"), int(lag)


def head_weights(model) -> HeadWeights:
    """The weights of a trained Keras LRCN's heads (``convert.model.members``), ready for :func:`head_function`."""
    from .model import members

    sfxs = members(model)
    for sfx in sfxs:
        _check_activations(model, sfx)
    motion, lag = _motion(model, sfxs[0])
    lstm = [model.get_layer("lstm" + s).get_weights() for s in sfxs]
    dense = [model.get_layer("probs" + s).get_weights() for s in sfxs]
    kernel = np.stack([k for k, _, _ in lstm])
    if motion == "both":  # the LSTM sees [x, x - x_prev]: its kernel's halves, side by side on the output axis
        half = kernel.shape[1] // 2
        kernel = np.concatenate([kernel[:, :half], kernel[:, half:]], axis=2)
    td = model.get_layer("td_encoder")
    w = HeadWeights(frames=int(model.input_shape[1]), feature_dim=int(td.output.shape[-1]), kernel=kernel,
                    recurrent=np.stack([r for _, r, _ in lstm]), bias=np.stack([b for _, _, b in lstm])[:, None],
                    dense=np.stack([k for k, _ in dense]), dense_bias=np.stack([b for _, b in dense])[:, None],
                    motion=motion, lag=lag)
    if "neck" + sfxs[0] in {layer.name for layer in model.layers}:
        necks = [model.get_layer("neck" + s).get_weights() for s in sfxs]
        w.neck = np.concatenate([k for k, _ in necks], axis=1)
        w.neck_bias = np.concatenate([b for _, b in necks])
        w.cells = int(model.get_layer("neck_cells" + sfxs[0]).target_shape[1])
    return w


def _per_head_inputs(tf, w: HeadWeights, x):
    """(1, T, D) features -> (heads, T, F) LSTM inputs before the feature change (the neck's output, or x itself)."""
    if w.neck is None:
        return x  # broadcast over the heads by the batched matmul
    t, cells = w.frames, w.cells
    channels, per_head = w.neck.shape[0], w.neck.shape[1] // w.heads
    n = tf.nn.relu(tf.matmul(tf.reshape(x, (t * cells, channels)), w.neck) + w.neck_bias)
    n = tf.transpose(tf.reshape(n, (t, cells, w.heads, per_head)), (2, 0, 1, 3))
    return tf.reshape(n, (w.heads, t, cells * per_head))


def _gate_inputs(tf, w: HeadWeights, x) -> list:
    """The input part of every step's gates, (heads, 1, 4*units) each: projection, feature change, bias."""
    t, lag, g = w.frames, w.lag, 4 * w.units
    q = tf.matmul(_per_head_inputs(tf, w, x), w.kernel)  # (heads, T, 4u) or (heads, T, 8u)
    if w.motion == "none":
        return tf.split(q + w.bias, t, axis=1)
    change = q if w.motion == "delta" else q[:, :, g:]
    if w.motion == "delta":
        first = [tf.constant(w.bias)] * lag  # no change yet: the gates see the bias alone
        return first + tf.split(change[:, lag:] - change[:, :-lag] + w.bias, t - lag, axis=1)
    frame = q[:, :, :g] + w.bias
    steps = tf.split(frame, t, axis=1)
    later = tf.split(change[:, lag:] - change[:, :-lag], t - lag, axis=1)
    return steps[:lag] + [s + c for s, c in zip(steps[lag:], later, strict=True)]


def _recurrence(tf, w: HeadWeights, inputs: list):
    """Keras's LSTM (gates i, f, c, o; sigmoid and tanh) over the steps, all heads at once -> the last h."""
    h = c = None
    for z in inputs:
        gates = z if h is None else z + tf.matmul(h, w.recurrent)
        i, f, cand, o = tf.split(gates, 4, axis=-1)
        new = tf.sigmoid(i) * tf.tanh(cand)
        c = new if c is None else tf.sigmoid(f) * c + new
        h = tf.sigmoid(o) * tf.tanh(c)
    return h


def head_function(w: HeadWeights):
    """A ``tf.function`` (1, T, D) float32 -> (1, labels): the mean of the heads' softmax outputs."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec((1, w.frames, w.feature_dim), tf.float32)])
    def head(x):
        h = _recurrence(tf, w, _gate_inputs(tf, w, x))  # (heads, 1, units)
        probs = tf.nn.softmax(tf.matmul(h, w.dense) + w.dense_bias)
        return tf.reduce_mean(probs, axis=0)

    return head
