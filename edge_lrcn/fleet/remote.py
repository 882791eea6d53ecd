"""``<prefix>/set``: the settings that may change without a restart, and the pause switch, set over MQTT.

A request is a JSON object of settings (``enter_threshold``, ``exit_threshold``, ``smoothing``, ``min_duration``,
``agree``, ``scores``, ``regions``) and/or ``"paused": true|false``, with an optional ``transaction``. Each value is
checked by the same typed settings as the config file (edge_lrcn.config), the threshold order included, against the
merged result. Accepted values are kept in the state directory's ``settings.json`` and apply at once. Precedence:
command line (flags and ``EDGE_LRCN_*``) > remote > config file > defaults; a request for a setting the command line
fixes is refused.

Nothing of this runs on the frame loop: :class:`RemoteSettings` checks the requests and writes the files on a
thread of its own, from a bounded backlog (a full one is answered ``busy``), and hands the loop only the newest
result of all the requests it checked since the loop last looked (:meth:`RemoteSettings.take`): a flood of
requests costs the loop one cheap apply, never a file write.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ..config import REMOTE_SETTINGS, Settings, read_remote
from ..config.remote import jsonable
from ..errors import UsageError
from ..logsafe import Throttle, cut, quote
from .protocol import response, transaction
from .state import StateDir

log = logging.getLogger(__name__)
BACKLOG = 32  # requests waiting to be checked; more are answered "busy"


def settings_object(settings: Settings, paused: bool) -> dict:
    """The retained ``<prefix>/settings``: what Home Assistant's numbers and switch show."""
    values = settings.values()
    return {**{n: jsonable(values[n]) for n in REMOTE_SETTINGS}, "paused": paused}


def check_request(request: dict, settings: Settings) -> tuple[dict, bool | None]:
    """The settings a request sets and its pause switch (None: not said); UsageError says why not."""
    allowed = set(REMOTE_SETTINGS) | {"paused", "transaction"}
    unknown = sorted(set(request) - allowed)
    if unknown:
        names = ", ".join(k if re.fullmatch(r"\w{1,40}", k) else quote(k, 40) for k in unknown[:3])
        names += f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
        raise UsageError(f"not settable remotely: {names} (remote settings: {', '.join(REMOTE_SETTINGS)}, paused)")
    values = {k: request[k] for k in REMOTE_SETTINGS if k in request}
    for name in values:
        if settings.where(name).startswith(("--", "EDGE_LRCN_")):
            raise UsageError(f"{name} is set by {settings.where(name)}, which wins over remote settings")
    paused = request.get("paused")
    if paused is not None and not isinstance(paused, bool):
        raise UsageError(f"paused: expected true or false, got {quote(paused)}")
    return values, paused


@dataclass
class Change:
    """What the loop applies: the newest settings, the names changed since it last looked, the pause switch."""

    settings: object
    names: list[str] = field(default_factory=list)
    paused: bool | None = None


class RemoteSettings:
    """Checks and keeps ``<prefix>/set`` requests on its own thread. ``answer(obj)`` sends a response,
    ``publish(obj)`` the retained settings, ``wake()`` tells the loop a :class:`Change` waits."""

    def __init__(self, config, settings, state: StateDir, answer: Callable[[dict], None],
                 publish: Callable[[dict], None], wake: Callable[[], None], backlog: int = BACKLOG):
        self.config, self.settings, self.state = config, settings, state
        self.answer, self.publish, self.wake = answer, publish, wake
        self.backlog = backlog
        self.kept = read_remote(state.path)
        self.paused = state.paused
        self.applied = 0  # changes handed to the loop (a coalesced batch is one)
        self._pending: deque = deque()
        self._ready: Change | None = None
        self._cv = threading.Condition()
        self._throttle = Throttle(log)
        self._stop = False
        self.thread = threading.Thread(target=self._run, name="remote-settings", daemon=True)
        self.thread.start()

    def submit(self, request: dict) -> bool:
        """Queue a request (from the MQTT thread, never waits); False when the backlog is full."""
        with self._cv:
            if len(self._pending) >= self.backlog:
                return False
            self._pending.append(request)
            self._cv.notify()
            return True

    @property
    def waiting(self) -> int:
        return len(self._pending)

    def take(self) -> Change | None:
        """The frame loop's side: the newest change since the last call, or None."""
        with self._cv:
            change, self._ready = self._ready, None
            return change

    def close(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._pending and not self._stop:
                    self._cv.wait()
                if self._stop:
                    return
                batch = list(self._pending)
                self._pending.clear()
            try:
                self._handle(batch)
            except Exception as exc:  # noqa: BLE001 - a request must never end this thread
                self._throttle.warning("bug", "remote settings failed: %s: %s", type(exc).__name__, quote(str(exc)))
                for request in batch:
                    self.answer(response("error", transaction(request), error="internal error"))

    def _handle(self, batch: list[dict]) -> None:
        """Check each request against what the ones before it left; keep the result once for the batch."""
        kept, paused, settings, names, answers = dict(self.kept), self.paused, None, [], []
        for request in batch:
            tx = transaction(request)
            try:
                values, pause = check_request(request, self.settings)
                if values:
                    settings = self._load({**kept, **values})
                    kept.update(values)
                    names += [n for n in values if n not in names]
            except UsageError as exc:
                self._throttle.warning("refused", "remote settings refused: %s", cut(str(exc)))
                self.answer(response("error", tx, error=cut(str(exc))))
                continue
            paused = paused if pause is None else pause
            answers.append(request)
        if not answers:
            return
        try:
            self._keep(kept, paused)
        except OSError as exc:
            for request in answers:
                self.answer(response("error", transaction(request),
                                     error=f"cannot keep the settings in {self.state.path}: {exc.strerror or exc}"))
            return
        self._hand_over(settings, names, paused if paused != self.paused else None, answers)

    def _load(self, merged: dict):
        if self.config is None:
            raise UsageError("this daemon has no config source: remote settings are off")
        return self.config.load(remote=merged)

    def _keep(self, kept: dict, paused: bool) -> None:
        if kept != self.kept:
            self.state.write_settings(kept)
            self.kept = kept
        if paused != self.paused:
            self.state.set_paused(paused)

    def _hand_over(self, settings, names: list[str], paused: bool | None, answers: list[dict]) -> None:
        """Answer the batch and leave the loop one :class:`Change` (merged with one it has not taken yet)."""
        if settings is not None:
            self.settings = self.settings.taking(settings, names)
        if paused is not None:
            self.paused = paused
        with self._cv:
            change = self._ready or Change(self.settings)
            change.settings = self.settings
            change.names += [n for n in names if n not in change.names]
            change.paused = paused if paused is not None else change.paused
            self._ready = change
            self.applied += 1
        view = settings_object(self.settings, self.paused)
        self.publish(view)
        for request in answers:
            self.answer(response("ok", transaction(request), settings=view, error=None))
        said = [f"{n}={quote(view[n])}" for n in names] + ([f"paused={paused}"] if paused is not None else [])
        self._throttle.log(logging.INFO, "applied", "remote settings applied: %s", ", ".join(said) or "no change")
        self.wake()


class Rate:
    """A token bucket: ``rate`` requests a second on average, ``burst`` at once."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens, self.at = burst, clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
