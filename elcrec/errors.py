"""Errors a user can act on.

Every failure caused by input (a corrupt download, a malformed line, an unknown name, a checkpoint that does
not fit) raises :class:`HarnessError`; the CLI prints its message and exits non-zero without a traceback, so
the message itself must say what is wrong, where, and what to do.
"""
from __future__ import annotations


class HarnessError(Exception):
    """An error caused by the user's input or environment; its message is shown as is."""

    exit_code = 2


class DataError(HarnessError):
    """A data file is missing, corrupt, truncated or malformed."""


class ChecksumError(DataError):
    """A file's sha256 differs from the registry's expected value."""


class UnavailableError(DataError):
    """A dataset cannot be obtained here (no network and no mirror copy)."""


class ConfigError(HarnessError):
    """An unknown dataset/model name or an invalid setting."""


class CheckpointError(HarnessError):
    """A checkpoint is missing or does not fit the dataset/model."""


class DivergedError(HarnessError):
    """Training produced a non-finite loss. The trainer records it as the run's result (status ``diverged``)."""
