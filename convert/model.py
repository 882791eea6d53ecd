"""The Keras LRCN built as ``TimeDistributed(encoder) -> head (LSTM -> Dense)``, with two encoders.

- ``efficientnet`` (default): EfficientNet-Lite0 with its ImageNet weights up to stage 5, frozen: a 4x4x112 grid per
  64x64 frame, flattened. The head learns everything: a per-cell projection of the grid (the *neck*, 112 -> 16
  channels), the change of those features since the previous step (``motion``), the LSTM and the softmax. Because the
  encoder is frozen it is quantized *before* training, and the head trains on the int8 encoder's own features as well
  as the float ones: what the device computes is what the head learned from (docs/training.md).
- ``reference``: the classic tutorial CNN (Conv2D 16, 32, 64, 64 with max-pooling 4, 4, 2, 2), trained from scratch,
  LSTM(32) directly on its features.

The per-frame encoder is one sub-model, so it exports on its own; the heads export as one batched graph built from
their trained weights (convert/head_graph.py). Imported only by the host-side commands.
"""

from __future__ import annotations

import keras
from keras import layers

from .options import ENCODERS, LrcnConfig

__all__ = ["ENCODERS", "LrcnConfig", "build_lrcn", "build_baseline", "frozen_encoder", "members",
           "member_models", "encoder_of", "compile_model"]


def _reference_encoder(cfg: LrcnConfig, name: str) -> keras.Model:
    """Conv2D(3x3, relu, same) + MaxPool per stage, dropout after every stage but the last, Flatten."""
    if len(cfg.filters) != len(cfg.pools):
        raise ValueError("filters and pools need the same length")
    x = inp = keras.Input((cfg.height, cfg.width, 3), name="frame")
    for i, (f, p) in enumerate(zip(cfg.filters, cfg.pools, strict=True)):
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv{i + 1}")(x)
        x = layers.MaxPooling2D(p, name=f"pool{i + 1}")(x)
        if i < len(cfg.filters) - 1 and cfg.dropout:
            x = layers.Dropout(cfg.dropout, name=f"dropout{i + 1}")(x)
    x = layers.Flatten(name="features")(x)
    return keras.Model(inp, x, name=name)


def _pretrained_encoder(cfg: LrcnConfig, name: str, weights: bool) -> keras.Model:
    from .pretrained import build_backbone, load_imagenet

    net = build_backbone(cfg.height, cfg.width, cfg.backbone_blocks, name="backbone")
    if weights:
        load_imagenet(net)
    net.trainable = False
    inp = keras.Input((cfg.height, cfg.width, 3), name="frame")
    return keras.Model(inp, layers.Flatten(name="features")(net(inp)), name=name)


def build_encoder(cfg: LrcnConfig, name: str = "encoder", weights: bool = True) -> keras.Model:
    if cfg.encoder == "reference":
        return _reference_encoder(cfg, name)
    if cfg.encoder == "efficientnet":
        return _pretrained_encoder(cfg, name, weights)
    raise ValueError(f"unknown encoder {cfg.encoder!r}; encoders are {', '.join(ENCODERS)}")


def member_suffix(member: int) -> str:
    """Layer-name suffix of an ensemble member's head: "" for the first (the names a one-head model has), "_k" after."""
    return f"_{member}" if member else ""


def motion(x, frames: int, kind: str = "both", lag: int = 1, sfx: str = ""):
    """(T, D) -> (T, 2D): each feature and its change since ``lag`` steps before (0 for the first ``lag`` steps);
    with ``kind="delta"`` (T, D), the changes only.

    Built from stock layers only (no Lambda), so the model saves, loads and converts like any other."""
    first = layers.Cropping1D((0, frames - lag), name="motion_first" + sfx)(x)
    prev = layers.Cropping1D((0, lag), name="motion_prev" + sfx)(x)
    shifted = layers.Concatenate(axis=1, name="motion_shift" + sfx)([first, prev])
    delta = layers.Subtract(name="motion_delta" + sfx)([x, shifted])
    if kind == "delta":
        return delta
    return layers.Concatenate(axis=-1, name="motion_concat" + sfx)([x, delta])


