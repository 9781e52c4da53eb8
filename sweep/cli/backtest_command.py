"""``python -m sweep backtest``: walk-forward backtest of the tuning, and its folds table and verdicts."""

from __future__ import annotations

import argparse
import json
from typing import Any, Sequence

from rich.table import Table

from ..errors import ConfigError
from ..objectives import get_objective, objective_of_run
from ..flags import EXIT_OK, add_folds_flag, console, table_console
from ..search.study_job import PER_SYMBOL, SCOPES
from ..storage.store import horizon_slot
from .sweep_command import p_value, sweep_parser, sweep_settings, with_progress

__all__ = ["backtest_command", "print_backtest", "scope_verdict", "rule_verdict"]


def _backtest_parser() -> argparse.ArgumentParser:
    p = sweep_parser(scopes=len(SCOPES))
    p.prog = "python -m sweep backtest"
    p.description = ("Walk-forward backtest of the tuning itself: the whole selection runs on each fold's "
                     "validation origins; the selected config, the family default and persistence are scored on "
                     "its test origins. Takes every sweep flag; --selection and --select take several values, "
                     "and every combination is run on the same trials and compared.")
    add_folds_flag(p, default=3)
    p.add_argument("--allow-overlap", action="store_true",
                   help="run folds whose windows a model saw in (pre)training, flagged instead of refused")
    return p


def backtest_command(argv: Sequence[str]) -> int:
    args = _backtest_parser().parse_args(argv)
    from ..runs.backtest import BACKTEST_FILE, BacktestSettings, run_backtest

    if args.promote:
        raise ConfigError("backtest writes no candidate to promote; drop --promote (run a sweep to promote)")
    settings = BacktestSettings(sweep_settings(args), folds=args.folds, allow_overlap=args.allow_overlap)
    document = with_progress(args, settings.sweep,
                             lambda executor, progress: run_backtest(settings, executor, progress))
    if args.log_format == "json":
        print(json.dumps({"backtest": str(settings.sweep.run_dir / BACKTEST_FILE), "summary": document["summary"]}))
        return EXIT_OK
    print_backtest(document)
    console.print(f"[green]wrote[/green] {settings.sweep.run_dir / BACKTEST_FILE}")
    return EXIT_OK


def print_backtest(document: dict[str, Any]) -> None:
    """The folds table and the plain answers to "did tuning help?", "which scope generalised better?" and "which
    rule generalised better?"."""
    scopes, rules = document.get("selection", [PER_SYMBOL]), document.get("select", ["best"])
    objective = get_objective(objective_of_run(document))
    loss = "mae" if objective.name == "pct_return_mae" else objective.name
    table = Table(title=f"Walk-forward backtest of the tuning, {document['n_folds']} folds (test {objective.name})")
    for column in ("symbol", "fold", "test origins", "selection", "select", "selected", f"selected {loss}",
                   f"default {loss}", f"{objective.benchmark} {loss}", "SPA p", "regret"):
        table.add_column(column, justify="right" if loss in column or column in ("fold", "SPA p") else "left")
    for row in document["folds"]:
        mae = row[f"test_{objective.name}"]
        table.add_row(horizon_slot(row["symbol"], row.get("horizon", 1)), str(row["fold"]),
                      f"{row['test_origins']['first'][:10]} .. {row['test_origins']['last'][:10]}",
                      row.get("selection", PER_SYMBOL), row.get("select", "best"), row["selected"]["model"],
                      f"{mae['selected']:.5f}", f"{mae['default']:.5f}", f"{mae[objective.benchmark]:.5f}",
                      p_value(row["spa_p_value"]), _regret(row.get("selection_regret")))
    table_console().print(table)
    for row in document["folds"]:
        if "trading" in row:
            console.print(_trading_line(row), highlight=False)
    by_horizon = document.get("summary_by_horizon") or {"": document["summary"]}
    for horizon, summary in by_horizon.items():  # the gain of tuning at each horizon of --horizons
        at = f"at {horizon} bar(s), " if horizon else ""
        for rule in rules:
            by_rule = summary.get("by_rule", {}).get(rule, summary)
            for scope in scopes:
                scoped = by_rule.get("by_selection", {}).get(scope, by_rule)
                for name in ("default", objective.benchmark):
                    console.print(f"{at}{scope} tuning, --select {rule}, vs {name}: "
                                  f"{_gain_sentence(scoped[f'gain_vs_{name}'], name)}", highlight=False)
            if by_rule.get("pooled_vs_per_symbol"):
                console.print(f"{at}--select {rule}: {scope_verdict(by_rule['pooled_vs_per_symbol'])}",
                              highlight=False)
        for scope, compared in summary.get("significant_vs_best", {}).items():
            console.print(f"{at}{scope} selection: {rule_verdict(compared)}", highlight=False)


