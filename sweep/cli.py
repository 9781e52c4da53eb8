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
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Sequence

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .config import MODEL_FAMILIES, ForecastConfig
from .forecasters.registry import DEFAULT_MODELS, FAMILIES
from .data import GAP_POLICIES, check_ohlcv, symbol_path, validate_symbol
from .errors import ConfigError, DataValidationError, DiskFullError, SweepError, exception_chain, is_disk_full
from .kronos.card import DEFAULT_KRONOS_MODEL
from .progress_views import JsonLinesProgress, RichStudyProgress
from .study_job import PER_SYMBOL, SCOPES
from .windows import WindowSpec

__all__ = ["main", "add_data_flags", "add_window_flags", "window_spec_from_args", "setup_logging", "exit_code_of",
           "verdict"]

EXIT_OK, EXIT_FAILURE, EXIT_INVALID = 0, 1, 2
DEFAULT_TOTO_MODEL = FAMILIES["toto"].default_model
#: Families whose checkpoint flag is generic (Toto and Kronos have flags of their own).
FLAGGED_FAMILIES = [f for f in FAMILIES.values() if f.flag and f.name not in ("toto", "kronos")]
console = Console(stderr=True, soft_wrap=True)  # messages stay whole lines in logs and pipes
TABLE_WIDTH_WHEN_PIPED = 180
logger = logging.getLogger("sweep")


def _table_console() -> Console:
    """stdout console; tables are not squeezed to 80 columns when piped to a file or CI log."""
    out = Console()
    return out if out.is_terminal else Console(width=TABLE_WIDTH_WHEN_PIPED)


def add_data_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=Path("trainingdata"), help="folder of <SYMBOL>.csv files")
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
    args.symbols = list(_symbols(args.symbols))  # each once, a repeat dropped with a warning (as the sweep's)
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


def add_folds_flag(parser: argparse.ArgumentParser, what: str) -> None:
    """``--folds K`` (an integer >= 1, refused while parsing otherwise); ``what`` ends its help."""
    from .training_flags import positive_int

    parser.add_argument("--folds", type=positive_int, default=1,
                        help=f"walk-forward folds (default 1: today's split only); {what}")


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


def add_kronos_flags(parser: argparse.ArgumentParser, model_default: str | None) -> None:
    where = f"default {model_default}" if model_default else f"default: the candidate's model, else {DEFAULT_KRONOS_MODEL}"
    parser.add_argument("--kronos-model", default=model_default,
                        help=f"Kronos predictor: hub id, checkpoint folder or kronostraining output ({where})")
    parser.add_argument("--kronos-tokenizer", default=None,
                        help="Kronos tokenizer: hub id or folder (default: the model card's, or the training output's)")


def _symbols(values: Sequence[str], flag: str = "--symbols") -> tuple[str, ...]:
    """Validated symbols, each once (a repeat is dropped with a warning)."""
    from .settings import unique

    return unique(tuple(validate_symbol(s) for s in values), flag)


def _flag_dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def add_family_flags(parser: argparse.ArgumentParser, with_defaults: bool) -> None:
    """``--toto2-model``, ``--chronos2-model``, ...: one checkpoint flag per registry family that has one."""
    for family in FLAGGED_FAMILIES:
        default = family.default_model if with_defaults else None
        where = f"default {family.default_model}" if with_defaults else \
            f"default: the candidate's model, else {family.default_model}"
        parser.add_argument(family.flag, default=default, help=f"{family.name}: hub id or checkpoint folder ({where})")


def family_model_ids(args: argparse.Namespace) -> dict[str, str]:
    """``{family: checkpoint}`` named by the generic family flags (those given, or their defaults)."""
    return {f.name: getattr(args, _flag_dest(f.flag)) for f in FLAGGED_FAMILIES if getattr(args, _flag_dest(f.flag))}


