"""The backtest section of a report: each fold's test MAE per selection scope, the gains, and the scope verdict."""

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


def _backtest_plot(document: dict[str, Any], folder: Path) -> Path:
    """Per symbol, grouped bars of each fold's test MAE: each scope's selected config, the first scope's family
    default, persistence."""
    plt = pyplot()
    symbols, scopes = document["symbols"], _scopes(document)
    figure, axes = plt.subplots(1, len(symbols), figsize=(5 * len(symbols), 3.6), squeeze=False)
    for ax, symbol in zip(axes[0], symbols):
        rows = {scope: sorted((r for r in document["folds"] if r["symbol"] == symbol
                               and r.get("selection", PER_SYMBOL) == scope), key=lambda r: r["fold"])
                for scope in scopes}
        first, objective = rows[scopes[0]], get_objective(objective_of_run(document))
        key = f"test_{objective.name}"
        bars = [(f"selected ({scope})", [r[key]["selected"] for r in rows[scope]]) for scope in scopes]
        bars += [(name, [r[key][name] for r in first]) for name in ("default", objective.benchmark)]
        folds, width = np.arange(len(first)), 0.8 / len(bars)
        for offset, (label, values) in enumerate(bars):
            ax.bar(folds + (offset - (len(bars) - 1) / 2) * width, values, width, label=label)
        ax.set_xticks(folds, [f"fold {r['fold']}\n{r['test_origins']['first'][:10]}" for r in first])
        ax.set(ylabel=key.replace("_", " ", 1), title=f"{symbol}: walk-forward folds")
        ax.legend(fontsize=8)
    return save_figure(figure, folder / "backtest-folds.png")


def _gain_row(label: str, g: dict[str, Any]) -> str:
    return (f"| {label} | {g['mean']:+.3g} | {100 * g['relative']:+.2f}% | "
            f"{100 * g['ci_level']:.0f}% [{g['ci_low']:+.3g}, {g['ci_high']:+.3g}] | {g['folds_won']} of {g['n_folds']} |")


def backtest_section(document: dict[str, Any], folder: Path) -> list[str]:
    """Markdown lines of ``backtest.json`` (``document``) with its plot written to ``folder``."""
    plot = _backtest_plot(document, folder)
    objective = get_objective(objective_of_run(document))
    bench = objective.benchmark
    lines = ["", f"## Walk-forward backtest of the tuning ({document['n_folds']} folds)", "",
             f"| symbol | fold | test origins | selection | selected | selected | default | {bench} | SPA p |",
             "|---|---:|---|---|---|---:|---:|---:|---:|"]
    for r in document["folds"]:
        mae, spa = r[f"test_{objective.name}"], r["spa_p_value"]
        lines.append(f"| {r['symbol']} | {r['fold']} | {r['test_origins']['first'][:10]} .. "
                     f"{r['test_origins']['last'][:10]} | {r.get('selection', PER_SYMBOL)} | {r['selected']['model']} | "
                     f"{mae['selected']:.6g} | {mae['default']:.6g} | {mae[bench]:.6g} | "
                     f"{'-' if spa is None else f'{spa:.3f}'} |")
    lines += ["", "| selection | gain of tuning over | mean (return units) | relative | CI | folds won |",
              "|---|---|---:|---:|---|---:|"]
    summary = document["summary"]
    for scope in _scopes(document):
        scoped = summary.get("by_selection", {}).get(scope, summary)
        lines += [_gain_row(f"{scope} | {name}", scoped[f"gain_vs_{name}"]) for name in ("default", bench)]
    compared = summary.get("pooled_vs_per_symbol")
    if compared:
        verdict = (f"{compared['better']} selection generalised better"
                   + (", significantly" if compared["significant"] else "; the difference is not significant"))
        lines += ["", "| gain of pooled over per-symbol selection | mean (return units) | relative | CI | "
                  "pooled better in |", "|---|---:|---:|---|---:|", _gain_row("every symbol's test windows", compared),
                  "", f"{verdict}."]
    return lines + ["", f"![backtest folds]({plot.relative_to(folder)})"]
