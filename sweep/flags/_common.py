"""Flags, exit codes and consoles shared by ``python -m sweep`` and the training jobs.

The data, window, fold and checkpoint flags; the exit codes (0 ok, 2 invalid input or config, 1 failure,
130 interrupted); the stderr :data:`console` and the stdout :func:`table_console`; logging set-up and
:func:`exit_code_of`, which maps errors to exit codes. Nothing of the pipeline (run, backtest, promote,
report, predict, export, settings) is imported here at module level, so the training jobs
(:mod:`sweep.training`) stay below the CLI (:mod:`sweep.cli`).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any, Callable, Sequence

from rich.console import Console
from rich.logging import RichHandler

from ..data.bars import GAP_POLICIES, validate_symbol
from ..errors import ConfigError, DataValidationError, DiskFullError, SweepError, exception_chain, is_disk_full
from ..forecasters.registry import FAMILIES
from ..data.windows import WindowSpec

__all__ = ["EXIT_OK", "EXIT_FAILURE", "EXIT_INVALID", "flagged_families", "console",
           "table_console", "RUN_DATA_DIR_HELP", "add_data_flags", "add_window_flags", "window_spec_from_args", "add_folds_flag",
           "unique", "valid_symbols", "add_family_flags", "family_model_ids", "family_options", "setup_logging",
           "exit_code_of"]

EXIT_OK, EXIT_FAILURE, EXIT_INVALID = 0, 1, 2
console = Console(stderr=True, soft_wrap=True)  # messages stay whole lines in logs and pipes
TABLE_WIDTH_WHEN_PIPED = 180
logger = logging.getLogger(__name__)


def flagged_families() -> list:
    """Every registered family with a checkpoint flag, every one but persistence (read live, so a family
    registered at run time has its flag)."""
    return [f for f in FAMILIES.values() if f.flag]


def table_console() -> Console:
    """stdout console; tables are not squeezed to 80 columns when piped to a file or CI log."""
    out = Console()
    return out if out.is_terminal else Console(width=TABLE_WIDTH_WHEN_PIPED)


#: ``--data-dir`` of a command that reads a finished run's bars (``promote``, ``report``; :mod:`sweep.data.run_data`).
RUN_DATA_DIR_HELP = ("folder of <SYMBOL>.csv files (default: the one the run swept, as its run.json or candidates "
                     "record; bars appended since are used, changed bars are refused)")


def add_data_flags(parser: argparse.ArgumentParser, of_a_run: bool = False) -> None:
    """``--data-dir``, ``--freq`` and ``--gap-policy``; ``of_a_run``: ``--data-dir`` defaults to the run's folder."""
    parser.add_argument("--data-dir", type=Path, default=None if of_a_run else Path("trainingdata"),
                        help=RUN_DATA_DIR_HELP if of_a_run else "folder of <SYMBOL>.csv files")
    parser.add_argument("--freq", default="1h", help="bar frequency (default 1h)")
    parser.add_argument("--gap-policy", choices=GAP_POLICIES, default="error",
                        help="gaps larger than --freq: error (default), ffill (carry last close) or drop")


def add_window_flags(parser: argparse.ArgumentParser, defaults: bool = True) -> None:
    spec = WindowSpec()
    d = (lambda v: v) if defaults else (lambda v: None)
    parser.add_argument("--horizon", type=int, default=d(spec.horizon), help=f"bars per forecast (default {spec.horizon})")
    parser.add_argument("--val-windows", type=int, default=d(spec.val_windows),
                        help=f"validation origins (default {spec.val_windows})")
    parser.add_argument("--test-windows", type=int, default=d(spec.test_windows),
                        help=f"test period in units of --stride bars, i.e. test days at stride 24 (default "
                             f"{spec.test_windows}); it holds test-windows x stride / test-stride test origins")
    parser.add_argument("--stride", type=int, default=d(spec.stride),
                        help=f"bars between validation origins (default {spec.stride})")
    parser.add_argument("--test-stride", type=int, default=d(spec.test_stride),
                        help=f"bars between test origins, a divisor of --stride (default {spec.test_stride}: every "
                             f"bar; only the compared configs score them, selection never does)")
    parser.add_argument("--max-context-length", type=int, default=d(spec.max_context_length),
                        help=f"longest context searched (default {spec.max_context_length})")
    parser.add_argument("--purge-gap", type=int, default=None, help="bars between validation and test (default: horizon)")


def window_spec_from_args(args: argparse.Namespace, base: dict[str, Any] | None = None) -> WindowSpec:
    values = {k: v for k, v in (base or {}).items() if k in WindowSpec.__dataclass_fields__}
    if "stride" in values and "test_stride" not in values:  # documents from before --test-stride: every stride
        values["test_stride"] = values["stride"]
    flags = {"horizon": args.horizon, "val_windows": args.val_windows, "test_windows": args.test_windows,
             "stride": args.stride, "max_context_length": args.max_context_length, "purge_gap_bars": args.purge_gap,
             "test_stride": args.test_stride}
    values.update({k: v for k, v in flags.items() if v is not None})
    return WindowSpec(**values)


