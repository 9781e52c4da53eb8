"""``python -m sweep predict`` and ``python -m sweep export``: serve the promoted configs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from rich.table import Table

from ..data.bars import GAP_POLICIES, validate_symbol
from ..flags import EXIT_OK, console, positive_int, table_console

if TYPE_CHECKING:
    from ..serving.predict import Forecast

__all__ = ["predict_command", "export_command"]


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
    p.add_argument("--horizon", type=positive_int, default=None,
                   help="serve the config promoted for this many bars (best/<SYMBOL>.h<H>.json beyond 1 bar); "
                        "default: best/<SYMBOL>.json")
    p.add_argument("--json", action="store_true", help="print the forecast as JSON on stdout")
    return p


def predict_command(argv: Sequence[str]) -> int:
    args = _predict_parser().parse_args(argv)
    from ..data.bars import load_ohlcv
    from ..serving.predict import load_predictor

    validate_symbol(args.symbol)
    predictor = load_predictor(args.symbol, args.output_dir, freq=args.freq, gap_policy=args.gap_policy,
                               horizon=args.horizon)
    forecast = predictor.predict(load_ohlcv(args.data_dir, args.symbol, predictor.freq, predictor.gap_policy),
                                 at=args.at)
    if args.json:
        print(json.dumps(forecast.to_dict(), indent=2))
        return EXIT_OK
    table_console().print(_forecast_table(forecast, predictor.source))
    rule = "" if forecast.position is None else (
        f"; the promoted rule's position now: {_POSITIONS[forecast.position]} "
        f"({json.dumps(forecast.decision)})")
    table_console().print(f"probability the close {len(forecast.times)} bar(s) ahead is above the last close: "
                          f"{forecast.up_probability:.3f}{rule}", highlight=False)
    return EXIT_OK


#: Quantile levels the table shows: the median and the 80 % interval of the scored levels (``--json`` has all).
_TABLE_LEVELS = (0.1, 0.5, 0.9)


#: How the text output names a trading rule's position.
_POSITIONS = {1: "long", 0: "flat", -1: "short"}


def _forecast_table(forecast: Forecast, source: Path) -> Table:
    """One row per forecast bar: point, return, the q10/q50/q90 prices and the 80 % interval as returns."""
    family = forecast.model.get("family")
    low, high = forecast.quantile_returns[_TABLE_LEVELS[0]], forecast.quantile_returns[_TABLE_LEVELS[-1]]
    table = Table(title=f"{forecast.symbol}: {family} forecast after {forecast.last_bar_time} "
                        f"(last close {forecast.last_close:.6g}; {source})",
                  caption=f"80 % interval: q10 .. q90; --json gives all {len(forecast.quantiles)} levels "
                          f"({', '.join(f'{q:g}' for q in forecast.quantiles)}), as prices and returns")
    for column in ("bar", "point", "return", *(f"q{100 * q:g}" for q in _TABLE_LEVELS), "80 % interval (return)"):
        table.add_column(column, justify="left" if column == "bar" else "right")
    for k, time in enumerate(forecast.times):
        table.add_row(time, f"{forecast.point[k]:.6g}", f"{forecast.point_return[k]:+.4%}",
                      *(f"{forecast.quantiles[q][k]:.6g}" for q in _TABLE_LEVELS),
                      f"{low[k]:+.4%} .. {high[k]:+.4%}")
    return table


def _export_parser() -> argparse.ArgumentParser:
    from ..serving.export import LAYOUTS

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


def export_command(argv: Sequence[str]) -> int:
    args = _export_parser().parse_args(argv)
    from ..serving.export import export_stock_prediction

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
