"""hyperparams/ outputs: atomic JSON writes, provenance, candidate files.

Layout under the output dir (default ``hyperparams/``)::

    candidates/<run_id>/<SYMBOL>.json            written by every sweep
    candidates/<run_id>/ensemble/<SYMBOL>.json   written by sweeps with --ensemble
    best/<SYMBOL>.json                           written only by a promotion review
    reviews/<UTC timestamp>-<SYMBOL>.md          one per promotion decision, never overwritten

These names are the 1-bar horizon's. Every other horizon's files put the horizon after the symbol,
``<SYMBOL>.h<H>`` (:func:`horizon_slot`): ``candidates/<run_id>/BTCUSD.h4.json``, ``best/BTCUSD.h24.json``,
``reviews/<UTC timestamp>-BTCUSD.h4.md``. Symbols are upper case, so ``.h<H>`` never belongs to one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from ..errors import ConfigError, DiskFullError, is_disk_full

__all__ = ["write_json_atomic", "write_text_atomic", "default_file_mode", "read_json", "candidate_path",
           "ensemble_candidate_path", "best_path", "window_losses_path", "TEST_LOSSES_SUFFIX", "horizon_slot",
           "slot_parts", "git_commit", "utc_now", "check_output_folder", "CANDIDATE_KEYS"]

CANDIDATE_KEYS = ("symbol", "model", "config", "validation", "test", "baseline", "windows", "provenance")


def utc_now() -> str:
    """Current UTC time, ISO 8601 with seconds."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def default_file_mode() -> int:
    """Permissions a plain ``open()`` would give a new file (0o666 less the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text``: a temp file in the same folder, fsync, then rename.

    Readers see the old file or the new one, never a torn one, also when the disk fills up.

    Raises
    ------
    DiskFullError
        If the disk holding ``path`` is full (the temp file is removed, ``path`` is untouched).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        if is_disk_full(e):
            raise DiskFullError.at(path, e) from e
        raise
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, default_file_mode())  # mkstemp creates 0600 files
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if is_disk_full(e):
            raise DiskFullError.at(path, e) from e
        raise
    return path


def write_json_atomic(path: str | Path, document: Any) -> Path:
    """Write ``document`` as indented JSON with :func:`write_text_atomic`."""
    return write_text_atomic(path, json.dumps(document, indent=2, sort_keys=False, allow_nan=False) + "\n")


@contextmanager
def staged_folder(output: str | Path) -> Iterator[Path]:
    """A temp folder beside ``output`` that replaces the folder ``output`` whole when the block succeeds.

    A crash inside the block leaves ``output`` as it was (the staging folder is removed),
    so a reader never sees a half-written checkpoint. Which folders a command may replace is its
    own decision (the training jobs': :func:`sweep.forecasters.checkpoint_output.check_output`); a file is
    never replaced.

    Raises
    ------
    ConfigError
        If ``output`` is a file (checked before anything is written).
    """
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise ConfigError(f"{output} is a file, not a folder, and is never replaced by a folder; "
                          f"choose a new output folder")
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}."))
    staging.chmod(default_file_mode() | 0o111)  # mkdtemp creates 0700
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if output.exists():
        old = staging.with_name(f"{staging.name}.old")  # unique like the staging folder: no one's file is touched
        output.rename(old)
        staging.rename(output)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(output)


def read_json(path: str | Path, what: str = "file") -> Any:
    """Read a JSON file.

    Raises
    ------
    ConfigError
        If it is missing, a folder, unreadable, or not valid JSON (naming the file and the position).
    """
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as e:
        raise ConfigError(f"{what} {path} does not exist") from e
    except json.JSONDecodeError as e:
        raise ConfigError(f"{what} {path} is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"{what} {path} is not a text (JSON) file ({e.reason} at byte {e.start})") from e
    except IsADirectoryError as e:
        raise ConfigError(f"{what} {path} is a folder; pass the JSON file's path") from e
    except PermissionError as e:
        raise ConfigError(f"{what} {path} cannot be read by this user ({e.strerror}); fix its permissions") from e


def horizon_slot(symbol: str, horizon: int = 1) -> str:
    """The name of ``symbol``'s files at ``horizon`` bars: the symbol itself at 1 bar (the names every consumer
    of ``hyperparams/`` already reads), ``<SYMBOL>.h<horizon>`` otherwise (``BTCUSD.h24``)."""
    return symbol if horizon == 1 else f"{symbol}.h{horizon}"


def slot_parts(slot: str) -> tuple[str, int]:
    """``(symbol, horizon)`` of a file name :func:`horizon_slot` wrote (``"BTCUSD.h4"`` -> ``("BTCUSD", 4)``)."""
    symbol, _, tail = slot.rpartition(".h")
    if symbol and tail.isdigit() and int(tail) > 1 and not tail.startswith("0"):
        return symbol, int(tail)
    return slot, 1


def candidate_path(output_dir: str | Path, run_id: str, symbol: str) -> Path:
    """``<output_dir>/candidates/<run_id>/<SYMBOL>.json``."""
    return Path(output_dir) / "candidates" / run_id / f"{symbol}.json"


#: The per-window test losses of a candidate are written beside it as ``<SYMBOL>.test_losses.csv``.
TEST_LOSSES_SUFFIX = ".test_losses.csv"


def window_losses_path(candidate_file: Path) -> Path:
    """The per-window test-loss file beside ``candidate_file`` (``BTCUSD.json`` -> ``BTCUSD.test_losses.csv``)."""
    return candidate_file.with_name(candidate_file.stem + TEST_LOSSES_SUFFIX)


def ensemble_candidate_path(output_dir: str | Path, run_id: str, symbol: str) -> Path:
    """``<output_dir>/candidates/<run_id>/ensemble/<SYMBOL>.json``."""
    return Path(output_dir) / "candidates" / run_id / "ensemble" / f"{symbol}.json"


def best_path(output_dir: str | Path, symbol: str) -> Path:
    """``<output_dir>/best/<SYMBOL>.json``: the promoted config, written only by a promotion review."""
    return Path(output_dir) / "best" / f"{symbol}.json"


def git_commit(start: str | Path | None = None) -> str | None:
    """Commit of the git checkout holding the sweep sources (with ``-dirty`` if modified), or ``None``."""
    where = str(start or Path(__file__).resolve().parent)
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}-dirty" if dirty else commit


def check_output_folder(path: str | Path, flag: str) -> None:
    """Refuse an output folder that cannot be created or written, before any work starts.

    Parameters
    ----------
    path : str or Path
        A folder that may not exist yet.
    flag : str
        The flag that named it, for the message.

    Raises
    ------
    ConfigError
        If ``path`` is an existing file, lies under a file or a broken link, or its nearest existing folder
        is not writable.
    """
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} {path} is a file, not a folder; pass a folder path (it is created if missing)")
    existing = next(p for p in (path, *path.parents) if p.exists() or p.is_symlink())
    if existing.is_symlink() and not existing.exists():
        raise ConfigError(f"{flag} {path}: {existing} is a broken symbolic link; fix it or choose another path")
    if not existing.is_dir():
        raise ConfigError(f"{flag} {path}: {existing} is a file, so the folder cannot be created; choose another path")
    try:  # a probe, not os.access: root passes os.access on read-only mounts and /proc
        os.rmdir(tempfile.mkdtemp(dir=existing, prefix=".sweep-write-probe-"))
    except OSError as e:
        raise ConfigError(f"{flag} {path}: nothing can be created in {existing} ({e.strerror}); choose a writable "
                          f"folder or fix its permissions") from e
