"""Who may use the page: the password (``http_password_file``), session cookies, and the Host/Origin checks that
are the page's CSRF and DNS-rebinding defence (docs/http.md)."""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import threading
import time
from collections import OrderedDict
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import UsageError

COOKIE = "edge_lrcn_session"
SESSION_S = 7 * 24 * 3600
MAX_SESSIONS = 64
LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_password(path: str | None, host: str) -> str | None:
    """The password, or None on loopback without one; UsageError (exit 2) for a non-loopback bind without one."""
    if not path:
        if not is_loopback(host):
            raise UsageError(f"http {host}: binding anything but loopback needs http_password_file (a file holding "
                             f"the page's password)")
        return None
    try:
        password = Path(path).read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"http_password_file {path}: cannot read it: {getattr(exc, 'strerror', None) or exc}") \
            from None
    if len(password) < 8:
        raise UsageError(f"http_password_file {path}: the password must be at least 8 characters")
    return password


class Guard:
    """Sessions (random tokens, in memory, bounded) and the checks every request goes through."""

    def __init__(self, password: str | None, bind_host: str):
        self.password = password
        self.loopback_only = is_loopback(bind_host)
        self._sessions: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def login(self, password: str) -> str | None:
        """A new session token for the right password; None (after a pause that slows guessing) otherwise."""
        if self.password is None or not hmac.compare_digest(password.encode(), self.password.encode()):
            time.sleep(1.0)
            return None
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[token] = time.monotonic() + SESSION_S
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        return token

    def logout(self, token: str | None) -> None:
        with self._lock:
            self._sessions.pop(token or "", None)

    def session_ok(self, token: str | None) -> bool:
        if self.password is None:
            return True
        with self._lock:
            expiry = self._sessions.get(token or "")
            return expiry is not None and expiry > time.monotonic()

    def host_problem(self, host_header: str | None) -> str | None:
        """A server bound to loopback answers only to a loopback Host (a DNS-rebinding page names its own)."""
        if not host_header:
            return "no Host header"
        if self.loopback_only and not is_loopback(urlsplit("//" + host_header).hostname or ""):
            return f"Host {host_header!r} is not this loopback server"
        return None

    @staticmethod
    def origin_problem(origin: str | None, host_header: str | None) -> str | None:
        """A request that changes something must come from the page's own origin (a browser always says where a
        cross-site request comes from); tools without an Origin header (curl) are judged by the session alone."""
        if origin is None:
            return None
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or parts.netloc.lower() != (host_header or "").lower():
            return f"cross-origin request from {origin!r} refused"
        return None
