"""``python -m sweep data validate|download`` and ``python -m sweep evaluate``: check data, score one config."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Sequence

from rich.table import Table

from ..forecasters.config import ForecastConfig
from ..data.bar_time import parse_freq
from ..data.bars import GAP_POLICIES, OHLCVData, check_ohlcv, fingerprint, symbol_path, validate_symbol
from ..errors import DataValidationError
from ..flags import (EXIT_INVALID, EXIT_OK, add_data_flags, add_family_flags, add_folds_flag, add_window_flags, console,
                     family_model_ids, family_options, table_console, valid_symbols, window_spec_from_args)
from ..forecasters.registry import FAMILIES
from .sweep_command import config_summary

__all__ = ["data_command", "evaluate_command"]


def _data_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sweep data", description="Validate or download OHLCV data.")
    sub = p.add_subparsers(dest="action", required=True)
    v = sub.add_parser("validate", help="check <SYMBOL>.csv files against every data rule, and that the close moves "
                                        "in the windows the window flags lay out (on a series long enough for them)")
    v.add_argument("--symbols", nargs="+", required=True)
    add_data_flags(v)
    add_window_flags(v)  # the sweep's windows: their scored closes must move (checked when the series is long enough)
    add_folds_flag(v, "the backtest's --folds: every fold's windows are checked")
    dl = sub.add_parser("download", help="fetch hourly candles with ccxt")
    dl.add_argument("--symbols", nargs="+", required=True)
    dl.add_argument("--data-dir", type=Path, default=Path("trainingdata"))
    dl.add_argument("--exchange", default="binance")
    dl.add_argument("--since", default="2020-01-01", help="first day to fetch (UTC)")
    return p


def data_command(argv: Sequence[str]) -> int:
    args = _data_parser().parse_args(argv)
    args.symbols = valid_symbols(args.symbols)
    if args.action == "download":
        from ..data.download import download_symbol

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
        found = [p.describe(path) for p in problems] or _window_problems(symbol, path, frame, args)
        details += found
        rows, first, last = (str(len(frame)), str(frame.index[0]), str(frame.index[-1])) if frame is not None else ("-",) * 3
        table.add_row(symbol, rows, first, last, args.freq, f"[red]{len(found)}[/red]" if found else "[green]ok[/green]")
    out = table_console()
    out.print(table)
    for line in details:
        out.print(line, highlight=False, markup=False, soft_wrap=True)
    return EXIT_INVALID if details else EXIT_OK


def _window_problems(symbol: str, path: Path, frame: Any, args: argparse.Namespace) -> list[str]:
    """What the sweep would refuse in the windows of a valid series long enough for them: closes that never move
    (:func:`sweep.data.windows.check_moving_closes`); nothing for a series too short for them (other windows may fit)."""
    from ..data.windows import check_moving_closes, walk_forward_splits

    try:
        folds = walk_forward_splits(len(frame), window_spec_from_args(args), args.folds, source=str(path))
    except DataValidationError:  # too short for these windows: the sweep says so, with the windows it is given
        return []
    data = OHLCVData(symbol=symbol, path=path, frame=frame, freq=parse_freq(args.freq), fingerprint=fingerprint(frame))
    try:
        check_moving_closes(data, *folds)
    except DataValidationError as e:
        return [str(e)]
    return []


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
    add_family_flags(p, with_defaults=False)
    p.add_argument("--objective", default=None, help="the loss to score (default: the one the candidate records, "
                                                   "else pct_return_mae); its benchmark is scored beside it")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON on stdout")
    return p


def _flag_identity(family: str, args: argparse.Namespace) -> dict[str, Any] | None:
    """The model that ``family``'s flags name (``--toto-model``; ``--kronos-model`` and ``--kronos-tokenizer``),
    or ``None`` when none is given."""
    from ..forecasters.model_paths import flag_path  # a folder relative to the working directory, never to a hyperparams folder

    model, options = family_model_ids(args).get(family), family_options(args).get(family, {})
    if not (model or options):
        return None
    return {"family": family, "model_id": flag_path(model or FAMILIES[family].default_model),
            **{f"{option}_id": flag_path(source) for option, source in options.items()}}


def _load_document(path: Path, args: argparse.Namespace) -> dict[str, Any]:
    """A candidate (single model or ensemble) or a bare config, as a document naming its model.

    ``--toto-model`` / ``--kronos-model`` override a single candidate's model of that family;
    a bare config uses them, else the default checkpoints (Toto-Open-Base-1.0, Kronos-small).
    """
    from ..scoring.ensemble import document_members
    from ..storage.store import read_json

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


def evaluate_command(argv: Sequence[str]) -> int:
    args = _evaluate_parser().parse_args(argv)
    validate_symbol(args.symbol)
    from ..scoring.cache import SampleCache
    from ..data.bars import load_ohlcv
    from ..objectives import get_objective, objective_of_run
    from ..scoring.ensemble import evaluate_document
    from ..forecasters import document_loader
    from ..data.tuned_data import tuned_data_settings
    from ..data.windows import check_moving_closes, make_splits

    document = _load_document(args.config, args)
    spec = window_spec_from_args(args, document.get("windows"))  # other windows may be evaluated on purpose
    freq, gap_policy = tuned_data_settings(document, args.config, args.freq, args.gap_policy)  # other bars may not
    data = load_ohlcv(args.data_dir, args.symbol, freq, gap_policy)
    splits = make_splits(data.n_bars, spec, source=str(data.path))
    check_moving_closes(data, splits)
    cache = SampleCache()
    objective = get_objective(args.objective or objective_of_run(document))
    out: dict[str, Any] = {"symbol": args.symbol, "model": document["model"], "config": document["config"],
                           "objective": objective.name, "windows": splits.describe(data.frame.index)}
    for split in ("validation", "test"):
        origins = splits.origins(split)
        result = evaluate_document(document, data, origins, spec.horizon, cache, document_loader(args.config),
                                   objective.name)
        out[split] = {**result.to_dict(), objective.benchmark: result.baseline}
    if args.json:
        print(json.dumps(out, indent=2))
        return EXIT_OK
    family = document["model"].get("family")
    summary = config_summary(document["config"]) if family != "ensemble" else document["model"].get("method")
    table = Table(title=f"{args.symbol} {family}: {summary}")
    for column in ("metric", "validation", "test"):
        table.add_column(column, justify="right")
    for key, value in out["validation"].items():
        if isinstance(value, float):
            table.add_row(key, f"{value:.6g}", f"{out['test'][key]:.6g}")
    table_console().print(table)
    return EXIT_OK