def _sweep_parser(scopes: int = 1) -> argparse.ArgumentParser:
    """The sweep's flags; ``scopes`` > 1 lets ``--selection`` name several scopes (the backtest compares them)."""
    p = argparse.ArgumentParser(prog="python -m sweep", description="Tune forecasting models per symbol with Optuna. "
                                "Other commands: 'data validate', 'data download', 'evaluate', 'promote', 'report', "
                                "'backtest', 'export', 'predict' (see --help of each).")
    p.add_argument("--symbols", nargs="+", required=True, help="symbols, e.g. BTCUSD ETHUSD")
    p.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), choices=MODEL_FAMILIES,
                   help=f"model families to tune (default: {' '.join(DEFAULT_MODELS)})")
    p.add_argument("--n-trials", type=int, default=100, help="completed trials per (symbol, model) study")
    p.add_argument("--selection", nargs="+" if scopes > 1 else None, choices=SCOPES, default=PER_SYMBOL,
                   help="per-symbol: one study per (symbol, model), each symbol selects its own config (default); "
                        "pooled: one study per model over every symbol, scored by the mean over symbols of "
                        "validation MAE / persistence MAE, one config for all"
                        + ("; the backtest runs each scope named and compares them" if scopes > 1 else ""))
    add_data_flags(p)
    add_window_flags(p)
    p.add_argument("--output-dir", type=Path, default=Path("hyperparams"), help="root of candidates/ and best/")
    p.add_argument("--runs-dir", type=Path, default=Path("runs"), help="run folders (study journal, sample cache)")
    p.add_argument("--run-id", default=None, help="reuse to resume a run (default: a new UTC timestamp)")
    p.add_argument("--storage", default=None, help="Optuna RDB URL, e.g. postgresql://... (default: journal file)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=None, help="seconds per study")
    p.add_argument("--toto-model", default=DEFAULT_TOTO_MODEL, help="Hugging Face id or local checkpoint folder")
    add_kronos_flags(p, DEFAULT_KRONOS_MODEL)
    add_family_flags(p, with_defaults=True)
    p.add_argument("--no-cache", action="store_true", help="re-run inference in every trial (benchmarks)")
    p.add_argument("--objectives", nargs="+", default=["pct_return_mae"], choices=["pct_return_mae", "latency_s"],
                   help="pct_return_mae, or pct_return_mae latency_s for multi-objective studies")
    p.add_argument("--latency-budget-s", type=float, default=None,
                   help="with two objectives: pick the most accurate trial within this many seconds per origin")
    p.add_argument("--ensemble", choices=["lp", "greedy"], default=None,
                   help="also fit ensemble weights across the tuned models on validation")
    p.add_argument("--promote", action="store_true", help="run the promotion review of the candidates afterwards")
    p.add_argument("--promote-candidate", choices=["selected", "ensemble"], default="selected",
                   help="the one candidate per symbol the promotion review may test (default selected; ensemble "
                        "needs --ensemble), declared before any test result is seen")
    trainable = [name for name, f in FAMILIES.items() if f.trainer]
    p.add_argument("--finetune", nargs="*", choices=trainable, default=None, metavar="FAMILY",
                   help=f"fine-tune these families' checkpoints ({' '.join(trainable)}; none named: toto) on "
                        f"pre-validation bars first; sweep each as the extra variant <family>-ft")
    p.add_argument("--finetune-steps", type=int, default=300, help="fine-tuning steps (default 300)")
    p.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="local: studies one after another in this process; ray: Ray actors as Optuna workers")
    p.add_argument("--ray-address", default=None, help="'auto' or a cluster address (default: a local Ray instance)")
    p.add_argument("--workers", type=int, default=2, help="Ray actors (Optuna workers), one CPU each")
    p.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPU fraction per Ray actor")
    p.add_argument("--log-format", choices=["text", "json"], default="text",
                   help="json: one JSON object per finished trial on stdout, no progress bars")
    p.add_argument("--alpha", type=float, default=0.05,
                   help="level of the paired tests, the Model Confidence Set and the promotion review (default 0.05)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def _promote_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sweep promote", description="Promote a run's candidates that beat "
                                "the current best on identical test windows (paired tests); write a review each.")
    p.add_argument("--run", required=True, help="the sweep's --run-id")
    p.add_argument("--symbols", nargs="+", default=None, help="default: every candidate of the run")
    p.add_argument("--alpha", type=float, default=0.05, help="level of the one-sided paired tests (default 0.05)")
    p.add_argument("--dry-run", action="store_true", help="print decisions; write nothing")
    p.add_argument("--candidate", choices=["selected", "ensemble"], default=None,
                   help="the candidate the sweep declared (default; see the sweep's --promote-candidate); naming the "
                        "other one is refused, since it would be a second try at alpha on the same test windows")
    add_data_flags(p)
    p.add_argument("--output-dir", type=Path, default=Path("hyperparams"), help="root of candidates/, best/, reviews/")
    p.add_argument("--runs-dir", type=Path, default=Path("runs"))
    return p


