"""Ed25519 keys and bundle signatures (``cryptography``; no hand-rolled crypto).

A signature covers the bundle's ``manifest.json`` bytes exactly as stored, and the manifest holds every member's
sha256, so a signed manifest pins every member. It lives in the bundle-level member ``signature.json`` (not listed
in the manifest it signs): ``{"algorithm": "ed25519", "key_id", "signer", "signed_at", "signature"}``. ``signer``
is what the signing key's owner called it; a device reports the name of *its own* trusted key file that verified
the signature, never the name a bundle claims.

Key files: ``edge-lrcn.key`` is the PKCS#8 PEM private key (mode 0600); ``edge-lrcn.pub`` is one line
``edge-lrcn-ed25519 <base64 raw public key> <name>``.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import json
import logging
import os
import socket
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..config import DEFAULT_TRUSTED_KEYS
from ..errors import BundleError, UsageError
from ..events import utc_now
from ..model.bundle import MANIFEST, SIGNATURE, Bundle, read_bundle
from .keyfiles import check_folder, key_lines, read_key_file
from .release import stamp

log = logging.getLogger(__name__)

PUB_TYPE = "edge-lrcn-ed25519"
CONTEXT = b"edge-lrcn bundle manifest v1\n"  # domain separation: this key's signatures mean nothing elsewhere


@dataclass(frozen=True)
class PublicKey:
    key: Ed25519PublicKey
    name: str
    path: str = ""

    @property
    def key_id(self) -> str:
        return key_id(self.key)


def key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def keygen(out_dir: Path, name: str | None = None) -> tuple[Path, Path]:
    """Write ``out_dir/edge-lrcn.key`` (0600, never overwritten) and ``out_dir/edge-lrcn.pub``."""
    name = name or f"{getpass.getuser()}@{socket.gethostname()}"
    if any(c.isspace() for c in name) or not name:
        raise UsageError(f"--name {name!r}: a key name has no spaces")
    key_path, pub_path = out_dir / "edge-lrcn.key", out_dir / "edge-lrcn.pub"
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        os.chmod(key_path, 0o600)  # whatever the umask
        pub_path.write_text(f"{PUB_TYPE} {base64.b64encode(raw).decode()} {name}\n")
    except FileExistsError:
        raise UsageError(f"{key_path} exists: keygen never overwrites a key (move it away first)") from None
    except OSError as exc:
        raise UsageError(f"cannot write the key pair to {out_dir}: {exc.strerror or exc}") from None
    return key_path, pub_path


def load_private(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except OSError as exc:
        raise UsageError(f"cannot read the signing key {path}: {exc.strerror or exc}") from None
    except (ValueError, TypeError):
        raise UsageError(f"{path} is not an unencrypted PEM private key (edge-lrcn keygen writes one)") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"{path} is not an Ed25519 key (edge-lrcn keygen writes one)")
    return key


def _public(parts: list[str], name: str, path) -> PublicKey:
    if len(parts) < 2 or parts[0] != PUB_TYPE:
        raise ValueError
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(parts[1], validate=True))
    return PublicKey(key, parts[2] if len(parts) > 2 else name, str(path))


def load_keys(path: str | Path) -> list[PublicKey]:
    """Every key of a ``.pub`` file (one per line), or UsageError: a file that may be changed by others, that is
    not a regular file, or with one line that is not a key, is refused as a whole."""
    path = Path(path)
    lines = key_lines(read_key_file(path))
    if not lines:
        raise UsageError(f"{path} holds no key (a line '{PUB_TYPE} <base64> <name>')")
    keys = []
    for n, parts in lines:
        try:
            keys.append(_public(parts, path.stem if n == lines[0][0] else f"{path.stem}:{n}", path))
        except (ValueError, TypeError):
            raise UsageError(f"{path} line {n} is not an edge-lrcn public key (a line '{PUB_TYPE} <base64> <name>'): "
                             f"the file is refused") from None
    return keys


def load_public(path: str | Path) -> PublicKey:
    """The key of a one-key ``.pub`` (what keygen writes)."""
    return load_keys(path)[0]


def load_trusted(paths, strict: bool = True, problems: list[str] | None = None, quiet: bool = False) \
        -> list[PublicKey]:
    """The keys of ``paths``: a file gives its keys, a directory those of its ``*.pub`` files (a missing directory
    gives none: the default ``/etc/edge-lrcn/trusted-keys`` is optional). ``strict`` (host commands): the first bad
    file is a UsageError. Otherwise (the daemon) a bad file or folder is logged as an error and skipped, and the
    rest is used: one bad file must not keep a device down (each problem is also added to ``problems``; ``quiet``:
    only there, not logged)."""
    keys: list[PublicKey] = []
    problems = [] if problems is None else problems
    for p in map(Path, paths or ()):
        try:
            for f in _key_files(p):
                keys += _loaded(f, strict, problems, quiet)
        except UsageError as exc:
            if strict:
                raise
            problems.append(str(exc))
            if not quiet:
                log.error("%s; the other trusted keys are used", exc)
    return keys


def _key_files(p: Path) -> list[Path]:
    if p.is_dir():
        check_folder(p)
        return sorted(p.glob("*.pub"))
    if os.path.lexists(p):
        check_folder(p.parent)
        return [p]
    if str(p).rstrip("/") != DEFAULT_TRUSTED_KEYS:
        raise UsageError(f"trusted key {p} not found")
    return []


def _loaded(f: Path, strict: bool, problems: list[str], quiet: bool = False) -> list[PublicKey]:
    try:
        keys = load_keys(f)
    except UsageError as exc:
        if strict:
            raise
        problems.append(str(exc))
        if not quiet:
            log.error("%s; skipped, the other trusted keys are used", exc)
        return []
    if not quiet:
        log.info("trusted key file %s: %d key%s (%s)", f, len(keys), "" if len(keys) == 1 else "s",
                 ", ".join(k.name for k in keys))
    return keys


def signature_of(bundle: Bundle) -> dict | None:
    """The bundle's signature record (unverified), None when unsigned; BundleError when it is malformed."""
    raw = bundle.signature
    if raw is None:
        return None
    try:
        sig = json.loads(raw)
        if not (isinstance(sig, dict) and sig.get("algorithm") == "ed25519"):
            raise ValueError
        sig["_bytes"] = base64.b64decode(sig["signature"], validate=True)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise BundleError(f"invalid model bundle {bundle.path}: {SIGNATURE} is malformed") from None
    return sig


