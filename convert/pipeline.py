"""``edge-lrcn train`` and ``edge-lrcn convert``: the whole host pipeline in one command."""

from __future__ import annotations

import json
import logging
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from edge_lrcn import __version__
from edge_lrcn.classify.preprocess import SCALE
from edge_lrcn.classify.window import classify_windows
from edge_lrcn.errors import DatasetError, EdgeLrcnError, UsageError
from edge_lrcn.model.bundle import read_bundle_bytes, write_bundle
from edge_lrcn.model.interpreter import Encoder, Head, make_interpreter, runtime_name
from edge_lrcn.plots import plot_confusion, plot_curves
from edge_lrcn.progress import Progress

from . import crossval, gate
from . import dataset as D
from . import groups as G
from .options import ConvertOptions, LrcnConfig, TrainOptions, transform_of
from .train import get_strategy, is_chief, resolve_pairs, save_sidecar, train_baseline, train_lrcn

log = logging.getLogger(__name__)


class DegradedModel(EdgeLrcnError):
    """The model failed the quality gate (convert/gate.py): exit 1, no bundle; --allow-degraded writes it anyway."""


def _load(opts: ConvertOptions):
    cfg = opts.cfg
    fps = None if opts.train.sampling == "uniform" else opts.fps
    if opts.train.sampling == "uniform":
        log.warning("--sampling uniform spreads %d frames over each whole clip (the tutorial's way): a live stream "
                    "sees %d frames at %g fps, so this model will not match what the daemon feeds it",
                    cfg.frames, cfg.frames, opts.fps)
    ds = D.load(opts.data, cfg.height, cfg.width, fps, cfg.frames, opts.cache_dir, transform=transform_of(cfg),
                lag=cfg.lag, gain=cfg.gain, groups_file=opts.groups)
    log.info("dataset: %s", ds.summary())
    for path, why in ds.skipped:
        log.info("  skipped %s: %s", path, why)
    return ds


def _split(opts: ConvertOptions, ds):
    train, val, test = G.split(ds.clips, opts.val_split, opts.test_split, opts.train.seed)
    if not train or not val or not test:
        raise DatasetError(f"{opts.data}: too few clips (or groups) to split into train/validation/test "
                           f"({len(train)}/{len(val)}/{len(test)}); give each class at least 3 clips")
    log.info("split by %s: %d train, %d validation, %d test", "group" if G.grouped(ds.clips) else "clip",
             len(train), len(val), len(test))
    return train, val, test


def _load_split(opts: ConvertOptions):
    ds = _load(opts)
    return (ds, *_split(opts, ds))


def _plan(opts: ConvertOptions, ds) -> G.Plan:
    """How accuracy will be estimated; a dataset that cannot pass the gate is refused here, before any training
    (``--allow-degraded``: a warning)."""
    plan = G.plan(ds.clips, ds.labels, opts.test_split, opts.max_p_value, opts.train.seed, opts.estimate)
    if plan.method != "holdout" and (opts.keras_model or opts.cfg.encoder == "reference"):
        why = "--keras-model was trained already" if opts.keras_model else "the reference encoder trains with its head"
        log.warning("%s: accuracy is estimated on a held-out test split, not by cross-validation", why)
        plan = G.plan(ds.clips, ds.labels, opts.test_split, opts.max_p_value, opts.train.seed, "holdout")
    if plan.problems:
        msg = (f"{opts.data} cannot pass the quality gate: " + "; ".join(plan.problems)
               + (f"; {plan.advice}" if plan.advice else ""))
        if not opts.allow_degraded:
            raise DatasetError(msg + " (--allow-degraded trains anyway)")
        log.warning("%s", msg)
    elif plan.advice:
        log.warning("a small dataset: %s", plan.advice)
    log.info("accuracy estimate: %s", plan.describe())
    return plan


def _cfg_for(opts: ConvertOptions, labels: list[str]) -> LrcnConfig:
    opts.cfg.labels = list(labels)
    resolve_pairs(opts.train, labels)
    return opts.cfg


