"""The model bundle (``*.lrcn``): one zip archive with a manifest and TFLite members.

The reader never extracts to disk, caps every member's size, the members' total and their count, refuses a member
the manifest does not list, verifies every sha256 before any byte reaches an
interpreter, and refuses an unknown format or version with one line (:class:`BundleError`, exit 3).
No TensorFlow here: the writer only packs bytes the converter produced.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BundleError

FORMAT = "edge-lrcn-bundle"
VERSION = 2  # 2: input.transform / input.lag (a model fed frame differences); version 1 still reads
READABLE_VERSIONS = (1, 2)
TRANSFORMS = ("difference",)
GAINS = (0.5, 1, 2, 4, 8, 16)  # input.gain: powers of two, so the difference stays exact integer arithmetic
MANIFEST = "manifest.json"
SIGNATURE = "signature.json"  # bundle-level: the signature over manifest.json (edge_lrcn/fleet/keys.py), unlisted
MAX_SIGNATURE_BYTES = 64 * 1024
MAX_MEMBER_BYTES = 64 * 1024 * 1024  # the reference int8 encoder is ~70 kB; 64 MB leaves room for big models
MAX_MANIFEST_BYTES = 1024 * 1024
MAX_BUNDLE_BYTES = 256 * 1024 * 1024
MAX_TOTAL_BYTES = 128 * 1024 * 1024  # all members together, uncompressed (what the reader holds in memory)
MAX_MEMBERS = 32
BUNDLE_MEMBERS = (MANIFEST, SIGNATURE)  # bundle-level members besides those the manifest lists
ROLES = {"encoder", "head", "reference", "report"}
REQUIRED = {"encoder_int8.tflite": "encoder", "head.tflite": "head"}


@dataclass
class Bundle:
    manifest: dict[str, Any]
    members: dict[str, bytes]
    sha256: str  # of the whole bundle file: identifies the model in events
    path: str = ""
    _by_role: dict = field(default_factory=dict, repr=False)
    manifest_bytes: bytes = field(default=b"", repr=False)  # as stored: what a signature covers
    signature: bytes | None = field(default=None, repr=False)  # signature.json, unverified (fleet/keys.py)

    @property
    def labels(self) -> list[str]:
        return list(self.manifest["labels"])

    @property
    def frames(self) -> int:
        return int(self.manifest["window"]["frames"])

    @property
    def fps(self) -> float:
        return float(self.manifest["window"]["fps"])

    @property
    def prefill(self) -> str | None:
        """``"rest"``: the model was trained on early windows, so after a restart the window starts full of the rest
        input's features and the head answers from the first kept frame (classify/classifier.py); None: it waits
        for ``frames`` kept frames."""
        return self.manifest["window"].get("prefill")

    @property
    def short_lags(self) -> bool:
        """True (manifest ``window.short_lags``, convert's models since 2026-12-06): right after a restart the model
        is fed the 2nd .. ``lag``-th kept frames' differences to the first kept frame (shorter lags, as it was
        trained), so it answers ``lag - 1`` kept frames sooner; False: those frames only fill the history."""
        return bool(self.manifest["window"].get("short_lags", False))

    @property
    def input_size(self) -> tuple[int, int]:
        return int(self.manifest["input"]["height"]), int(self.manifest["input"]["width"])

    @property
    def transform(self) -> str | None:
        """What the encoder is fed: None for the frame itself, ``"difference"`` (classify/preprocess.py)."""
        return self.manifest["input"].get("transform")

    @property
    def lag(self) -> int:
        """Kept frames between the two frames of a difference."""
        return int(self.manifest["input"].get("lag", 1))

    @property
    def gain(self) -> float:
        """How much a difference is scaled before it is clipped to the uint8 range (a power of two)."""
        return self.manifest["input"].get("gain", 0.5)

    @property
    def clip_shape(self) -> tuple[int, int] | None:
        """The frame size (h, w) most of the training clips had (``input.clip_shape``; bundles before regions
        have none): ``run`` warns about a region whose aspect is far from it."""
        shape = self.manifest["input"].get("clip_shape")
        if isinstance(shape, list) and len(shape) == 2 and all(isinstance(v, int) and v > 0 for v in shape):
            return shape[0], shape[1]
        return None

    @property
    def feature_dim(self) -> int:
        return int(self.manifest["feature_dim"])

    @property
    def model_id(self) -> str:
        return self.sha256[:12]

    def member(self, name: str) -> bytes:
        try:
            return self.members[name]
        except KeyError:
            raise BundleError(f"{self.path or 'bundle'}: has no member {name}") from None

    def has(self, name: str) -> bool:
        return name in self.members

    @property
    def report(self) -> dict | None:
        if "report.json" not in self.members:
            return None
        try:
            report = json.loads(self.members["report.json"])
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise _fail(self.path or "bundle", "report.json is not valid JSON") from None
        if not isinstance(report, dict):
            raise _fail(self.path or "bundle", "report.json is not a JSON object")
        return report


def _fail(path, msg) -> BundleError:
    return BundleError(f"invalid model bundle {path}: {msg}")


def _check_manifest(m: Any, where: str) -> None:
    if not isinstance(m, dict):
        raise _fail(where, "manifest.json is not a JSON object")
    if m.get("format") != FORMAT:
        raise _fail(where, f"not an edge-lrcn bundle (format {m.get('format')!r})")
    if m.get("version") not in READABLE_VERSIONS:
        raise _fail(where, f"bundle version {m.get('version')!r} is not supported by this edge-lrcn "
                           f"(reads versions {', '.join(map(str, READABLE_VERSIONS))}); upgrade edge-lrcn or "
                           f"re-convert the model")

    def need(cond, what):
        if not cond:
            raise _fail(where, f"manifest field {what} is missing or invalid")

    labels = m.get("labels")
    need(isinstance(labels, list) and len(labels) >= 2 and all(isinstance(x, str) and x for x in labels)
         and len(set(labels)) == len(labels), "labels")
    # parsed JSON, typed Any: each need() below checks what the lines after it use
    win: Any = m.get("window")
    inp: Any = m.get("input")
    need(isinstance(win, dict) and isinstance(win.get("frames"), int) and 1 <= win["frames"] <= 1000, "window.frames")
    need(isinstance(win.get("fps"), (int, float)) and 0 < win["fps"] <= 120, "window.fps")
    # input before window.prefill, which reads input.transform (an input that is not an object: BundleError, not
    # AttributeError)
    need(isinstance(inp, dict) and all(isinstance(inp.get(k), int) and 8 <= inp[k] <= 1024
                                       for k in ("height", "width")), "input.height/width")
    need(win.get("prefill") in (None, "rest") and ("prefill" not in win or inp.get("transform") == "difference"),
         "window.prefill")
    need(win.get("short_lags") in (None, True, False)
         and (not win.get("short_lags") or (win.get("prefill") == "rest" and inp.get("lag", 1) >= 2)),
         "window.short_lags")
    need(inp.get("color") == "rgb", "input.color")
    if "transform" in inp:
        need(inp["transform"] in TRANSFORMS, "input.transform")
        need(isinstance(inp.get("lag"), int) and not isinstance(inp["lag"], bool) and 1 <= inp["lag"] <= 100,
             "input.lag")
        need(inp.get("gain") in GAINS and not isinstance(inp.get("gain"), bool), "input.gain")
    need(isinstance(m.get("feature_dim"), int) and 1 <= m["feature_dim"] <= 65536, "feature_dim")
    files: Any = m.get("files")
    need(isinstance(files, dict) and files, "files")
    for name, info in files.items():
        if (not isinstance(name, str) or "/" in name or "\\" in name or name.startswith(".")
                or name in (MANIFEST, SIGNATURE)):
            raise _fail(where, f"member name {name!r} is not allowed")
        need(isinstance(info, dict) and isinstance(info.get("sha256"), str) and len(info["sha256"]) == 64,
             f"files.{name}.sha256")
        need(info.get("role") in ROLES, f"files.{name}.role")
    for name in REQUIRED:
        if name not in files:
            raise _fail(where, f"required member {name} is not listed in the manifest")


def read_bundle(path: str | os.PathLike, max_member_bytes: int = MAX_MEMBER_BYTES) -> Bundle:
    """Open, check and verify a bundle; raises BundleError with a one-line reason."""
    where = str(path)
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block the reader for ever, a device never end
            raise _fail(where, "not a regular file")
        size = st.st_size
        if size > MAX_BUNDLE_BYTES:
            raise _fail(where, f"file is {size} bytes, over the {MAX_BUNDLE_BYTES} byte limit")
        with open(path, "rb") as f:
            data = f.read(MAX_BUNDLE_BYTES + 1)
    except FileNotFoundError:
        raise BundleError(f"model bundle not found: {where}") from None
    except IsADirectoryError:
        raise BundleError(f"model bundle {where} is a directory, not a .lrcn file") from None
    except OSError as exc:
        raise BundleError(f"cannot read model bundle {where}: {exc.strerror or exc}") from None
    return read_bundle_bytes(data, where, max_member_bytes)


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, where: str) -> bytes:
    if info.file_size > cap:
        raise _fail(where, f"member {info.filename} is {info.file_size} bytes, over the {cap} byte limit")
    # do not trust the header: stop reading one byte past the cap (a zip bomb lies about its size)
    with zf.open(info) as f:
        data = f.read(cap + 1)
    if len(data) > cap:
        raise _fail(where, f"member {info.filename} inflates past the {cap} byte limit")
    return data


def _check_sizes(infos: dict, where: str) -> None:
    """The member count and the total the headers declare (each member's real size is capped as it is read, so
    the members listed in the manifest cannot inflate past the total either)."""
    if len(infos) > MAX_MEMBERS:
        raise _fail(where, f"{len(infos)} members, over the limit of {MAX_MEMBERS}")
    total = sum(i.file_size for i in infos.values())
    if total > MAX_TOTAL_BYTES:
        raise _fail(where, f"members total {total} bytes uncompressed, over the {MAX_TOTAL_BYTES} byte limit")


def read_bundle_bytes(data: bytes, where: str = "<bytes>", max_member_bytes: int = MAX_MEMBER_BYTES) -> Bundle:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError):
        raise _fail(where, "not a zip archive (is it a .lrcn bundle?)") from None
    try:
        with zf:
            infos = {}
            for info in zf.infolist():
                if info.filename in infos:
                    raise _fail(where, f"member {info.filename} appears twice")
                infos[info.filename] = info
            if MANIFEST not in infos:
                raise _fail(where, "manifest.json is missing")
            _check_sizes(infos, where)
            manifest_bytes = _read_member(zf, infos[MANIFEST], MAX_MANIFEST_BYTES, where)
            signature = _read_member(zf, infos[SIGNATURE], MAX_SIGNATURE_BYTES, where) if SIGNATURE in infos \
                else None
            try:
                manifest = json.loads(manifest_bytes)
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise _fail(where, "manifest.json is not valid JSON") from None
            _check_manifest(manifest, where)
            unlisted = sorted(set(infos) - set(manifest["files"]) - set(BUNDLE_MEMBERS))
            if unlisted:
                raise _fail(where, f"member {unlisted[0]!r} is not listed in the manifest")
            members = {}
            budget = MAX_TOTAL_BYTES - len(json.dumps(manifest))
            for name, meta in manifest["files"].items():
                if name not in infos:
                    raise _fail(where, f"member {name} listed in the manifest is missing")
                blob = _read_member(zf, infos[name], min(max_member_bytes, budget), where)
                budget -= len(blob)
                if hashlib.sha256(blob).hexdigest() != meta["sha256"]:
                    raise _fail(where, f"member {name} does not match its sha256 (corrupt or tampered)")
                members[name] = blob
    except BundleError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError,
            RuntimeError) as exc:  # CRC errors, corrupt deflate streams, truncated data, unsupported compression,
        # encrypted members
        raise _fail(where, f"damaged archive ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") \
            from None
    return Bundle(manifest, members, hashlib.sha256(data).hexdigest(), where, manifest_bytes=manifest_bytes,
                  signature=signature)


def write_bundle(path: str | os.PathLike, manifest: dict[str, Any], members: dict[str, tuple[bytes, str, str]]) -> str:
    """Write a bundle atomically. ``members`` maps name -> (bytes, role, dtype); returns the bundle's sha256.

    ``manifest`` holds everything but ``format``, ``version`` and ``files``, which are filled in here.
    """
    manifest = dict(manifest)
    manifest["format"], manifest["version"] = FORMAT, VERSION
    manifest["files"] = {name: {"sha256": hashlib.sha256(blob).hexdigest(), "role": role, "dtype": dtype,
                                "bytes": len(blob)}
                         for name, (blob, role, dtype) in members.items()}
    _check_manifest(manifest, str(path))
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))
        for name, (blob, _, _) in members.items():
            zf.writestr(name, blob)
    os.replace(tmp, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()
