"""The backtest section of a report: each fold's test loss per selection scope and rule, the gains, the verdicts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ._plots import pyplot, save_figure
from ..objectives import get_objective, objective_of_run
from ..search.study_job import PER_SYMBOL

__all__ = ["backtest_section"]


def _scopes(document: dict[str, Any]) -> list[str]:
    return document.get("selection", [PER_SYMBOL])  # backtests from before scopes were per-symbol


def _rules(document: dict[str, Any]) -> list[str]:
    return document.get("select", ["best"])  # backtests from before rules selected the best trial


def _combinations(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [(scope, rule) for rule in _rules(document) for scope in _scopes(document)]


def _label(document: dict[str, Any], scope: str, rule: str) -> str:
    return f"{scope}, --select {rule}" if len(_rules(document)) > 1 else scope


def _backtest_plot(document: dict[str, Any], folder: Path) -> Path:
    """Per symbol, grouped bars of each fold's test loss: each (scope, rule)'s selected config, the first one's
    family default, the benchmark."""
    plt = pyplot()
    symbols, combinations = document["symbols"], _combinations(document)
    figure, axes = plt.subplots(1, len(symbols), figsize=(5 * len(symbols), 3.6), squeeze=False)
    for ax, symbol in zip(axes[0], symbols):
        rows = {c: sorted((r for r in document["folds"] if r["symbol"] == symbol
                           and (r.get("selection", PER_SYMBOL), r.get("select", "best")) == c), key=lambda r: r["fold"])
                for c in combinations}
        first, objective = rows[combinations[0]], get_objective(objective_of_run(document))
        key = f"test_{objective.name}"
        bars = [(f"selected ({_label(document, *c)})", [r[key]["selected"] for r in rows[c]]) for c in combinations]
        bars += [(name, [r[key][name] for r in first]) for name in ("default", objective.benchmark)]
        folds, width = np.arange(len(first)), 0.8 / len(bars)
        for offset, (label, values) in enumerate(bars):
            ax.bar(folds + (offset - (len(bars) - 1) / 2) * width, values, width, label=label)
        ax.set_xticks(folds, [f"fold {r['fold']}\n{r['test_origins']['first'][:10]}" for r in first])
        ax.set(ylabel=key.replace("_", " ", 1), title=f"{symbol}: walk-forward folds")
        ax.legend(fontsize=8)
    return save_figure(figure, folder / "backtest-folds.png")


def _gain_row(label: str, g: dict[str, Any]) -> str:
    relative = "-" if g["relative"] is None else f"{100 * g['relative']:+.2f}%"
    return (f"| {label} | {g['mean']:+.3g} | {relative} | "
            f"{100 * g['ci_level']:.0f}% [{g['ci_low']:+.3g}, {g['ci_high']:+.3g}] | {g['folds_won']} of {g['n_folds']} |")


def backtest_section(document: dict[str, Any], folder: Path) -> list[str]:
    """Markdown lines of ``backtest.json`` (``document``) with its plot written to ``folder``."""
    plot = _backtest_plot(document, folder)
    objective = get_objective(objective_of_run(document))
    bench = objective.benchmark
    lines = ["", f"## Walk-forward backtest of the tuning ({document['n_folds']} folds)", "",
             f"| symbol | fold | test origins | selection | select | selected | selected | default | {bench} | SPA p | "
             "regret |", "|---|---:|---|---|---|---|---:|---:|---:|---:|---:|"]
    for r in document["folds"]:
        mae, spa, regret = r[f"test_{objective.name}"], r["spa_p_value"], r.get("selection_regret")
        regret_text = "-" if regret is None or regret["relative"] is None else f"{100 * regret['relative']:+.1f}%"
        lines.append(f"| {r['symbol']} | {r['fold']} | {r['test_origins']['first'][:10]} .. "
                     f"{r['test_origins']['last'][:10]} | {r.get('selection', PER_SYMBOL)} | {r.get('select', 'best')} "
                     f"| {r['selected']['model']} | {mae['selected']:.6g} | {mae['default']:.6g} | {mae[bench]:.6g} | "
                     f"{'-' if spa is None else f'{spa:.3f}'} | {regret_text} |")
    lines += ["", "Regret: the selected config's test loss over the best trial's on test, on one test origin per "
              "validation stride (selection never sees it).", "",
              "| selection | select | gain of tuning over | mean | relative | CI | folds won |",
              "|---|---|---|---:|---:|---|---:|"]
    summary = document["summary"]
    for scope, rule in _combinations(document):
        scoped = summary.get("by_rule", {}).get(rule, summary).get("by_selection", {}).get(scope, summary)
        lines += [_gain_row(f"{scope} | {rule} | {name}", scoped[f"gain_vs_{name}"]) for name in ("default", bench)]
    verdicts = [("pooled over per-symbol selection", "pooled", "selection", summary.get("pooled_vs_per_symbol"))]
    verdicts += [(f"the significant rule over best ({scope})", "significant", "rule", compared)
                 for scope, compared in summary.get("significant_vs_best", {}).items()]
    for title, first, kind, compared in verdicts:
        if compared:
            verdict = (f"{compared['better']} {kind} generalised better"
                       + (", significantly" if compared["significant"] else "; the difference is not significant"))
            lines += ["", f"| gain of {title} | mean | relative | CI | {first} better in |", "|---|---:|---:|---|---:|",
                      _gain_row("every symbol's test windows", compared), "", f"{verdict}."]
    return lines + ["", f"![backtest folds]({plot.relative_to(folder)})"]
