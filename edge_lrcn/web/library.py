"""The page's routes about what the device has learned from and runs: the dataset folder (its summary, a zip of it,
deleting a clip) and the running model's report. Functions of the :class:`~edge_lrcn.web.api.Page` and the request."""

from __future__ import annotations

from pathlib import Path

from ..dataset import check_label, free_name, group_of, remove_clip, summary
from ..events import utc_now
from ..publish.clips import PARTIAL
from .server import HttpError

MAX_RECORD_S = 30.0


def model(page, h) -> None:
    from ..errors import EdgeLrcnError
    from ..fleet.keys import signature_of
    from ..model.bundle import read_bundle
    from ..model.summary import summary as model_summary

    bundle = page.bundle()
    if bundle is None:
        raise HttpError(404, "no model information")
    out = model_summary(bundle, signature_of(bundle))
    prev = page.opts.previous_model
    if prev and Path(prev).is_file():
        try:
            old = read_bundle(prev)
            out["previous"] = model_summary(old, signature_of(old))
        except EdgeLrcnError as exc:
            out["previous"] = {"error": f"the previous model cannot be read: {exc}"}
    h.send_json(out)


def dataset_dir(page) -> Path:
    if not page.opts.dataset_dir:
        raise HttpError(409, "no dataset_dir is set: start the daemon with --dataset-dir DIR")
    return Path(page.opts.dataset_dir)


def dataset(page, h) -> None:
    h.send_json({"dataset_dir": page.opts.dataset_dir, **summary(dataset_dir(page))})


def dataset_zip(page, h) -> None:
    """The dataset as a zip for the host's convert, streamed (nothing written on the device; the videos are
    stored, not compressed again). Only the class folders' videos are included, no symlink followed."""
    import zipfile

    data = dataset_dir(page)
    h.send_response(200)
    h.send_header("Content-Type", "application/zip")
    h.send_header("Content-Disposition", 'attachment; filename="dataset.zip"')
    h.end_headers()
    h.close_connection = True
    with zipfile.ZipFile(h.wfile, "w", zipfile.ZIP_STORED) as z:
        for label, c in summary(data)["classes"].items():
            for group, names in c["groups"].items():
                for name in names:
                    rel = Path(label, group, name) if group else Path(label, name)
                    if not (data / rel).is_symlink():
                        z.write(data / rel, str(rel))


def dataset_delete(page, h) -> None:
    body = h.read_json()
    parts = [body.get(k, "") for k in ("label", "group", "name")]
    if not all(isinstance(x, str) for x in parts):
        raise HttpError(400, 'give {"label", "group", "name"} as strings')
    try:
        remove_clip(dataset_dir(page), *parts)
    except FileNotFoundError as exc:
        raise HttpError(404, str(exc)) from None
    h.send_json({"removed": "/".join(x for x in parts if x)})


def record(page, h) -> None:
    """A new clip of the camera's next ``seconds`` into ``DATA/<label>/<day>-<camera>/`` (the page counts down
    before it asks); one recording at a time. The frames are the ones the daemon decodes (the model's rate)."""
    from ..record import write_video

    body = h.read_json()
    label, seconds = check_label(body.get("label")), body.get("seconds", 4)
    if not isinstance(seconds, (int, float)) or not 0.5 <= seconds <= MAX_RECORD_S:
        raise HttpError(400, f"seconds must be a number from 0.5 to {MAX_RECORD_S:g}")
    data = dataset_dir(page)
    if not page.recording.acquire(blocking=False):
        raise HttpError(409, "a recording is running: wait for it")
    try:
        start = utc_now()
        jpegs, times = page.feed.collect(float(seconds), h.server.stopping)
        if len(jpegs) < 2 or times[-1] <= times[0]:
            raise HttpError(503, "no frames came (is the camera online?)")
        stamp = start.replace("-", "").replace(":", "")[:19] + "Z"
        dest = free_name(data / label / group_of({"start": start, "device": page.probe().get("device")}, data),
                         stamp, ".mp4")
        dest.parent.mkdir(parents=True, exist_ok=True)
        (data / PARTIAL).mkdir(exist_ok=True)
        write_video(dest, jpegs, (len(times) - 1) / (times[-1] - times[0]), "mp4", data)
    finally:
        page.recording.release()
    h.send_json({"label": label, "path": str(dest.relative_to(data)), "frames": len(jpegs)})
