"""The page's JSON API (docs/http.md) and the object the daemon holds: :class:`Page`. The daemon's loop calls
:meth:`Page.seen` per frame and :meth:`Page.event` per event (references and a deque append, no lock, no encoding);
everything else runs on the server's threads."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..dataset import add_clip, check_label
from ..errors import UsageError
from . import editor, library
from .auth import COOKIE, SESSION_S
from .live import LiveFeed
from .review import EventLog
from .server import STATIC, HttpError, PageOptions, PageServer

log = logging.getLogger(__name__)
STATIC_FILES = {p.name: p for p in STATIC.iterdir() if p.is_file()} if STATIC.is_dir() else {}


class Page:
    def __init__(self, opts: PageOptions, labels: list[str]):
        self.opts = opts
        self.feed = LiveFeed()
        self.events = EventLog(Path(opts.clips_dir) if opts.clips_dir else None)
        self.labels = list(labels)
        self.probe: Callable[[], dict] = lambda: {}
        self.bundle: Callable[[], Any] = lambda: None  # the running Bundle, or None
        self.recording = threading.Lock()
        self.saves: editor.RegionSaves | None = None  # the region editor's way into the remote settings
        self._last = (time.monotonic(), 0)
        self.server = PageServer(opts, self)  # binds now: a port in use is exit 2 at start
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.5},
                                       name="page", daemon=True)

    # ---- the daemon's side ----------------------------------------------------------------------------------------
    def start(self, probe, bundle=None, remote=None, own_remote: bool = False) -> None:
        """``probe()`` reads what the status shows from the daemon's objects, ``bundle()`` the running bundle (read
        only, called by the server's threads); ``remote``: the RemoteSettings that checks and keeps region saves
        (``own_remote``: made for the page, closed with it)."""
        self.probe = probe
        self.bundle = bundle or self.bundle
        self.saves = editor.RegionSaves(remote, own_remote) if remote is not None else None
        self.thread.start()
        host = f"[{self.opts.host}]" if ":" in self.opts.host else self.opts.host
        log.info("page on http://%s:%d/", host, self.server.server_address[1])

    def seen(self, frame, probs: dict) -> None:
        self.feed.seen(frame, probs)

    def event(self, ev: dict) -> None:
        self.events.event(ev)

    def close(self) -> None:
        if self.saves:
            self.saves.close()
        self.server.stopping.set()
        if self.thread.is_alive():
            self.server.shutdown()
        self.server.server_close()

    # ---- routes ---------------------------------------------------------------------------------------------------
    def route(self, h, method: str, path: str) -> None:
        for m, pattern, fn in ROUTES:
            match = re.fullmatch(pattern, path)
            if match and m == method:
                return fn(self, h, *match.groups())
        if any(re.fullmatch(p, path) for _, p, _ in ROUTES):
            raise HttpError(405, f"{method} is not allowed on {path}")
        raise HttpError(404, f"nothing at {path}")

    def static(self, h, name: str = "index.html") -> None:
        if name not in STATIC_FILES:
            raise HttpError(404, f"no file {name!r}")
        h.send_file(STATIC_FILES[name])

    def session(self, h) -> None:
        g = h.server.guard
        h.send_json({"password": g.password is not None, "logged_in": g.session_ok(h.session_token())})

    def login(self, h) -> None:
        password = h.read_json().get("password")
        if not isinstance(password, str):
            raise HttpError(400, 'give {"password": "..."}')
        token = h.server.guard.login(password)
        if token is None:
            raise HttpError(401, "wrong password")
        cookie = f"{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={SESSION_S}"
        h.send_json({"logged_in": True}, headers={"Set-Cookie": cookie})

    def logout(self, h) -> None:
        h.server.guard.logout(h.session_token())
        h.send_json({"logged_in": False}, headers={"Set-Cookie": f"{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; "
                                                                 f"Max-Age=0"})

    def status(self, h) -> None:
        h.send_json(self.status_dict())

    def status_dict(self) -> dict:
        p = self.probe()
        now, kept = time.monotonic(), p.get("kept", 0)
        t0, k0 = self._last
        fps = (kept - k0) / (now - t0) if now - t0 > 0.2 and kept >= k0 else None
        if now - t0 > 0.2:
            self._last = (now, kept)
        labels = p.get("labels") or self.labels
        size = self.feed.size
        return {**{k: v for k, v in p.items() if k not in ("kept", "regions")}, "labels": labels, "fps": fps,
                "size": list(size) if size else None, "regions": self.regions(p, labels),
                "viewers": self.feed.viewers, "jpegs_encoded": self.feed.encoded,
                "idle_label": self.idle_label(labels), "dataset": bool(self.opts.dataset_dir)}

    def regions(self, p: dict, labels) -> list[dict]:
        """The daemon's regions (settings.camera.regions; one, the whole frame, without) with their last scores."""
        probs = self.feed.probs
        regions = p.get("regions") or [{"name": None, "box": [0.0, 0.0, 1.0, 1.0], "activity": p.get("activity"),
                                        "confidence": p.get("confidence")}]
        return [{**r, "name": r["name"] or "frame", "scores": _scores(labels, probs.get(r["name"]))}
                for r in regions]

    def idle_label(self, labels) -> str:
        idle = {x.lower() for x in self.opts.idle_labels}
        return next((lab for lab in labels if lab.lower() in idle), "idle")

    def live_jpg(self, h) -> None:
        got = self.feed.jpeg()
        if got is None:
            raise HttpError(503, "no frame yet (is the camera online?)")
        h.send_response(200)
        h.send_header("Content-Type", "image/jpeg")
        h.send_header("Content-Length", str(len(got[1])))
        h.send_header("Cache-Control", "no-store")
        h.end_headers()
        h.wfile.write(got[1])

    def live_mjpg(self, h) -> None:
        if not self.feed.viewer():
            raise HttpError(503, f"{self.feed.viewers} viewers already watch: at most that many at once")
        try:
            h.send_response(200)
            h.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            h.send_header("Cache-Control", "no-store")
            h.end_headers()
            h.close_connection = True
            self.feed.stream(lambda b: (h.wfile.write(b), h.wfile.flush()), h.server.stopping)
        finally:
            self.feed.release()

    def list_events(self, h) -> None:
        h.send_json({"events": self.events.listing(), "dataset_dir": self.opts.dataset_dir})

    def snapshot(self, h, eid: str) -> None:
        path = self.events.snapshot(eid)
        if path is None:
            raise HttpError(404, f"no snapshot for event {eid!r}")
        h.send_file(path, "image/jpeg")

    def clip(self, h, eid: str) -> None:
        path = self.events.file(eid, "clip") if h.query.get("original") else self.events.browser_clip(eid)
        if path is None:
            raise HttpError(404, f"no finished clip for event {eid!r}")
        h.send_file(path)

    def label(self, h, eid: str) -> None:
        body = h.read_json()
        meta = self.events.sidecar(eid)
        if meta is None:
            raise HttpError(404, f"no finished clip for event {eid!r} (unknown, or still being recorded)")
        label = self.idle_label(self.labels) if body.get("false_alarm") is True else body.get("label")
        if not isinstance(label, str):
            raise HttpError(400, 'give {"label": "..."} or {"false_alarm": true}')
        check_label(label)
        data = library.dataset_dir(self)
        clip = self.events.file(eid, "clip")
        if clip is None:  # gone since the sidecar was read
            raise HttpError(404, f"no finished clip for event {eid!r} (unknown, or still being recorded)")
        dest = add_clip(clip, label, data, meta)
        self.events.labelled[eid] = label
        log.info("page: event %s labelled %s: %s", eid, label, dest)
        h.send_json({"id": eid, "label": label, "model_said": meta.get("label"),
                     "path": str(dest.relative_to(data))})


