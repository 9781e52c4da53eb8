"""Exception hierarchy of sweep.

Every error a user can cause derives from :class:`SweepError`; the CLI maps
:class:`DataValidationError` and :class:`ConfigError` to exit code 2 and any
other :class:`SweepError` to exit code 1.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path
from typing import Iterator

__all__ = ["SweepError", "DataValidationError", "ConfigError", "ModelLoadError", "TrialError", "DiskFullError",
           "StorageError", "exception_chain", "is_disk_full"]

#: errno values of a full disk or an exhausted quota.
DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class SweepError(Exception):
    """Base class of every error raised on purpose by sweep."""


class DataValidationError(SweepError):
    """An OHLCV file or the requested windows violate a data rule (file, row, value, fix)."""


class ConfigError(SweepError):
    """A flag, a config file or a search-space value is invalid."""


class ModelLoadError(SweepError):
    """A model checkpoint could not be found, downloaded or loaded."""


class TrialError(SweepError):
    """One Optuna trial failed; the study records it as FAIL and continues."""


class StorageError(SweepError):
    """The study storage (journal file or database) failed; the sweep stops and a rerun resumes."""


class DiskFullError(StorageError):
    """A write failed because the disk (or quota) holding ``path`` is full."""

    @classmethod
    def at(cls, path: str | Path, error: OSError | None = None) -> "DiskFullError":
        """The error for a failed write under ``path``, stating its free space and the fix."""
        path = Path(path)
        existing = next((p for p in (path, *path.parents) if p.exists()), Path("."))
        free = shutil.disk_usage(existing).free
        cause = f" ({error.strerror})" if error is not None and error.strerror else ""
        return cls(f"no space left on the device holding {path}{cause}: {free / 2**20:.1f} MiB free. Free space "
                   f"there (or move --runs-dir / --output-dir to another disk) and rerun the same command: completed "
                   f"trials are kept, and no candidate, best or review file was left half-written")


def exception_chain(error: BaseException | None) -> Iterator[BaseException]:
    """``error`` and the exceptions it was raised from or while handling (``__cause__``, else ``__context__``).

    Libraries re-raise a failure as another exception (Optuna: a storage error recorded while it
    finishes a trial as ``AssertionError("Should not reach.")``; a lock released half-taken after a
    Ctrl-C as ``FileNotFoundError``), so the cause is found by walking the chain.
    """
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` is an ``OSError`` of a full disk or quota."""
    return isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS
