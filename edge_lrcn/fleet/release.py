"""Replay protection for pushed models: ``edge-lrcn sign`` writes the time of signing into the manifest it signs
(``"release": {"time": "2026-12-05T10:30:00.123Z", "rollback": false}``), and a device refuses a push whose release
is older than the one of the last push it accepted (kept in the state directory across restarts). An old signed
bundle replayed by whoever may publish on ``model/set`` is refused; to roll back, sign the older bundle again
(``edge-lrcn sign OLD.lrcn --key K --rollback``): its release is then the newest, and ``rollback`` says why."""

from __future__ import annotations

import json
import re

from ..errors import BundleError
from ..events import utc_now
from ..model.bundle import Bundle

RELEASE = "release"
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")  # utc_now(): sorts as text


def stamp(manifest: dict, rollback: bool = False) -> bytes:
    """The manifest's bytes with this signing's release in it."""
    return (json.dumps({**manifest, RELEASE: {"time": utc_now(), "rollback": bool(rollback)}}, indent=1,
                       sort_keys=True) + "\n").encode()


def release_of(bundle: Bundle) -> str:
    """The release time of a signed manifest; "" for a bundle signed without one (an older edge-lrcn)."""
    release = bundle.manifest.get(RELEASE)
    time = release.get("time") if isinstance(release, dict) else None
    return time if isinstance(time, str) and TIME_RE.match(time) else ""


def is_rollback(bundle: Bundle) -> bool:
    release = bundle.manifest.get(RELEASE)
    return isinstance(release, dict) and release.get("rollback") is True


def check_release(bundle: Bundle, floor: str) -> str:
    """The bundle's release, or BundleError when it is older than ``floor`` (the last push accepted here)."""
    release = release_of(bundle)
    if floor and release < floor:
        said = f"released {release}" if release else "signed without a release time (an older edge-lrcn)"
        raise BundleError(f"the pushed bundle is {said}, older than the model pushed last ({floor}): refused as a "
                          f"replay; to roll back, sign it again (edge-lrcn sign MODEL --key KEY --rollback)")
    return release
