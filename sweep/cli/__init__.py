"""``python -m sweep``: thin CLI over the public API, printing with rich.

Commands::

    python -m sweep --symbols BTCUSD ETHUSD --n-trials 100      run a sweep
    python -m sweep data validate --data-dir DIR --symbols ...  check CSV files
    python -m sweep data download --symbols ... --exchange binance
    python -m sweep evaluate --symbol SYM --config FILE.json [--json]
    python -m sweep promote --run RUN_ID [--symbols ...] [--alpha 0.05] [--dry-run]
    python -m sweep report --run RUN_ID [--output-dir DIR] [--report-dir DIR]
    python -m sweep backtest --symbols ... --folds K [sweep flags]   walk-forward backtest of the tuning
    python -m sweep export --layout stock-prediction --to DIR [--output-dir hyperparams]
    python -m sweep predict --symbol SYM [--at TIMESTAMP] [--json]   forecast with the promoted config

Exit codes: 0 ok, 2 invalid input or config, 1 failure.

This package holds :func:`main` and the dispatch table; each command lives in a module of its own
(:mod:`.sweep_command`, :mod:`.backtest_command`, :mod:`.review_commands`, :mod:`.serving_commands`,
:mod:`.data_commands`), the flags shared with the training jobs in :mod:`sweep.flags` and what the
training jobs share in :mod:`sweep.training`.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Callable, Sequence

from ..flags import exit_code_of, setup_logging
from .backtest_command import backtest_command, print_backtest, scope_verdict
from .data_commands import data_command, evaluate_command
from .review_commands import promote_command, report_command
from .serving_commands import export_command, predict_command
from .sweep_command import sweep_command, verdict

__all__ = ["main", "COMMANDS", "verdict", "print_backtest", "scope_verdict"]

logger = logging.getLogger("sweep")

#: ``python -m sweep <command> ...``; any other first argument runs a sweep.
COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "data": data_command, "evaluate": evaluate_command, "promote": promote_command, "report": report_command,
    "backtest": backtest_command, "export": export_command, "predict": predict_command}


def _thread_failure(args) -> None:
    """One warning line, not a traceback, for a failing background thread (e.g. Optuna's heartbeat while the
    database restarts); the main thread's own handling decides what the failure means."""
    name = args.thread.name if args.thread is not None else "a background thread"
    logger.warning("%s failed: %s: %s", name, args.exc_type.__name__,
                   (str(args.exc_value).splitlines() or [""])[0][:200])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m sweep``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    setup_logging("-v" in argv or "--verbose" in argv)
    threading.excepthook = _thread_failure
    command = COMMANDS.get(argv[0]) if argv else None
    return exit_code_of(lambda: command(argv[1:]) if command else sweep_command(argv))
