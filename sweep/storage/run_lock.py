"""One driver per run: a second ``python -m sweep ... --run-id X`` refuses at once instead of racing the first.

Two drivers on one run would both resume its studies, enqueue warm starts, fail each
other's RUNNING trials as stale and overwrite each other's candidates. The lock is
an OS file lock (``filelock``) on ``<run_dir>/.driver.lock``, held for the driver's
lifetime and released by the OS when the process dies, so a killed driver never
blocks its rerun. Ray workers of the same driver take no lock.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from ..errors import ConfigError
from .store import utc_now, write_json_atomic

__all__ = ["run_lock", "LOCK_FILE", "DRIVER_FILE"]

LOCK_FILE = ".driver.lock"
#: Who holds the run: pid, host, start time and command line, for the refusal message.
DRIVER_FILE = "driver.json"


def _holder(run_dir: Path) -> str:
    try:
        driver = json.loads((run_dir / DRIVER_FILE).read_text())
    except (OSError, ValueError):
        return "another process"
    return (f"pid {driver.get('pid')} on {driver.get('host')}, started {driver.get('started_at')}: "
            f"{' '.join(driver.get('command', []))}")


@contextmanager
def run_lock(run_dir: str | Path, check: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the run's driver lock for the block.

    Parameters
    ----------
    run_dir : str or Path
    check : callable, optional
        Run under the lock before this driver records itself in ``driver.json``, e.g. the resume
        check: a command it refuses leaves the run folder as it was.

    Raises
    ------
    ConfigError
        At once, if another driver holds the lock (naming the run folder, that process and the fix);
        or whatever ``check`` raises.
    """
    from filelock import FileLock, Timeout

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(run_dir / LOCK_FILE), timeout=0)
    try:
        lock.acquire()
    except Timeout as e:
        raise ConfigError(f"run folder {run_dir} is in use by another driver ({_holder(run_dir)}); wait for it to "
                          f"finish or stop it, use another --run-id, or give one run more parallel workers with "
                          f"--executor ray --workers N") from e
    try:
        if check is not None:
            check()
        write_json_atomic(run_dir / DRIVER_FILE, {"pid": os.getpid(), "host": socket.gethostname(),
                                                  "started_at": utc_now(), "command": sys.argv})
        yield
    finally:
        lock.release()
