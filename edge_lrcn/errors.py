"""Errors the user can fix, each mapped to the exit code the CLI contract gives it."""

from __future__ import annotations

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_BUNDLE = 3
EXIT_SOURCE = 4


class EdgeLrcnError(Exception):
    """An error with a one-line message the user can act on."""

    exit_code = EXIT_UNEXPECTED


class UsageError(EdgeLrcnError):
    """Bad flags, bad config values or an unusable environment (exit 2)."""

    exit_code = EXIT_USAGE


class BundleError(EdgeLrcnError):
    """The model bundle is missing, corrupt, foreign or of an unknown version (exit 3)."""

    exit_code = EXIT_BUNDLE


class SourceError(EdgeLrcnError):
    """The frame source could not be opened (exit 4)."""

    exit_code = EXIT_SOURCE


class DatasetError(UsageError):
    """The labelled video folder cannot be used for training or evaluation (exit 2)."""