def _report_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sweep report", description="Write report.md with plots for a run.")
    p.add_argument("--run", required=True, help="the sweep's --run-id")
    p.add_argument("--output-dir", type=Path, default=Path("hyperparams"),
                   help="the sweep's --output-dir (root of candidates/)")
    p.add_argument("--report-dir", type=Path, default=None, help="where report.md goes (default runs/<run>/report)")
    p.add_argument("--data-dir", type=Path, default=Path("trainingdata"))
    p.add_argument("--runs-dir", type=Path, default=Path("runs"))
    p.add_argument("--storage", default=None, help="the sweep's --storage URL, if it used one")
    return p


def _data_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sweep data", description="Validate or download OHLCV data.")
    sub = p.add_subparsers(dest="action", required=True)
    v = sub.add_parser("validate", help="check <SYMBOL>.csv files against every data rule")
    v.add_argument("--symbols", nargs="+", required=True)
    add_data_flags(v)
    dl = sub.add_parser("download", help="fetch hourly candles with ccxt")
    dl.add_argument("--symbols", nargs="+", required=True)
    dl.add_argument("--data-dir", type=Path, default=Path("trainingdata"))
    dl.add_argument("--exchange", default="binance")
    dl.add_argument("--since", default="2020-01-01", help="first day to fetch (UTC)")
    return p


def _evaluate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sweep evaluate",
                                description="Evaluate one config on the validation and test windows.")
    p.add_argument("--symbol", required=True)
    p.add_argument("--config", type=Path, required=True,
                   help="a candidate JSON (single model or ensemble) or a bare config object")
    p.add_argument("--data-dir", type=Path, default=Path("trainingdata"), help="folder of <SYMBOL>.csv files")
    p.add_argument("--freq", default=None, help="bar frequency: default (and the only value accepted for a candidate "
                   "that records one) the candidate's provenance.freq, else 1h")
    p.add_argument("--gap-policy", choices=GAP_POLICIES, default=None, help="as the sweep's: default (and the only "
                   "value accepted for a candidate that records one) the candidate's provenance.gap_policy, else error")
    add_window_flags(p, defaults=False)
    p.add_argument("--toto-model", default=None, help="default: the candidate's model, else " + DEFAULT_TOTO_MODEL)
    add_kronos_flags(p, None)
    add_family_flags(p, with_defaults=False)
    p.add_argument("--json", action="store_true", help="print the metrics as JSON on stdout")
    return p


def _config_summary(config: dict[str, Any]) -> str:
    if config.get("model") == "naive":
        return "persistence"
    keys = ("context_length", "num_samples", "aggregate")
    return " ".join([f"{k}={config[k]}" for k in keys if k in config]
                    + [f"{k}={v}" for k, v in config.get("sampling", {}).items()])


