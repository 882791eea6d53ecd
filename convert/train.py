"""Training the LRCN (and the single-frame baseline) under a tf.distribute strategy.

Strategy: the default one on a single CPU/GPU; ``MirroredStrategy`` when several GPUs are visible; with ``TF_CONFIG``
set, ``MultiWorkerMirroredStrategy`` (every worker runs the same ``edge-lrcn train`` command on the same data folder;
see docs/training.md).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, replace

import numpy as np

from . import dataset as D
from .model import LrcnConfig, build_baseline, build_lrcn, compile_model

log = logging.getLogger(__name__)


@dataclass
class TrainOptions:
    epochs: int = 40
    patience: int = 8
    batch_size: int = 16
    windows_per_clip: int = 4
    eval_windows_per_clip: int = 3
    learning_rate: float = 1e-3
    seed: int = 0
    sampling: str = "stream"
    verbose: int = 1
    reverse_pairs: dict[int, int] | None = None  # label index -> label of the same window played backwards
    hflip: dict[int, int] | None = None  # label index -> label of the mirrored window (left-right)
    vflip: dict[int, int] | None = None  # label index -> label of the upside-down window
    checkpoint: str | None = None  # save the best weights here after every improving epoch
    init_from: str | None = None  # a trained .keras model whose weights start the training (fine-tuning)


def get_strategy():
    import tensorflow as tf

    if os.environ.get("TF_CONFIG"):
        log.info("TF_CONFIG is set: MultiWorkerMirroredStrategy")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        log.info("%d GPUs visible: MirroredStrategy", len(gpus))
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def _train_dataset(clips, cfg: LrcnConfig, opts: TrainOptions, strategy):
    """Windows re-drawn at random offsets every epoch (random temporal crops), read from the memory-mapped cache."""
    import tensorflow as tf

    rng = np.random.default_rng(opts.seed)
    per_clip = 1 if opts.sampling == "uniform" else opts.windows_per_clip
    reverse = opts.reverse_pairs or {}
    hflip, vflip = opts.hflip or {}, opts.vflip or {}

    def gen():
        index = [(ci, s) for ci, c in enumerate(clips)
                 for s in (D.window_starts(len(c.frames), cfg.frames, per_clip, rng)
                           if opts.sampling != "uniform" else [None])]
        for k in rng.permutation(len(index)):
            ci, s = index[k]
            clip = clips[ci]
            if s is None:
                x = clip.frames[D.uniform_indices(len(clip.frames), cfg.frames)]
            else:
                x = clip.frames[s:s + cfg.frames]
            y = clip.label
            if reverse and y in reverse and rng.random() < 0.5:
                x, y = x[::-1], reverse[y]
            if hflip and y in hflip and rng.random() < 0.5:
                x, y = np.asarray(x)[:, :, ::-1], hflip[y]
            if vflip and y in vflip and rng.random() < 0.5:
                x, y = np.asarray(x)[:, ::-1], vflip[y]
            yield D.to_float(np.ascontiguousarray(x)), y

    sig = (tf.TensorSpec((cfg.frames, cfg.height, cfg.width, 3), tf.float32), tf.TensorSpec((), tf.int64))
    # every clip is at least one window long (the loader drops shorter ones), so each epoch has this many windows;
    # declaring it lets Keras show progress and stops the "ran out of data" warning
    n_windows = len(clips) * per_clip
    ds = tf.data.Dataset.from_generator(gen, output_signature=sig)
    ds = ds.apply(tf.data.experimental.assert_cardinality(n_windows))
    global_batch = opts.batch_size * strategy.num_replicas_in_sync
    ds = ds.batch(global_batch).prefetch(2)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def train(build, cfg: LrcnConfig, train_clips, val_clips, opts: TrainOptions, strategy=None, name="lrcn"):
    """Train one model with early stopping on the validation loss; returns (model, history dict)."""
    import keras

    keras.utils.set_random_seed(opts.seed)
    strategy = strategy or get_strategy()
    with strategy.scope():
        model = build(cfg)
        if opts.init_from:
            _init_weights(model, opts.init_from)
        compile_model(model, opts.learning_rate)
    per_clip = 1 if opts.sampling == "uniform" else opts.eval_windows_per_clip
    xv, yv, _ = D.stack_windows(val_clips, cfg.frames, per_clip, opts.sampling)
    callbacks = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=opts.patience,
                                               restore_best_weights=True),
                 keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5,
                                                   patience=max(2, opts.patience // 3), min_lr=1e-5, verbose=0)]
    if opts.checkpoint:
        callbacks.append(keras.callbacks.ModelCheckpoint(opts.checkpoint, monitor="val_loss", save_best_only=True))
    log.info("training %s: %d train clips, %d validation windows, up to %d epochs", name, len(train_clips),
             len(xv), opts.epochs)
    hist = model.fit(_train_dataset(train_clips, cfg, opts, strategy), validation_data=(xv, yv),
                     epochs=opts.epochs, callbacks=callbacks, verbose=opts.verbose, shuffle=False)
    return model, {k: [float(v) for v in vals] for k, vals in hist.history.items()}


def _init_weights(model, path: str) -> None:
    """Start from a trained model's weights, layer by layer; a model of another shape is a usage error."""
    import keras

    from edge_lrcn.errors import UsageError

    try:
        src = keras.models.load_model(path, compile=False)
    except Exception as exc:
        raise UsageError(f"--init-from {path}: cannot load it ({str(exc).splitlines()[0]})") from None
    try:
        model.set_weights(src.get_weights())
    except ValueError as exc:
        raise UsageError(f"--init-from {path}: its layers do not match this model (same frames, size, filters, "
                         f"pools, LSTM units and number of labels are needed): {str(exc).splitlines()[0]}") from None
    log.info("starting from the weights of %s", path)


