"""The ``--encoder auto`` choice, remembered per bundle and machine, so that only the first start pays the timing.

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
from pathlib import Path

log = logging.getLogger(__name__)


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


def remembered(bundle, threads: int, runtime: str, kinds: list[str]) -> str | None:
    """The kind timed fastest here before, if it is still one of ``kinds``."""
    path = _path(bundle, threads, runtime)
    try:
        kind = json.loads(path.read_text())["kind"] if path is not None else None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return kind if kind in kinds else None


def remember(bundle, threads: int, runtime: str, kind: str, ms: dict[str, float]) -> None:
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
