"""The clips folder's disk budget: the oldest clips go first (video, sidecar and snapshot together) until the folder
is within ``clips_max_mb`` and the disk keeps the room a new clip needs (:func:`enforce_budget`), applied by the
writer thread through :class:`ClipFolder`. docs/clips.md."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from .clip import MIN_FREE_BYTES, Clip
from .clipfiles import ClipIndex, prepare_folder

log = logging.getLogger(__name__)


def enforce_budget(index: ClipIndex, max_bytes: float, keep: set[str], free_bytes: float = 0,
                   open_bytes: int = 0) -> int:
    """Remove the oldest clips (video, sidecar and snapshot together) until the folder holds at most ``max_bytes``
    and the disk has ``free_bytes`` free (a disk that others filled); the clips named in ``keep`` stay. Only files
    named like clips are touched, from the index (no directory scan). Returns how many were removed."""
    total = index.total + open_bytes
    limit = min(max_bytes, total - (free_bytes - shutil.disk_usage(index.folder).free))
    removed = 0
    while total > limit:
        stem = index.remove_oldest(keep)
        if stem is None:
            break
        total = index.total + open_bytes
        removed += 1
        log.info("clips over their budget or the disk full: removed %s", stem)
    return removed


class ClipFolder:
    """The clips folder as the writer thread sees it: prepared and read once (:meth:`prepare`), each file written
    added to the index, the budget applied with room kept for a clip like the last one (twice what a clip the full
    disk stopped had reached)."""

    def __init__(self, path: Path, max_bytes: float):
        self.path = path
        self.max_bytes = max_bytes
        self.index: ClipIndex | None = None
        self.removed = 0
        self.last_bytes = MIN_FREE_BYTES  # size of the last clip written: the room a new one probably needs

    def prepare(self, clean: bool) -> None:
        """Create the folder and its .partial/ (``clean``, at start: a power cut's unplayable leftovers removed) and
        read the folder's clips once; OSError when it is unusable."""
        prepare_folder(self.path, clean=clean)
        if self.index is None:
            self.index = ClipIndex(self.path)

    def known(self) -> ClipIndex:
        """The folder's clips; OSError while the folder could not be read."""
        if self.index is None:
            raise OSError(f"clips folder {self.path} not readable")
        return self.index

    def add(self, path: Path) -> None:
        self.known().add(path)

    def finished(self, stem: str) -> None:
        self.last_bytes = sum(self.known().sizes.get(stem, {}).values())

    def abandoned(self, reached: int) -> None:
        self.last_bytes = max(self.last_bytes, 2 * reached)

    def make_room(self, open_clips: list[Clip], newest: str | None) -> None:
        """The oldest clips go first; the newest and the open ones stay. OSError from the disk."""
        keep = {c.stem for c in open_clips} | ({newest} if newest else set())
        self.removed += enforce_budget(self.known(), self.max_bytes, keep, MIN_FREE_BYTES + self.last_bytes,
                                       sum(c.bytes for c in open_clips))