def train_command(opts: ConvertOptions) -> Path:
    """Train only; save the Keras model (``--out model.keras``) with a JSON sidecar and the curves PNG."""
    ds, train, val, _ = _load_split(opts)
    cfg = _cfg_for(opts, ds.labels)
    model, history = train_lrcn(cfg, train, val, opts.train, quantize=Quantizer(train, cfg, opts))
    out = opts.out if opts.out.suffix == ".keras" else opts.out.with_suffix(".keras")
    if not is_chief():
        # MultiWorkerMirroredStrategy: every worker saves (the same steps everywhere), only the chief's files stay
        with tempfile.TemporaryDirectory(prefix="edge-lrcn-worker-") as tmp:
            model.save(Path(tmp) / out.name)
        task = json.loads(os.environ["TF_CONFIG"])["task"]
        print(f"{task.get('type', 'worker')} {task.get('index', 0)} done: only the chief writes the model")
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    save_sidecar(out, cfg, opts.train, opts.fps, history)
    if opts.plots:
        plot_curves(history, None, out.with_name(out.stem + "_training.png"))
    print(f"keras model: {out}")
    return out


def _config_from_sidecar(opts: ConvertOptions) -> None:
    """``--keras-model``: the model's own settings (encoder, input transform, head) from its JSON sidecar win over the
    flags, since the data must be read the way the model was trained. A sidecar written before a setting existed
    means the reference model's value (the only model there was)."""
    sidecar = Path(str(opts.keras_model) + ".json")
    if not sidecar.exists():
        log.warning("%s has no .json sidecar: reading the data with the flags' model settings (encoder %s, input %s)",
                    opts.keras_model, opts.cfg.encoder, opts.cfg.input)
        return
    saved = json.loads(sidecar.read_text()).get("config", {})
    for key, old in LrcnConfig.reference().to_dict().items():
        if key != "labels":
            value = saved.get(key, old)
            setattr(opts.cfg, key, tuple(value) if isinstance(value, list) else value)


def _load_keras(opts: ConvertOptions, labels: list[str]):
    import keras

    path = opts.keras_model
    if not path.exists():
        raise UsageError(f"--keras-model {path} not found")
    sidecar = Path(str(path) + ".json")
    history = {}
    if sidecar.exists():
        meta = json.loads(sidecar.read_text())
        history = meta.get("history", {})
        if meta["config"]["labels"] != labels:
            raise UsageError(f"{path} was trained on labels {meta['config']['labels']}, the data has {labels}")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:
        raise UsageError(f"cannot load Keras model {path}: {str(exc).splitlines()[0]}") from None
    try:
        model.get_layer("td_encoder"), model.get_layer("lstm"), model.get_layer("probs")
    except ValueError:
        raise UsageError(f"{path} is not an edge-lrcn LRCN (needs layers td_encoder, lstm, probs)") from None
    from .model import members

    shape = model.input_shape
    c = opts.cfg
    c.frames, c.height, c.width = shape[1], shape[2], shape[3]
    c.heads = len(members(model))
    if model.output_shape[-1] != len(labels):
        raise UsageError(f"{path} has {model.output_shape[-1]} outputs, the data has {len(labels)} classes")
    return model, history


def _representative(train, cfg: LrcnConfig, count: int, seed: int):
    """Calibration frames drawn evenly from every class of the training split."""
    rng = np.random.default_rng(seed)
    by_class: dict[int, list] = {}
    for c in train:
        by_class.setdefault(c.label, []).append(c)
    per_class = max(1, count // max(1, len(by_class)))
    out = []
    for clips in by_class.values():
        for _ in range(per_class):
            clip = clips[rng.integers(len(clips))]
            out.append(D.to_float(np.asarray(clip.frames[rng.integers(len(clip.frames))])))
    return out


def _metrics(pred: np.ndarray, truth: np.ndarray, n: int) -> dict:
    cm = np.zeros((n, n), np.int64)
    for t, p in zip(truth, pred, strict=True):
        cm[t, p] += 1
    return {"accuracy": float((pred == truth).mean()) if len(truth) else 0.0, "confusion_matrix": cm.tolist()}


def _stream_probs(encoder, head, clips, cfg, per_clip, sampling, done=lambda: None):
    """Streaming probabilities of every window of ``clips``; ``done()`` after each clip (a progress line)."""
    out = []
    for clip in clips:
        frames = D.to_float(np.asarray(clip.frames))
        if sampling == "uniform":
            idx = D.uniform_indices(len(frames), cfg.frames)
            out.append(classify_windows(encoder, head, frames[idx], cfg.frames, [0]))
        else:
            starts = D.clip_starts(clip, cfg.frames, per_clip, None)
            out.append(classify_windows(encoder, head, frames, cfg.frames, starts))
        done()
    return np.concatenate(out)


def _tflite_probs(model_bytes: bytes, x: np.ndarray, done=lambda: None) -> np.ndarray:
    interp = make_interpreter(model_bytes, what="lrcn_fp32")
    inp, outp = interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]
    res = []
    for w in x:
        interp.set_tensor(inp, w[None])
        interp.invoke()
        res.append(interp.get_tensor(outp)[0].copy())
        done()
    return np.array(res)


