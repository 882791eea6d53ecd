"""The region editor's side of the page (docs/http.md): ``GET /api/regions`` and ``POST /api/regions``.

A save is one remote-settings request, ``{"regions": [...]}``. The page does not check it itself: it hands the
request to the daemon's loop (:class:`SettingsDesk`), which runs it through the same path as MQTT's
``<prefix>/set`` (fleet/remote.py ``remote_change``: the typed settings of the config file, the command line's
precedence, ``settings.json`` in the state directory) and applies it between two frames as a reload applies it.
The page's thread waits for the loop's answer, so a refused region is a 400 with the checker's own message and an
accepted one is already live when the answer comes.
"""

from __future__ import annotations

import logging
import queue
from concurrent.futures import Future, TimeoutError as FutureTimeout
from typing import Callable

from ..errors import UsageError
from .server import HttpError

log = logging.getLogger(__name__)
ANSWER_S = 15.0  # the loop takes a request between two frames (a paused daemon every 0.25 s)
PENDING = 4


class SettingsDesk:
    """Page threads: :meth:`submit` (waits for the answer). The daemon's loop: :meth:`serve` between two frames."""

    def __init__(self):
        self._queue: queue.Queue = queue.Queue(maxsize=PENDING)
        self.serving = False  # set by the first serve(): a page without a daemon (tests, a restart) says so
        self.wake: Callable[[], object] = lambda: None  # the daemon's: a paused loop or a camera's reopen wait

    def submit(self, request: dict, timeout: float = ANSWER_S):
        """The loop's answer (what ``apply`` returned); UsageError with the checker's message when refused."""
        if not self.serving:
            raise HttpError(503, "no daemon loop takes settings from this page")
        done: Future = Future()
        try:
            self._queue.put_nowait((request, done))
        except queue.Full:
            raise HttpError(429, "other saves are waiting: try again in a moment") from None
        self.wake()
        try:
            return done.result(timeout)
        except FutureTimeout:
            if done.cancel():  # still queued: it never happens
                raise HttpError(503, f"the daemon did not take the change within {timeout:g} s; nothing was "
                                     f"changed") from None
            return done.result()  # the loop is applying it now

    def serve(self, apply: Callable[[dict], object]) -> None:
        """Run the oldest waiting request through ``apply`` (on the daemon's loop; one per call, so that a user
        saving in a loop costs at most one check per frame). A UsageError is the answer; any other error is logged
        and answered, never raised into the loop."""
        self.serving = True
        try:
            request, done = self._queue.get_nowait()
        except queue.Empty:
            return
        if not done.set_running_or_notify_cancel():  # its page gave up waiting: nothing is done
            return
        try:
            done.set_result(apply(request))
        except UsageError as exc:
            log.warning("page: settings refused: %s", exc)
            done.set_exception(exc)
        except Exception as exc:  # noqa: BLE001 - a bug in a settings change must not end the daemon
            log.exception("page: applying %s failed", sorted(request))
            done.set_exception(HttpError(500, f"internal error: {type(exc).__name__}"))


def configured(status_regions: list[dict] | None) -> list[dict]:
    """The regions the settings name (none: the whole frame, which is not a region) as ``{"name", "box"}``."""
    return [{"name": r["name"], "box": list(r["box"])} for r in status_regions or () if r.get("name") is not None]


def get_regions(page, h) -> None:
    p = page.probe()
    where = p.get("regions_from") or "default regions"
    h.send_json({"regions": configured(p.get("regions")), "from": where, "editable": not _fixed(where)})


def save_regions(page, h) -> None:
    """``{"regions": [{"name", "box": [x0, y0, x1, y1]}, ...]}`` (an empty list: the whole frame again)."""
    body = h.read_json()
    if set(body) != {"regions"}:
        raise HttpError(400, 'give {"regions": [{"name": "door", "box": [x0, y0, x1, y1]}, ...]} and nothing else')
    if not isinstance(body["regions"], list):
        raise HttpError(400, f"regions must be a list of {{name, box}} objects, got {type(body['regions']).__name__}")
    page.desk.submit({"regions": body["regions"]})
    saved = configured(page.probe().get("regions"))
    log.info("page: regions saved: %s", ", ".join(f"{r['name']} {r['box']}" for r in saved) or "the whole frame")
    h.send_json({"regions": saved, "from": page.probe().get("regions_from")})


def _fixed(where: str) -> bool:
    """Set on the command line (``--region``, ``EDGE_LRCN_REGIONS``): the remote layer cannot change it."""
    return where.startswith(("--", "EDGE_LRCN_"))