def add_folds_flag(parser: argparse.ArgumentParser, what: str = "", default: int = 1) -> None:
    """``--folds K``: K walk-forward folds (:func:`sweep.data.windows.walk_forward_splits`), the last being today's split.

    An integer >= 1, refused while parsing otherwise. The backtest scores each fold (default 3); a training job
    stops before the oldest fold's first validation origin (default 1), so its model can be backtested on the
    same K folds. ``what``, if given, ends the help: what the command does with them.
    """
    from ._numbers import positive_int

    parser.add_argument("--folds", type=positive_int, default=default,
                        help=f"walk-forward folds; the last is today's split (default {default})"
                             + (f"; {what}" if what else ""))


def unique(values: tuple[str, ...], flag: str) -> tuple[str, ...]:
    """``values`` in order with repeats dropped; a warning names the repeats (a symbol run twice would
    write its candidate twice and count its studies twice in the run)."""
    kept = tuple(dict.fromkeys(values))
    if len(kept) < len(values):
        repeated = sorted({v for v in values if values.count(v) > 1})
        logger.warning("%s names %s more than once; each runs once", flag, ", ".join(repeated))
    return kept


def valid_symbols(values: Sequence[str], flag: str = "--symbols") -> tuple[str, ...]:
    """Validated symbols, each once (a repeat is dropped with a warning)."""
    return unique(tuple(validate_symbol(s) for s in values), flag)


def _flag_dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def add_family_flags(parser: argparse.ArgumentParser, with_defaults: bool) -> None:
    """``--toto-model``, ``--kronos-model``, ``--chronos2-model``, ...: one checkpoint flag per registry family that
    has one, and a flag per further checkpoint its loader takes (``--kronos-tokenizer``), all read from the registry.

    With ``with_defaults`` the checkpoint flags default to the registry's checkpoints (the sweep); without, to
    None, so the command uses the candidate's model unless a flag is given (``evaluate``).
    """
    for family in flagged_families():
        default = family.default_model if with_defaults else None
        where = f"default {family.default_model}" if with_defaults else \
            f"default: the candidate's model, else {family.default_model}"
        parser.add_argument(family.flag, default=default, help=f"{family.flag_help} ({where})")
        for flag, text in family.options.values():
            parser.add_argument(flag, default=None, help=text)


def family_model_ids(args: argparse.Namespace) -> dict[str, str]:
    """``{family: checkpoint}`` named by the family flags (those given, or their defaults)."""
    return {f.name: getattr(args, _flag_dest(f.flag)) for f in flagged_families() if getattr(args, _flag_dest(f.flag))}


def family_options(args: argparse.Namespace) -> dict[str, dict[str, str]]:
    """``{family: {option: checkpoint}}`` of the further checkpoint flags given (``--kronos-tokenizer``)."""
    named = {f.name: {option: getattr(args, _flag_dest(flag)) for option, (flag, _) in f.options.items()
                      if getattr(args, _flag_dest(flag), None)} for f in flagged_families()}
    return {family: options for family, options in named.items() if options}


def _without_traceback(record: logging.LogRecord) -> bool:
    """Keep a log record's message, drop its traceback (Optuna logs one with every failed or interrupted trial;
    the trial's error is recorded in the study, and a bug's traceback goes to a log file)."""
    record.exc_info, record.exc_text, record.stack_info = None, None, None
    return True


def setup_logging(verbose: bool) -> None:
    handler = RichHandler(console=console, show_path=False)
    handler.addFilter(_without_traceback)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s", handlers=[handler])
    logging.getLogger("sweep").setLevel(logging.INFO)
    import optuna

    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
    optuna.logging.set_verbosity(optuna.logging.INFO if verbose else optuna.logging.WARNING)


def exit_code_of(command: Callable[[], int]) -> int:
    """Run a command, printing a :class:`SweepError` as one line; 2 for invalid input, 1 for failure.

    Any other exception is a bug: one line naming it and a log file with its traceback
    (:func:`sweep.storage.crash_log.write_crash_log`), exit 1. No traceback reaches the terminal.
    """
    try:
        return command()
    except (DataValidationError, ConfigError) as e:
        console.print(f"[red]error:[/red] {e}", highlight=False)
        return EXIT_INVALID
    except SweepError as e:
        console.print(f"[red]error:[/red] {e}", highlight=False)
        return EXIT_FAILURE
    except OSError as e:  # a full disk under a write of a library (a plot, a log): same message, no traceback
        if not is_disk_full(e):
            return _unexpected(e)
        console.print(f"[red]error:[/red] {DiskFullError.at(e.filename or '.', e)}", highlight=False)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return _interrupted()
    except Exception as e:
        return _unexpected(e)


def _interrupted() -> int:
    console.print("interrupted; rerun the same command with the same --run-id to resume")
    return 130


def _unexpected(error: Exception) -> int:
    """A bug: one line here, the traceback in a log for the report; an error raised while a Ctrl-C unwound (e.g.
    Optuna's journal lock released half-taken) is the interrupt's consequence, not a bug."""
    from ..storage.crash_log import write_crash_log

    if any(isinstance(e, KeyboardInterrupt) for e in exception_chain(error)):
        return _interrupted()

    first_line = (str(error).splitlines() or [""])[0][:300]
    console.print(f"[red]error:[/red] unexpected {type(error).__name__}: {first_line}. This is a bug in sweep; the "
                  f"traceback is in {write_crash_log(error)} (please attach it to a report)", highlight=False)
    return EXIT_FAILURE
