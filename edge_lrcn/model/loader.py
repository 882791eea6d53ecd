"""Which bundle runs, and the loaded model the classifier uses: bundle + encoder + head."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
from dataclasses import dataclass

from .bundle import Bundle, read_bundle
from .interpreter import Encoder, Head
from .placement import open_models

log = logging.getLogger(__name__)


def load_bundle(path: str | None, verify: bool = False) -> Bundle:
    """Read and check a bundle (the embedded default when ``path`` is empty). With ``verify``, a bundle that is not
    the embedded one has its models loaded and run once in a child process first (remembered by sha256), so a
    crafted model that would crash the interpreter is an exit 3, not a crash of the daemon. A bundle that convert
    wrote below its quality gate (``--allow-degraded``) is logged once as such."""
    from ..models import default_model_path

    bundle = read_bundle(path or default_model_path())
    if path and verify:
        from .verify import verify_once

        verify_once(bundle)
    validation = bundle.manifest.get("validation")
    if isinstance(validation, dict) and validation.get("degraded") is True:
        agreement = validation.get("int8_agreement")
        log.warning("model %s (%s) did not pass convert's quality gate (int8 agreement with float %s): it was written "
                    "with --allow-degraded; expect worse results than its report promises", bundle.path,
                    bundle.model_id, f"{agreement:.3f}" if isinstance(agreement, (int, float)) else "unknown")
    return bundle


@dataclass
class Model:
    """A bundle with its encoder and head ready to run."""

    bundle: Bundle
    encoder: Encoder  # or accelerator.CompiledEncoder (same interface)
    head: Head

    @property
    def labels(self) -> list[str]:
        return self.bundle.labels

    @property
    def model_id(self) -> str:
        return self.bundle.model_id


def open_model(bundle: Bundle, delegate: str = "cpu", threads: int | None = None, require_delegate: bool = False,
               gpu_library: str | None = None, encoder: str = "auto") -> Model:
    enc, head = open_models(bundle, delegate, threads, require_delegate, gpu_library, encoder=encoder)
    return Model(bundle, enc, head)


def release_memory() -> None:
    """After a model swap: collect the old model (its interpreters, buffers and bundle bytes) and hand the freed heap
    back to the system. The new model was opened on the checker's thread, in its own malloc arena; without
    ``malloc_trim`` glibc kept the freed pages of both arenas, and the daemon's private memory grew from 46 to 124 MB
    over four pushes (benchmarks/push.py). Not glibc (musl, macOS): the collection alone."""
    gc.collect()
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        trim = None
    if trim is not None:
        trim(0)
