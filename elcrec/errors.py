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


def os_error_message(exc: OSError) -> str:
    """One line for an environment failure (full disk, read-only or unwritable folder, a file in the way)."""
    import errno

    where = " ".join(str(f) for f in (exc.filename, exc.filename2) if f) or "a file the harness was writing"
    advice = {
        errno.ENOSPC: f"no space left on device while writing {where}; free space or write elsewhere "
                      "(--out, --data-dir) and run again (a run resumes from its last finished epoch)",
        errno.EDQUOT: f"disk quota exceeded while writing {where}; free space or write elsewhere",
        errno.EROFS: f"{where} is on a read-only file system; pass a writable --out / --data-dir",
        errno.EACCES: f"permission denied: {where}; pass a folder you can write to (--out, --data-dir) or fix its "
                      "permissions",
        errno.EPERM: f"operation not permitted: {where}; pass a folder you can write to",
        errno.ENOTDIR: f"{where}: part of this path is a file, not a folder; pass a folder path",
        errno.EEXIST: f"{where} exists as a file where a folder is needed (not a folder); pass another path",
        errno.EISDIR: f"{where} is a folder where a file was expected; pass a file path",
        errno.ENOENT: f"no such file or folder: {where}",
    }
    return advice.get(exc.errno, f"{exc.strerror or exc.__class__.__name__}: {where}")
