"""Training the LRCN (and the single-frame baseline) under a tf.distribute strategy.

Strategy: the default one on a single CPU/GPU; ``MirroredStrategy`` when several GPUs are visible; with ``TF_CONFIG``
set, ``MultiWorkerMirroredStrategy`` (every worker runs the same ``edge-lrcn train`` command on the same data folder;
see docs/training.md).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from . import dataset as D
from .model import build_baseline, build_lrcn, compile_model, frozen_encoder, member_models, members
from .options import LrcnConfig, TrainOptions, transform_of

log = logging.getLogger(__name__)
INT8_SHARE = 0.5  # share of training windows cut from the int8 encoder's features (when there are some)


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


def is_chief() -> bool:
    """Whether this process writes the artefacts: no ``TF_CONFIG``, its task is the chief, or it is worker 0 of a
    cluster without a chief. Under ``MultiWorkerMirroredStrategy`` every worker runs the same steps (saving
    included), but only the chief's files are kept: the others write to a temporary folder they delete."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return True
    try:
        tf_config = json.loads(raw)
    except ValueError:
        return True  # get_strategy() reports a malformed TF_CONFIG
    task = tf_config.get("task") or {}
    kind, index = task.get("type", "worker"), int(task.get("index", 0))
    return kind == "chief" or (kind == "worker" and index == 0 and not (tf_config.get("cluster") or {}).get("chief"))


def _flip(x, h: bool, v: bool):
    if h:
        x = x[:, :, ::-1]
    if v:
        x = x[:, ::-1]
    return x


def early_window(x: np.ndarray, rest: np.ndarray, rng: np.random.Generator,
                 short: np.ndarray | None = None) -> np.ndarray:
    """A window as the daemon classifies it k inputs after a restart: the rest input's features (what the
    classifier's window is prefilled with, classify/classifier.py) then the first k features of ``x`` (1 <= k < T),
    keeping its label: the head learns to name the newest activity after a few frames of it. With ``short`` (the
    features of the restart's short-lag inputs, manifest ``window.short_lags``) the inputs are ``short`` then ``x``,
    as the daemon feeds them, and k runs to T + len(short) - 1 (the last windows that still hold a short lag)."""
    seq = x if short is None else np.concatenate([np.asarray(short, np.float32), x])
    k = int(rng.integers(1, len(seq)))
    t = len(x)
    if k >= t:
        return seq[k - t:k]
    return np.concatenate([np.broadcast_to(rest.astype(np.float32), (t - k, *x.shape[1:])), seq[:k]])


