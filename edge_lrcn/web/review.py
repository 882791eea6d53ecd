"""The events the page lists: the recent ones from memory (an activity still going on, a clip still being
written) and the finished clips' sidecars on disk (after a restart too); each clip in a form browsers play.

Today's default clip (mp4v) does not play in a browser, and writing every clip as VP8 would cost the daemon about
10x the encoding CPU all the time. So the browser form (VP8 WebM, at most 640 wide) is made the first time someone
opens a clip, on the viewer's thread (niced below the frame loop, one at a time), and kept beside the clip
(``<stem>.webm``: the disk budget removes it with the clip). A daemon nobody looks at pays nothing.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import threading
from collections import deque
from pathlib import Path

import cv2

from ..publish.clips import PARTIAL, clip_stem, fit_width

log = logging.getLogger(__name__)
ID_RE = re.compile(r"\d{8}T\d{6}\.\d{3}Z_[A-Za-z0-9_-]{1,140}")  # a region (64) and a label (64): clip_stem
MAX_EVENTS = 100
BROWSER_WIDTH = 640
_transcoding = threading.Lock()


def regular_file(folder: Path, name: str) -> Path | None:
    """``folder/name`` if it is a regular file right in ``folder`` (no separator, no symlink), else None."""
    if not name or Path(name).name != name or name.startswith("."):
        return None
    path = folder / name
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return path if stat.S_ISREG(st.st_mode) else None


class EventLog:
    """Frame loop side: :meth:`event` (a deque append). Page side: :meth:`listing`, :meth:`sidecar`."""

    def __init__(self, clips_dir: Path | None):
        self.clips_dir = Path(clips_dir) if clips_dir else None
        self._recent: deque[dict] = deque(maxlen=4 * MAX_EVENTS)
        self.labelled: dict[str, str] = {}

    def event(self, ev: dict) -> None:
        if ev.get("type") in ("activity_start", "activity_end"):
            self._recent.append(dict(ev))

    def _from_memory(self) -> dict[str, dict]:
        items: dict[str, dict] = {}
        open_by_label: dict[tuple, str] = {}  # (region, label) -> the open activity's id
        for ev in list(self._recent):
            if ev["type"] == "activity_start":
                eid = clip_stem(ev)
                items[eid] = {"id": eid, "label": ev["label"], "region": ev.get("region"),
                              "confidence": ev.get("confidence"), "start": ev["ts"], "end": None,
                              "model": ev.get("model"), "file": ev.get("clip"), "snapshot": ev.get("snapshot")}
                open_by_label[(ev.get("region"), ev["label"])] = eid
            elif (ev.get("region"), ev["label"]) in open_by_label:
                items[open_by_label.pop((ev.get("region"), ev["label"]))]["end"] = ev["ts"]
        return items

    def _from_disk(self) -> dict[str, dict]:
        if self.clips_dir is None or not self.clips_dir.is_dir():
            return {}
        names = sorted((p.name for p in self.clips_dir.glob("*.json") if ID_RE.fullmatch(p.stem)), reverse=True)
        items = {}
        for name in names[:MAX_EVENTS]:
            meta = self.sidecar(name[:-5])
            if meta is not None:
                items[name[:-5]] = {"id": name[:-5], "file": meta.get("clip"), **{k: meta.get(k) for k in (
                    "label", "region", "confidence", "peak", "start", "end", "model", "snapshot", "duration_s")}}
        return items

    def listing(self) -> list[dict]:
        items = self._from_memory()
        disk = self._from_disk()
        for item in items.values():
            item["status"] = "no clip" if self.clips_dir is None else "recording"
        items.update({eid: {**d, "status": "done"} for eid, d in disk.items()})
        out = []
        for eid in sorted(items, reverse=True)[:MAX_EVENTS]:
            item = items[eid]
            done, has_snap = item["status"] == "done", self.snapshot(eid) is not None
            out.append({**item, "labelled": self.labelled.get(eid),
                        "clip_url": f"/api/events/{eid}/clip" if done else None,
                        "original_url": f"/api/events/{eid}/clip?original=1" if done else None,
                        "snapshot_url": f"/api/events/{eid}/snapshot" if has_snap else None})
        return out

    def sidecar(self, eid: str) -> dict | None:
        """The finished clip's sidecar (its video exists), or None: unknown, unfinished or unreadable."""
        if self.clips_dir is None or not ID_RE.fullmatch(eid or ""):
            return None
        path = regular_file(self.clips_dir, eid + ".json")
        try:
            meta = json.loads(path.read_text()) if path else None
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or not regular_file(self.clips_dir, str(meta.get("clip") or "")):
            return None
        return meta

    def snapshot(self, eid: str) -> Path | None:
        """The snapshot is written at the activity's start: shown while its clip is still being recorded."""
        if self.clips_dir is None or not ID_RE.fullmatch(eid or ""):
            return None
        return regular_file(self.clips_dir, eid + ".jpg")

    def file(self, eid: str, key: str) -> Path | None:
        meta = self.sidecar(eid)  # None without a clips folder
        if not meta or self.clips_dir is None:
            return None
        return regular_file(self.clips_dir, str(meta.get(key) or ""))

    def browser_clip(self, eid: str) -> Path | None:
        """The clip in a form browsers play: itself when it is WebM, else its VP8 copy (made now if need be)."""
        video, folder = self.file(eid, "clip"), self.clips_dir  # a video only with a clips folder
        if video is None or folder is None or video.suffix == ".webm":
            return video
        copy = video.with_suffix(".webm")
        with _transcoding:
            if regular_file(folder, copy.name) is None:
                _lower_priority()
                transcode(video, copy, folder / PARTIAL / copy.name)
        return regular_file(folder, copy.name)


def _lower_priority() -> None:
    try:  # Linux: a thread has its own nice value; this viewer thread yields to the frame loop
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (OSError, AttributeError):
        pass


def transcode(src: Path, dest: Path, tmp: Path) -> None:
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS) or 15.0
    writer = None
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frame = fit_width(frame, BROWSER_WIDTH)
            if writer is None:
                tmp.parent.mkdir(parents=True, exist_ok=True)
                writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter.fourcc(*"VP80"), fps, frame.shape[1::-1])
                if not writer.isOpened():
                    log.warning("cannot write %s (VP8 encoder or folder): no browser copy of %s", tmp, src.name)
                    return
            writer.write(frame)
    finally:
        cap.release()
        if writer is not None:
            writer.release()
    if writer is None:
        log.warning("clip %s did not decode: no browser copy", src.name)
        return
    os.replace(tmp, dest)
