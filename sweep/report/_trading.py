"""The report's trading part under a trading objective (``pnl``, ``direction``): per symbol, the equity curve after
fees of the selected rule, its family default and buy-and-hold on the test origins with their drawdowns
(``Objective.plots``: ``"equity"``), and the table of the candidate's ``trading`` block (Sharpe ratio, Deflated Sharpe
Ratio, drawdown, turnover, hit rate and total return with their intervals; or direction accuracy and the
Pesaran-Timmermann test) with the verdicts on the seeds' targets.

PnL adds up (:mod:`sweep.objectives.trading`): equity is the running sum of the per-window PnL after fees from 0, in
return units on a capital of 1, and drawdown is its running peak (the start at 0 included) minus it, as
:func:`sweep.stats.trading.max_drawdown` measures it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..data.bars import OHLCVData
from ..forecasters.base import Forecaster
from ..forecasters.config import ForecastConfig
from ..objectives import Objective
from ..scoring.cache import SampleCache
from ..scoring.ensemble import MemberForecast
from ..scoring.evaluate import evaluate, score
from ..storage.store import write_text_atomic
from ._plots import pyplot, save_figure

__all__ = ["CURVES", "equity_and_drawdown", "pnl_on_test", "equity_plot", "equity_table", "trading_plots",
           "trading_section"]

#: The equity curves drawn, in order: the selected rule, its family default, buy-and-hold.
CURVES = ("selected", "default", "buy_and_hold")
_LABELS = {"selected": "selected", "default": "family default", "buy_and_hold": "buy-and-hold"}
#: Line styles: the default dashed over the selected rule, so that both show when the selection kept the default.
_STYLES = {"selected": {"color": "C0", "linewidth": 2.0}, "default": {"color": "C1", "linestyle": "--"},
           "buy_and_hold": {"color": "dimgrey", "linewidth": 1.0}}


def equity_and_drawdown(pnl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Equity and drawdown after each window.

    Parameters
    ----------
    pnl : numpy.ndarray
        ``[n_windows]`` PnL after fees per window, return units, in origin order.

    Returns
    -------
    equity, drawdown : numpy.ndarray
        ``[n_windows]`` running sum of ``pnl``, and its running peak (from a start at 0) minus it: non-negative, its
        maximum :func:`sweep.stats.trading.max_drawdown` of ``pnl``.

    Raises
    ------
    ValueError
        If ``pnl`` is not 1-D.
    """
    pnl = np.asarray(pnl, dtype=float)
    if pnl.ndim != 1:
        raise ValueError(f"pnl must be [n_windows] (one PnL per window, in origin order), got shape {pnl.shape}; "
                         "pass one symbol's PnL at a time")
    equity = np.cumsum(pnl)
    return equity, np.maximum.accumulate(np.maximum(equity, 0.0)) - equity


def pnl_on_test(document: dict[str, Any], forecast: MemberForecast, data: OHLCVData, origins: np.ndarray,
                horizon: int, cache: SampleCache, load: Callable[[dict[str, Any]], Forecaster],
                objective: Objective) -> dict[str, np.ndarray]:
    """Per-window PnL after fees of :data:`CURVES` at the test ``origins``, re-scored as the candidate was.

    Parameters
    ----------
    document : dict
        A ``pnl`` candidate: its ``config`` (with the ``decision``: the trading rule) and ``default.config``.
    forecast : MemberForecast
        The selected config's forecasts at ``origins`` (:func:`sweep.scoring.ensemble.document_forecast`).
    data : OHLCVData
    origins : numpy.ndarray
        ``[n_windows]`` test origins.
    horizon : int
    cache : SampleCache
        The run's sample cache: the default's draws at the test origins are read from it.
    load : callable
        Loads the candidate's model from its identity (:func:`sweep.forecasters.document_loader`); the default is
        scored on the same model.
    objective : Objective
        ``pnl`` (whose ``window_records`` hold ``pnl`` and ``buy_and_hold_pnl``).

    Returns
    -------
    dict
        ``{"selected" | "default" | "buy_and_hold": [n_windows]}`` in return units.

    Raises
    ------
    ConfigError
        If a config is invalid or declares no trading rule.
    ModelLoadError
        If the model cannot be loaded.
    """
    selected = score(forecast.point, forecast.predictive, forecast.latency_s, data, origins, horizon,
                     objective=objective.name, decision=document["config"].get("decision"))
    default_config = ForecastConfig.from_dict(document["default"]["config"],
                                              source=f"{document.get('symbol', 'candidate')} default config")
    default = evaluate(load(document["model"]), default_config, data, origins, horizon, cache, objective=objective.name,
                       layout=document["windows"].get("layout_horizon"))  # drawn as the run drew it
    return {"selected": selected.window_records["pnl"], "default": default.window_records["pnl"],
            "buy_and_hold": selected.window_records["buy_and_hold_pnl"]}