class Quantizer:
    """Quantizes the encoder to int8 once (calibrated on training inputs) and keeps the bytes. A frozen encoder is
    quantized before training, which uses its features, and the bundle ships that very model; a trained encoder is
    quantized at export."""

    def __init__(self, train, cfg: LrcnConfig, opts: ConvertOptions):
        self.train, self.cfg, self.opts = train, cfg, opts
        self.encoder_int8: bytes | None = None

    def __call__(self, encoder) -> bytes:
        if self.encoder_int8 is None:
            from . import export

            log.info("quantizing the encoder to int8 (%d calibration inputs from the training clips)",
                     self.opts.calibration_frames)
            rep = _representative(self.train, self.cfg, self.opts.calibration_frames, self.opts.train.seed)
            self.encoder_int8 = export.encoder_int8(encoder, rep)
        return self.encoder_int8


def _train_step(opts: ConvertOptions, cfg: LrcnConfig, ds, train, val, strategy, quantize):
    if opts.keras_model:
        model, history = _load_keras(opts, ds.labels)
        log.warning("converting %s: test figures are only held-out if it was trained on this data with the same "
                    "split seed (%d)", opts.keras_model, opts.train.seed)
        return model, history
    return train_lrcn(cfg, train, val, opts.train, strategy, quantize)


def _report_header(opts, cfg, ds, train, val, test, history) -> dict:
    return {"edge_lrcn": __version__, "dataset": {
        "root": str(opts.data), "labels": ds.labels, "clips": len(ds.clips), "summary": ds.summary(),
        "skipped": [{"path": p, "reason": r} for p, r in ds.skipped], "empty_classes": ds.empty_classes,
        "clip_shapes": D.clip_shapes(ds.clips)},
        "split": {"train": len(train), "val": len(val), "test": len(test), "seed": opts.train.seed,
                  "by": "group" if G.grouped(ds.clips) else "clip", "groups": len(G.by_group(ds.clips))},
        "window": {"frames": cfg.frames, "fps": opts.fps, "sampling": opts.train.sampling},
        "model": cfg.to_dict(), "augmentation": _augmentation(opts.train, ds.labels),
        "epochs_trained": len(history.get("loss", [])),
        # an ensemble: each head's seed, epochs and best validation figures (epochs_trained is the first head's)
        **({"heads": history["heads"]} if history.get("heads") else {})}


def _augmentation(train: TrainOptions, labels: list[str]) -> dict:
    """The label maps the training windows were mirrored, flipped and reversed with, by label name (None: off)."""
    named = lambda m: {labels[a]: labels[b] for a, b in m.items()} if m else None  # noqa: E731
    return {"hflip": named(train.hflip), "vflip": named(train.vflip), "reverse": named(train.reverse_pairs)}


def _baseline_step(opts, cfg, train, val, xt, yt, strategy, report, quantize) -> dict | None:
    """The single-frame baseline (same encoder, the mean over time instead of the LSTM): what frames alone say."""
    if not opts.baseline:
        return None
    base, history = train_baseline(cfg, train, val, opts.train, strategy, quantize)
    pred = base.predict(xt, batch_size=16, verbose=0).argmax(1)
    report["baseline_single_frame"] = {"what": "same CNN, LSTM replaced by the mean over time",
                                       **_metrics(pred, yt, len(cfg.labels)),
                                       "epochs_trained": len(history.get("loss", []))}
    return history


