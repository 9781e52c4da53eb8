"""Unexpected exceptions: one line for the user, the traceback in a log file.

Every error a user can cause is a :class:`sweep.errors.SweepError` with a message naming the
value and the fix. Anything else is a bug; its traceback is no help on a terminal or in a
nightly job's mail, but it is what a bug report needs, so it goes to a file whose path the
one-line message gives.
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["crash_log_dir", "write_crash_log"]


def crash_log_dir() -> Path:
    """``$SWEEP_LOG_DIR``, else ``$XDG_STATE_HOME/sweep``, else ``~/.local/state/sweep``."""
    if os.environ.get("SWEEP_LOG_DIR"):
        return Path(os.environ["SWEEP_LOG_DIR"])
    state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(state) / "sweep"


def write_crash_log(error: BaseException) -> Path:
    """Write the command line and ``error``'s traceback to a new log file; returns its path.

    Falls back to the system's temp folder when the log folder cannot be written (never raises
    an ``OSError`` of its own, so a full disk still leaves the user the one-line message).
    """
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    text = (f"command: {' '.join(sys.argv)}\ncwd: {os.getcwd()}\n\n"
            + "".join(traceback.format_exception(type(error), error, error.__traceback__)))
    for folder in (crash_log_dir(), Path(tempfile.gettempdir())):
        path = folder / f"sweep-error-{stamp}-{os.getpid()}.log"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            return path
        except OSError:
            continue
    return Path("<no writable log folder>")
