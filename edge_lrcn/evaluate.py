"""``edge-lrcn eval``: the daemon's classifier over a labelled video folder.

Every window of every clip is classified by the same :class:`~edge_lrcn.classify.classifier.Classifier` the daemon
runs (pacer, the CPU encoder ``--encoder`` names, ``auto`` by default as in the daemon, window, head every ``stride``
kept frames, gap and scene-cut resets with the default ``cut_threshold``); each full window counts once. Prints
per-class precision/recall and the confusion matrix. On a segment video (a file, not a folder) it reports how soon
the daemon announces each activity instead (segments.py).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from .capture.reader import read_ahead
from .capture.sources import VIDEO_EXTENSIONS, VideoFileSource
from .classify.classifier import Classifier
from .config import BY_NAME, EventSettings
from .errors import DatasetError, UsageError
from .model.loader import load_bundle, open_model

log = logging.getLogger(__name__)


def stream_file(classifier: Classifier, path: Path) -> tuple[list[np.ndarray], int]:
    """Class probabilities of every full window of one video (none of a prefill left: the windows convert
    validates; with window.short_lags the first ``lag - 1`` after each restart still hold a short-lag input, as the
    daemon's do), and the number of undecodable frames skipped."""
    classifier.restart("file")
    out = []
    src = VideoFileSource(path)
    src.min_size = classifier.min_size  # decoded as small as the daemon decodes it
    # decoded on a thread of its own, only the frames the pacer keeps (as the daemon reads a file)
    for frame in read_ahead(src, classifier.decide):
        probs = classifier.push(frame).probs
        if probs is not None and classifier.window.full:  # early windows (window.prefill) are not scored
            out.append(probs)
    return out, src.skipped


def evaluate(bundle, data: Path, threads=None, stride: int = 5, encoder: str = "auto") -> dict:
    data = Path(data)
    if not data.is_dir():
        raise DatasetError(f"dataset folder not found: {data}")
    labels = bundle.labels
    clf = Classifier(open_model(bundle, "cpu", threads, encoder=encoder), stride, EventSettings().cut_threshold)
    n = len(labels)
    cm = np.zeros((n, n), np.int64)
    clips = skipped_clips = 0
    unknown = []
    for d in sorted(p for p in data.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if d.name not in labels:
            unknown.append(d.name)
            continue
        t = labels.index(d.name)
        for path in sorted(p for p in d.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS):
            try:
                probs, _ = stream_file(clf, path)
            except Exception as exc:  # an unreadable clip is reported, not fatal
                log.warning("skipping %s: %s", path, exc)
                skipped_clips += 1
                continue
            if not probs:
                log.warning("skipping %s: shorter than one window", path)
                skipped_clips += 1
                continue
            clips += 1
            for p in np.argmax(probs, axis=1):
                cm[t, p] += 1
    if unknown:
        log.warning("class folders not in the model's labels ignored: %s", ", ".join(unknown))
    if not cm.sum():
        raise DatasetError(f"no clip of {data} matches the model's labels ({', '.join(labels)})")
    per = {}
    for i, lab in enumerate(labels):
        tp = cm[i, i]
        per[lab] = {"precision": float(tp / cm[:, i].sum()) if cm[:, i].sum() else None,
                    "recall": float(tp / cm[i].sum()) if cm[i].sum() else None, "windows": int(cm[i].sum())}
    return {"model": bundle.model_id, "clips": clips, "clips_skipped": skipped_clips, "windows": int(cm.sum()),
            "accuracy": float(np.trace(cm) / cm.sum()), "per_class": per, "labels": labels,
            "confusion_matrix": cm.tolist()}


def format_report(r: dict) -> str:
    lines = [f"{r['clips']} clips, {r['windows']} windows, accuracy {100 * r['accuracy']:.1f}%"
             + (f" ({r['clips_skipped']} clips skipped)" if r["clips_skipped"] else ""),
             f"{'class':<16}{'precision':>10}{'recall':>10}{'windows':>9}"]
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    for lab, m in r["per_class"].items():
        lines.append(f"{lab:<16}{fmt(m['precision']):>10}{fmt(m['recall']):>10}{m['windows']:>9}")
    labels = r["labels"]
    width = max(8, max(len(x) for x in labels) + 1)
    lines.append("confusion matrix (rows: true, columns: predicted)")
    lines.append(" " * width + "".join(f"{x[:width - 1]:>{width}}" for x in labels))
    for lab, row in zip(labels, r["confusion_matrix"], strict=True):
        lines.append(f"{lab[:width - 1]:<{width}}" + "".join(f"{v:>{width}}" for v in row))
    return "\n".join(lines)


def event_settings(args) -> EventSettings:
    """The daemon's event settings, with those ``args`` give; checked as the daemon checks them."""
    values = {name: BY_NAME[name].default if getattr(args, name, None) is None else getattr(args, name)
              for name in ("enter_threshold", "exit_threshold", "smoothing", "min_duration", "agree")}
    for name, v in values.items():
        try:
            values[name] = BY_NAME[name].conv(v)
        except ValueError as exc:
            raise UsageError(f"--{name.replace('_', '-')}: {exc}") from None
    if not 0 < values["exit_threshold"] <= values["enter_threshold"]:
        raise UsageError("--exit-threshold must be above 0 and at most --enter-threshold")
    return EventSettings(**values)


def segments_command(args, bundle) -> int:
    """``eval`` on a segment video: the delay to each activity's start, wrong and false starts (segments.py)."""
    from .segments import evaluate_video, format_segments, timeline_of

    segs = timeline_of(args.data, args.timeline)
    stride = args.stride or BY_NAME["stride"].default
    clf = Classifier(open_model(bundle, "cpu", args.threads, encoder=args.encoder), stride,
                     BY_NAME["cut_threshold"].default)
    r = evaluate_video(clf, event_settings(args), args.data, segs)
    print(json.dumps(r, indent=2) if args.json else format_segments(r))
    return 0


def eval_command(args) -> int:
    bundle = load_bundle(args.model)
    if Path(args.data).is_file():
        return segments_command(args, bundle)
    if args.timeline:
        raise UsageError("--timeline goes with a segment video, not a folder")
    r = evaluate(bundle, args.data, args.threads, args.stride or 5, args.encoder)
    print(json.dumps(r, indent=2) if args.json else format_report(r))
    if args.plot:
        try:
            import matplotlib  # noqa: F401

            from .plots import plot_confusion
        except ImportError:
            raise UsageError("--plot needs matplotlib: pip install 'edge-lrcn[metrics]'") from None
        plot_confusion(np.array(r["confusion_matrix"]), r["labels"], args.plot,
                       f"{bundle.model_id}: {r['windows']} windows")
        print(f"plot: {args.plot}")
    return 0
