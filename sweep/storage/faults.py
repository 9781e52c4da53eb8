"""Storage faults as sweep errors: a full disk, a database that went away.

Optuna raises ``OSError`` when a journal append hits a full disk and
``StorageInternalError`` (or SQLAlchemy's ``OperationalError``) when the database
connection drops. :func:`storage_faults` turns them into :class:`DiskFullError`
and :class:`StorageError`, whose messages name the place, the state and the fix;
the CLI prints them as one line and exits 1, and rerunning the same command resumes.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import DiskFullError, StorageError, exception_chain, is_disk_full
from .storage_url import is_database_url, redacted

__all__ = ["storage_faults", "STORAGE_RETRY_DELAYS_S"]

#: Seconds to wait before each new attempt of a study whose database connection failed (local executor).
STORAGE_RETRY_DELAYS_S = (2.0, 5.0, 10.0, 30.0)


def _database_errors() -> tuple[type[BaseException], ...]:
    from optuna.exceptions import StorageInternalError

    try:
        from sqlalchemy.exc import DBAPIError, OperationalError
    except ImportError:  # journal-only installs
        return (StorageInternalError,)
    return StorageInternalError, OperationalError, DBAPIError


@contextmanager
def storage_faults(storage: str | Path, folder: str | Path | None = None) -> Iterator[None]:
    """Translate storage faults inside the block into sweep errors.

    Parameters
    ----------
    storage : str or Path
        The study storage (journal path or database URL), named in messages.
    folder : str or Path, optional
        The run folder, for a full disk under it (default: the journal's folder).

    Raises
    ------
    DiskFullError
        On ``ENOSPC`` / ``EDQUOT`` anywhere in the exception's chain.
    StorageError
        When the database fails (connection lost, server restarted).
    """
    try:
        yield
    except StorageError:
        raise
    except Exception as e:
        for cause in exception_chain(e):
            if is_disk_full(cause):
                where = getattr(cause, "filename", None) or folder or (
                    storage if not is_database_url(storage) else ".")
                raise DiskFullError.at(where, cause) from e
            if isinstance(cause, _database_errors()):
                raise StorageError(f"the study storage {redacted(storage)} failed ({type(cause).__name__}: "
                                   f"{str(cause).splitlines()[0][:200]}); check that the database is reachable "
                                   f"and rerun the same command to resume: completed trials are kept") from e
        raise
