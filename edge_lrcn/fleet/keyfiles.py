"""Reading trusted key files as OpenSSH's StrictModes reads ``authorized_keys``: a key file, and the folder it is
in, that someone else could write is refused with the command that fixes it; only regular files are read, and
without blocking (a FIFO named ``*.pub`` is refused, not waited on); every line of a ``.pub`` is a key, or the
file is refused naming the line."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import UsageError

KEY_FILE_MAX = 64 * 1024  # a .pub is one short line per key


def check_owner_and_mode(path: Path, st: os.stat_result, what: str) -> None:
    """UsageError when ``path`` may be changed by someone other than root or this process's user."""
    if st.st_uid not in (0, os.geteuid()):
        raise UsageError(f"{what} {path} belongs to uid {st.st_uid}, not root or this user: refused (sudo chown root "
                         f"{path})")
    if st.st_mode & 0o022:
        raise UsageError(f"{what} {path} is writable by group or others: refused (sudo chmod go-w {path})")


def check_folder(folder: Path) -> None:
    """The folder of trusted keys: whoever may write in it may add a key."""
    try:
        st = os.stat(folder)
    except OSError as exc:
        raise UsageError(f"cannot read the trusted key folder {folder}: {exc.strerror or exc}") from None
    check_owner_and_mode(folder, st, "trusted key folder")


def read_key_file(path: Path) -> str:
    """The text of a key file: a regular file (opened without blocking), owned by root or this user, writable by
    nobody else, at most ``KEY_FILE_MAX`` bytes of UTF-8; UsageError naming the problem and its fix otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise UsageError(f"cannot read the public key {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"the public key {path} is not a regular file: refused")
        check_owner_and_mode(path, st, "the public key")
        data = f.read(KEY_FILE_MAX + 1)
    if len(data) > KEY_FILE_MAX:
        raise UsageError(f"the public key file {path} is over {KEY_FILE_MAX} bytes: refused")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"the public key file {path} is not UTF-8 text: refused") from None


def key_lines(text: str) -> list[tuple[int, list[str]]]:
    """The key lines of a ``.pub`` (blank lines and ``#`` comments skipped), with their line numbers."""
    return [(n, line.split()) for n, line in enumerate(text.splitlines(), 1)
            if line.strip() and not line.lstrip().startswith("#")]