def export_step(model, quantize: Quantizer, progress: bool = True) -> tuple[dict, int]:
    """Keras -> the four TFLite members (int8 + fp16 encoders, float head, monolithic reference), one progress line
    on a terminal (a member per step; the fp32 encoder, converted for its size only, is the fifth)."""
    from . import export
    from .model import encoder_of

    encoder = encoder_of(model)
    log.info("exporting TFLite models")
    steps = {
        # a frozen encoder was quantized before training (the head learned from that very model); a trained one is
        # quantized now
        "encoder_int8.tflite": lambda: quantize(encoder),
        "encoder_fp16.tflite": lambda: export.encoder_fp16(encoder),
        "head.tflite": lambda: export.head_fp32(model),
        "lrcn_fp32.tflite": lambda: export.lrcn_fp32(model),
        "encoder_fp32": lambda: export._convert(encoder, (1, *encoder.input_shape[1:])),
    }
    bar = Progress(len(steps), "exporting TFLite models", progress, unit="model")
    members = {}
    try:
        for name, make in steps.items():
            bar.postfix(model=name)
            members[name] = make()
            bar.update()
    finally:
        bar.close()
    return members, len(members.pop("encoder_fp32"))


def validate_step(members: dict, test, xt, yt, keras_probs, cfg: LrcnConfig, opts: ConvertOptions) -> dict:
    """Every member through the device's own interpreter on the held-out windows: accuracy and agreement. One
    progress line on a terminal: the test clips through each encoder, then the monolithic model's windows."""
    log.info("validating with the %s interpreter on %d test windows", runtime_name(), len(yt))
    n, keras_pred = len(cfg.labels), keras_probs.argmax(1)
    head_rt = Head(make_interpreter(members["head.tflite"], what="head"))
    encoders = ("encoder_int8.tflite", "encoder_fp16.tflite")
    bar = Progress(len(encoders) * len(test) + len(xt), "validating", opts.train.verbose > 0, unit="input")
    out = {}
    try:
        for name in encoders:
            bar.postfix(model=name)
            enc_rt = Encoder(make_interpreter(members[name], what=name), name, "cpu")
            out[name] = _stream_probs(enc_rt, head_rt, test, cfg, opts.train.eval_windows_per_clip,
                                      opts.train.sampling, bar.update)
        bar.postfix(model="lrcn_fp32.tflite")
        out["lrcn_fp32.tflite"] = _tflite_probs(members["lrcn_fp32.tflite"], xt, bar.update)
    finally:
        bar.close()
    res = {}
    for name, probs in out.items():
        pred = probs.argmax(1)
        res[name] = {**_metrics(pred, yt, n), "agreement_with_float": float((pred == keras_pred).mean()),
                     "max_prob_diff": float(np.abs(probs - keras_probs).max())}
    return {"int8_streaming": res["encoder_int8.tflite"], "fp16_streaming": res["encoder_fp16.tflite"],
            "lrcn_fp32_tflite": res["lrcn_fp32.tflite"]}


def _sizes(members: dict, fp32_encoder_bytes: int) -> dict:
    return {"encoder_int8": len(members["encoder_int8.tflite"]), "encoder_fp16": len(members["encoder_fp16.tflite"]),
            "encoder_fp32": fp32_encoder_bytes, "head": len(members["head.tflite"]),
            "lrcn_fp32": len(members["lrcn_fp32.tflite"]),
            "int8_over_fp32": len(members["encoder_int8.tflite"]) / fp32_encoder_bytes}