def parse_pairs(text: str | None, labels: list[str], flag: str, all_labels: bool = False) -> dict[int, int] | None:
    """``a:b,c:c`` -> {a: b, b: a, c: c} by label index; unknown labels are a usage error.

    With ``all_labels`` (flips) every label not named maps to itself: mirroring keeps most actions what they are;
    an empty ``text`` then means "flip everything, keep every label"."""
    from edge_lrcn.errors import UsageError

    if text is None:
        return None
    out: dict[int, int] = {i: i for i in range(len(labels))} if all_labels else {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        a, sep, b = part.partition(":")
        if not sep or a not in labels or b not in labels:
            raise UsageError(f"{flag}: {part!r} must be LABEL:LABEL with labels of the data ({', '.join(labels)})")
        out[labels.index(a)], out[labels.index(b)] = labels.index(b), labels.index(a)
    return out or None


def resolve_pairs(opts: TrainOptions, labels: list[str]) -> None:
    """Turn the command line's pair strings into label-index maps, once the labels are known."""
    if isinstance(opts.reverse_pairs, str):
        opts.reverse_pairs = parse_pairs(opts.reverse_pairs, labels, "--reverse-pairs")
    if isinstance(opts.hflip, str):
        opts.hflip = parse_pairs(opts.hflip, labels, "--hflip", all_labels=True)
    if isinstance(opts.vflip, str):
        opts.vflip = parse_pairs(opts.vflip, labels, "--vflip", all_labels=True)


def train_lrcn(cfg, train_clips, val_clips, opts, strategy=None):
    return train(build_lrcn, cfg, train_clips, val_clips, opts, strategy, "LRCN")


def train_baseline(cfg, train_clips, val_clips, opts, strategy=None):
    """The single-frame baseline, trained like the LRCN but from scratch and without a checkpoint (``init_from``
    and ``checkpoint`` name LRCN files)."""
    opts = replace(opts, init_from=None, checkpoint=None)
    return train(build_baseline, cfg, train_clips, val_clips, opts, strategy, "single-frame baseline")


def save_sidecar(path, cfg: LrcnConfig, opts: TrainOptions, fps: float, history: dict) -> None:
    """Labels, window and split seed beside a saved .keras model, so ``convert --keras-model`` can reuse them."""
    with open(str(path) + ".json", "w") as f:
        json.dump({"config": cfg.to_dict(), "fps": fps, "seed": opts.seed, "sampling": opts.sampling,
                   "history": history}, f, indent=2)