EID = r"([^/]{1,160})"
ROUTES: list[tuple[str, str, Callable[..., None]]] = [  # (method, path pattern, fn(page, handler, *groups))
    ("GET", r"/", Page.static), ("GET", r"/static/([^/]{1,64})", Page.static),
    ("GET", r"/api/session", Page.session), ("POST", r"/api/login", Page.login), ("POST", r"/api/logout", Page.logout),
    ("GET", r"/api/status", Page.status), ("GET", r"/api/model", library.model),
    ("GET", r"/api/live\.jpg", Page.live_jpg),
    ("GET", r"/api/live\.mjpg", Page.live_mjpg), ("GET", r"/api/events", Page.list_events),
    ("GET", rf"/api/events/{EID}/snapshot", Page.snapshot), ("GET", rf"/api/events/{EID}/clip", Page.clip),
    ("POST", rf"/api/events/{EID}/label", Page.label), ("GET", r"/api/dataset", library.dataset),
    ("POST", r"/api/dataset/delete", library.dataset_delete), ("GET", r"/api/dataset\.zip", library.dataset_zip),
    ("POST", r"/api/record", library.record),
    ("GET", r"/api/regions", editor.get_regions), ("POST", r"/api/regions", editor.save_regions),
]


def _scores(labels, probs) -> dict:
    return {lab: round(float(x), 4) for lab, x in zip(labels, probs, strict=True)} if probs is not None else {}


def make_page(settings, labels: list[str]) -> Page | None:
    """The page the settings ask for (``http``), bound now; None when it is off. UsageError: exit 2."""
    from ..config import state_dir
    from ..fleet.state import PREVIOUS

    opts = PageOptions.of(settings)
    if opts is None:
        return None
    opts = replace(opts, previous_model=str(state_dir(settings.fleet) / PREVIOUS))
    if opts.dataset_dir and Path(opts.dataset_dir).exists() and not Path(opts.dataset_dir).is_dir():
        raise UsageError(f"dataset_dir {opts.dataset_dir} is not a folder")
    return Page(opts, labels)