def _gate_step(report: dict, test, opts: ConvertOptions, frozen: bool, estimate: dict | None) -> gate.GateResult:
    if estimate:  # cross-validated: every clip, tested by models that never saw its group
        figures = (estimate["int8_accuracy"], estimate["clip_labels"], 1.0, estimate["baseline_accuracy"],
                   estimate["float_accuracy"], "cross-validated")
    else:
        figures = (report["int8_streaming"]["accuracy"], [c.label for c in test],
                   report["int8_streaming"]["agreement_with_float"],
                   report.get("baseline_single_frame", {}).get("accuracy"), report["keras_float"]["accuracy"],
                   "held-out")
    acc, labels, agreement, base, float_acc, what = figures
    result = gate.evaluate(acc, labels, agreement, opts.min_agreement, opts.max_p_value, base, float_acc,
                           opts.max_int8_drop if frozen else None, what)
    report["gate"] = {**result.to_dict(), "max_p_value": opts.max_p_value, "estimate": report["estimate"]["method"],
                      **({"max_int8_drop": opts.max_int8_drop} if frozen else {"min_agreement": opts.min_agreement})}
    return result


def _estimate_step(opts: ConvertOptions, cfg: LrcnConfig, ds, plan: G.Plan, strategy):
    """-> train, validation and test clips, the quantizer, the cross-validated estimate (None: a held-out test
    split). Cross-validated, the final model trains on every clip (its validation clips, by group, choose the
    epoch), and its figures on those validation clips measure only what export changed (int8, fp16)."""
    if plan.method == "holdout":
        train, val, test = _split(opts, ds)
        return train, val, test, Quantizer(train, cfg, opts), None
    quantize = Quantizer(ds.clips, cfg, opts)  # calibrated on every clip's frames (no labels): one int8 encoder
    estimate = crossval.cross_validate(opts, cfg, ds.clips, plan, strategy, quantize)
    log.info("cross-validated int8 accuracy %.1f%% on %d clips (%d folds, %.0f s); training the final model on all "
             "clips", 100 * estimate["int8_accuracy"], estimate["clips"], estimate["folds"], estimate["seconds"])
    train, val = crossval.fit_split(ds.clips, opts)
    return train, val, val, quantize, estimate


def _estimate_report(plan: G.Plan, test, estimate: dict | None) -> dict:
    if estimate is None:
        return {"method": "holdout", "what": plan.describe(), "clips": len(test)}
    return {**{k: v for k, v in estimate.items() if k != "clip_labels"}, "what": plan.describe(),
            "note": "the figures beside int8_streaming are the final model's on its own validation clips (not held "
                    "out): they measure export fidelity only; this estimate is the accuracy"}


def convert_command(opts: ConvertOptions) -> dict:
    """Train (or load), evaluate, export, validate, gate, package: one step each."""
    t_start = time.time()
    if opts.keras_model:
        _config_from_sidecar(opts)
    ds = _load(opts)
    cfg = _cfg_for(opts, ds.labels)
    plan = _plan(opts, ds)
    strategy = get_strategy()
    train, val, test, quantize, estimate = _estimate_step(opts, cfg, ds, plan, strategy)
    model, history = _train_step(opts, cfg, ds, train, val, strategy, quantize)
    report = _report_header(opts, cfg, ds, train, val, test, history)
    report["estimate"] = _estimate_report(plan, test, estimate)
    xt, yt, _ = D.stack_windows(test, cfg.frames, opts.train.eval_windows_per_clip, opts.train.sampling)
    keras_probs = model.predict(xt, batch_size=16, verbose=0)
    report["keras_float"] = _metrics(keras_probs.argmax(1), yt, len(ds.labels))
    report["test_windows"] = int(len(yt))
    baseline_history = None
    if estimate is None:  # cross-validated, the baseline was trained in every fold
        baseline_history = _baseline_step(opts, cfg, train, val, xt, yt, strategy, report, quantize)
    members, fp32_encoder_bytes = export_step(model, quantize, opts.train.verbose > 0)
    report.update(validate_step(members, test, xt, yt, keras_probs, cfg, opts))
    report["sizes"] = _sizes(members, fp32_encoder_bytes)
    report["ops"] = _ops(members)
    report["encoder_macs"] = _macs(model)
    from .model import frozen_encoder

    verdict = _gate_step(report, test, opts, frozen_encoder(model) is not None, estimate)
    report["seconds"] = round(time.time() - t_start, 1)
    _print_summary(report)
    return _write_step(opts, cfg, ds, model, history, baseline_history, members, report, verdict)


