"""Files written whole or not at all, never through a link planted under their name.

Policy on fsync: ALWAYS. What goes through :func:`atomic_write` / :func:`replacing` is a file a power cut must not
leave empty or half-written under its real name (a kept model, a release stamp, remote settings, the pause switch, a
signed bundle, a clip's sidecar or snapshot, a dataset clip): the data is fsynced before the rename, and the folder
after it, so after a power cut the name holds either the old file or the new one. These files are written once per
push, setting change or activity (never per frame), so the cost (milliseconds; more on an SD card) is off the frame
loop and small. The clips' videos are renamed into place without an fsync of their own (megabytes each, written by
the encoder): after a power cut their sidecar may outlive them, which ``edge-lrcn`` reports as a lost clip.

- :func:`clear`: remove whatever has a name (a link as a link; a directory is left alone).
- :func:`write_new`: a file created here and now (``O_EXCL | O_NOFOLLOW``), fsynced.
- :func:`replacing`: a context giving a temporary path to fill; renamed over the target on success, removed on failure.
- :func:`atomic_write`: bytes through :func:`replacing`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def clear(path: Path) -> None:
    """Remove whatever has this name (a link is removed as a link); a directory is left alone."""
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            os.unlink(path)
    except FileNotFoundError:
        pass


def write_new(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to a file created here and now, fsynced: never through a link planted under this name."""
    clear(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def fsync_path(path: Path) -> None:
    """fsync a file or a folder by name (a folder: so that a rename in it survives a power cut); best effort for a
    folder, whose fsync some filesystems refuse."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        if path.is_dir():
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not path.is_dir():
            raise
    finally:
        os.close(fd)


@contextmanager
def replacing(path: Path, staging: Path | None = None) -> Iterator[Path]:
    """Yield a temporary path (in ``staging``, default: ``path``'s folder, a hidden name) for the caller to fill;
    on success it is fsynced and renamed over ``path`` (a rename replaces a link, it never follows one) and the
    folder fsynced; on any failure it is removed and the error raised."""
    tmp = (staging / path.name) if staging is not None else path.with_name(f".{path.name}.tmp")
    clear(tmp)
    try:
        yield tmp
        fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        clear(tmp)
        raise
    fsync_path(path.parent)


def atomic_write(path: Path, data: bytes, staging: Path | None = None) -> None:
    """``data`` under ``path``, whole or not at all (see :func:`replacing`)."""
    with replacing(path, staging) as tmp:
        write_new(tmp, data)
