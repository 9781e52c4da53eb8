"""A journal file must end with a complete record before Optuna opens it.

Optuna's ``JournalFileBackend`` appends one JSON line per operation. A crash or a
full disk in the middle of an append leaves a torn last line; Optuna reads past
it, but its next append lands right after the partial bytes, and every later
read of the journal fails. :func:`repair_journal` moves such a tail aside
(``<journal>.torn-<UTC>``) and truncates the journal to its last complete
record, under the journal's own lock so that no live writer is cut off: at most
the torn record is lost.
"""

from __future__ import annotations

import json
import logging
import os
from collections import OrderedDict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["repair_journal", "torn_tail_start", "TAIL_SCAN_BYTES", "journal_storage", "OPEN_JOURNALS"]

logger = logging.getLogger(__name__)

#: Bytes read from the end to find the last complete record (a record is a few KiB at most).
TAIL_SCAN_BYTES = 1 << 20


def _complete(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def torn_tail_start(path: str | Path) -> int:
    """Offset where the torn tail of a journal starts (its size when it ends with a complete record).

    The tail is torn when the file does not end with a newline, or its last line is not JSON.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        start = max(0, size - TAIL_SCAN_BYTES)
        f.seek(start)
        tail = f.read()
    end = tail.rfind(b"\n")  # end of the last newline-terminated line
    if end < 0:  # no complete line in the scanned tail
        return start
    keep = start + end + 1
    line_start = tail.rfind(b"\n", 0, end) + 1
    if not _complete(tail[line_start:end]):  # a newline-terminated line that is not a record
        keep = start + line_start
    return keep


def _torn_path(path: Path) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    candidate, n = path.with_name(f"{path.name}.torn-{stamp}"), 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}.torn-{stamp}-{n}")
    return candidate


def repair_journal(path: str | Path) -> int:
    """Move a torn tail of the journal ``path`` aside and truncate it to its last complete record.

    Runs under the journal's own lock (Optuna's ``JournalFileSymlinkLock``, the one
    ``JournalFileBackend`` uses), so a worker still appending finishes its record first.

    Returns
    -------
    int
        Bytes moved to ``<path>.torn-<UTC>`` (0 when the journal was whole or does not exist).

    Raises
    ------
    OSError
        If the journal or the torn-bytes file cannot be written (e.g. the disk is still full).
    """
    from optuna.storages.journal import JournalFileSymlinkLock

    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return 0
    lock = JournalFileSymlinkLock(str(path))
    lock.acquire()
    try:
        keep = torn_tail_start(path)
        size = path.stat().st_size
        if keep == size:
            return 0
        with open(path, "rb+") as f:
            f.seek(keep)
            torn = f.read()
            aside = _torn_path(path)
            aside.write_bytes(torn)  # first, so the bytes survive a crash of the truncation
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
    finally:
        lock.release()
    logger.warning("%s ended with a torn record (%d bytes, from a crash or a full disk); moved them to %s and "
                   "truncated the journal to its last complete record", path, len(torn), aside)
    return len(torn)


#: Journal storages kept open per process, most recently used last (a few runs' journals at most).
OPEN_JOURNALS = 8
_open: OrderedDict[str, tuple[tuple[Any, ...] | None, Any]] = OrderedDict()


def _identity(path: Path) -> tuple[Any, ...] | None:
    """What tells this journal file from another at the same path: device, inode, first record (it names its
    writer's uuid) and size; None while the file does not exist."""
    try:
        stat = path.stat()
        with open(path, "rb") as f:
            first = f.readline(4096)
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino, first, stat.st_size


def journal_storage(path: str | Path):
    """Optuna's ``JournalStorage`` of the journal file ``path``, one per file and process.

    Opening a journal replays every record in it; a shared storage then reads only the records
    appended since (its own and other processes'). A sweep of 100 symbols keeps 300 studies in one
    journal, and opening each study's storage afresh replayed the whole file 300 times: the
    overhead per trial at 100 symbols was 1.9x its value at 2 (``benchmarks/nightly_scale.py``).
    The open storage is reused only while the file is the same one (device, inode and first
    record, which was empty when the storage created the file) and has not shrunk; a torn tail is
    repaired first (:func:`repair_journal`).

    Raises
    ------
    OSError
        If a torn tail cannot be moved aside.
    """
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = Path(path)
    repair_journal(path)  # a torn last record (crash, full disk) would break every later read
    key, identity = str(path.resolve()), _identity(path)
    cached = _open.pop(key, None)
    storage = cached[1] if cached is not None and _same_file(cached[0], identity) else \
        JournalStorage(JournalFileBackend(str(path)))  # creates the file
    _open[key] = (_identity(path), storage)
    while len(_open) > OPEN_JOURNALS:
        _open.popitem(last=False)
    return storage


def _same_file(before: tuple[Any, ...] | None, now: tuple[Any, ...] | None) -> bool:
    """Whether the journal is still the file a storage was opened on: same device and inode, the same first record
    (or none then), and not shrunk."""
    if before is None or now is None:
        return False
    (dev, ino, first, size), (dev_now, ino_now, first_now, size_now) = before, now
    return (dev, ino) == (dev_now, ino_now) and first in (b"", first_now) and size_now >= size