def _write_step(opts, cfg, ds, model, history, baseline_history, members, report, verdict) -> dict:
    out = Path(opts.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if opts.plots:
        report["plots"] = _plots(history, baseline_history, report, ds.labels, out)
    Path(str(out) + ".report.json").write_text(json.dumps(report, indent=2))
    if not verdict.passed and not opts.allow_degraded:
        raise DegradedModel(f"{'; '.join(verdict.reasons)}: no bundle written ({out}.report.json has the figures). "
                            f"Give each class more clips, check the labels, try other settings (docs/training.md), "
                            f"or --allow-degraded to write it anyway")
    if not verdict.passed:
        log.warning("writing a DEGRADED bundle (--allow-degraded): %s", "; ".join(verdict.reasons))
    return package_step(opts, cfg, ds, model, history, members, report, verdict)


def _ops(members: dict) -> dict:
    from . import export

    try:
        return {k: export.op_names(v) for k, v in members.items()}
    except Exception:  # the op listing is informative only; TF's flatbuffer helpers move between versions
        log.debug("op listing failed", exc_info=True)
        return {}


def _macs(model) -> int:
    from .pretrained import macs

    return macs(model.get_layer("td_encoder").layer)


def _manifest(opts: ConvertOptions, cfg: LrcnConfig, ds, report: dict, verdict) -> dict:
    import keras
    import tensorflow as tf

    inp = {"height": cfg.height, "width": cfg.width, "color": "rgb", "scale": SCALE, "range": [0.0, 1.0],
           "resize": "INTER_AREA"}
    if transform_of(cfg):
        inp["transform"], inp["lag"], inp["gain"] = transform_of(cfg), cfg.lag, cfg.gain
    window = {"frames": cfg.frames, "fps": opts.fps}
    if transform_of(cfg) == "difference" and cfg.encoder != "reference" and opts.train.early_windows > 0:
        window["prefill"] = "rest"  # trained on early windows: the daemon classifies from the first kept frame on
        if cfg.lag >= 2:
            window["short_lags"] = True  # and on a restart's short-lag inputs (train.early_window)
    shapes = report["dataset"].get("clip_shapes")
    if shapes:  # the frame size most clips had (h, w): run compares each region's aspect with it
        inp["clip_shape"] = [int(v) for v in next(iter(shapes)).split("x")]
    return {
        "labels": ds.labels, "window": window, "input": inp,
        "feature_dim": int(report["feature_dim"]),
        "model": {"architecture": "lrcn", **{k: v for k, v in cfg.to_dict().items() if k != "labels"},
                  "encoder_macs": report["encoder_macs"]},
        "sampling": opts.train.sampling,
        "tools": {"edge_lrcn": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
                  "python": platform.python_version(), "interpreter": runtime_name()},
        "validation": {"test_windows": report["test_windows"], "test_clips": report["split"]["test"],
                       "keras_accuracy": report["keras_float"]["accuracy"],
                       "int8_accuracy": report["int8_streaming"]["accuracy"],
                       "int8_agreement": report["int8_streaming"]["agreement_with_float"],
                       "fp16_accuracy": report["fp16_streaming"]["accuracy"],
                       "baseline_accuracy": report.get("baseline_single_frame", {}).get("accuracy"),
                       "chance": verdict.chance, "p_value": verdict.p_value,
                       "estimate": report["estimate"]["method"], "estimate_clips": verdict.clips,
                       "estimate_int8_accuracy": report["estimate"].get("int8_accuracy",
                                                                        report["int8_streaming"]["accuracy"]),
                       "degraded": not verdict.passed, "degraded_reasons": verdict.reasons},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def package_step(opts: ConvertOptions, cfg: LrcnConfig, ds, model, history, members, report, verdict) -> dict:
    """Write the bundle (and the .keras model for fine-tuning), read it back, print where everything went."""
    out = Path(opts.out)
    report["feature_dim"] = int(model.get_layer("td_encoder").layer.output_shape[-1])
    manifest = _manifest(opts, cfg, ds, report, verdict)
    blobs = {name: (b, "encoder" if name.startswith("encoder") else "head" if name == "head.tflite" else "reference",
                    "int8" if "int8" in name else "float16" if "fp16" in name else "float32")
             for name, b in members.items()}
    blobs["report.json"] = (json.dumps(report, indent=2).encode(), "report", "json")
    sha = write_bundle(out, manifest, blobs)
    if not opts.keras_model:
        keras_out = out.with_suffix(".keras")
        model.save(keras_out)  # for fine-tuning (--init-from) and re-conversion (--keras-model)
        save_sidecar(keras_out, cfg, opts.train, opts.fps, history)
        print(f"keras:  {keras_out}")
    read_bundle_bytes(out.read_bytes(), str(out))  # what we wrote must read back
    Path(str(out) + ".report.json").write_text(json.dumps(report, indent=2))
    print(f"bundle: {out} (sha256 {sha[:12]})")
    print(f"report: {out}.report.json")
    for p in report.get("plots", []):
        print(f"plot:   {p}")
    return report


def _print_summary(r: dict) -> None:
    pct = lambda x: f"{100 * x:.1f}%"  # noqa: E731
    e = r["estimate"]
    lines = [f"test windows: {r['test_windows']} from {r['split']['test']} held-out clips" if e["method"] == "holdout"
             else f"cross-validated ({e['folds']} folds over {e['groups']} groups, every one of {e['clips']} clips "
                  f"tested once, {e['seconds']:.0f} s): int8 {pct(e['int8_accuracy'])}, float "
                  f"{pct(e['float_accuracy'])}"
                  + (f", single-frame baseline {pct(e['baseline_accuracy'])}" if e.get("baseline_accuracy") is not None
                     else "")
                  + f"\nthe final model (all clips) on its {r['test_windows']} validation windows (export fidelity, "
                    f"not held out):",
             f"  keras float accuracy     {pct(r['keras_float']['accuracy'])}",
             f"  int8 streaming accuracy  {pct(r['int8_streaming']['accuracy'])}  "
             f"agreement with float {r['int8_streaming']['agreement_with_float']:.3f}",
             f"  fp16 streaming accuracy  {pct(r['fp16_streaming']['accuracy'])}  "
             f"agreement with float {r['fp16_streaming']['agreement_with_float']:.3f}",
             f"  lrcn_fp32.tflite         {pct(r['lrcn_fp32_tflite']['accuracy'])}"]
    if "baseline_single_frame" in r:
        lines.append(f"  single-frame baseline    {pct(r['baseline_single_frame']['accuracy'])} "
                     f"(no temporal model)")
    g = r.get("gate")
    if g:
        lines.append(f"  quality gate             {'passed' if g['passed'] else 'FAILED'}: chance "
                     f"{pct(g['chance'])}, {g['correct_clips']}/{g['test_clips']} clips "
                     f"({'held out' if g['estimate'] == 'holdout' else 'cross-validated'}), p = {g['p_value']:.2g}"
                     + "".join(f"\n    - {why}" for why in g["reasons"]))
    s = r["sizes"]
    if r.get("heads"):
        lines.append(f"  heads                    {len(r['heads'])}, validation accuracy "
                     + " ".join(pct(h["val_accuracy"]) for h in r["heads"]) + " (their mean is the model)")
    lines.append(f"  encoder {r.get('encoder_macs', 0) / 1e6:.1f} M MACs per frame")
    lines.append(f"  encoder int8 {s['encoder_int8']} B = {pct(s['int8_over_fp32'])} of fp32 ({s['encoder_fp32']} B)")
    print("\n".join(lines))


def _plots(history, baseline_history, report, labels, out: Path) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
    except ImportError:
        log.warning("matplotlib is not installed: no plots (pip install 'edge-lrcn[convert]')")
        return []
    curves = out.with_name(out.stem + "_training.png")
    cm = out.with_name(out.stem + "_confusion.png")
    plot_curves(history, baseline_history, curves)
    e = report["estimate"]
    if e["method"] == "holdout":
        plot_confusion(np.array(report["int8_streaming"]["confusion_matrix"]), labels, cm,
                       f"int8 streaming, {report['test_windows']} held-out windows")
    else:
        plot_confusion(np.array(e["confusion_matrix"]), labels, cm,
                       f"int8, cross-validated: {e['windows']} windows of {e['clips']} clips")
    return [str(curves), str(cm)]
