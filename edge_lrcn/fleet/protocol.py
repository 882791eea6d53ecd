"""The fleet's MQTT messages (the zigbee2mqtt request/response convention: a request carries a ``transaction``,
the answer on ``.../response`` repeats it with ``status`` ``ok`` or ``error``).

A model push on ``<prefix>/model/set`` is one binary payload: a JSON header line ``{"transaction", "bytes"}``,
``\\n``, then the bundle file's bytes (no base64: a 30 MB bundle stays 30 MB). The header is read from the first
``HEADER_MAX`` bytes only, so an oversize push is answered (with its transaction) from its length alone.
"""

from __future__ import annotations

import json
import re
import secrets

from ..errors import BundleError

MODEL_SET, MODEL_RESPONSE, MODEL = "model/set", "model/response", "model"
SET, SET_RESPONSE, SETTINGS = "set", "set/response", "settings"
HEADER_MAX = 1024
SET_MAX = 4096  # a <prefix>/set request: a flat object of a few settings
MAX_DEPTH = 2  # an object of scalars and short lists: deeper nesting is refused before parsing


def nesting(data: bytes) -> int:
    """The deepest nesting of ``[`` / ``{`` in JSON text, strings skipped; counted on the bytes, so a hostile
    ``[[[[...`` is measured without recursion (json.loads would raise RecursionError deep inside it)."""
    depth = deepest = 0
    for token in re.finditer(rb'"(?:[^"\\]|\\.)*"|[\[{\]}]', data):
        c = token.group()[:1]
        if c in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in b"]}":
            depth -= 1
    return deepest


def json_object(payload: bytes, what: str, max_bytes: int, max_depth: int = MAX_DEPTH) -> dict:
    """A JSON object from untrusted bytes, or ValueError saying why not: the size and the nesting are checked
    before anything is parsed, and nothing the parser can raise escapes as another type."""
    if len(payload) > max_bytes:
        raise ValueError(f"{what} is {len(payload)} bytes, over {max_bytes}")
    if nesting(payload) > max_depth:
        raise ValueError(f"{what} is nested deeper than {max_depth} levels")
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError, TypeError):
        raise ValueError(f"{what} is not JSON") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{what} is not a JSON object")
    return obj


def new_transaction() -> str:
    return secrets.token_hex(6)


def encode_push(bundle: bytes, transaction: str) -> bytes:
    header = json.dumps({"transaction": transaction, "bytes": len(bundle)}, separators=(",", ":")).encode()
    return header + b"\n" + bundle


def transaction(obj: dict) -> str | None:
    """A request's ``transaction``, repeated in the answer only when it is a short string."""
    tx = obj.get("transaction")
    return tx if isinstance(tx, str) and len(tx) <= 64 else None


def transaction_of(payload: bytes) -> str | None:
    """The push's transaction id, read from its header alone (None when there is no readable one)."""
    line = payload[:HEADER_MAX].split(b"\n", 1)[0]
    try:
        return transaction(json_object(line, "header", HEADER_MAX, 1))
    except ValueError:
        return None


def decode_push(payload: bytes) -> bytes:
    """The bundle bytes of a push; BundleError when the framing is wrong (the size cap is checked before this)."""
    head, sep, body = payload.partition(b"\n")
    if not sep or len(head) > HEADER_MAX:
        raise BundleError("push payload has no header line (use edge-lrcn push)")
    try:
        declared = json_object(head, "push payload header", HEADER_MAX, 1).get("bytes")
    except ValueError as exc:
        raise BundleError(f"{exc} (use edge-lrcn push)") from None
    if declared != len(body):
        raise BundleError(f"push payload carries {len(body)} bytes, its header says {declared} (truncated?)")
    return body


def response(status: str, transaction: str | None, **fields) -> dict:
    return {"status": status, "transaction": transaction, **fields}
