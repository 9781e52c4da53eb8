"""What every training job shares (``tototraining``, ``kronostraining``, ``chronostraining``).

:func:`training_parser` (the common flags), :func:`run_job` (logging, ``--output`` / ``--init`` checks
and exit codes) and :func:`load_training_data` (the bars before the first validation origin).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable

from .errors import ConfigError
from .flags import (add_data_flags, add_folds_flag, add_window_flags, exit_code_of, setup_logging, valid_symbols,
                    window_spec_from_args)
from .windows import WindowSpec

__all__ = ["training_parser", "run_job", "load_training_data"]


def load_training_data(args: argparse.Namespace) -> tuple[WindowSpec, list, dict[str, Any]]:
    """Data and splits of every ``--symbols`` for a training job (``tototraining``, ``kronostraining``).

    Returns
    -------
    spec : WindowSpec
    datasets : list of (OHLCVData, Splits)
    metadata : dict
        ``windows`` and per-symbol data path, fingerprint and first validation origin, for the
        checkpoint's training record.

    With ``args.folds`` (``--folds K``) the bars stop before the first validation origin of the
    oldest of K walk-forward folds (:func:`sweep.windows.walk_forward_splits`), so the model can be
    backtested on every fold.

    Raises
    ------
    DataValidationError, ConfigError
        If a symbol is invalid, ``--data-dir`` is a file, or a file is invalid or too short for the windows.
    """
    from .data import load_ohlcv
    from .windows import walk_forward_splits

    spec = window_spec_from_args(args)
    folds = getattr(args, "folds", 1)
    args.symbols = list(valid_symbols(args.symbols))  # each once, a repeat dropped with a warning (as the sweep's)
    if args.data_dir.exists() and not args.data_dir.is_dir():
        raise ConfigError(f"--data-dir {args.data_dir} is a file, not a folder; pass the folder that holds "
                          f"<SYMBOL>.csv or <SYMBOL>.csv.gz files")
    datasets, data_meta = [], {}
    for symbol in args.symbols:
        data = load_ohlcv(args.data_dir, symbol, args.freq, args.gap_policy)
        splits = walk_forward_splits(data.n_bars, spec, folds, source=str(data.path))[0]  # the oldest fold
        datasets.append((data, splits))
        data_meta[symbol] = {"data_path": str(data.path), "data_fingerprint": data.fingerprint,
                             "first_validation_origin_time": str(data.frame.index[splits.first_validation_origin])}
    windows = spec.__dict__ | {"purge_gap_bars": spec.purge_gap, "folds": folds}
    return spec, datasets, {"windows": windows, "datasets": data_meta}


def training_parser(prog: str, description: str, output_help: str, default_init: str,
                    presets: list[str], *, kind: str) -> argparse.ArgumentParser:
    """The flags every training job shares (``tototraining``, ``kronostraining``, ``chronostraining``).

    Symbols, data and window flags (the sweep's, so training stops before its first validation
    origin), ``--folds``, ``--output``, ``--overwrite``, ``--init``, ``--preset``, ``--steps``
    (>= 1, refused while parsing otherwise), ``--seed`` (0 to 2**31 - 1, likewise) and ``-v``; each job
    adds its own.

    Parameters
    ----------
    prog, description, output_help : str
        Shown by ``--help``.
    default_init : str
        Default ``--init``.
    presets : list of str
        Choices of ``--preset``.
    kind : str
        The job's checkpoint kind (a key of :data:`sweep.checkpoint_output.KINDS`), stored as
        ``args.checkpoint_kind``: :func:`run_job` checks ``--output`` against it.

    Returns
    -------
    argparse.ArgumentParser
    """
    from .training_flags import positive_int, seed

    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--symbols", nargs="+", required=True)
    add_data_flags(p)
    add_window_flags(p)
    add_folds_flag(p, "train only on bars before the oldest fold's first validation origin")
    p.add_argument("--output", type=Path, required=True,
                   help=f"{output_help}; a new path or an empty folder (see --overwrite)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the checkpoint this job wrote earlier in --output (nothing else is ever replaced)")
    p.add_argument("--init", default=default_init, help="'scratch', a Hugging Face id or a folder")
    p.add_argument("--preset", default="tiny", choices=sorted(presets), help="architecture for --init scratch")
    p.add_argument("--steps", type=positive_int, default=300, help="optimiser steps, >= 1 (default 300)")
    p.add_argument("--seed", type=seed, default=0, help="random seed, 0 to 2**31 - 1 (default 0)")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(checkpoint_kind=kind)
    return p


def run_job(args: argparse.Namespace, run: Callable[[argparse.Namespace], int]) -> int:
    """Set up logging and run a training job, mapping errors to exit codes (0 ok, 2 invalid input, 1 failure).

    ``--output`` is checked first (:func:`sweep.checkpoint_output.check_output`, made absolute);
    ``--init`` / ``--init-tokenizer`` must not lie in it, and must each be ``scratch`` (``--init``
    only), an existing checkpoint folder or a Hugging Face id (:func:`sweep.checkpoint_output.check_init`):
    a refusal exits 2 before any data is loaded.
    """
    from .checkpoint_output import check_init, check_init_is_not_output, check_output

    setup_logging(args.verbose)

    def checked_run() -> int:
        args.output = check_output(args.output, args.checkpoint_kind, args.overwrite)
        for dest in ("init", "init_tokenizer"):
            check_init_is_not_output(getattr(args, dest, None), args.output, "--" + dest.replace("_", "-"))
        check_init(args.init, args.checkpoint_kind, getattr(args, "init_tokenizer", None))
        return run(args)

    return exit_code_of(checked_run)
