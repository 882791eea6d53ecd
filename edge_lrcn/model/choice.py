"""The CPU encoder ``--encoder`` names: ``int8``, ``fp16``, or with ``auto`` the faster here of those as accurate as
the best (:func:`eligible_encoders`), timed at the first start and remembered per bundle and machine, so that only
the first start pays the timing.

Timing both CPU encoders builds the one not kept (the fp16 interpreter packs its weights) and runs ~70 frames of
each: 0.2-0.8 s of a start that otherwise takes a few ms, paid by every ``run`` and ``eval`` of a file. The choice
depends on the bundle (its sha256), the CPU, the interpreter and its version, and the thread count; it is kept under
the cache directory (systemd's ``CacheDirectory``, ``$XDG_CACHE_HOME`` or ``~/.cache``: ``edge-lrcn/encoder-choice``).
Delete that directory to time again. A cache that cannot be read or written only means timing again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UsageError
from .bundle import Bundle
from .interpreter import Encoder, default_threads, make_interpreter, runtime_name

log = logging.getLogger(__name__)

ENCODERS = {"int8": "encoder_int8.tflite", "fp16": "encoder_fp16.tflite"}  # the CPU encoders --encoder names
ENCODER_CHOICES = ("auto", *ENCODERS)
# auto runs no encoder whose recorded test accuracy is lower than the best by more than this, or by more than one of
# the bundle's test windows where that is more (a single window is no evidence: the embedded model's int8 encoder is
# one of 90 behind fp16, and 98.1% against 98.0% on 1,538 fresh windows)
ACCURACY_TOLERANCE = 0.01


def eligible_encoders(bundle: Bundle) -> list[str]:
    """The CPU encoders ``--encoder auto`` may run: those in the bundle whose accuracy on the bundle's test windows
    (manifest ``validation.<kind>_accuracy``, written by convert) is within ``ACCURACY_TOLERANCE`` of the best of
    them, or within one test window (``validation.test_windows``) where that is more, so that the choice never
    trades a measurable accuracy for speed. Without those figures only int8, the encoder that convert's quality
    gate judged."""
    present = [k for k, member in ENCODERS.items() if bundle.has(member)]
    validation = bundle.manifest.get("validation")
    if not isinstance(validation, dict):
        validation = {}
    figures: dict[str, Any] = {k: validation.get(f"{k}_accuracy") for k in present}
    if not figures or not all(_is_number(a) for a in figures.values()):
        return ["int8"] if "int8" in present else present[:1]
    acc = {k: float(a) for k, a in figures.items()}
    windows = validation.get("test_windows")
    one_window = 1.0 / windows if isinstance(windows, int) and not isinstance(windows, bool) and windows > 0 else 0.0
    best, tolerance = max(acc.values()), max(ACCURACY_TOLERANCE, one_window)
    return [k for k in present if acc[k] >= best - tolerance - 1e-9]


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def time_encoders(encoders: dict[str, Encoder], rounds: int = 60, warmup: int = 10) -> dict[str, float]:
    """ms per frame of each encoder on the daemon's path (uint8 pixels), timed in alternation so that a slow spell
    of the machine hits all of them alike; the lower quartile, which a busy machine moves least (the first
    invocations pack the weights: the warm-up)."""
    rng = np.random.default_rng(0)
    frames = {k: rng.integers(0, 256, (*e.inp.shape[1:3], 3), dtype=np.uint8) for k, e in encoders.items()}
    times: dict[str, list[float]] = {k: [] for k in encoders}
    for i in range(warmup + rounds):
        for k, enc in encoders.items():
            t = time.perf_counter()
            enc.encode_rgb(frames[k])
            if i >= warmup:
                times[k].append(time.perf_counter() - t)
    return {k: float(np.percentile(v, 25) * 1000) for k, v in times.items()}


def cpu_encoder(bundle: Bundle, choice: str = "auto", threads: int | None = None, remember: bool = True) -> Encoder:
    """The CPU encoder: ``int8`` or ``fp16`` as asked (a bundle without it is exit 2), or with ``auto`` the faster
    here of :func:`eligible_encoders`, timed at the first start (a few dozen frames each) and logged; later starts
    with the same bundle on the same machine use the remembered choice (:func:`recall`) unless ``remember`` is
    False."""
    if choice not in ENCODER_CHOICES:
        raise UsageError(f"--encoder {choice!r}: use one of {', '.join(ENCODER_CHOICES)}")
    kinds = eligible_encoders(bundle) if choice == "auto" else [choice]
    threads_n = threads or default_threads()
    known = recall(bundle, threads_n, runtime_name(), kinds) if remember and len(kinds) > 1 else None
    if known:
        root = cache_root()
        log.info("--encoder auto: %s here (timed at an earlier start; delete %s to time again)", known,
                 root / "encoder-choice" if root else "the cache")
        kinds = [known]
    encoders = {kind: _cpu_encoder(bundle, kind, threads) for kind in kinds}
    if len(encoders) == 1:
        return next(iter(encoders.values()))
    ms = time_encoders(encoders)
    kind = min(ms, key=lambda k: ms[k])
    log.info("--encoder auto: %s here (%s ms per frame)", kind, ", ".join(f"{k} {v:.3f}" for k, v in ms.items()))
    if remember:
        keep_choice(bundle, threads_n, runtime_name(), kind, ms)
    return encoders[kind]


def _cpu_encoder(bundle: Bundle, kind: str, threads: int | None) -> Encoder:
    member = ENCODERS[kind]
    if not bundle.has(member):
        raise UsageError(f"--encoder {kind}: the bundle has no {member} (it has "
                         f"{', '.join(m for m in ENCODERS.values() if bundle.has(m)) or 'no CPU encoder'})")
    return Encoder(make_interpreter(bundle.member(member), threads, (), member), member, "cpu")


# ---- the choice, remembered --------------------------------------------------------------------------------------
def cache_root() -> Path | None:
    """``edge-lrcn`` under the cache directory, or None without one (no home)."""
    base = os.environ.get("CACHE_DIRECTORY") or os.environ.get("XDG_CACHE_HOME") or \
        (os.path.join(os.path.expanduser("~"), ".cache") if os.path.expanduser("~") != "~" else None)
    return Path(base.split(":")[0]) / "edge-lrcn" if base else None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Hardware", "Model", "cpu model"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor()


def _path(bundle, threads: int, runtime: str) -> Path | None:
    root = cache_root()
    if root is None:
        return None
    key = "|".join([bundle.sha256, platform.machine(), _cpu_model(), str(os.cpu_count()), runtime, str(threads)])
    return root / "encoder-choice" / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".json")


def recall(bundle, threads: int, runtime: str, kinds: list[str]) -> str | None:
    """The kind timed fastest here before, if it is still one of ``kinds``."""
    path = _path(bundle, threads, runtime)
    try:
        kind = json.loads(path.read_text())["kind"] if path is not None else None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return kind if kind in kinds else None


def keep_choice(bundle, threads: int, runtime: str, kind: str, ms: dict[str, float]) -> None:
    path = _path(bundle, threads, runtime)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"kind": kind, "ms": ms, "model": bundle.model_id}))
        os.replace(tmp, path)
    except OSError as exc:  # a read-only cache: time again next start
        log.debug("could not remember the encoder choice in %s: %s", path, exc)