def _p_value(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _print_sweep_table(results) -> None:
    table = Table(title="Selected candidates (selection on validation; test never used for selection)")
    columns = ("symbol", "model", "config", "val mae", "test mae", "test persistence", "test skill",
               "vs persistence p", "vs default p", "SPA p (all trials)", "latency_s/origin")
    for column in columns:
        table.add_column(column, justify="left" if column in ("symbol", "model", "config") else "right")
    for r in results:
        v, t, doc = r.outcome.validation, r.test.metrics, r.document
        spa = doc["selection"].get("spa") or {}
        table.add_row(r.symbol, r.outcome.model, _config_summary(r.outcome.config.to_dict()),
                      f"{v['pct_return_mae']:.5f}", f"{t['pct_return_mae']:.5f}",
                      f"{t['persistence_pct_return_mae']:.5f}", f"{t['skill']:+.3f}",
                      _p_value(doc["comparisons"]["persistence"]["p_value"]), _p_value(doc["comparisons"]["default"]["p_value"]),
                      _p_value(spa.get("p_value")), f"{t['latency_s']:.4f}")
    _table_console().print(table)
    pooled = results[0].document["selection"].get("pooled") if results else None
    if pooled:
        console.print(f"pooled selection over {' '.join(pooled['symbols'])}: one config for every symbol, "
                      f"{pooled['study_name']} trial {pooled['trial_number']}, validation relative_mae "
                      f"{pooled['validation_relative_mae']:.4f} (mean over symbols of MAE / persistence MAE; "
                      "persistence = 1)", highlight=False)
    for r in results:
        console.print(f"{r.symbol}: {verdict(r.document)}", highlight=False)
        console.print(f"[green]wrote[/green] {r.path}")


def verdict(document: dict[str, Any], alpha: float | None = None) -> str:
    """One plain sentence: did tuning beat persistence and the default out of sample, and does the search hold up?"""
    comparisons, spa = document["comparisons"], document["selection"].get("spa")
    alpha = alpha or comparisons["persistence"]["alpha"]
    beats = {name: c["significant"] for name, c in comparisons.items()}
    if beats["persistence"] and beats["default"]:
        text = "the tuned config beats persistence and the untuned default on test windows"
    elif beats["persistence"]:
        text = "the tuned config beats persistence on test windows but not the untuned default: tuning did not help"
    else:
        text = ("the tuned config does not beat persistence on test windows "
                f"(mean diff {comparisons['persistence']['mean_diff']:+.2e}, p {_p_value(comparisons['persistence']['p_value'])})"
                ": no model is better than the last close here")
    from .review_file import power_sentence

    text += f"; vs persistence, {power_sentence(document.get('power_vs_persistence') or comparisons['persistence'])}"
    if spa is not None:
        text += (f"; SPA over {spa['n_models']} trials: p {spa['p_value']:.3f}"
                 + (" (the best validation score is explainable by luck)" if spa["p_value"] >= alpha else ""))
    return text


def _sweep_settings(args: argparse.Namespace):
    from .settings import SweepSettings, new_run_id

    return SweepSettings(
        symbols=tuple(args.symbols), models=tuple(args.models), n_trials=args.n_trials,
        data_dir=args.data_dir, output_dir=args.output_dir, runs_dir=args.runs_dir,
        run_id=args.run_id or new_run_id(), storage=args.storage, seed=args.seed, timeout_s=args.timeout,
        toto_model=args.toto_model, kronos_model=args.kronos_model, kronos_tokenizer=args.kronos_tokenizer,
        model_ids=family_model_ids(args), windows=window_spec_from_args(args), freq=args.freq,
        gap_policy=args.gap_policy,
        use_cache=not args.no_cache, objectives=tuple(args.objectives), latency_budget_s=args.latency_budget_s,
        ensemble=args.ensemble, promote_candidate=args.promote_candidate,
        finetune=_finetune_families(args.finetune), finetune_steps=args.finetune_steps,
        alpha=args.alpha, selection=tuple([args.selection] if isinstance(args.selection, str) else args.selection))


def _finetune_families(named: list[str] | None) -> tuple[str, ...]:
    """``--finetune`` alone fine-tunes Toto (its meaning before other families had trainers)."""
    if named is None:
        return ()
    return tuple(dict.fromkeys(named or ["toto"]))


def _with_progress(args: argparse.Namespace, settings, work: Callable[..., Any]) -> Any:
    """Run ``work(settings, executor, progress=...)`` on the chosen executor, with rich bars or JSON lines."""
    console.print(f"run [bold]{settings.run_id}[/bold] (resume with --run-id {settings.run_id})")
    executor = None
    if args.executor == "ray":
        from .ray_executor import RayExecutor

        executor = RayExecutor(args.ray_address, args.workers, args.gpus_per_worker, run_label=settings.run_id)
    if args.log_format == "json":
        return work(executor, progress=JsonLinesProgress())
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("best val {task.fields[best]}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        return work(executor, progress=RichStudyProgress(progress))


def _run_sweep(argv: Sequence[str]) -> int:
    args = _sweep_parser().parse_args(argv)
    from .run import run_sweep

    settings = _sweep_settings(args)
    results = _with_progress(args, settings, lambda executor, progress: run_sweep(settings, executor, progress))
    if args.log_format == "json":
        for r in results:
            print(json.dumps({"symbol": r.symbol, "candidate": str(r.path), "model": r.outcome.model,
                              "selection": r.document["selection"]["scope"],
                              "validation_pct_return_mae": r.outcome.validation["pct_return_mae"],
                              "test_pct_return_mae": r.test.metrics["pct_return_mae"],
                              "spa_p_value": (r.document["selection"].get("spa") or {}).get("p_value"),
                              "vs_persistence": r.document["comparisons"]["persistence"],
                              "vs_default": r.document["comparisons"]["default"]}), flush=True)
    else:
        _print_sweep_table(results)
    if args.promote and results:
        from .promote import PromoteSettings

        _promote(PromoteSettings(run_id=settings.run_id, symbols=tuple(r.symbol for r in results), alpha=args.alpha,
                                 data_dir=args.data_dir, output_dir=args.output_dir, runs_dir=args.runs_dir),
                 json_lines=args.log_format == "json")
    return EXIT_OK if len(results) == len(settings.symbols) else EXIT_FAILURE


def _backtest_parser() -> argparse.ArgumentParser:
    p = _sweep_parser(scopes=len(SCOPES))
    p.prog = "python -m sweep backtest"
    p.description = ("Walk-forward backtest of the tuning itself: the whole selection runs on each fold's "
                     "validation origins; the selected config, the family default and persistence are scored on "
                     "its test origins. Takes every sweep flag.")
    p.add_argument("--folds", type=int, default=3, help="walk-forward folds; the last is today's split (default 3)")
    p.add_argument("--allow-overlap", action="store_true",
                   help="run folds whose windows a model saw in (pre)training, flagged instead of refused")
    return p


def _run_backtest(argv: Sequence[str]) -> int:
    args = _backtest_parser().parse_args(argv)
    from .backtest import BACKTEST_FILE, BacktestSettings, run_backtest

    if args.promote:
        raise ConfigError("backtest writes no candidate to promote; drop --promote (run a sweep to promote)")
    settings = BacktestSettings(_sweep_settings(args), folds=args.folds, allow_overlap=args.allow_overlap)
    document = _with_progress(args, settings.sweep,
                              lambda executor, progress: run_backtest(settings, executor, progress))
    if args.log_format == "json":
        print(json.dumps({"backtest": str(settings.sweep.run_dir / BACKTEST_FILE), "summary": document["summary"]}))
        return EXIT_OK
    print_backtest(document)
    console.print(f"[green]wrote[/green] {settings.sweep.run_dir / BACKTEST_FILE}")
    return EXIT_OK


def print_backtest(document: dict[str, Any]) -> None:
    """The folds table and the plain answers to "did tuning help?" and "which scope generalised better?"."""
    scopes = document.get("selection", [PER_SYMBOL])
    table = Table(title=f"Walk-forward backtest of the tuning, {document['n_folds']} folds (test pct_return_mae)")
    for column in ("symbol", "fold", "test origins", "selection", "selected", "selected mae", "default mae",
                   "persistence mae", "SPA p"):
        table.add_column(column, justify="right" if "mae" in column or column in ("fold", "SPA p") else "left")
    for row in document["folds"]:
        mae = row["test_pct_return_mae"]
        table.add_row(row["symbol"], str(row["fold"]),
                      f"{row['test_origins']['first'][:10]} .. {row['test_origins']['last'][:10]}",
                      row.get("selection", PER_SYMBOL), row["selected"]["model"], f"{mae['selected']:.5f}",
                      f"{mae['default']:.5f}", f"{mae['persistence']:.5f}", _p_value(row["spa_p_value"]))
    _table_console().print(table)
    for scope in scopes:
        summary = document["summary"].get("by_selection", {}).get(scope, document["summary"])
        for name in ("default", "persistence"):
            console.print(f"{scope} tuning vs {name}: {_gain_sentence(summary[f'gain_vs_{name}'], name)}",
                          highlight=False)
    compared = document["summary"].get("pooled_vs_per_symbol")
    if compared:
        console.print(scope_verdict(compared), highlight=False)


def _gain_sentence(g: dict[str, Any], name: str) -> str:
    if g["ci_low"] > 0:
        answer = "[green]tuning helped[/green]"
    elif g["ci_high"] < 0:
        answer = f"[red]the tuned configs were worse than {name}[/red]"
    else:
        answer = "[yellow]no evidence that tuning helped[/yellow]"
    return (f"gain {100 * g['relative']:+.2f}% of its MAE (mean {g['mean']:+.2e}, {100 * g['ci_level']:.0f}% CI "
            f"[{g['ci_low']:+.2e}, {g['ci_high']:+.2e}]), better in {g['folds_won']} of {g['n_folds']} folds: {answer}")


def scope_verdict(compared: dict[str, Any]) -> str:
    """One sentence: which selection scope generalised better out of sample, and is the difference significant?"""
    level = f"{100 * compared['ci_level']:.0f}%"
    interval = f"{level} CI [{compared['ci_low']:+.2e}, {compared['ci_high']:+.2e}]"
    mde = "" if compared.get("mde_relative") is None else \
        f"; these windows could see a difference of {100 * compared['mde_relative']:.1f}% (MDE, 80% power)"
    share = f"{100 * abs(compared['relative']):.2f}%"
    if compared["significant"]:
        head = f"[green]{compared['better']} selection generalised better[/green], significantly"
    else:
        head = (f"[yellow]no significant difference between the scopes[/yellow]: {compared['better']} selection was "
                f"better by {share}, within noise")
    return (f"pooled vs per-symbol selection: {head} (per-symbol test MAE minus pooled: {compared['mean']:+.2e}, "
            f"{share} of per-symbol's, {interval}, pooled better in {compared['folds_won']} of "
            f"{compared['n_folds']} folds){mde}")


def _promote(settings, json_lines: bool = False) -> None:
    from .promote import PERSISTENCE, promote
    from .review_file import power_sentence

    reviews = promote(settings)
    if json_lines:
        for r in reviews:
            print(json.dumps({"symbol": r.symbol, "decision": r.outcome, "promoted": r.promoted, "reason": r.reason,
                              "review": str(r.path) if r.path else None,
                              "vs_persistence_p_value": r.persistence_test.dm_p_value,
                              "dm_p_value": r.test.dm_p_value if r.test else None}), flush=True)
        return
    table = Table(title=f"Promotion review of run {settings.run_id} (alpha {settings.alpha}"
                        f"{', dry run: nothing written' if settings.dry_run else ''})")
    for column in ("symbol", "decision", "candidate test mae", "persistence", "vs persistence p", "best test mae",
                   "vs best p", "MDE vs persistence", "review"):
        table.add_column(column)
    labels = {"promoted": "[green]promoted[/green]", "kept": "kept best", PERSISTENCE: "[yellow]persistence[/yellow]"}
    for r in reviews:
        t, tp = r.test, r.persistence_test
        power = r.persistence_power() or {}  # a persistence candidate: the sweep's power block, else none
        mde = f"{100 * power['mde_relative']:.1f}%" if power.get("mde_relative") is not None else "-"
        table.add_row(r.symbol, labels[r.outcome], f"{r.candidate.metrics['pct_return_mae']:.6f}",
                      f"{r.candidate.baseline['pct_return_mae']:.6f}", f"{tp.dm_p_value:.4f}",
                      f"{r.incumbent.metrics['pct_return_mae']:.6f}" if r.incumbent else "-",
                      f"{t.dm_p_value:.4f}" if t else "-",
                      mde, str(r.path or "-"))
    _table_console().print(table)
    for r in reviews:
        power = power_sentence(r.persistence_power())
        console.print(f"{r.symbol}: {r.outcome}: {r.reason}; vs persistence, {power}", highlight=False)


def _run_promote(argv: Sequence[str]) -> int:
    args = _promote_parser().parse_args(argv)
    from .promote import PromoteSettings

    _promote(PromoteSettings(run_id=args.run, symbols=_symbols(args.symbols) if args.symbols else None,
                             alpha=args.alpha, dry_run=args.dry_run, candidate=args.candidate, data_dir=args.data_dir,
                             output_dir=args.output_dir, runs_dir=args.runs_dir))
    return EXIT_OK


def _run_report(argv: Sequence[str]) -> int:
    args = _report_parser().parse_args(argv)
    from .report import write_report

    report = write_report(args.run, data_dir=args.data_dir, output_dir=args.output_dir, runs_dir=args.runs_dir,
                          report_dir=args.report_dir, storage=args.storage)
    if report.studies:
        table = Table(title=f"Run {args.run}: studies")
        for column in ("study", "complete", "failed", "best val pct_return_mae", "Spearman(val, test)"):
            table.add_column(column, justify="right")
        for s in report.studies:
            table.add_row(s.name, str(s.n_complete), str(s.n_failed), f"{s.best_validation:.6f}",
                          f"{s.rank_correlation:.3f}")
        _table_console().print(table)
    console.print(f"[green]wrote[/green] {report.path} ({sum(len(s.plots) for s in report.studies)} study plots, "
                  f"{len(report.candidates)} fan charts)")
    return EXIT_OK


def _predict_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sweep predict",
                                description="Forecast the next bars with the promoted config of a symbol.")
    p.add_argument("--symbol", required=True)
    p.add_argument("--data-dir", type=Path, default=Path("trainingdata"), help="folder of <SYMBOL>.csv files")
    p.add_argument("--freq", default=None, help="bar frequency: default (and the only value accepted) the one the "
                   "best file was tuned on, its provenance.freq (1h for files that record none)")
    p.add_argument("--gap-policy", choices=GAP_POLICIES, default=None, help="as the sweep's: default (and the only "
                   "value accepted) the best file's provenance.gap_policy (error for files that record none)")
    p.add_argument("--output-dir", type=Path, default=Path("hyperparams"), help="root of best/ (as in promote)")
    p.add_argument("--at", default=None, help="open time of the first forecast bar (default: after the last bar)")
    p.add_argument("--json", action="store_true", help="print the forecast as JSON on stdout")
    return p


def _run_predict(argv: Sequence[str]) -> int:
    args = _predict_parser().parse_args(argv)
    from .data import load_ohlcv
    from .predict import load_predictor

    validate_symbol(args.symbol)
    predictor = load_predictor(args.symbol, args.output_dir, freq=args.freq, gap_policy=args.gap_policy)
    forecast = predictor.predict(load_ohlcv(args.data_dir, args.symbol, predictor.freq, predictor.gap_policy),
                                 at=args.at)
    if args.json:
        print(json.dumps(forecast.to_dict(), indent=2))
        return EXIT_OK
    family = forecast.model.get("family")
    table = Table(title=f"{forecast.symbol}: {family} forecast after {forecast.last_bar_time} "
                        f"(last close {forecast.last_close:.6g}; {predictor.source})")
    for column in ("bar", "point", "return", *(f"q{100 * q:g}" for q in forecast.quantiles)):
        table.add_column(column, justify="left" if column == "bar" else "right")
    for k, time in enumerate(forecast.times):
        table.add_row(time, f"{forecast.point[k]:.6g}", f"{forecast.point_return[k]:+.4%}",
                      *(f"{values[k]:.6g}" for values in forecast.quantiles.values()))
    _table_console().print(table)
    return EXIT_OK


def _export_parser() -> argparse.ArgumentParser:
    from .export import LAYOUTS

    p = argparse.ArgumentParser(prog="python -m sweep export",
                                description="Write the promoted configs in another system's layout, all or nothing: "
                                            "the folder is rebuilt beside --to and swapped in, with a manifest.")
    p.add_argument("--layout", required=True, choices=LAYOUTS,
                   help="stock-prediction: the predecessor's best/, toto/ and kronos/ files")
    p.add_argument("--output-dir", type=Path, default=Path("hyperparams"), help="root of best/ (as in promote)")
    p.add_argument("--to", type=Path, required=True,
                   help="folder to write the layout into: new, empty, or written by an earlier export (its "
                        "sweep-export.json says which files are ours; other files are kept)")
    p.add_argument("--symbols", nargs="+", default=None,
                   help="default: every best/<SYMBOL>.json (files of symbols without one are removed); with a list, "
                        "other symbols keep their files from the previous export")
    return p


def _run_export(argv: Sequence[str]) -> int:
    args = _export_parser().parse_args(argv)
    from .export import export_stock_prediction

    result = export_stock_prediction(args.output_dir, args.to, tuple(args.symbols) if args.symbols else None)
    for line in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {line}", highlight=False)
    for path in result.written:
        console.print(f"[green]wrote[/green] {path}", highlight=False)
    for path, reason in result.removed:
        console.print(f"[yellow]removed[/yellow] {path}: {reason}", highlight=False)
    if result.kept:
        console.print(f"kept {len(result.kept)} files of symbols not in --symbols, as the previous export wrote "
                      f"them: {', '.join(str(p) for p in result.kept)}", highlight=False)
    return EXIT_OK


def _run_data(argv: Sequence[str]) -> int:
    args = _data_parser().parse_args(argv)
    args.symbols = _symbols(args.symbols)
    if args.action == "download":
        from .download import download_symbol

        for symbol in args.symbols:
            path = download_symbol(symbol, args.data_dir, exchange_id=args.exchange, since=args.since)
            console.print(f"[green]wrote[/green] {path}")
        return EXIT_OK
    table = Table(title=f"OHLCV files in {args.data_dir}")
    for column in ("symbol", "rows", "first bar", "last bar", "frequency", "problems"):
        table.add_column(column)
    details: list[str] = []
    for symbol in args.symbols:
        path = symbol_path(args.data_dir, symbol)
        try:
            frame, problems = check_ohlcv(path, freq=args.freq, gap_policy=args.gap_policy)
        except DataValidationError as e:
            table.add_row(symbol, "-", "-", "-", args.freq, "[red]unreadable[/red]")
            details.append(str(e))
            continue
        details += [p.describe(path) for p in problems]
        rows, first, last = (str(len(frame)), str(frame.index[0]), str(frame.index[-1])) if frame is not None else ("-",) * 3
        table.add_row(symbol, rows, first, last, args.freq, f"[red]{len(problems)}[/red]" if problems else "[green]ok[/green]")
    out = _table_console()
    out.print(table)
    for line in details:
        out.print(line, highlight=False, markup=False, soft_wrap=True)
    return EXIT_INVALID if details else EXIT_OK


def _flag_identity(family: str, args: argparse.Namespace) -> dict[str, Any] | None:
    """The model that ``--toto-model`` / ``--kronos-model`` / a family flag name for ``family``, or ``None``."""
    from .model_paths import flag_path  # a folder relative to the working directory, never to a hyperparams folder

    if family in family_model_ids(args):
        return {"family": family, "model_id": flag_path(family_model_ids(args)[family])}
    if family == "toto" and args.toto_model:
        return {"family": "toto", "model_id": flag_path(args.toto_model)}
    if family == "kronos" and (args.kronos_model or args.kronos_tokenizer):
        return {"family": "kronos", "model_id": flag_path(args.kronos_model or DEFAULT_KRONOS_MODEL),
                "tokenizer_id": flag_path(args.kronos_tokenizer)}
    return None


def _load_document(path: Path, args: argparse.Namespace) -> dict[str, Any]:
    """A candidate (single model or ensemble) or a bare config, as a document naming its model.

    ``--toto-model`` / ``--kronos-model`` override a single candidate's model of that family;
    a bare config uses them, else the default checkpoints (Toto-Open-Base-1.0, Kronos-small).
    """
    from .ensemble import document_members
    from .store import read_json

    document = read_json(path, "config file")
    if not (isinstance(document, dict) and "config" in document):
        document = {"config": document}
    if document.get("model", {}).get("family") == "ensemble":
        document_members(document)  # validates every member's config
        return document
    config = ForecastConfig.from_dict(document["config"], source=str(path))
    defaults = {name: {"family": name, "model_id": f.default_model or "persistence"} for name, f in FAMILIES.items()}
    identity = _flag_identity(config.model, args) or document.get("model") or defaults[config.model]
    return {**document, "model": identity, "config": config.to_dict()}


def _run_evaluate(argv: Sequence[str]) -> int:
    args = _evaluate_parser().parse_args(argv)
    validate_symbol(args.symbol)
    from .cache import SampleCache
    from .data import load_ohlcv
    from .ensemble import evaluate_document
    from .forecasters import document_loader
    from .tuned_data import tuned_data_settings
    from .windows import make_splits

    document = _load_document(args.config, args)
    spec = window_spec_from_args(args, document.get("windows"))  # other windows may be evaluated on purpose
    freq, gap_policy = tuned_data_settings(document, args.config, args.freq, args.gap_policy)  # other bars may not
    data = load_ohlcv(args.data_dir, args.symbol, freq, gap_policy)
    splits = make_splits(data.n_bars, spec, source=str(data.path))
    cache = SampleCache()
    out: dict[str, Any] = {"symbol": args.symbol, "model": document["model"], "config": document["config"],
                           "windows": splits.describe(data.frame.index)}
    for split in ("validation", "test"):
        origins = splits.origins(split)
        result = evaluate_document(document, data, origins, spec.horizon, cache, document_loader(args.config))
        out[split] = {**result.to_dict(), "persistence": result.baseline}
    if args.json:
        print(json.dumps(out, indent=2))
        return EXIT_OK
    family = document["model"].get("family")
    summary = _config_summary(document["config"]) if family != "ensemble" else document["model"].get("method")
    table = Table(title=f"{args.symbol} {family}: {summary}")
    for column in ("metric", "validation", "test"):
        table.add_column(column, justify="right")
    for key, value in out["validation"].items():
        if isinstance(value, float):
            table.add_row(key, f"{value:.6g}", f"{out['test'][key]:.6g}")
    _table_console().print(table)
    return EXIT_OK


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
    (:func:`sweep.crash_log.write_crash_log`), exit 1. No traceback reaches the terminal.
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
    from .crash_log import write_crash_log

    if any(isinstance(e, KeyboardInterrupt) for e in exception_chain(error)):
        return _interrupted()

    first_line = (str(error).splitlines() or [""])[0][:300]
    console.print(f"[red]error:[/red] unexpected {type(error).__name__}: {first_line}. This is a bug in sweep; the "
                  f"traceback is in {write_crash_log(error)} (please attach it to a report)", highlight=False)
    return EXIT_FAILURE


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
    commands = {"data": _run_data, "evaluate": _run_evaluate, "promote": _run_promote, "report": _run_report,
                "backtest": _run_backtest, "export": _run_export, "predict": _run_predict}
    command = commands.get(argv[0]) if argv else None
    return exit_code_of(lambda: command(argv[1:]) if command else _run_sweep(argv))
