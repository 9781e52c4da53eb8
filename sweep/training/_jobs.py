"""What every training job shares (``tototraining``, ``kronostraining``, ``chronostraining``).

:func:`training_parser` (the common flags), :func:`run_job` (logging, ``--output`` / ``--init`` checks
and exit codes), :func:`load_training_data` and :func:`fit_window` (the bars before the first validation
origin) with :func:`fit_spans` (where windows are cut from them), :func:`seeded_preset` (the architecture of
``--init scratch``), :func:`training_main` (a job's ``main``) and :class:`Trainer` (what ``--finetune`` needs of
a job, :class:`JobTrainer` being one).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, Sequence, TypeVar

import numpy as np

from ..errors import ConfigError
from ..flags import (EXIT_OK, add_data_flags, add_folds_flag, add_window_flags, console, exit_code_of, setup_logging,
                     valid_symbols, window_spec_from_args)
from ..data.windows import WindowSpec

if TYPE_CHECKING:
    from ..data.bars import OHLCVData
    from ..data.windows import Splits

__all__ = ["training_parser", "run_job", "load_training_data", "FitWindow", "fit_window", "fit_spans", "check_preset",
           "seeded_preset", "training_main", "Trainer", "JobTrainer"]

Shape = TypeVar("Shape")


@dataclass(frozen=True)
class FitWindow:
    """The bars a training job may use for one symbol: ``[0, first_validation_origin)``.

    Attributes
    ----------
    symbol : str
    close : numpy.ndarray
        ``[n_fit_bars]`` close prices.
    timestamps_s : numpy.ndarray
        ``[n_fit_bars]`` bar open times, POSIX seconds.
    first_bar, last_bar : str
        ISO times of the first and last bar used.
    """

    symbol: str
    close: np.ndarray
    timestamps_s: np.ndarray
    first_bar: str
    last_bar: str


def fit_window(data: OHLCVData, splits: Splits) -> FitWindow:
    """Bars before ``splits.first_validation_origin``: nothing a validation or test origin scores."""
    end = splits.first_validation_origin
    return FitWindow(data.symbol, data.close[:end], data.timestamps_s[:end],
                     data.frame.index[0].isoformat(), data.frame.index[end - 1].isoformat())


def fit_spans(series: Sequence[FitWindow], start: float, stop: float,
              length: int) -> list[tuple[FitWindow, int, int]]:
    """Where a job cuts its training windows: ``(series, lo, hi)``, bars ``[lo, hi)`` being the fraction
    ``[start, stop)`` of each series (``0.9, 1.0`` for the held-out tail a job validates on).

    Raises
    ------
    ValueError
        If a series' part is shorter than one window of ``length`` bars.
    """
    spans = []
    for s in series:
        lo, hi = int(len(s.close) * start), int(len(s.close) * stop)
        if hi - lo < length:
            raise ValueError(f"{s.symbol}: {hi - lo} fit bars in [{start}, {stop}) of the pre-validation data "
                             f"but a window needs {length}; use a shorter --context-length")
        spans.append((s, lo, hi))
    return spans


def check_preset(presets: Mapping[str, Any], preset: str) -> None:
    """Refuse a ``--preset`` that is not a key of ``presets``.

    Raises
    ------
    ConfigError
        Naming the preset and the choices.
    """
    if preset not in presets:
        raise ConfigError(f"--preset {preset!r} is unknown; choose from {sorted(presets)}")


def seeded_preset(presets: Mapping[str, Shape], preset: str, seed: int) -> Shape:
    """The architecture ``presets[preset]`` of ``--init scratch``, with torch's generator seeded by ``seed``, so
    that the random weights built next are the seed's.

    Raises
    ------
    ConfigError
        If the preset is unknown (:func:`check_preset`).
    """
    import torch

    check_preset(presets, preset)
    torch.manual_seed(seed)
    return presets[preset]


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
    oldest of K walk-forward folds (:func:`sweep.data.windows.walk_forward_splits`), so the model can be
    backtested on every fold. With several symbols, each stops before the earlier of its own layout's and the
    common calendar's (:func:`sweep.data.common_calendar.aligned_splits`, which a pooled sweep and the backtest use),
    so the checkpoint has seen no validation bar of either.

    Raises
    ------
    DataValidationError, ConfigError
        If a symbol is invalid, ``--data-dir`` is a file, or a file is invalid or too short for the windows.
    """
    from ..data.bars import load_ohlcv
    from ..data.windows import walk_forward_splits

    spec = window_spec_from_args(args)
    folds = getattr(args, "folds", 1)
    args.symbols = list(valid_symbols(args.symbols))  # each once, a repeat dropped with a warning (as the sweep's)
    if args.data_dir.exists() and not args.data_dir.is_dir():
        raise ConfigError(f"--data-dir {args.data_dir} is a file, not a folder; pass the folder that holds "
                          f"<SYMBOL>.csv or <SYMBOL>.csv.gz files")
    loaded = {symbol: load_ohlcv(args.data_dir, symbol, args.freq, args.gap_policy) for symbol in args.symbols}
    aligned = _aligned_oldest_fold(loaded, spec, folds)
    datasets, data_meta = [], {}
    for symbol, data in loaded.items():
        own = walk_forward_splits(data.n_bars, spec, folds, source=str(data.path))[0]  # the oldest fold
        splits = min((own, aligned.get(symbol, own)), key=lambda s: s.first_validation_origin)
        datasets.append((data, splits))
        data_meta[symbol] = {"data_path": str(data.path), "data_fingerprint": data.fingerprint,
                             "first_validation_origin_time": str(data.frame.index[splits.first_validation_origin])}
    windows = spec.__dict__ | {"purge_gap_bars": spec.purge_gap, "folds": folds}
    return spec, datasets, {"windows": windows, "datasets": data_meta}


