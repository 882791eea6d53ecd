"""The region editor's side of the page (docs/http.md): ``GET /api/regions`` and ``POST /api/regions``.

A save is one remote-settings request, ``{"regions": [...]}``, and the page does not check it itself: it goes to
the daemon's :class:`~edge_lrcn.fleet.remote.RemoteSettings`, the one checker and writer of ``settings.json`` (the
typed settings of the config file, the command line's precedence, off the frame loop), shared with MQTT's
``<prefix>/set`` when that is on, else one of the page's own. The page waits for its request's answer (a transaction
of its own, unguessable), then until the loop runs the new regions, so a refused region is a 400 with the checker's
own message and an accepted one is live when the answer comes.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from ..errors import UsageError
from .server import HttpError

log = logging.getLogger(__name__)
ANSWER_S = 15.0


class RegionSaves:
    """The page's requests into ``remote`` (a RemoteSettings): their answers are taken out of its ``answer``
    stream (the others go on to where they went: MQTT's ``<prefix>/set/response``). ``own``: the page made it."""

    def __init__(self, remote, own: bool):
        self.remote = remote
        self.own = own
        self._waiting: dict[str, Future] = {}
        self._lock = threading.Lock()
        self._others = remote.answer
        remote.answer = self._answer

    def _answer(self, obj: dict) -> None:
        with self._lock:
            done = self._waiting.pop(obj.get("transaction") or "", None)
        if done is None:
            self._others(obj)
        else:
            done.set_result(obj)

    def save(self, request: dict, timeout: float = ANSWER_S) -> dict:
        """The settings object of the answer (``settings_object``); UsageError with the checker's message."""
        tx = "page-" + secrets.token_hex(8)
        done: Future = Future()
        with self._lock:
            self._waiting[tx] = done
        if not self.remote.submit({**request, "transaction": tx}):
            self._drop(tx)
            raise HttpError(429, "the settings checker is busy: try again in a moment")
        try:
            answer = done.result(timeout)
        except FutureTimeout:
            self._drop(tx)
            raise HttpError(503, f"the settings checker did not answer within {timeout:g} s") from None
        if answer.get("status") != "ok":
            raise UsageError(str(answer.get("error") or "refused"))
        return answer["settings"]

    def _drop(self, tx: str) -> None:
        with self._lock:
            self._waiting.pop(tx, None)

    def close(self) -> None:
        if self.own:
            self.remote.close()


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
    if page.saves is None:
        raise HttpError(503, "no daemon takes settings from this page")
    kept = page.saves.save({"regions": body["regions"]})["regions"]
    deadline = time.monotonic() + ANSWER_S
    while configured(page.probe().get("regions")) != kept:  # kept; the loop takes it between two frames
        if time.monotonic() > deadline:
            raise HttpError(503, f"the regions are kept in settings.json but the daemon did not run them within "
                                 f"{ANSWER_S:g} s (see its log)")
        time.sleep(0.02)
    log.info("page: regions saved: %s", ", ".join(f"{r['name']} {r['box']}" for r in kept) or "the whole frame")
    h.send_json({"regions": kept, "from": page.probe().get("regions_from")})


def _fixed(where: str) -> bool:
    """Set on the command line (``--region``, ``EDGE_LRCN_REGIONS``): the remote layer cannot change it."""
    return where.startswith(("--", "EDGE_LRCN_"))
