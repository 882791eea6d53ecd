"""The clips' disk budget: the oldest clips go first (video, sidecar and snapshot together) until the folder is
within ``clips_max_mb`` and the disk keeps the room a new clip needs. docs/clips.md."""

from __future__ import annotations

import logging
import shutil

from .clipfiles import ClipIndex

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
