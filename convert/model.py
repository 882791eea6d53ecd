"""The Keras LRCN (the classic tutorial model) built as ``TimeDistributed(encoder) -> LSTM -> Dense``.

The per-frame encoder is one sub-model, so it trains fast and exports on its own; the head (LSTM + Dense) reuses the
trained layers over ``(T, feature_dim)`` features. Imported only by the host-side commands.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import keras
from keras import layers


@dataclass
class LrcnConfig:
    frames: int = 20
    height: int = 64
    width: int = 64
    filters: tuple[int, ...] = (16, 32, 64, 64)
    pools: tuple[int, ...] = (4, 4, 2, 2)
    dropout: float = 0.25
    lstm_units: int = 32
    labels: list[str] = field(default_factory=list)

    def to_dict(self):
        d = asdict(self)
        d["filters"], d["pools"] = list(self.filters), list(self.pools)
        return d


def build_encoder(cfg: LrcnConfig, name: str = "encoder") -> keras.Model:
    """Conv2D(3x3, relu, same) + MaxPool per stage, dropout after every stage but the last, Flatten."""
    if len(cfg.filters) != len(cfg.pools):
        raise ValueError("filters and pools need the same length")
    x = inp = keras.Input((cfg.height, cfg.width, 3), name="frame")
    for i, (f, p) in enumerate(zip(cfg.filters, cfg.pools)):
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv{i + 1}")(x)
        x = layers.MaxPooling2D(p, name=f"pool{i + 1}")(x)
        if i < len(cfg.filters) - 1 and cfg.dropout:
            x = layers.Dropout(cfg.dropout, name=f"dropout{i + 1}")(x)
    x = layers.Flatten(name="features")(x)
    return keras.Model(inp, x, name=name)


def build_lrcn(cfg: LrcnConfig) -> keras.Model:
    encoder = build_encoder(cfg)
    inp = keras.Input((cfg.frames, cfg.height, cfg.width, 3), name="window")
    x = layers.TimeDistributed(encoder, name="td_encoder")(inp)
    # use_cudnn=False: with a GPU visible, Keras would trace cuDNN ops that no TFLite converter accepts
    x = layers.LSTM(cfg.lstm_units, use_cudnn=False, name="lstm")(x)
    out = layers.Dense(len(cfg.labels), activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name="lrcn")


def build_baseline(cfg: LrcnConfig) -> keras.Model:
    """The same CNN with the LSTM replaced by averaging over time: sees frames, not motion."""
    encoder = build_encoder(cfg, name="baseline_encoder")
    inp = keras.Input((cfg.frames, cfg.height, cfg.width, 3), name="window")
    x = layers.TimeDistributed(encoder, name="td_encoder")(inp)
    x = layers.GlobalAveragePooling1D(name="time_mean")(x)
    out = layers.Dense(len(cfg.labels), activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name="baseline")


def parts(model: keras.Model) -> tuple[keras.Model, keras.Model]:
    """The trained encoder sub-model and a head model ``(T, feature_dim) -> probs`` with the trained LSTM/Dense weights.

    The head's LSTM is the same LSTM unrolled over the T steps: the same arithmetic (outputs equal to 1e-7), but no
    WHILE loop in TFLite, so it runs ~2x faster on the CPU (0.14 against 0.30 ms here) and contains only ops a GPU
    delegate accepts. The monolithic reference keeps the trained layer as it is."""
    encoder = model.get_layer("td_encoder").layer
    frames = model.input_shape[1]
    feature_dim = encoder.output_shape[-1]
    trained = model.get_layer("lstm")
    feats = keras.Input((frames, feature_dim), name="features")
    unrolled = layers.LSTM(trained.units, use_cudnn=False, unroll=True, name="lstm_unrolled")
    out = model.get_layer("probs")(unrolled(feats))
    head = keras.Model(feats, out, name="head")
    unrolled.set_weights(trained.get_weights())
    return encoder, head


def compile_model(model: keras.Model, learning_rate: float = 1e-3) -> None:
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
