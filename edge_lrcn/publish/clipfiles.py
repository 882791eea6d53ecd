"""The clips folder's files, handled without trusting what is in the folder: nothing inside it is followed when
writing or deleting (a symlink is replaced or removed as a link, never its target), and the disk budget knows the
clips from one scan at start, then keeps count as clips come and go (no directory scan per clip).

- :func:`prepare_folder`: the folder and its ``.partial/`` (a ``.partial`` that is a symlink or a file is removed as
  such, never entered); leftovers of a crash there are removed, and a clip the crash cut off gets a sidecar that
  says so (its event's snapshot is not left without a word).
- :func:`write_new`, :func:`atomic_write`: files created with ``O_NOFOLLOW | O_EXCL`` after removing whatever had
  the name.
- :class:`ClipIndex`: the clips (video, sidecar, snapshot) by age and their bytes; the oldest removed first.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import re
import stat
from pathlib import Path

log = logging.getLogger(__name__)

PARTIAL = ".partial"  # files being written; hidden, so `convert` and the budget never see them
NAME_RE = re.compile(r"^(\d{8}T\d{6}\.\d{3}Z_[A-Za-z0-9_-]+)\.(mp4|webm|json|jpg)$")
VIDEO_SUFFIXES = (".mp4", ".webm")
LOST = "the daemon stopped without finishing this clip (killed, or a power cut): the video is lost"


def clear(path: Path) -> None:
    """Remove whatever has this name (a link is removed as a link); a directory is left alone."""
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            os.unlink(path)
    except FileNotFoundError:
        pass


def write_new(path: Path, data: bytes) -> None:
    """Write ``data`` to a file created here and now: never through a link planted under this name."""
    clear(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def atomic_write(path: Path, data: bytes) -> None:
    """Written under ``.partial/`` and renamed into place (a rename replaces a link, it never follows one)."""
    tmp = path.parent / PARTIAL / path.name
    try:
        write_new(tmp, data)
        os.replace(tmp, path)
    except OSError:
        clear(tmp)
        raise


def prepare_folder(folder: Path, clean: bool) -> None:
    """Create ``folder`` and ``folder/.partial`` (a real directory: a link or a file by that name is removed as
    such); with ``clean`` remove what a crash left in it, and say in a sidecar which clips it cut off."""
    partial = folder / PARTIAL
    folder.mkdir(parents=True, exist_ok=True)
    try:
        mode = os.lstat(partial).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISDIR(mode):
        os.unlink(partial)  # never entered: a link's target is not ours
        log.warning("clips folder: %s was %s, not a directory: removed (nothing it pointed to was touched)",
                    partial, "a symlink" if stat.S_ISLNK(mode) else "a file")
        mode = None
    if mode is None:
        os.mkdir(partial, 0o755)
        return
    if clean:
        _clean(folder, partial)


def _clean(folder: Path, partial: Path) -> None:
    with os.scandir(partial) as entries:
        leftovers = [e for e in entries if not e.is_dir(follow_symlinks=False)]
    for entry in leftovers:
        os.unlink(entry.path)
        log.info("removed the unfinished clip file %s (the daemon did not stop cleanly)", entry.name)
        stem, suffix = os.path.splitext(entry.name)
        if suffix in VIDEO_SUFFIXES and NAME_RE.match(f"{stem}.json"):
            _lost_sidecar(folder, stem)


def _lost_sidecar(folder: Path, stem: str) -> None:
    """The event said ``clip`` and ``snapshot``; the clip will never come: its sidecar says so."""
    sidecar = folder / f"{stem}.json"
    if os.path.lexists(sidecar):
        return
    meta = {"label": stem.split("_", 1)[1], "clip": None, "lost": LOST,
            "snapshot": f"{stem}.jpg" if os.path.lexists(folder / f"{stem}.jpg") else None}
    try:
        atomic_write(sidecar, (json.dumps(meta, indent=1) + "\n").encode())
    except OSError as exc:
        log.warning("cannot write %s: %s", sidecar, exc.strerror or exc)


class ClipIndex:
    """The clips of the folder, oldest first, and their bytes: scanned once, then told what is added."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.sizes: dict[str, dict[str, int]] = {}  # stem -> file name -> bytes
        self.stems: list[str] = []  # sorted: the names start with the UTC time
        self.total = 0
        with os.scandir(folder) as entries:
            for e in entries:
                if NAME_RE.match(e.name) and e.is_file(follow_symlinks=False):
                    self._add(e.name, e.stat(follow_symlinks=False).st_size)

    def _add(self, name: str, size: int) -> None:
        stem = NAME_RE.match(name).group(1)
        if stem not in self.sizes:
            self.sizes[stem] = {}
            bisect.insort(self.stems, stem)
        self.total += size - self.sizes[stem].get(name, 0)
        self.sizes[stem][name] = size

    def add(self, path: Path) -> None:
        """A file written into the folder (renamed into place) by this daemon."""
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode) and NAME_RE.match(path.name):
            self._add(path.name, st.st_size)

    def remove_oldest(self, keep: set[str]) -> str | None:
        """Remove the oldest clip not in ``keep`` (its files, as files: a link is removed, not followed)."""
        for stem in self.stems:
            if stem not in keep:
                break
        else:
            return None
        self.stems.remove(stem)
        for name, size in self.sizes.pop(stem).items():
            self.total -= size
            try:
                os.unlink(self.folder / name)
            except FileNotFoundError:
                pass  # removed by hand meanwhile
        return stem