def _neck(cfg: LrcnConfig, x, grid_shape, sfx: str = ""):
    """(T, h*w*c) -> (T, h*w*neck): the same 1x1 projection in every grid cell (keeps *where*, learns *what*)."""
    cells, channels = grid_shape[0] * grid_shape[1], grid_shape[2]
    x = layers.Reshape((cfg.frames, cells, channels), name="neck_cells" + sfx)(x)
    x = layers.Dense(cfg.neck_channels, activation="relu", name="neck" + sfx)(x)
    return layers.Reshape((cfg.frames, cells * cfg.neck_channels), name="neck_flat" + sfx)(x)


def temporal(cfg: LrcnConfig, x, n_labels: int, grid_shape=None, baseline: bool = False, member: int = 0):
    """Features over time -> probabilities: [neck] -> [motion] -> dropout -> LSTM (or the mean over time) -> Dense.
    ``member`` k > 0 names the layers of the k-th head of an ensemble (``lstm_k``, ``probs_k``, ...)."""
    sfx = member_suffix(member)
    if grid_shape is not None:
        x = _neck(cfg, x, grid_shape, sfx)
    if baseline:
        x = layers.GlobalAveragePooling1D(name="time_mean")(x)
    else:
        if cfg.motion != "none":
            x = motion(x, cfg.frames, cfg.motion, cfg.delta_lag, sfx)
        if cfg.encoder != "reference" and cfg.dropout:
            x = layers.Dropout(cfg.dropout, name="feature_dropout" + sfx)(x)
        # use_cudnn=False: with a GPU visible, Keras would trace cuDNN ops that no TFLite converter accepts
        x = layers.LSTM(cfg.lstm_units, use_cudnn=False, name="lstm" + sfx)(x)
    return layers.Dense(n_labels, activation="softmax", name="probs" + sfx)(x)


def build_lrcn(cfg: LrcnConfig, weights: bool = True, baseline: bool = False) -> keras.Model:
    """``TimeDistributed(encoder)`` -> head; with ``cfg.heads`` > 1 an ensemble: that many heads over the same
    features, each trained on its own (convert/train.py), their probabilities averaged (layer ``ensemble``)."""
    encoder = build_encoder(cfg, name="baseline_encoder" if baseline else "encoder", weights=weights)
    inp = keras.Input((cfg.frames, cfg.height, cfg.width, 3), name="window")
    x = layers.TimeDistributed(encoder, name="td_encoder")(inp)
    grid = encoder.get_layer("backbone").output_shape[1:] if cfg.encoder != "reference" else None
    if baseline or cfg.heads <= 1:
        out = temporal(cfg, x, len(cfg.labels), grid, baseline)
    else:
        out = layers.Average(name="ensemble")([temporal(cfg, x, len(cfg.labels), grid, False, k)
                                               for k in range(cfg.heads)])
    return keras.Model(inp, out, name="baseline" if baseline else "lrcn")


def members(model: keras.Model) -> list[str]:
    """The layer-name suffixes of a model's heads: [""] for one head, ["", "_1", ...] for an ensemble."""
    names = {layer.name for layer in model.layers}
    out, k = [], 0
    while "probs" + member_suffix(k) in names:
        out.append(member_suffix(k))
        k += 1
    return out


def member_models(model: keras.Model) -> list[keras.Model]:
    """For a model with a frozen encoder: one model per head, from the encoder's features ``(T, D)`` to that head's
    probabilities, sharing the model's layers (so fitting one trains that head of ``model``)."""
    td = model.get_layer("td_encoder")
    out = []
    for k, sfx in enumerate(members(model)):
        inp = keras.Input(td.output.shape[1:], name="features")
        after = keras.Model(td.output, model.get_layer("probs" + sfx).output, name=f"head{k}_after_encoder")
        out.append(keras.Model(inp, after(inp), name=f"head{k}_on_features"))
    return out


def build_baseline(cfg: LrcnConfig, weights: bool = True) -> keras.Model:
    """The same CNN with the LSTM replaced by averaging over time: sees frames, not motion."""
    return build_lrcn(cfg, weights, baseline=True)


def frozen_encoder(model: keras.Model) -> keras.Model | None:
    """The per-frame encoder when nothing in it trains (the pretrained one), else None."""
    encoder = encoder_of(model)
    return encoder if not encoder.trainable_weights else None


def encoder_of(model: keras.Model) -> keras.Model:
    """The trained per-frame encoder sub-model (exported on its own; the heads export from their weights,
    convert/head_graph.py)."""
    return model.get_layer("td_encoder").layer


def compile_model(model: keras.Model, learning_rate: float = 1e-3) -> None:
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
