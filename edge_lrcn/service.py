"""The daemon as a service: the systemd notify protocol (READY, STATUS, WATCHDOG, STOPPING, written directly on the
AF_UNIX datagram socket; a no-op without NOTIFY_SOCKET), the watchdog and STATUS cadence, and the periodic stats."""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from typing import Callable

from .config.sections import EventSettings, ServiceSettings

log = logging.getLogger(__name__)


def tasks_limit(proc_cgroup: str = "/proc/self/cgroup", root: str = "/sys/fs/cgroup") -> int | None:
    """The most tasks (threads) this process's cgroup allows (the unit's ``TasksMax=``, the pids controller's
    ``pids.max``); None when unlimited or unknown."""
    return cgroup_limit("pids", "pids.max", "pids.max", proc_cgroup, root)


def memory_limit(proc_cgroup: str = "/proc/self/cgroup", root: str = "/sys/fs/cgroup") -> int | None:
    """The most memory (bytes) this process's cgroup may use (the unit's ``MemoryMax=``: ``memory.max``, or cgroup
    v1's ``memory.limit_in_bytes``); None when unlimited or unknown."""
    limit = cgroup_limit("memory", "memory.max", "memory.limit_in_bytes", proc_cgroup, root)
    return limit if limit is not None and limit < 1 << 60 else None  # v1 says "no limit" with a huge number


def cgroup_limit(controller: str, v2_file: str, v1_file: str, proc_cgroup: str, root: str) -> int | None:
    """A limit of this process's cgroup: ``v2_file`` of its cgroup v2 directory, else ``v1_file`` of the
    ``controller`` hierarchy; None when unlimited (``max``) or unknown."""
    try:
        with open(proc_cgroup) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        hierarchy, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if hierarchy == "0" and controllers == "":
            candidate = f"{root}{path}/{v2_file}"  # cgroup v2
        elif controller in controllers.split(","):
            candidate = f"{root}/{controller}{path}/{v1_file}"  # cgroup v1
        else:
            continue
        try:
            with open(candidate) as f:
                value = f.read().strip()
        except OSError:
            continue
        if value.isdigit():
            return int(value)
    return None


class Notifier:
    def __init__(self, environ=None):
        env = os.environ if environ is None else environ
        addr = env.get("NOTIFY_SOCKET")
        self.sock = None
        self.addr = None
        if addr:
            if addr.startswith("@"):  # abstract namespace
                addr = "\0" + addr[1:]
            self.addr = addr
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            except OSError as exc:
                log.warning("cannot create the systemd notify socket: %s", exc)
        usec = env.get("WATCHDOG_USEC")
        pid = env.get("WATCHDOG_PID")
        self.watchdog_interval = None
        if usec and usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog_interval = int(usec) / 1e6 / 2  # ping at half the timeout, as sd_watchdog_enabled advises

    @property
    def enabled(self) -> bool:
        return self.sock is not None

    def send(self, *lines: str) -> None:
        if not self.sock:
            return
        try:
            self.sock.sendto("\n".join(lines).encode(), self.addr)
        except OSError as exc:  # systemd restarting: never fatal
            log.debug("sd_notify failed: %s", exc)

    def ready(self, status: str = "") -> None:
        self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def close(self) -> None:
        if self.sock:
            self.sock.close()
            self.sock = None


@dataclass
class Totals:
    """What the stats and STATUS= say: the classifier's and the camera's running totals, the camera state and the
    current activity."""

    frames: int
    kept: int
    windows: int
    encode_s: float
    head_s: float
    skipped: int
    dropped: int
    reopens: int
    camera_online: bool = True
    activity: str = "none"
    control: str = ""  # the fleet control connection's state ("control up", "control down, restarted 1x")


class Health:
    """What the service manager and the operators hear, at their own cadence, while frames flow or not: WATCHDOG=1
    at half the watchdog timeout but only while frames advance (a stuck pipeline gets restarted), STATUS= every
    ``STATUS_EVERY_S`` and a stats object every ``stats_interval`` seconds (0: off), the camera offline included."""

    STATUS_EVERY_S = 5.0

    def __init__(self, notifier: Notifier, clock: Callable[[], float], watchdog: bool = True,
                 stats_interval: float = 60.0):
        self.notifier, self.clock = notifier, clock
        self.watchdog, self.stats_interval = watchdog, stats_interval
        self._advanced = False
        now = clock()
        self._last_ping = self._last_status = self._last_stats = now
        self._window_start = now
        self._window_totals: Totals | None = None

    def apply(self, service: ServiceSettings, events: EventSettings) -> None:
        """A reload: the watchdog switch ([service]) and the stats interval ([events])."""
        self.watchdog = service.watchdog
        self.stats_interval = events.stats_interval

    def start(self, totals: Totals) -> None:
        """Rates count from here (the first frame), not from model loading."""
        self._window_start = self._last_stats = self.clock()
        self._window_totals = totals

    def tick(self, advanced: bool, totals: Callable[[], Totals]) -> dict | None:
        """Called every turn of the loop (``advanced``: a frame was kept); the stats fields when they are due."""
        self._advanced |= advanced
        now = self.clock()
        interval = self.notifier.watchdog_interval
        if interval and self.watchdog and self._advanced and now - self._last_ping >= interval:
            self.notifier.watchdog()
            self._last_ping, self._advanced = now, False
        if self.notifier.enabled and now - self._last_status >= self.STATUS_EVERY_S:
            self._last_status = now
            t = totals()
            fps = (t.kept - self._base.kept) / max(1e-6, now - self._window_start)
            self.notifier.status(f"{fps:.1f} fps kept, activity {t.activity}, camera "
                                 f"{'online' if t.camera_online else 'offline'}" + (f", {t.control}" if t.control
                                                                                    else ""))
        if self.stats_interval and now - self._last_stats >= self.stats_interval:
            return self.stats(totals())
        return None

    def frames_stopped(self) -> None:
        """The camera dropped: the frames kept before it no longer vouch for a live pipeline (no stale WATCHDOG=1)."""
        self._advanced = False

    @property
    def _base(self) -> Totals:
        return self._window_totals or Totals(0, 0, 0, 0.0, 0.0, 0, 0, 0)

    def stats(self, totals: Totals) -> dict:
        """The fields of a stats object over the window since the last one; starts the next window."""
        now = self.clock()
        base, dt = self._base, max(1e-6, now - self._window_start)
        kept, windows = totals.kept - base.kept, totals.windows - base.windows
        fields = {"fps_in": round((totals.frames - base.frames) / dt, 2), "fps_kept": round(kept / dt, 2),
                  "encoder_ms": round(1000 * (totals.encode_s - base.encode_s) / max(1, kept), 3),
                  "head_ms": round(1000 * (totals.head_s - base.head_s) / max(1, windows), 3),
                  "frames_in": totals.frames, "frames_kept": totals.kept, "windows": totals.windows,
                  "frames_skipped": totals.skipped, "frames_dropped": totals.dropped,
                  "camera": "online" if totals.camera_online else "offline", "camera_reopens": totals.reopens,
                  "activity": totals.activity, **({"control": totals.control} if totals.control else {})}
        self._window_start = self._last_stats = now
        self._window_totals = totals
        return fields