def equity_table(pnl: dict[str, np.ndarray], times: pd.DatetimeIndex) -> pd.DataFrame:
    """``[n_windows]`` rows indexed by origin time, columns ``<curve>_equity`` and ``<curve>_drawdown`` per curve of
    ``pnl`` (``{curve: [n_windows]}``), return units."""
    columns = {}
    for curve, values in pnl.items():
        columns[f"{curve}_equity"], columns[f"{curve}_drawdown"] = equity_and_drawdown(values)
    return pd.DataFrame(columns, index=pd.Index(times, name="origin"))


def equity_plot(symbol: str, table: pd.DataFrame, family: str, folder: Path) -> Path:
    """Equity (top) and drawdown (bottom, hanging down from 0) of each curve of ``table`` (:func:`equity_table`)
    against origin time: ``<symbol>-equity.png``."""
    plt = pyplot()
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True, gridspec_kw={"height_ratios": (3, 1)})
    for curve in CURVES:
        top.plot(table.index, table[f"{curve}_equity"], label=_LABELS[curve], **{"linewidth": 1.2, **_STYLES[curve]})
        bottom.plot(table.index, table[f"{curve}_drawdown"], **{"linewidth": 1.2, **_STYLES[curve]})
    top.axhline(0.0, color="grey", linewidth=0.8, linestyle=":")
    top.set(ylabel="equity after fees\n(sum of PnL, return units)",
            title=f"{symbol}: trading rule of the selected config ({family}) on the test origins")
    top.legend(loc="upper left", fontsize=8)
    bottom.set(ylabel="drawdown\n(peak - equity)", xlabel="test origin")
    bottom.invert_yaxis()
    return save_figure(figure, folder / f"{symbol}-equity.png")


def trading_plots(symbol: str, document: dict[str, Any], forecast: MemberForecast, data: OHLCVData,
                  origins: np.ndarray, horizon: int, cache: SampleCache, load: Callable[[dict[str, Any]], Forecaster],
                  objective: Objective, folder: Path) -> list[Path]:
    """The equity plot ``objective.plots`` asks of one candidate (``"equity"``), with its curves beside it as
    ``<symbol>-equity.csv``; none for any other objective. See :func:`pnl_on_test` for the parameters and errors."""
    if "equity" not in objective.plots:
        return []
    table = equity_table(pnl_on_test(document, forecast, data, origins, horizon, cache, load, objective),
                         data.frame.index[origins])
    write_text_atomic(folder / f"{symbol}-equity.csv", table.to_csv())
    return [equity_plot(symbol, table, document["model"].get("family", "?"), folder)]


