"""The fleet's MQTT messages (the zigbee2mqtt request/response convention: a request carries a ``transaction``,
the answer on ``.../response`` repeats it with ``status`` ``ok`` or ``error``).

A model push on ``<prefix>/model/set`` is one binary payload: a JSON header line ``{"transaction", "bytes"}``,
``\\n``, then the bundle file's bytes (no base64: a 30 MB bundle stays 30 MB). The header is read from the first
``HEADER_MAX`` bytes only, so an oversize push is answered (with its transaction) from its length alone.
"""

from __future__ import annotations

import json
import secrets

from ..errors import BundleError

MODEL_SET, MODEL_RESPONSE, MODEL = "model/set", "model/response", "model"
SET, SET_RESPONSE, SETTINGS = "set", "set/response", "settings"
HEADER_MAX = 1024


def new_transaction() -> str:
    return secrets.token_hex(6)


def encode_push(bundle: bytes, transaction: str) -> bytes:
    header = json.dumps({"transaction": transaction, "bytes": len(bundle)}, separators=(",", ":")).encode()
    return header + b"\n" + bundle


def transaction_of(payload: bytes) -> str | None:
    """The push's transaction id, read from its header alone (None when there is no readable one)."""
    line = payload[:HEADER_MAX].split(b"\n", 1)[0]
    try:
        tx = json.loads(line).get("transaction")
    except (ValueError, AttributeError):
        return None
    return tx if isinstance(tx, str) and len(tx) <= 64 else None


def decode_push(payload: bytes) -> bytes:
    """The bundle bytes of a push; BundleError when the framing is wrong (the size cap is checked before this)."""
    head, sep, body = payload.partition(b"\n")
    if not sep or len(head) > HEADER_MAX:
        raise BundleError("push payload has no header line (use edge-lrcn push)")
    try:
        declared = json.loads(head).get("bytes")
    except (ValueError, AttributeError):
        raise BundleError("push payload header is not a JSON object (use edge-lrcn push)") from None
    if declared != len(body):
        raise BundleError(f"push payload carries {len(body)} bytes, its header says {declared} (truncated?)")
    return body


def response(status: str, transaction: str | None, **fields) -> dict:
    return {"status": status, "transaction": transaction, **fields}
