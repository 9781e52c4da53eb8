"""The report's calibration plots of a distribution objective (``Objective.plots``): per symbol, a reliability diagram of
every forecast a candidate records on test, and the selected config's quantile fan over the last days of test.

A forecast is calibrated when the target falls at or below its ``a``-quantile a fraction ``a`` of the time (Gneiting,
Balabdaoui & Raftery 2007, "Probabilistic forecasts, calibration and sharpness", JRSS-B 69(2), 243-268): on a
reliability diagram its observed coverage lies on the diagonal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..data.bars import OHLCVData
from ..objectives import Objective
from ..stats.calibration import coverage_band
from ..stats.predictive import Predictive
from ._plots import pyplot, save_figure

__all__ = ["FAN_DAYS", "BAND_ALPHA", "forecast_blocks", "reliability_diagram", "last_days", "quantile_fan",
           "calibration_plots", "calibration_section"]

#: Days of test, counted back from the last test origin, that the quantile fan shows.
FAN_DAYS = 7
#: One minus the pointwise coverage of the reliability diagram's band.
BAND_ALPHA = 0.05
#: The fan's bands, as pairs of quantile levels, with their opacity.
_FAN_BANDS = (((0.1, 0.9), 0.25), ((0.3, 0.7), 0.45))


def _coverage_key(level: float) -> str:
    return f"coverage_{level:g}"


def forecast_blocks(document: dict[str, Any], levels: tuple[float, ...]) -> dict[str, dict[str, Any]]:
    """The test metrics of every forecast a candidate records that states its coverage at all ``levels``.

    Parameters
    ----------
    document : dict
        A candidate: its ``test`` (the selected config), ``default.test`` (its family default) and
        ``references[<name>].test`` (the objective's references: the empirical random walk, GARCH).
    levels : tuple of float
        ``[n_levels]`` the objective's quantile levels.

    Returns
    -------
    dict
        ``{"selected": block, "default": block, <reference name>: block}``, in that order, without forecasts whose
        block is missing or lacks a ``coverage_<level>`` (a candidate written before the objective had them).
    """
    blocks = {"selected": document.get("test"), "default": document.get("default", {}).get("test")}
    blocks |= {name: reference.get("test") for name, reference in document.get("references", {}).items()}
    return {label: block for label, block in blocks.items()
            if block and all(_coverage_key(level) in block for level in levels)}


def _coverage(block: dict[str, Any], levels: tuple[float, ...]) -> np.ndarray:
    return np.array([block[_coverage_key(level)] for level in levels], dtype=float)


def reliability_diagram(symbol: str, blocks: dict[str, dict[str, Any]], levels: tuple[float, ...], n_windows: int,
                        folder: Path) -> Path:
    """Observed coverage against nominal level of each forecast, the diagonal and the band a calibrated forecast's
    coverage stays in (:func:`sweep.stats.calibration.coverage_band` of ``n_windows``): ``<symbol>-reliability.png``.

    Parameters
    ----------
    symbol : str
    blocks : dict
        ``{forecast label: test metrics block}`` (:func:`forecast_blocks`).
    levels : tuple of float
        ``[n_levels]`` nominal levels.
    n_windows : int
        Test origins the coverages were measured on (the band's sample size).
    folder : Path

    Raises
    ------
    ValueError
        If ``n_windows < 1`` (from :func:`sweep.stats.calibration.coverage_band`).
    """
    low, high = coverage_band(n_windows, levels, BAND_ALPHA)
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(5.5, 5.5))
    axes.fill_between(levels, low, high, color="grey", alpha=0.25,
                      label=f"{100 * (1 - BAND_ALPHA):.0f}% range of a calibrated forecast\n({n_windows} test origins, "
                            "if independent)")
    axes.plot([0, 1], [0, 1], "k--", linewidth=1, label="calibrated")
    for k, (label, block) in enumerate(blocks.items()):
        axes.plot(levels, _coverage(block, levels), marker="os^vD"[k % 5], linestyle="-", color=f"C{k}",
                  alpha=0.8, label=label)
    axes.set(xlim=(0, 1), ylim=(0, 1), xlabel="nominal quantile level",
             ylabel="observed coverage (share of targets at or below)", title=f"{symbol}: reliability on test")
    axes.legend(loc="upper left", fontsize=8)
    return save_figure(figure, folder / f"{symbol}-reliability.png")


def last_days(times, days: int) -> np.ndarray:
    """``[n]`` mask of the ``times`` (a sorted ``pandas.DatetimeIndex``) less than ``days`` days before the last one,
    which is included: 168 hourly origins for 7 days, all of them when they span less."""
    import pandas as pd

    return np.asarray(times > times[-1] - pd.Timedelta(days=days))


def quantile_fan(symbol: str, family: str, predictive: Predictive, data: OHLCVData, origins: np.ndarray,
                 levels: tuple[float, ...], folder: Path) -> Path:
    """The selected config's first-step quantiles over the last :data:`FAN_DAYS` days of test, in price units, with
    the realised closes: ``<symbol>-quantile-fan.png``.

    Parameters
    ----------
    symbol, family : str
    predictive : Predictive
        The selected config's forecast distribution at ``origins``.
    data : OHLCVData
    origins : numpy.ndarray
        ``[n_windows]`` test origins (bar indices); the fan shows those within :data:`FAN_DAYS` of the last.
    levels : tuple of float
        ``[n_levels]`` quantile levels; must hold 0.1, 0.3, 0.5, 0.7 and 0.9.
    folder : Path

    Raises
    ------
    ValueError
        If ``levels`` lacks a level the fan draws.
    """
    needed = sorted({level for pair, _ in _FAN_BANDS for level in pair} | {0.5})
    missing = [level for level in needed if level not in levels]
    if missing:
        raise ValueError(f"the quantile fan needs levels {needed}; {list(levels)} lacks {missing}")
    times = data.frame.index[origins]
    shown = last_days(times, FAN_DAYS)
    quantiles = predictive.quantiles(levels)[shown, :, 0]  # [n_shown, n_levels]: prices at the first forecast bar
    at = {level: quantiles[:, list(levels).index(level)] for level in needed}
    actual = data.close[origins[shown]]
    inside = np.mean((actual >= at[0.1]) & (actual <= at[0.9]))
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(10, 4))
    for (lower, upper), alpha in _FAN_BANDS:
        axes.fill_between(times[shown], at[lower], at[upper], color="tab:blue", alpha=alpha, step="mid",
                          label=f"{lower:g}-{upper:g} quantiles")
    axes.plot(times[shown], at[0.5], "-", color="navy", linewidth=1, label="median")
    axes.plot(times[shown], actual, "k.", markersize=4, label="realised close")
    axes.set(ylabel="price", title=f"{symbol}: next-bar quantiles of the selected config ({family})\nlast "
                                   f"{shown.sum()} test origins; {100 * inside:.0f}% of the closes inside 0.1-0.9")
    axes.legend(loc="best", fontsize=8)
    return save_figure(figure, folder / f"{symbol}-quantile-fan.png")


def calibration_plots(symbol: str, document: dict[str, Any], predictive: Predictive, data: OHLCVData,
                      origins: np.ndarray, objective: Objective, folder: Path) -> list[Path]:
    """The plots ``objective.plots`` asks of one candidate: its reliability diagram and its quantile fan.

    Parameters
    ----------
    symbol : str
    document : dict
        The candidate.
    predictive : Predictive
        Its forecast distribution at ``origins``, the test origins.
    data : OHLCVData
    origins : numpy.ndarray
        ``[n_windows]`` test origins.
    objective : Objective
        The run's objective; a point objective (no ``plots``) gets none.
    folder : Path
    """
    plots = []
    blocks = forecast_blocks(document, objective.levels)
    if "reliability" in objective.plots and blocks:
        plots.append(reliability_diagram(symbol, blocks, objective.levels, int(document["test"]["n_windows"]), folder))
    if "fan" in objective.plots:
        plots.append(quantile_fan(symbol, document["model"].get("family", "?"), predictive, data, origins,
                                  objective.levels, folder))
    return plots


def _table(document: dict[str, Any], objective: Objective) -> list[str]:
    """Coverage per level, loss and calibration test of each forecast of a candidate, as markdown rows."""
    levels, tests = objective.levels, document.get("calibration", {})
    lines = [f"| forecast | model | {' | '.join(f'{level:g}' for level in levels)} | {objective.name} | "
             "calibration p |", f"|---|---|{'---:|' * (len(levels) + 2)}"]
    models = {"selected": document["model"].get("family"), "default": document.get("default", {}).get("model")}
    models |= {name: reference.get("model") for name, reference in document.get("references", {}).items()}
    for label, block in forecast_blocks(document, levels).items():
        p = tests.get(label, {}).get("joint_p_value")
        lines.append(f"| {label} | {models.get(label) or '-'} | "
                     f"{' | '.join(f'{c:.3f}' for c in _coverage(block, levels))} | {block[objective.name]:.6g} | "
                     f"{'-' if p is None else f'{p:.3f}'} |")
    return lines


def calibration_section(candidates: dict[str, dict[str, Any]], plots: dict[str, list[Path]], objective: Objective,
                        folder: Path) -> list[str]:
    """The report's "Calibration" section: per symbol, its plots and the coverage table of its forecasts.

    Parameters
    ----------
    candidates : dict
        ``{symbol: candidate document}``.
    plots : dict
        ``{symbol: [plot path]}`` (:func:`calibration_plots`), inside ``folder``.
    objective : Objective
    folder : Path
        The report folder, which the links are relative to.

    Returns
    -------
    list of str
        Markdown lines; none when the objective draws no calibration plot (a point or a trading objective).
    """
    if not {"reliability", "fan"} & set(objective.plots):
        return []
    lines = ["", "## Calibration", "",
             "Observed coverage (share of test targets at or below each forecast quantile) against the nominal level: "
             "a calibrated forecast lies on the diagonal, inside the grey band if its origins were independent; the "
             "calibration p (per-level t tests on the hits with a long-run variance, Holm-adjusted) allows for their "
             "dependence. The fan shows the selected config's next-bar quantiles over the last "
             f"{FAN_DAYS} days of test."]
    for symbol, document in candidates.items():
        lines += ["", f"### {symbol}", ""]
        lines += [f"![{path.stem}]({path.relative_to(folder)})" for path in plots.get(symbol, [])]
        lines += ["", *_table(document, objective)]
    return lines
