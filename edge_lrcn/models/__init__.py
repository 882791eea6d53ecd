"""The embedded default model bundle, shipped inside the package (rebuilt by scripts/make_default_model.sh)."""

from __future__ import annotations

from pathlib import Path

from ..errors import BundleError

DEFAULT_NAME = "default.lrcn"


def default_model_path() -> Path:
    path = Path(__file__).with_name(DEFAULT_NAME)
    if not path.exists():
        raise BundleError(f"the embedded default model is missing ({path}); give --model or reinstall edge-lrcn")
    return path