def _trading_line(row: dict[str, Any]) -> str:
    """A fold's out-of-sample trading result: Sharpe ratio after fees and drawdown under ``pnl`` (against flat and
    buy-and-hold), accuracy and the Pesaran-Timmermann p-value under ``direction``."""
    slot = horizon_slot(row["symbol"], row.get("horizon", 1))
    t, head = row["trading"], f"{slot} fold {row['fold']} ({row.get('selection')}, {row.get('select')})"
    if "buy_and_hold" in t:
        shown = {name: f"Sharpe {t[name]['sharpe']:+.2f}, drawdown {100 * t[name]['max_drawdown']:.1f}%"
                 for name in ("selected", "default", "buy_and_hold")}
        return (f"{head}: tuned rule {shown['selected']}; its default {shown['default']}; flat Sharpe 0; "
                f"buy-and-hold {shown['buy_and_hold']} (test origins, after fees)")
    s = t["selected"]
    if s.get("accuracy") is None:
        return f"{head}: the tuned forecast called no direction"
    return (f"{head}: accuracy {100 * s['accuracy']:.1f}% [{100 * s['accuracy_ci_low']:.1f}, "
            f"{100 * s['accuracy_ci_high']:.1f}], Pesaran-Timmermann p {s['pt_p_value']:.3f}")


def _gain_sentence(g: dict[str, Any], name: str) -> str:
    if g["ci_low"] == g["ci_high"] == g["mean"] == 0:
        return f"identical to {name} on every test origin (the same forecasts were kept)"
    if g["ci_low"] > 0:
        answer = "[green]tuning helped[/green]"
    elif g["ci_high"] < 0:
        answer = f"[red]the tuned configs were worse than {name}[/red]"
    else:
        answer = "[yellow]no evidence that tuning helped[/yellow]"
    share = "" if g["relative"] is None else f"{100 * g['relative']:+.2f}% of its loss "
    return (f"gain {share}(mean {g['mean']:+.2e}, {100 * g['ci_level']:.0f}% CI "
            f"[{g['ci_low']:+.2e}, {g['ci_high']:+.2e}]), better in {g['folds_won']} of {g['n_folds']} folds: {answer}")


def _regret(regret: dict[str, Any] | None) -> str:
    return "-" if regret is None or regret["relative"] is None else f"{100 * regret['relative']:+.1f}%"


def scope_verdict(compared: dict[str, Any]) -> str:
    """One sentence: which selection scope generalised better out of sample, and is the difference significant?"""
    return _paired_verdict(compared, "pooled", "per-symbol", "selection", "the scopes")


def rule_verdict(compared: dict[str, Any]) -> str:
    """One sentence: which selection rule generalised better out of sample, and is the difference significant?"""
    return _paired_verdict(compared, "significant", "best", "rule", "the rules")


def _paired_verdict(compared: dict[str, Any], first: str, second: str, kind: str, both: str) -> str:
    level = f"{100 * compared['ci_level']:.0f}%"
    interval = f"{level} CI [{compared['ci_low']:+.2e}, {compared['ci_high']:+.2e}]"
    relative = compared.get("mde_relative")
    mde = "" if relative is None else (
        "; these windows cannot detect any difference (the MDE at 80% power is more than the loss itself)"
        if relative > 1 else f"; these windows could see a difference of {100 * relative:.1f}% (MDE, 80% power)")
    share = "-" if compared["relative"] is None else f"{100 * abs(compared['relative']):.2f}%"
    if compared["ci_low"] == compared["ci_high"] == compared["mean"] == 0:
        return f"{first} vs {second} {kind}: identical forecasts on every test origin"
    if compared["significant"]:
        head = f"[green]{compared['better']} {kind} generalised better[/green], significantly"
    else:
        head = (f"[yellow]no significant difference between {both}[/yellow]: {compared['better']} {kind} was "
                f"better by {share}, within noise")
    return (f"{first} vs {second} {kind}: {head} ({second} test loss minus {first}: {compared['mean']:+.2e}, "
            f"{share} of {second}'s, {interval}, {first} better in {compared['folds_won']} of "
            f"{compared['n_folds']} folds){mde}")
