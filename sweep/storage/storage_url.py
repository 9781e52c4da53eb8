"""The ``--storage`` value: an RDB URL that Optuna can open, or a journal file path, never a guess.

A value with a URL scheme (``name://``) is a database URL and must name a backend Optuna's
``RDBStorage`` supports with its driver installed; anything else is a journal file path. A
mistyped scheme (``postgres://``, ``bogus://``) is refused up front: taking it as a path would
write the studies to a local file named after the URL, password included, and never use the
database the user asked for. An in-memory SQLite database (``sqlite://``, ``sqlite:///:memory:``,
``mode=memory``) is refused too: it vanishes with the process, so a rerun would silently start from zero.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import ConfigError
from .store import check_output_folder

__all__ = ["RDB_BACKENDS", "is_database_url", "redacted", "check_storage"]

#: Backends Optuna's RDBStorage is tested on (optuna.storages.RDBStorage docs).
RDB_BACKENDS = ("postgresql", "mysql", "sqlite")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
#: Common misspellings of a backend name, for the fix in the message.
_MEANT = {"postgres": "postgresql", "pg": "postgresql", "psql": "postgresql", "sqlite3": "sqlite",
          "mariadb": "mysql"}


def is_database_url(storage: str | Path) -> bool:
    """Whether ``storage`` has a URL scheme (an RDB URL) rather than being a journal file path."""
    return _SCHEME.match(str(storage)) is not None


def redacted(storage: str | Path) -> str:
    """``storage`` with any password in a URL replaced by ``***``."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", str(storage))


def check_storage(storage: str | None, flag: str = "--storage") -> None:
    """Refuse a storage value that would not reach the store the user named.

    Parameters
    ----------
    storage : str or None
        ``None`` (the run's own journal), a database URL (``postgresql://user@host/db``,
        ``mysql+pymysql://...``, ``sqlite:///file.db``) or a journal file path.
    flag : str
        The flag named in messages.

    Raises
    ------
    ConfigError
        If a URL is malformed, its backend is not one of :data:`RDB_BACKENDS` (e.g. ``postgres://``
        for ``postgresql://``), its driver is not installed, it is an in-memory SQLite database (nothing
        to resume) or an SQLite file's folder is missing;
        or if a journal path is a folder, an existing file that is not a journal, or cannot be
        created. Messages hide any password.
    """
    if storage is None:
        return
    if is_database_url(storage):
        _check_database_url(storage, flag)
        return
    path = Path(storage).expanduser()
    if path.is_dir():
        raise ConfigError(f"{flag} {storage!r} is a folder; a journal storage is a file path (e.g. "
                          f"{path / 'optuna.journal'}), a database a URL like postgresql://user@host/db")
    check_output_folder(path.parent, f"{flag} {storage!r}: the journal's folder")
    if path.is_file() and not _is_journal(path):
        raise ConfigError(f"{flag} {storage!r} is an existing file that is not an Optuna journal; sweep would "
                          f"append to it (and repair its 'torn' tail), so it is left alone: pass a new path, the "
                          f"journal of an earlier run, or a database URL")


def _is_journal(path: Path) -> bool:
    """Whether ``path`` is empty or starts with an Optuna journal record (a JSON object with ``op_code``)."""
    with open(path, "rb") as f:
        first = f.readline(1 << 20)
    if not first:
        return True
    try:
        record = json.loads(first.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return False
    return isinstance(record, dict) and "op_code" in record


def _is_in_memory_sqlite(url) -> bool:
    """Whether an SQLite URL names no lasting file: no database (SQLAlchemy's ``:memory:``), ``:memory:``, the
    URI ``file::memory:``, or ``mode=memory`` (an empty name is a temporary file, deleted on close)."""
    database = url.database or ""
    name = database.removeprefix("file:") if database.startswith("file:") else database
    modes = url.query.get("mode", ())
    return name in ("", ":memory:") or "memory" in ((modes,) if isinstance(modes, str) else modes)


def _check_sqlite(url, shown: str, flag: str) -> None:
    """An SQLite database must outlive the process (a rerun resumes from it), and SQLite creates its file but not
    its folder: a missing folder fails only at the first query."""
    if _is_in_memory_sqlite(url):
        raise ConfigError(f"{flag} {shown!r} is an in-memory SQLite database: its studies vanish when the process "
                          f"ends, so a rerun could not resume them; use a file (sqlite:///path/to/studies.db), a "
                          f"journal file path, or a server (postgresql://user@host/db)")
    database = url.database
    if database.startswith("file:"):
        return
    folder = Path(database).expanduser().parent
    if not folder.is_dir():
        raise ConfigError(f"{flag} {shown!r}: the folder {folder} of the SQLite database does not exist; create it "
                          f"first (SQLite creates the file, not its folder)")
    check_output_folder(folder, f"{flag} {shown!r}: the database's folder")


def _check_database_url(storage: str, flag: str) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    shown = redacted(storage)
    scheme = _SCHEME.match(storage).group(1)
    try:
        url = make_url(storage)
    except ArgumentError as e:
        raise ConfigError(f"{flag} {shown!r} is not a valid database URL ({e}); use e.g. "
                          f"postgresql://user@host:5432/dbname") from e
    backend = url.get_backend_name()
    if backend not in RDB_BACKENDS:
        meant = _MEANT.get(backend)
        fix = (f"did you mean {meant}://? " if meant else "") + (
            f"Optuna's RDB storage takes {', '.join(b + '://' for b in RDB_BACKENDS)} URLs; a value without "
            f"'://' is a journal file path")
        raise ConfigError(f"{flag} {shown!r}: unknown database scheme {scheme!r}; {fix}")
    if backend == "sqlite":
        _check_sqlite(url, shown, flag)
    try:
        url.get_dialect().import_dbapi()
    except Exception as e:  # NoSuchModuleError (unknown +driver) or ImportError (driver not installed)
        raise ConfigError(f"{flag} {shown!r}: the {scheme!r} driver cannot be loaded ({type(e).__name__}: {e}); "
                          f"install it (e.g. pip install 'sweep[postgres]' for postgresql://) or use another "
                          f"driver in the URL") from e
