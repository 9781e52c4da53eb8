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
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["repair_journal", "torn_tail_start", "TAIL_SCAN_BYTES"]

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