def straddle_window(x: np.ndarray, older: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A window that straddles a change of activity inside one scene (no cut, so the daemon's window goes on): the
    last T - k features of ``older`` (another clip's window) then the first k of ``x`` (1 <= k < T), keeping the
    label of ``x``, the newest activity. Differences cancel the background, so two clips' features follow each other
    as one scene's would."""
    k = int(rng.integers(1, len(x)))
    return np.concatenate([older[k:], x[:k]])


def restarted_window(x: np.ndarray, rest: np.ndarray, rng: np.random.Generator, opts: TrainOptions,
                     grids=None, short: np.ndarray | None = None) -> np.ndarray:
    """An early window (share ``opts.early_windows``; with ``short``, the restart's short-lag features first), a
    straddling one (share ``opts.straddle_windows``, its older part cut from the frozen encoder's features of a random
    training clip), or ``x`` as it is."""
    u = rng.random()
    if u < opts.early_windows:
        return early_window(x, rest, rng, short)
    if grids is None or u >= opts.early_windows + opts.straddle_windows:
        return x
    other = grids[int(rng.integers(len(grids)))][(False, False)]
    s = int(rng.integers(0, len(other) - len(x) + 1))
    return straddle_window(x, np.asarray(other[s:s + len(x)], np.float32), rng)


def rest_features(features, cfg: LrcnConfig) -> np.ndarray:
    """The frozen encoder's features of the rest input: a difference where nothing changed (uniform 128)."""
    rest = np.full((1, cfg.height, cfg.width, 3), 128, np.uint8)
    return features(D.to_float(rest))[0].astype(np.float16)


def _train_dataset(clips, cfg: LrcnConfig, opts: TrainOptions, strategy, grids=None, rest=None):
    """Windows re-drawn at random offsets every epoch (random temporal crops), read from the memory-mapped cache.

    With ``grids`` (a frozen pretrained backbone) the windows are cut from each clip's precomputed backbone grids
    instead of its frames; ``grids[i][(h, v)]`` holds the grids of the clip mirrored that way. With ``rest`` (the
    encoder's features of the rest input per variant key, a model fed differences) a share ``early_windows`` of them
    are early windows (:func:`early_window`)."""
    import tensorflow as tf

    rng = np.random.default_rng(opts.seed)
    per_clip = 1 if opts.sampling == "uniform" else opts.windows_per_clip
    reverse = opts.reverse_pairs or {}
    hflip, vflip = opts.hflip or {}, opts.vflip or {}

    def gen():
        index = [(ci, s) for ci, c in enumerate(clips)
                 for s in (D.clip_starts(c, cfg.frames, per_clip, rng)
                           if opts.sampling != "uniform" else [None])]
        for k in rng.permutation(len(index)):
            ci, s = index[k]
            clip = clips[ci]
            idx = (D.uniform_indices(len(clip.frames), cfg.frames) if s is None
                   else slice(s, s + cfg.frames))
            y = clip.label
            back = bool(reverse and y in reverse and rng.random() < 0.5)
            if back:
                y = reverse[y]
            h = bool(hflip and y in hflip and rng.random() < 0.5)
            if h:
                y = hflip[y]
            v = bool(vflip and y in vflip and rng.random() < 0.5)
            if v:
                y = vflip[y]
            if grids is not None:
                # the int8 encoder's features half of the time when there are some: the head learns from what the
                # device will compute, and from the float features the reference model sees
                q = ("int8",) if ("int8", h, v) in grids[ci] and rng.random() < INT8_SHARE else ()
                x = np.asarray(grids[ci][q + (h, v)][idx], np.float32)
            else:
                x = D.to_float(np.ascontiguousarray(_flip(np.asarray(clip.frames[idx]), h, v)))
            x = x[::-1].copy() if back else x
            if rest is not None:
                early = grids[ci].get(q + (h, v, "short")) if grids is not None and s is not None else None
                short = None if back or early is None else early[s]  # a reversed window has no restart at s
                x = restarted_window(x, rest[q], rng, opts, grids, short)
            yield x, y

    shape = (cfg.frames, *(clips[0].frames.shape[1:] if grids is None else grids[0][(False, False)].shape[1:]))
    sig = (tf.TensorSpec(shape, tf.float32), tf.TensorSpec((), tf.int64))
    # every clip is at least one window long (the loader drops shorter ones), so each epoch has this many windows;
    # declaring it lets Keras show progress and stops the "ran out of data" warning
    n_windows = sum(D.window_count(c, cfg.frames, per_clip) if opts.sampling != "uniform" else 1 for c in clips)
    ds = tf.data.Dataset.from_generator(gen, output_signature=sig)
    ds = ds.apply(tf.data.experimental.assert_cardinality(n_windows))
    global_batch = opts.batch_size * strategy.num_replicas_in_sync
    ds = ds.batch(global_batch).prefetch(2)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def keras_features(encoder, batch: int = 256):
    """A batch function running a Keras per-frame encoder: float32 (N, H, W, C) -> (N, D)."""
    import tensorflow as tf

    fn = tf.function(lambda x: encoder(x, training=False), reduce_retracing=True)
    return lambda frames: np.concatenate([fn(frames[i:i + batch]).numpy() for i in range(0, len(frames), batch)])


def tflite_features(encoder_bytes: bytes):
    """The same for a TFLite encoder through the device's interpreter (one frame per call, as the daemon runs it)."""
    from edge_lrcn.model.interpreter import Encoder, make_interpreter

    enc = Encoder(make_interpreter(encoder_bytes, what="int8 encoder"), "encoder_int8.tflite", "cpu")
    return lambda frames: np.stack([enc(f) for f in frames])


def compute_grids(features, clips, flips=((False, False),), key=(), short: bool = False):
    """Each clip's frames through a frozen encoder, once: ``clip.grids[key + (h, v)]`` = float16 (N, D).

    ``features`` is a batch function (:func:`keras_features`, :func:`tflite_features`); ``key`` tells variants
    apart (``("int8",)`` for the quantized encoder's features). Clips already holding a variant are skipped. With
    ``short``, a clip's short-lag inputs (``clip.early``) too: ``clip.grids[key + (h, v, "short")]`` = (N, lag - 1,
    D), the features of a restart at each frame (:func:`early_window`)."""
    for flip in flips:
        todo = [c for c in clips if c.grids is None or key + flip not in c.grids]
        for start in range(0, len(todo), 16):
            group = todo[start:start + 16]
            frames = np.concatenate([_flip(np.asarray(c.frames), *flip) for c in group])
            res = features(D.to_float(frames)).astype(np.float16)
            k = 0
            for c in group:
                if c.grids is None:
                    c.grids = {}  # shared by the LRCN and the baseline, which use the same frozen encoder
                c.grids[key + flip] = res[k:k + len(c.frames)]
                k += len(c.frames)
        if short:
            for c in clips:
                if c.early is None or not c.early.size or key + flip + ("short",) in (c.grids or {}):
                    continue
                early = np.asarray(c.early)
                flat = _flip(early.reshape(-1, *early.shape[2:]), *flip)
                assert c.grids is not None  # filled above
                c.grids[key + flip + ("short",)] = features(D.to_float(flat)).astype(np.float16).reshape(
                    early.shape[0], early.shape[1], -1)
    return [c.grids for c in clips]


def _flips(opts: TrainOptions):
    hs = (False, True) if opts.hflip else (False,)
    vs = (False, True) if opts.vflip else (False,)
    return tuple((h, v) for h in hs for v in vs)


def train(build, cfg: LrcnConfig, train_clips, val_clips, opts: TrainOptions, strategy=None, name="lrcn",
          quantize=None):
    """Train one model with early stopping on the validation loss; returns (model, history dict).

    A model whose encoder is frozen (the pretrained one) trains from the encoder's features, computed once per clip
    (and per flip), instead of running the encoder on every window of every epoch: the same model, far less work.
    ``quantize(encoder) -> int8 TFLite bytes`` (given by ``convert``) quantizes that encoder first; the head then
    also trains on the int8 encoder's features and is validated on them, so the int8 model on the device is what
    training chose. An ensemble (``cfg.heads`` > 1, frozen encoder only) trains its heads one after another, head k
    with seed ``seed + k`` (initial weights, dropout, crops, flips and their order) and its own early stopping; the
    history is the first head's, with ``heads`` summarising each."""
    import keras

    keras.utils.set_random_seed(opts.seed)
    strategy = strategy or get_strategy()
    with strategy.scope():
        model = build(cfg)
        if opts.init_from:
            _init_weights(model, opts.init_from)
        frozen = frozen_encoder(model)
        if frozen is None and len(members(model)) > 1:
            from edge_lrcn.errors import UsageError

            raise UsageError("--heads above 1 needs a frozen encoder (--encoder efficientnet): the reference encoder "
                             "trains with its head")
        heads = member_models(model) if frozen is not None else [model]
        for head in heads:
            compile_model(head, opts.learning_rate)
    per_clip = 1 if opts.sampling == "uniform" else opts.eval_windows_per_clip
    grids = rest = None
    if frozen is not None:
        log.info("computing the frozen encoder's features of %d clips once", len(train_clips) + len(val_clips))
        fns = [((), keras_features(frozen))]
        if quantize is not None:
            fns.append((("int8",), tflite_features(quantize(frozen))))
        short = transform_of(cfg) == "difference" and opts.early_windows > 0 and cfg.lag >= 2
        for key, fn in fns:
            grids = compute_grids(fn, train_clips, _flips(opts), key, short=short)
            compute_grids(fn, val_clips, key=key)
        if transform_of(cfg) == "difference" and (opts.early_windows > 0 or opts.straddle_windows > 0):
            rest = {key: rest_features(fn, cfg) for key, fn in fns}
        val_key = fns[-1][0] + (False, False)  # validated on what the device will compute
        xv, yv, _ = D.stack_windows(val_clips, cfg.frames, per_clip, opts.sampling,
                                    [c.grids[val_key] for c in val_clips], lambda a: a.astype(np.float32))
    else:
        xv, yv, _ = D.stack_windows(val_clips, cfg.frames, per_clip, opts.sampling)
    histories = []
    for k, head in enumerate(heads):
        what = name if len(heads) == 1 else f"{name} head {k + 1} of {len(heads)}"
        head_opts = opts if k == 0 else replace(opts, seed=opts.seed + k)
        if k:
            keras.utils.set_random_seed(head_opts.seed)
        histories.append(_fit(model, head, what, train_clips, xv, yv, cfg, head_opts, strategy, (grids, rest)))
    history = histories[0]
    if len(histories) > 1:
        history["heads"] = [{"seed": opts.seed + k, "epochs": len(h["loss"]), "best_val_loss": min(h["val_loss"]),
                             "val_accuracy": h["val_accuracy"][int(np.argmin(h["val_loss"]))]}
                            for k, h in enumerate(histories)]
    return model, history


def _fit(model, head, what: str, train_clips, xv, yv, cfg: LrcnConfig, opts: TrainOptions, strategy, inputs) -> dict:
    """``inputs``: (grids, rest) of a frozen encoder (see :func:`_train_dataset`), or (None, None)."""
    import keras

    callbacks = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=opts.patience,
                                               restore_best_weights=True),
                 keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5,
                                                   patience=max(2, opts.patience // 3), min_lr=1e-5, verbose=0)]
    if opts.checkpoint:
        callbacks.append(_Checkpoint(model, opts.checkpoint))
    if opts.verbose == 1:
        callbacks.append(_EpochLine(what, opts.epochs))
    log.info("training %s: %d train clips, %d validation windows, up to %d epochs", what, len(train_clips),
             len(xv), opts.epochs)
    _build_for_workers(head, xv[:1], yv[:1], strategy)
    hist = head.fit(_train_dataset(train_clips, cfg, opts, strategy, *inputs), validation_data=(xv, yv),
                    epochs=opts.epochs, callbacks=callbacks, verbose=2 if opts.verbose >= 2 else 0, shuffle=False)
    return {k: [float(v) for v in vals] for k, vals in hist.history.items()}


class _EpochLine:
    """One progress line per head on a terminal (epochs, the validation loss and accuracy), in place of Keras's
    line per epoch (those with ``--debug``)."""

    def __new__(cls, what: str, epochs: int):
        import keras

        from edge_lrcn.progress import Progress

        class EpochLine(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.bar = Progress(epochs, f"training {what}", unit="epoch")

            def on_epoch_end(self, epoch, logs=None):
                logs = logs or {}
                self.bar.postfix(**{k: f"{logs[k]:.3f}" for k in ("val_loss", "val_accuracy") if k in logs})
                self.bar.update()

            def on_train_end(self, logs=None):
                self.bar.close()

        return EpochLine()


def _build_for_workers(model, x, y, strategy) -> None:
    """Work around two Keras 3 bugs under ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585; seen with
    Keras 3.15, TF 2.21), both from ``strategy.reduce`` calls that cannot work there:

    - ``fit``/``evaluate`` build the model's state from the first batch reduced over the workers, and ``reduce``
      cannot take an (x, y) pair ("unsupported type PerReplica"): build it here from a local batch of the same
      shapes, under the strategy's scope (so the variables are distributed), and skip Keras's own build;
    - every step reduces its scalar logs (loss, metrics) with ``reduce("MEAN", v, axis=0)``, which fails on a
      scalar ("Invalid reduction dimension 0"): scalars are reduced with ``axis=None`` (the mean over replicas).
    """
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer as tf_trainer

    with strategy.scope():
        model._symbolic_build(data_batch=(x, y))
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None

    original = getattr(tf_trainer.reduce_per_replica, "__wrapped__", tf_trainer.reduce_per_replica)

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            def mean(v):
                rank = (v.values[0] if isinstance(v, tf.distribute.DistributedValues) else v).shape.rank
                return strategy.reduce("MEAN", v, axis=None if rank == 0 else 0)

            return tree.map_structure(mean, values)
        return original(values, strategy, reduction)

    reduce_per_replica.__wrapped__ = original
    tf_trainer.reduce_per_replica = reduce_per_replica


class _Checkpoint:
    """Save the whole model (not the grid model being fitted) after every epoch that improves the validation loss.

    Every worker of a multi-worker run saves (the validation loss is the same on all of them), but only the chief
    to ``path``: the others to a temporary folder, deleted when training ends."""

    def __new__(cls, model, path):
        import keras

        class Checkpoint(keras.callbacks.Callback):
            best = float("inf")
            tmp = None

            def target(self) -> Path:
                if is_chief():
                    return Path(path)
                if self.tmp is None:
                    self.tmp = tempfile.mkdtemp(prefix="edge-lrcn-worker-")
                return Path(self.tmp) / Path(path).name

            def on_epoch_end(self, epoch, logs=None):
                loss = (logs or {}).get("val_loss")
                if loss is not None and loss < self.best:
                    self.best = loss
                    target = self.target()
                    target.parent.mkdir(parents=True, exist_ok=True)
                    model.save(target)

            def on_train_end(self, logs=None):
                if self.tmp is not None:
                    shutil.rmtree(self.tmp, ignore_errors=True)

        return Checkpoint()


def _init_weights(model, path: str) -> None:
    """Start from a trained model's weights, layer by layer (fine-tuning, or new labels on a trained model).

    Every layer whose name and weight shapes match is copied; the output layer of a model trained on other labels
    stays fresh (new activities on top of a trained encoder and LSTM). A model whose encoder does not fit is a
    usage error."""
    import keras

    from edge_lrcn.errors import UsageError

    try:
        src = keras.models.load_model(path, compile=False)
    except Exception as exc:
        raise UsageError(f"--init-from {path}: cannot load it ({str(exc).splitlines()[0]})") from None

    def weighted(m):
        out = {}
        for layer in m.layers:
            inner = getattr(layer, "layer", None) or layer  # TimeDistributed -> the wrapped encoder
            if hasattr(inner, "layers"):
                out.update({f"{layer.name}/{k}": v for k, v in weighted(inner).items()})
            elif layer.weights:
                out[layer.name] = layer
        return out

    mine, theirs = weighted(model), weighted(src)
    copied, fresh = [], []
    for name, layer in mine.items():
        # an ensemble's k-th head (lstm_k, probs_k, ...) starts from the k-th head of an ensemble, else from the head
        # of a one-head model (each head then trains on its own seed)
        other = theirs.get(name)
        if other is None and not name.startswith("td_encoder/"):
            other = theirs.get(re.sub(r"_\d+$", "", name))
        if other is not None and [w.shape for w in other.get_weights()] == [w.shape for w in layer.get_weights()]:
            layer.set_weights(other.get_weights())
            copied.append(name)
        else:
            fresh.append(name)
    if not any(n.startswith("td_encoder/") for n in copied) or any(n.startswith("td_encoder/") for n in fresh):
        raise UsageError(f"--init-from {path}: its encoder does not match this model's (same --encoder, frames, "
                         f"size and encoder settings are needed); layers that differ: "
                         f"{', '.join(n for n in fresh if n.startswith('td_encoder/')) or 'all'}")
    log.info("starting from the weights of %s (%d layers copied%s)", path, len(copied),
             f"; trained afresh: {', '.join(fresh)}" if fresh else "")


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


# words whose meaning a left-right mirror swaps; a label naming one is mirrored into the label naming the other
MIRROR_WORDS = {"left": "right", "right": "left", "clockwise": "counterclockwise", "counterclockwise": "clockwise"}
_SYNONYMS = {"anticlockwise": "counterclockwise", "cw": "clockwise", "ccw": "counterclockwise"}


def _words(label: str) -> tuple[str, ...]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", label).lower()
    return tuple(_SYNONYMS.get(w, w) for w in re.split(r"[^a-z0-9]+", spaced) if w)


def mirror_pairs(labels: list[str]) -> tuple[dict[int, int] | None, str]:
    """``--hflip auto``: mirror every window, each label kept except those naming a side or a turning direction,
    which swap with the label that names the other (``turn_left``/``turn_right``, ``Swiping Left``/``Swiping
    Right``, ``rotate_cw``/``rotate_ccw``). A label naming one with no such counterpart turns mirroring off: its
    mirrored clips would carry a wrong label. -> (label map or None, what was decided, for the log and report)."""
    words = [_words(label) for label in labels]
    out, swapped = {}, []
    for i, w in enumerate(words):
        if not any(x in MIRROR_WORDS for x in w):
            out[i] = i
            continue
        mirrored = tuple(MIRROR_WORDS.get(x, x) for x in w)
        if mirrored not in words:
            return None, (f"off: the label {labels[i]!r} names a side or a turning direction and no label is its "
                          f"mirror image (give pairs with --hflip A:B,... or --hflip none to silence this)")
        out[i] = words.index(mirrored)
        if i < out[i]:
            swapped.append(f"{labels[i]}:{labels[out[i]]}")
    return out, "on, labels kept" + (f" except {', '.join(swapped)} (swapped)" if swapped else "")


def resolve_pairs(opts: TrainOptions, labels: list[str]) -> None:
    """Turn the command line's pair strings into label-index maps, once the labels are known."""
    if isinstance(opts.reverse_pairs, str):
        opts.reverse_pairs = parse_pairs(opts.reverse_pairs, labels, "--reverse-pairs")
    if opts.hflip == "none":
        opts.hflip = None
    elif opts.hflip == "auto":
        opts.hflip, decided = mirror_pairs(labels)
        (log.info if opts.hflip else log.warning)("mirroring the training windows (--hflip auto): %s", decided)
    if isinstance(opts.hflip, str):
        opts.hflip = parse_pairs(opts.hflip, labels, "--hflip", all_labels=True)
    if isinstance(opts.vflip, str):
        opts.vflip = parse_pairs(opts.vflip, labels, "--vflip", all_labels=True)


def train_lrcn(cfg, train_clips, val_clips, opts, strategy=None, quantize=None):
    return train(build_lrcn, cfg, train_clips, val_clips, opts, strategy, "LRCN", quantize)


def train_baseline(cfg, train_clips, val_clips, opts, strategy=None, quantize=None):
    """The single-frame baseline, trained like the LRCN but from scratch and without a checkpoint (``init_from``
    and ``checkpoint`` name LRCN files)."""
    opts = replace(opts, init_from=None, checkpoint=None)
    return train(build_baseline, cfg, train_clips, val_clips, opts, strategy, "single-frame baseline", quantize)


def save_sidecar(path, cfg: LrcnConfig, opts: TrainOptions, fps: float, history: dict) -> None:
    """Labels, window and split seed beside a saved .keras model, so ``convert --keras-model`` can reuse them."""
    with open(str(path) + ".json", "w") as f:
        json.dump({"config": cfg.to_dict(), "fps": fps, "seed": opts.seed, "sampling": opts.sampling,
                   "history": history}, f, indent=2)
