"""A pushed model, from bytes to a model ready to swap in, off the frame loop; and which bundle a start runs.

Checks in order, each answered with one line and no change when it fails: the size cap (the broker sends nothing over
the control connection's Maximum Packet Size; what gets through is checked from the payload's length, before anything is
parsed, inflated or written), the framing, the zip and every member's sha256 (model/bundle.py), the signature against
the trusted keys, the signed release (not older than the last push accepted), then the bundle is written to the state
directory (not yet the running one) and its models are loaded and run in a child process (model/verify.py) and opened
for this device. Only then is it handed to the daemon, which swaps it in between two frames.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import BundleError, EdgeLrcnError
from ..logsafe import Throttle, cut
from ..model.bundle import Bundle, read_bundle, read_bundle_bytes
from ..model.loader import Model
from ..model.verify import verify_once
from .keys import PublicKey, verify
from .protocol import HEADER_MAX, decode_push, transaction_of
from .release import check_release
from .state import StateDir

log = logging.getLogger(__name__)


@dataclass
class Prepared:
    """A pushed model that passed every check, waiting for the daemon to swap it in."""

    transaction: str | None
    model: Model
    signer: PublicKey
    staged: Path
    release: str = ""  # the signed release time (fleet/release.py)


class Updater:
    """Checks pushes one after the other on its own thread. ``open_model`` opens a bundle as the daemon runs it;
    ``answer(transaction, error)`` reports a refusal; ``ready`` is called with each :class:`Prepared`."""

    def __init__(self, trusted: list[PublicKey], state: StateDir, max_bytes: int,
                 open_model: Callable[[Bundle], Model], answer: Callable[[str | None, str], None],
                 ready: Callable[[Prepared], None], backlog: int = 2):
        self.trusted, self.state, self.max_bytes = trusted, state, max_bytes
        self.floor = state.release  # pushes released before the last one accepted are replays
        self._throttle = Throttle(log, 10.0)
        self.open_model, self.answer, self.ready = open_model, answer, ready
        self._queue: queue.Queue = queue.Queue(maxsize=backlog)
        self.thread = threading.Thread(target=self._run, name="model-update", daemon=True)
        self.thread.start()

    def submit(self, payload: bytes) -> None:
        """Called with each ``model/set`` payload (from the MQTT thread): never blocks."""
        tx = transaction_of(payload)
        if len(payload) > self.max_bytes + HEADER_MAX:
            why = f"push is {len(payload)} bytes, over this device's max_model_bytes {self.max_bytes}"
            self._throttle.warning("refused", "pushed model refused (transaction %s): %s", tx, why)
            self.answer(tx, why)
            return
        try:
            self._queue.put_nowait(payload)
        except queue.Full:
            self.answer(tx, f"{self._queue.qsize()} pushes are already waiting to be checked: try again later")

    def close(self) -> None:
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass  # a daemon thread: it ends with the process

    def _run(self) -> None:
        while (payload := self._queue.get()) is not None:
            tx = transaction_of(payload)
            try:
                self.ready(self.check(payload, tx))
            except EdgeLrcnError as exc:
                self._throttle.warning("refused", "pushed model refused (transaction %s): %s", tx, cut(str(exc)))
                self.answer(tx, cut(str(exc)))
            except Exception as exc:  # noqa: BLE001 - a push must never take the daemon down
                self._throttle.warning("failed", "pushed model failed (transaction %s): %s: %s", tx,
                                       type(exc).__name__, cut(str(exc)))
                self.answer(tx, f"unexpected error: {type(exc).__name__}: {cut(str(exc))}")

    def check(self, payload: bytes, tx: str | None) -> Prepared:
        data = decode_push(payload)
        if len(data) > self.max_bytes:
            raise BundleError(f"the bundle is {len(data)} bytes, over this device's max_model_bytes {self.max_bytes}")
        bundle = read_bundle_bytes(data, f"pushed bundle (transaction {tx})")
        signer = verify(bundle, self.trusted)
        release = check_release(bundle, self.floor)
        try:
            staged = self.state.stage(data)
        except OSError as exc:
            raise BundleError(f"cannot write to the state directory {self.state.path}: {exc.strerror or exc}") \
                from None
        try:
            bundle.path = str(staged)
            verify_once(bundle)
            model = self.open_model(bundle)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        return Prepared(tx, model, signer, staged, release)


def startup_bundle(settings, trusted: list[PublicKey], state: StateDir) -> tuple[str | None, PublicKey | None]:
    """Which bundle a start runs, and its signer: ``--model`` given on the command line (or in the environment)
    wins; then the model pushed last (``model.lrcn`` in the state directory, verified again against today's trusted
    keys); then ``model`` from the config file; then the embedded one (None)."""
    explicit = settings.run.model and settings.where("model").startswith(("--", "EDGE_LRCN_"))
    if not explicit and not trusted and state.model.exists():
        log.warning("not running the pushed model %s: no trusted keys to verify it with", state.model)
    if not explicit and trusted and state.model.exists():
        try:
            return str(state.model), verify(read_bundle(state.model), trusted)
        except BundleError as exc:
            log.error("not running the pushed model %s: %s; running %s instead", state.model, exc,
                      settings.run.model or "the embedded model")
    return settings.run.model, None


def check_required_signature(bundle: Bundle, settings, trusted: list[PublicKey]) -> PublicKey | None:
    """``require_signature`` with trusted keys: a bundle given with ``model`` must be signed by one of them (the
    embedded model is part of the installed package and needs none); the signer, when known."""
    if not trusted or not settings.run.model:
        return None
    if settings.fleet.require_signature:
        return verify(bundle, trusted)
    try:
        return verify(bundle, trusted)
    except BundleError:
        return None
