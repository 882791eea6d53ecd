"""Where the models run: the encoder on the accelerator asked for (``--delegate``), falling back to the CPU encoder
(:mod:`.choice`) with one warning; the head always on the CPU; every port's shape checked against the manifest."""

from __future__ import annotations

import logging
import os

from ..errors import BundleError, UsageError
from .bundle import Bundle
from .choice import cpu_encoder
from .interpreter import Encoder, Head, default_threads, load_delegate, make_interpreter, runtime_name

log = logging.getLogger(__name__)

DEFAULT_EDGETPU_DELEGATE = "libedgetpu.so.1"


def _delegate_encoder(bundle: Bundle, delegate: str, threads: int | None, gpu_library: str | None,
                      edgetpu_library: str):
    """The encoder on the accelerator asked for, or None and the reasons it could not be used. ``gpu``: the LiteRT
    GPU accelerator first, then the legacy GPU delegate library when one is set."""
    if delegate == "gpu":
        member, libs = "encoder_fp16.tflite", [gpu_library] if gpu_library else []
    elif delegate == "edgetpu":
        member, libs = "encoder_edgetpu.tflite", [edgetpu_library]
    elif delegate.endswith(".so") or ".so." in delegate or os.sep in delegate:
        member, libs = "encoder_fp16.tflite", [delegate]
    else:
        raise UsageError(f"--delegate {delegate!r}: use cpu, gpu, edgetpu or the path to a delegate .so")
    if not bundle.has(member):
        return None, [f"the bundle has no {member}"]
    from .accelerator import Unavailable, compile_for_gpu
    from .probe import probe

    problems, model = [], bundle.member(member)
    if delegate == "gpu":
        try:
            probe("gpu", model)  # in a child first: the library can SIGILL or abort (see .probe)
            return compile_for_gpu(model, member), []
        except Unavailable as exc:
            problems.append(f"LiteRT GPU accelerator unavailable ({exc})")
        if not libs:
            problems.append("no gpu_delegate_library set")
    for lib in libs:
        try:
            probe("delegate", model, lib)
            d = load_delegate(lib)
            return Encoder(make_interpreter(model, threads, [d], member), member, f"{delegate}:{lib}"), []
        except (Unavailable, ValueError, RuntimeError, OSError, AttributeError, BundleError) as exc:
            problems.append(f"delegate {lib} could not be used ({str(exc).splitlines()[0] if str(exc) else exc})")
    return None, problems


def open_models(bundle: Bundle, delegate: str = "cpu", threads: int | None = None, require_delegate: bool = False,
                gpu_library: str | None = None, edgetpu_library: str = DEFAULT_EDGETPU_DELEGATE,
                encoder: str = "auto"):
    """The encoder (on the delegate asked for, falling back to the CPU encoder with one warning; on the CPU the one
    ``encoder`` names, see :func:`cpu_encoder`) and the head (always CPU)."""
    delegate = (delegate or "cpu").strip()
    enc, problems = (None, []) if delegate == "cpu" else _delegate_encoder(bundle, delegate, threads, gpu_library,
                                                                          edgetpu_library)
    if enc is None and problems:
        if require_delegate:
            raise UsageError(f"--delegate {delegate}: {'; '.join(problems)} (and --require-delegate is set)")
        log.warning("--delegate %s: %s: falling back to the CPU encoder", delegate, "; ".join(problems))
    if enc is None:
        enc = cpu_encoder(bundle, encoder, threads)
    head = Head(make_interpreter(bundle.member("head.tflite"), threads, (), "head"))
    _check_shapes(bundle, enc, head)
    log.info("encoder %s runs on %s; head runs on cpu (%s, %d threads)", enc.member, enc.device, runtime_name(),
             threads or default_threads())
    return enc, head


def _check_shapes(bundle: Bundle, enc, head: Head) -> None:
    """Every port against the manifest and the other model, exactly: encoder (1, H, W, 3) -> (1, D), head
    (1, T, D) -> (1, labels). A shape that only agrees in its last axes would pass load and crash the first
    window."""
    (h, w), d, t, n = bundle.input_size, bundle.feature_dim, bundle.frames, len(bundle.labels)
    want = {"encoder input": (enc.inp.shape, (1, h, w, 3)), "encoder output": (enc.out.shape, (1, d)),
            "head input": (head.inp.shape, (1, t, d)), "head output": (head.out.shape, (1, n))}
    for what, (got, expected) in want.items():
        if tuple(got) != expected:
            raise BundleError(f"{what} shape {tuple(got)} does not match the manifest: expected "
                              f"{expected} (input {h}x{w}, feature_dim {d}, {t} frames, {n} labels)")