def _with_interval(value: float | None, interval: list[float] | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" + ("" if interval is None else f" [{interval[0]:.3g}, {interval[1]:.3g}]")


def _pnl_rows(block: dict[str, Any]) -> list[str]:
    """Markdown rows of a ``pnl`` candidate's ``trading`` block: each curve's statistics with their intervals."""
    lines = ["| rule | Sharpe (annualised) | Deflated Sharpe Ratio | max drawdown | turnover | hit rate | "
             "total return |", "|---|---:|---:|---:|---:|---:|---:|"]
    for curve in CURVES:
        stats = block["test"].get(curve)
        if not stats:
            continue
        dsr = f"{block['deflated_sharpe']['dsr']:.3f}" if curve == "selected" and "deflated_sharpe" in block else "-"
        lines.append(f"| {_LABELS[curve]} | {_with_interval(stats['sharpe'], stats.get('sharpe_ci'))} | {dsr} | "
                     + " | ".join(_with_interval(stats[key], stats.get(f"{key}_ci"))
                                  for key in ("max_drawdown", "turnover", "hit_rate"))
                     + f" | {_with_interval(stats['total_return'], None)} |")
    return lines


def _direction_rows(block: dict[str, Any]) -> list[str]:
    """Markdown rows of a ``direction`` candidate's ``trading`` block: accuracy and the Pesaran-Timmermann test."""
    lines = ["| forecast | direction accuracy | windows called | Pesaran-Timmermann p |", "|---|---:|---:|---:|"]
    for label, judged in block["test"].items():
        accuracy, name = judged.get("accuracy"), _LABELS.get(label, label)
        if accuracy is None:  # fewer than two windows called a direction
            lines.append(f"| {name} | - | {judged.get('n_called', 0)} | - |")
            continue
        shown = _with_interval(accuracy["accuracy"], [accuracy["ci_low"], accuracy["ci_high"]])
        lines.append(f"| {name} | {shown} | {accuracy['n']} | {judged['pesaran_timmermann']['p_value']:.3f} |")
    return lines


def _symbol_lines(block: dict[str, Any], objective: Objective) -> list[str]:
    lines = _pnl_rows(block) if objective.name == "pnl" else _direction_rows(block)
    if "vs_buy_and_hold" in block:
        test = block["vs_buy_and_hold"]
        lines += ["", f"Selected minus buy-and-hold PnL per window: {-test['mean_diff']:+.3g} "
                      f"(one-sided Diebold-Mariano p {test['p_value']:.3f})."]
    lines += ["", "| target | verdict |", "|---|---|"]
    lines += [f"| {target['target']} | {target['verdict']} |" for target in block.get("targets", {}).values()]
    return lines


def trading_section(candidates: dict[str, dict[str, Any]], plots: dict[str, list[Path]], objective: Objective,
                    folder: Path) -> list[str]:
    """The report's "Trading" section: per symbol, its equity plot and the table of its candidate's ``trading`` block
    (every number read from the candidate), then the verdicts on the seeds' targets.

    Parameters
    ----------
    candidates : dict
        ``{symbol: candidate document}``; one without a ``trading`` block (another objective, an older file) is
        left out.
    plots : dict
        ``{symbol: [plot path]}`` (:func:`trading_plots`), inside ``folder``.
    objective : Objective
    folder : Path
        The report folder, which the links are relative to.

    Returns
    -------
    list of str
        Markdown lines; none when no candidate has a ``trading`` block.
    """
    traded = {symbol: document["trading"] for symbol, document in candidates.items() if document.get("trading")}
    if not traded:
        return []
    lines = ["", "## Trading", "", "On the test origins; a target is met only when its whole 95 % interval is on its "
             "side."]
    if objective.name == "pnl":
        lines += ["After fees, in return units on a capital of 1. Intervals: 95 % stationary bootstrap (Politis & "
                  "Romano 1994). The Deflated Sharpe Ratio (Bailey & López de Prado 2014) is on the validation "
                  "origins the trials were selected on. Equity is the running sum of the PnL per window; drawdown is "
                  "its running peak minus it."]
    else:
        lines += ["Direction accuracy: the share of right calls among the windows that call one, with its 95 % "
                  "Wilson interval; Pesaran-Timmermann p: the test (1992) of the null that the calls carry no "
                  "information on the direction beyond the base rates."]
    for symbol, block in traded.items():
        lines += ["", f"### {symbol}"]
        links = [f"![{path.stem}]({path.relative_to(folder)})" for path in plots.get(symbol, [])]
        lines += ["", *links] if links else []
        lines += ["", *_symbol_lines(block, objective)]
    return lines
