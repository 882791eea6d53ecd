"""The device's state directory (the unit's ``StateDirectory``, /var/lib/edge-lrcn): the pushed model that runs
after a restart, the one before it, the settings changed remotely and the pause switch. Every file is written
atomically (a temporary file in the same directory, fsync, rename, fsync of the directory): a power cut leaves the
old file or the new one, never half of one."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from ..config.remote import REMOTE_FILE, remote_bytes

log = logging.getLogger(__name__)
MODEL, PREVIOUS, PAUSED, RELEASE = "model.lrcn", "model.previous.lrcn", "paused", "release"


class StateDir:
    def __init__(self, path: Path):
        self.path = Path(path)

    @property
    def model(self) -> Path:
        return self.path / MODEL

    @property
    def previous(self) -> Path:
        return self.path / PREVIOUS

    def clean(self) -> None:
        """Remove staging files a crash left behind (a push checked when the power went)."""
        for leftover in self.path.glob(".incoming-*") if self.path.is_dir() else ():
            try:
                leftover.unlink()
            except OSError as exc:
                log.warning("cannot remove %s: %s", leftover, exc.strerror or exc)

    def stage(self, data: bytes) -> Path:
        """Write ``data`` to a new hidden file here (fsynced); the caller commits or removes it."""
        self.path.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".incoming-", suffix=".lrcn", dir=self.path)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            os.unlink(name)
            raise
        return Path(name)

    def commit(self, staged: Path) -> None:
        """The staged bundle becomes ``model.lrcn``; the one it replaces becomes ``model.previous.lrcn``."""
        if self.model.exists():
            os.replace(self.model, self.previous)
        os.replace(staged, self.model)
        self._sync()

    @property
    def release(self) -> str:
        """The signed release time of the last push accepted ("" when none is kept)."""
        try:
            with open(self.path / RELEASE, "rb") as f:
                return f.read(64).decode("ascii", "replace").strip()
        except OSError:
            return ""

    def write_release(self, release: str) -> None:
        self._write(RELEASE, release.encode() + b"\n")

    def write_settings(self, values: dict) -> None:
        """Keep the remote settings (config.remote owns the file's name and format)."""
        self._write(REMOTE_FILE, remote_bytes(values))

    @property
    def paused(self) -> bool:
        return (self.path / PAUSED).exists()

    def set_paused(self, paused: bool) -> None:
        if paused:
            self._write(PAUSED, b"paused remotely: <prefix>/set {\"paused\": false} resumes\n")
        else:
            (self.path / PAUSED).unlink(missing_ok=True)
            self._sync()

    def _write(self, name: str, data: bytes) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self.commit_as(self.stage(data), name)

    def commit_as(self, staged: Path, name: str) -> None:
        os.replace(staged, self.path / name)
        self._sync()

    def _sync(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)
