"""The Keras LRCN built as ``TimeDistributed(encoder) -> LSTM -> Dense``, with two encoders.

- ``efficientnet`` (default): EfficientNet-Lite0 with its ImageNet weights up to stage 5 (a 4x4x112 grid at 64x64),
  frozen, plus a trained 1x1 convolution (the *neck*) that keeps the grid: the LSTM sees what is where. The head
  also sees each feature's change since the previous kept frame (``motion``), so motion is explicit. Learns new
  activities from a few dozen clips (docs/training.md).
- ``reference``: the classic tutorial CNN (Conv2D 16, 32, 64, 64 with max-pooling 4, 4, 2, 2), trained from scratch.

The per-frame encoder is one sub-model, so it exports on its own; the head (motion, LSTM, Dense) reuses the trained
layers over ``(T, feature_dim)`` features. Imported only by the host-side commands.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from .options import ENCODERS, LrcnConfig, input_channels

__all__ = ["ENCODERS", "LrcnConfig", "build_lrcn", "build_baseline", "feature_model", "parts", "compile_model"]


def _reference_encoder(cfg: LrcnConfig, name: str) -> keras.Model:
    """Conv2D(3x3, relu, same) + MaxPool per stage, dropout after every stage but the last, Flatten."""
    if len(cfg.filters) != len(cfg.pools):
        raise ValueError("filters and pools need the same length")
    x = inp = keras.Input((cfg.height, cfg.width, input_channels(cfg)), name="frame")
    for i, (f, p) in enumerate(zip(cfg.filters, cfg.pools)):
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv{i + 1}")(x)
        x = layers.MaxPooling2D(p, name=f"pool{i + 1}")(x)
        if i < len(cfg.filters) - 1 and cfg.dropout:
            x = layers.Dropout(cfg.dropout, name=f"dropout{i + 1}")(x)
    x = layers.Flatten(name="features")(x)
    return keras.Model(inp, x, name=name)


def _pretrained_encoder(cfg: LrcnConfig, name: str, weights: bool) -> keras.Model:
    from .pretrained import build_backbone, load_imagenet

    net = build_backbone(cfg.height, cfg.width, cfg.backbone_blocks, name="efficientnet_lite0")
    if weights:
        load_imagenet(net)
    streams = input_channels(cfg) // 3
    inp = keras.Input((cfg.height, cfg.width, 3 * streams), name="frame")
    if streams == 1:
        backbone = keras.Model(inp, net(inp), name="backbone")
    else:
        # two streams through the one backbone: the frame (appearance) and its difference (motion), as the
        # original LRCN paired RGB with optical flow; channels picked by fixed 1x1 convolutions (no Lambda)
        grids = []
        for k in range(streams):
            pick = layers.Conv2D(3, 1, use_bias=False, trainable=False, name=f"stream{k}")
            x = pick(inp)
            sel = np.zeros((1, 1, 3 * streams, 3), np.float32)
            sel[0, 0, 3 * k:3 * k + 3] = np.eye(3)
            pick.set_weights([sel])
            grids.append(net(x))
        backbone = keras.Model(inp, layers.Concatenate(name="streams")(grids), name="backbone")
    backbone.trainable = False
    neck = neck_model(cfg, backbone.output_shape[1:])
    return keras.Model(inp, neck(backbone(inp)), name=name)



def neck_model(cfg: LrcnConfig, grid_shape) -> keras.Model:
    """The trained part of the pretrained encoder: backbone grid (h, w, c) -> 1x1 conv -> flat features."""
    x = inp = keras.Input(tuple(grid_shape), name="grid")
    x = layers.Conv2D(cfg.neck_channels, 1, activation="relu", name="neck_conv")(x)
    x = layers.Flatten(name="features")(x)
    return keras.Model(inp, x, name="neck")


def build_encoder(cfg: LrcnConfig, name: str = "encoder", weights: bool = True) -> keras.Model:
    if cfg.encoder == "reference":
        return _reference_encoder(cfg, name)
    if cfg.encoder == "efficientnet":
        return _pretrained_encoder(cfg, name, weights)
    raise ValueError(f"unknown encoder {cfg.encoder!r}; encoders are {', '.join(ENCODERS)}")


def motion(x, frames: int, kind: str = "both"):
    """(T, D) -> (T, 2D): each feature and its change since the previous step (0 at the first step); with
    ``kind="delta"`` (T, D), the changes only.

    Built from stock layers only (no Lambda), so the model saves, loads and converts like any other."""
    first = layers.Cropping1D((0, frames - 1), name="motion_first")(x)
    prev = layers.Cropping1D((0, 1), name="motion_prev")(x)
    shifted = layers.Concatenate(axis=1, name="motion_shift")([first, prev])
    delta = layers.Subtract(name="motion_delta")([x, shifted])
    if kind == "delta":
        return delta
    return layers.Concatenate(axis=-1, name="motion_concat")([x, delta])


def temporal(cfg: LrcnConfig, x, n_labels: int, baseline: bool = False):
    """Features over time -> probabilities: [motion] -> dropout -> LSTM (or the mean over time) -> Dense."""
    if baseline:
        x = layers.GlobalAveragePooling1D(name="time_mean")(x)
    else:
        if cfg.motion != "none":
            x = motion(x, cfg.frames, cfg.motion)
        if cfg.encoder != "reference" and cfg.dropout:
            x = layers.Dropout(cfg.dropout, name="feature_dropout")(x)
        # use_cudnn=False: with a GPU visible, Keras would trace cuDNN ops that no TFLite converter accepts
        x = layers.LSTM(cfg.lstm_units, use_cudnn=False, name="lstm")(x)
    return layers.Dense(n_labels, activation="softmax", name="probs")(x)


def build_lrcn(cfg: LrcnConfig, weights: bool = True, baseline: bool = False) -> keras.Model:
    encoder = build_encoder(cfg, name="baseline_encoder" if baseline else "encoder", weights=weights)
    inp = keras.Input((cfg.frames, cfg.height, cfg.width, input_channels(cfg)), name="window")
    x = layers.TimeDistributed(encoder, name="td_encoder")(inp)
    out = temporal(cfg, x, len(cfg.labels), baseline)
    return keras.Model(inp, out, name="baseline" if baseline else "lrcn")


def build_baseline(cfg: LrcnConfig, weights: bool = True) -> keras.Model:
    """The same CNN with the LSTM replaced by averaging over time: sees frames, not motion."""
    return build_lrcn(cfg, weights, baseline=True)


def feature_model(model: keras.Model) -> keras.Model | None:
    """For a model with a frozen pretrained backbone: the same model from backbone grids ``(T, h, w, c)`` on, sharing
    its trainable layers, so training runs on grids computed once (docs/training.md). None for the reference."""
    encoder = model.get_layer("td_encoder").layer
    try:
        neck = encoder.get_layer("neck")
    except ValueError:
        return None
    frames = model.input_shape[1]
    inp = keras.Input((frames, *neck.input_shape[1:]), name="grids")
    x = layers.TimeDistributed(neck, name="td_neck")(inp)
    after = keras.Model(model.get_layer("td_encoder").output, model.output, name="after_encoder")
    out = after(x)
    return keras.Model(inp, out, name=model.name + "_on_grids")


def parts(model: keras.Model) -> tuple[keras.Model, keras.Model]:
    """The trained encoder sub-model and a head model ``(T, feature_dim) -> probs`` with the trained weights.

    The head's LSTM is the same LSTM unrolled over the T steps: the same arithmetic (outputs equal to 1e-7), but no
    WHILE loop in TFLite, so it runs ~2x faster on the CPU (0.14 against 0.30 ms here) and contains only ops a GPU
    delegate accepts. The monolithic reference keeps the trained layer as it is."""
    encoder = model.get_layer("td_encoder").layer
    frames = model.input_shape[1]
    feature_dim = encoder.output_shape[-1]
    trained = model.get_layer("lstm")
    x = feats = keras.Input((frames, feature_dim), name="features")
    names = {layer.name for layer in model.layers}
    if "motion_delta" in names:
        x = motion(x, frames, "both" if "motion_concat" in names else "delta")
    unrolled = layers.LSTM(trained.units, use_cudnn=False, unroll=True, name="lstm_unrolled")
    out = model.get_layer("probs")(unrolled(x))
    head = keras.Model(feats, out, name="head")
    unrolled.set_weights(trained.get_weights())
    return encoder, head


def compile_model(model: keras.Model, learning_rate: float = 1e-3) -> None:
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
