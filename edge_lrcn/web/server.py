"""The HTTP server: the standard library's ThreadingHTTPServer (no new dependency on devices; measured against
aiohttp and Starlette/uvicorn in docs/http.md), a thread per connection, at most MAX_CONNECTIONS at once (more are
answered 503 and closed), socket timeouts so that a stalled viewer only ever holds its own thread."""

from __future__ import annotations

import json
import logging
import mimetypes
import os
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from ..errors import UsageError
from .auth import COOKIE, Guard, read_password

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
MAX_CONNECTIONS = 16
MAX_BODY = 16 * 1024
SOCKET_TIMEOUT_S = 10.0
CHUNK = 256 * 1024


@dataclass(frozen=True)
class PageOptions:
    host: str
    port: int
    password_file: str | None = None
    dataset_dir: str | None = None
    clips_dir: str | None = None
    idle_labels: tuple[str, ...] = ("idle",)
    previous_model: str | None = None  # the bundle a fleet push replaced (fleet/state.py)

    @classmethod
    def of(cls, settings) -> PageOptions | None:
        """From the typed settings (``settings.http``, ``settings.clips``); None when the page is off."""
        bind = settings.http.http
        if bind is None:
            return None
        return cls(bind.host, bind.port, settings.http.http_password_file, settings.clips.dataset_dir,
                   settings.clips.clips_dir, tuple(settings.mqtt.idle_labels or ("idle",)))


class PageServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 16

    def __init__(self, opts: PageOptions, app):
        self.app = app
        self.guard = Guard(read_password(opts.password_file, opts.host), opts.host)
        self.stopping = threading.Event()
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        if ":" in opts.host:
            import socket

            self.address_family = socket.AF_INET6
        try:
            super().__init__((opts.host, opts.port), Handler)
        except OSError as exc:
            raise UsageError(f"http {opts.host}:{opts.port}: cannot listen: {exc.strerror or exc}") from None

    def process_request(self, request, client_address):
        if not self._slots.acquire(blocking=False):
            try:
                request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request, client_address):
        log.debug("page: request from %s failed", client_address, exc_info=True)


class HttpError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Handler(BaseHTTPRequestHandler):
    """The plumbing every route uses: checks, JSON in and out, files. The routes are in api.py."""

    server: PageServer  # the server that made this handler (BaseRequestHandler types it as BaseServer)
    timeout = SOCKET_TIMEOUT_S
    server_version = "edge-lrcn"
    sys_version = ""

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        try:
            url = urlsplit(self.path)
            self.query = parse_qs(url.query)
            self._check(method, url.path)
            self.server.app.route(self, "GET" if method == "HEAD" else method, url.path)
        except HttpError as exc:
            self.send_json({"error": str(exc)}, exc.status)
        except UsageError as exc:
            self.send_json({"error": str(exc)}, 400)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass
        except Exception as exc:  # a bug answers 500 and is logged; it never reaches the daemon
            log.exception("page: %s %s failed", method, self.path)
            self.send_json({"error": f"internal error: {type(exc).__name__}"}, 500)

    def _check(self, method: str, path: str) -> None:
        guard = self.server.guard
        problem = guard.host_problem(self.headers.get("Host"))
        if problem:
            raise HttpError(403, problem)
        if method not in ("GET", "HEAD"):
            problem = guard.origin_problem(self.headers.get("Origin"), self.headers.get("Host"))
            if problem:
                raise HttpError(403, problem)
        public = path in ("/", "/api/login", "/api/session") or path.startswith("/static/")
        if not public and not guard.session_ok(self.session_token()):
            raise HttpError(401, "log in first (POST /api/login)")

    def session_token(self) -> str | None:
        for part in (self.headers.get("Cookie") or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE:
                return value
        return None

    def read_json(self) -> dict:
        try:
            length = int(self.headers.get("Content-Length") or "")
        except ValueError:
            raise HttpError(411, "a JSON body with a Content-Length is needed") from None
        if length < 0:
            raise HttpError(400, f"bad Content-Length {length}")
        if length > MAX_BODY:
            raise HttpError(413, f"the body is over {MAX_BODY} bytes")
        try:
            body = json.loads(self.rfile.read(length) or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise HttpError(400, f"the body is not JSON: {exc}") from None
        except RecursionError:  # "[[[[..." within the size limit: the decoder's recursion, not a bug here
            raise HttpError(400, "the body is not JSON this page reads: nested too deeply") from None
        if not isinstance(body, dict):
            raise HttpError(400, "the body must be a JSON object")
        return body

    def send_json(self, obj, status: int = 200, headers: dict | None = None) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_file(self, path: Path, ctype: str | None = None) -> None:
        """A regular file (opened without following a symlink), with single Range requests (video seeking)."""
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            start, end = self._range(size)
            self.send_response(206 if (start, end) != (0, size - 1) else 200)
            self.send_header("Content-Type", ctype or mimetypes.guess_type(path.name)[0] or "application/octet-stream")
            self.send_header("Content-Length", str(max(0, end - start + 1)))
            self.send_header("Accept-Ranges", "bytes")
            if (start, end) != (0, size - 1):
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.end_headers()
            if self.command == "HEAD":
                return
            f.seek(start)
            left = end - start + 1
            while left > 0 and (chunk := f.read(min(CHUNK, left))):
                self.wfile.write(chunk)
                left -= len(chunk)

    def _range(self, size: int) -> tuple[int, int]:
        m = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range") or "")
        if not m or not (m.group(1) or m.group(2)):
            return 0, size - 1
        if not m.group(1):
            return max(0, size - int(m.group(2))), size - 1
        start, end = int(m.group(1)), min(size - 1, int(m.group(2) or size - 1))
        if start > end:
            raise HttpError(416, f"range {start}-{end} outside the {size} bytes")
        return start, end

    def log_message(self, fmt, *args):
        log.debug("page: %s - %s", self.address_string(), fmt % args)