def _aligned_oldest_fold(datasets: dict, spec: WindowSpec, folds: int) -> dict:
    """Each symbol's oldest fold on the common calendar; empty for one symbol, or symbols that cannot be lined up
    (a pooled sweep or backtest of them is refused, so only their own layouts matter)."""
    from ..data.common_calendar import aligned_splits

    if len(datasets) < 2:
        return {}
    try:
        return {symbol: folds_[0] for symbol, folds_ in aligned_splits(datasets, spec, folds, warn=False).items()}
    except ConfigError:
        return {}


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
        The job's checkpoint kind (a key of :func:`sweep.forecasters.checkpoint_output.checkpoint_kinds`), stored as
        ``args.checkpoint_kind``: :func:`run_job` checks ``--output`` against it.

    Returns
    -------
    argparse.ArgumentParser
    """
    from ..flags import positive_int, seed

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

    ``--output`` is checked first (:func:`sweep.forecasters.checkpoint_output.check_output`, made absolute);
    ``--init`` / ``--init-tokenizer`` must not lie in it, and must each be ``scratch`` (``--init``
    only), an existing checkpoint folder or a Hugging Face id (:func:`sweep.forecasters.checkpoint_output.check_init`):
    a refusal exits 2 before any data is loaded.
    """
    from ..forecasters.checkpoint_output import check_init, check_init_is_not_output, check_output

    setup_logging(args.verbose)

    def checked_run() -> int:
        args.output = check_output(args.output, args.checkpoint_kind, args.overwrite)
        for dest in ("init", "init_tokenizer"):
            check_init_is_not_output(getattr(args, dest, None), args.output, "--" + dest.replace("_", "-"))
        check_init(args.init, args.checkpoint_kind, getattr(args, "init_tokenizer", None))
        return run(args)

    return exit_code_of(checked_run)


def training_main(argv: Sequence[str] | None, parse_args: Callable[[Sequence[str]], argparse.Namespace],
                  train: Callable[[argparse.Namespace, WindowSpec, list, dict[str, Any]], str],
                  before: Callable[[argparse.Namespace], None] | None = None) -> int:
    """A training job's ``main``: parse, load the data, train, say what was written; returns the exit code.

    Parameters
    ----------
    argv : sequence of str or None
        The arguments (default: the command line).
    parse_args : callable
        The job's parser.
    train : callable
        ``train(args, spec, datasets, metadata)`` with :func:`load_training_data`'s results: trains, writes
        ``args.output`` and returns what it wrote, as printed after ``wrote``.
    before : callable, optional
        ``before(args)``, run first under :func:`run_job` (after the ``--output`` and ``--init`` checks, before any
        data is loaded): the job's own flag checks or logging.
    """
    def run(args: argparse.Namespace) -> int:
        if before is not None:
            before(args)
        spec, datasets, metadata = load_training_data(args)
        console.print(f"[green]wrote[/green] {train(args, spec, datasets, metadata)}")
        return EXIT_OK

    return run_job(parse_args(sys.argv[1:] if argv is None else argv), run)


class Trainer(Protocol):
    """What ``--finetune`` needs of a family's training package: its ``TRAINER``.

    :mod:`sweep.runs._finetune` finds it through the registry's ``Family.trainer`` (the package's name).

    Attributes
    ----------
    marker : str
        The file the job writes last into its output folder: its presence means a finished checkpoint.
    """

    marker: str

    def fit(self, datasets: list[OHLCVData], splits: list[Splits], output: str, init: str, steps: int, seed: int,
            metadata: dict[str, Any]) -> str:
        """Train ``init`` for ``steps`` steps on each symbol's bars before its first validation origin, with the
        job's defaults otherwise; ``metadata`` joins the checkpoint's record. Returns the checkpoint folder.

        Raises
        ------
        ModelLoadError
            If ``init`` cannot be loaded.
        ConfigError
            If there are too few pre-validation bars.
        """
        ...


@dataclass(frozen=True)
class JobTrainer:
    """A :class:`Trainer` made of a training job's own functions.

    Attributes
    ----------
    marker : str
    windows : callable
        ``windows(data, splits)``: one symbol's training bars (:func:`fit_window` or a job's richer kind).
    train : callable
        ``train(windows, output, init=, steps=, seed=, metadata=, **options)``: the job's training function,
        returning a result with its ``output`` folder.
    options : callable, optional
        ``options(spec)``: further keyword arguments of ``train`` from the windows of the splits.
    """

    marker: str
    windows: Callable[[OHLCVData, Splits], Any]
    train: Callable[..., Any]
    options: Callable[[WindowSpec], dict[str, Any]] | None = None

    def fit(self, datasets: list[OHLCVData], splits: list[Splits], output: str, init: str, steps: int, seed: int,
            metadata: dict[str, Any]) -> str:
        series = [self.windows(data, split) for data, split in zip(datasets, splits)]
        options = self.options(splits[0].spec) if self.options else {}
        return str(self.train(series, output, init=init, steps=steps, seed=seed, metadata=metadata, **options).output)