def verify(bundle: Bundle, trusted: list[PublicKey]) -> PublicKey:
    """The trusted key that signed this bundle's manifest; BundleError saying why not."""
    sig = signature_of(bundle)
    if sig is None:
        raise BundleError(f"model bundle {bundle.path} is not signed (edge-lrcn sign MODEL --key KEY)")
    for key in trusted:
        try:
            key.key.verify(sig["_bytes"], CONTEXT + bundle.manifest_bytes)
            return key
        except InvalidSignature:
            continue
    raise BundleError(f"model bundle {bundle.path} is signed by key {sig.get('key_id')} ({sig.get('signer')}), "
                      f"which is not one of the {len(trusted)} trusted key(s), or its manifest was changed after "
                      f"signing")


def sign(path: Path, key_path: Path, out: Path | None = None, rollback: bool = False) -> dict:
    """Sign the bundle at ``path`` (checked first) into ``out`` (default: in place, atomically); the record. The
    signed manifest carries this signing's release time (fleet/release.py: a device refuses older ones)."""
    bundle = read_bundle(path)
    private = load_private(key_path)
    pub = load_public(key_path.with_suffix(".pub")) if key_path.with_suffix(".pub").exists() else None
    manifest_bytes = stamp(bundle.manifest, rollback)
    record = {"algorithm": "ed25519", "key_id": key_id(private.public_key()),
              "signer": pub.name if pub else key_path.stem, "signed_at": utc_now(),
              "signature": base64.b64encode(private.sign(CONTEXT + manifest_bytes)).decode()}
    out = Path(out or path)
    tmp = out.with_name(out.name + ".tmp")
    try:
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                if info.filename != SIGNATURE:
                    dst.writestr(info, src.read(info.filename) if info.filename != MANIFEST else manifest_bytes)
            dst.writestr(SIGNATURE, json.dumps(record, indent=2, sort_keys=True))
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write the signed bundle {out}: {exc.strerror or exc}") from None
    return record
