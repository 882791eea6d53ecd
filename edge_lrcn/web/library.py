"""The page's routes about what the device has learned from and runs: the dataset folder (its summary, a zip of it,
deleting a clip) and the running model's report. Functions of the :class:`~edge_lrcn.web.api.Page` and the request."""

from __future__ import annotations

from pathlib import Path

from ..dataset import remove_clip, summary
from .server import HttpError


def model(page, h) -> None:
    from ..fleet.keys import signature_of
    from ..model.summary import summary as model_summary

    bundle = page.bundle()
    if bundle is None:
        raise HttpError(404, "no model information")
    h.send_json(model_summary(bundle, signature_of(bundle)))


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
