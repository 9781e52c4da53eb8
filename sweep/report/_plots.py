"""Figures without a display (matplotlib's Agg backend, loaded only when a report draws), and the report's plots of
trials and of test power, labelled with the run's objective."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..objectives import DEFAULT_OBJECTIVE, Objective

__all__ = ["pyplot", "save_figure", "pareto_front", "loss_word", "accuracy_latency_plot", "overfitting_plot",
           "mde_plot"]


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display needed; imported on first use)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path: Path) -> Path:
    """Write ``figure`` to ``path`` (PNG at 110 dpi), close it, return ``path``."""
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot().close(figure)
    return path


def loss_word(objective: Objective) -> str:
    """How prose names the objective's loss: ``MAE`` for ``pct_return_mae``, else its name in words
    (``quantile loss``)."""
    return "MAE" if objective.name == DEFAULT_OBJECTIVE else objective.name.replace("_", " ")


def pareto_front(accuracy: np.ndarray, latency: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats on both (lower is better), by increasing latency.

    Parameters
    ----------
    accuracy, latency : numpy.ndarray
        ``[n_points]`` values to minimise.
    """
    order = np.lexsort((accuracy, latency))
    front, best = [], np.inf
    for i in order:
        if accuracy[i] < best:
            front.append(i)
            best = accuracy[i]
    return np.asarray(front, dtype=int)


def accuracy_latency_plot(name: str, validation: np.ndarray, latency_s: np.ndarray, objective: str,
                          folder: Path) -> Path:
    """Validation loss against latency of a study's trials, with their Pareto front: ``<name>-accuracy-latency.png``.

    Parameters
    ----------
    name : str
        The study's label.
    validation, latency_s : numpy.ndarray
        ``[n_complete]`` validation loss (the ``objective``'s units) and seconds per origin of each completed trial.
    objective : str
        The loss's name, for the axis.
    folder : Path
    """
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.scatter(latency_s, validation, s=14, alpha=0.6, label="trials")
    front = pareto_front(validation, latency_s)
    axes.plot(latency_s[front], validation[front], "r.-", label="Pareto front")
    axes.set(xlabel="latency_s per origin (validation)", ylabel=f"validation {objective}",
             title=f"{name}: accuracy vs latency")
    axes.legend()
    return save_figure(figure, folder / f"{name}-accuracy-latency.png")


def overfitting_plot(name: str, validation: np.ndarray, test: np.ndarray, objective: str, folder: Path) -> Path:
    """Test against validation loss of a study's trials, with the diagonal: ``<name>-validation-vs-test.png``.

    Parameters
    ----------
    name : str
        The study's label.
    validation, test : numpy.ndarray
        ``[n_complete]`` loss of each completed trial on validation and on test origins (the ``objective``'s units).
    objective : str
        The loss's name, for the axes.
    folder : Path
    """
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(5, 5))
    axes.scatter(validation, test, s=14, alpha=0.6)
    low, high = min(validation.min(), test.min()), max(validation.max(), test.max())
    axes.plot([low, high], [low, high], "k--", linewidth=1, label="test = validation")
    axes.set(xlabel=f"validation {objective}", ylabel=f"test {objective}",
             title=f"{name}: validation vs test per trial")
    axes.legend()
    return save_figure(figure, folder / f"{name}-validation-vs-test.png")


def mde_plot(candidates: dict[str, dict[str, Any]], objective: Objective, folder: Path) -> Path | None:
    """MDE vs the objective's benchmark (percent of its loss, 80 % power) against the number of test origins, per
    symbol: ``mde-vs-origins.png``, or None when no candidate records a long-run variance. In the objective's own
    units when its skill is not relative (:attr:`Objective.relative_skill`: flat's PnL is 0, no scale).

    ``MDE(n)`` with each candidate's stored long-run variance ``S`` (:func:`sweep.stats.paired.mde_for_origins`: the
    t test's degrees of freedom grow with ``n``); the marker is the candidate's own number of origins.

    Parameters
    ----------
    candidates : dict
        ``{symbol: candidate document}``; each reads ``comparisons[<benchmark>]`` and ``test[<benchmark key>]``.
    objective : Objective
    folder : Path
    """
    from ..stats.paired import MDE_POWER, mde_for_origins

    bench = objective.benchmark
    # a benchmark candidate has no differential against itself: its power block (objective.power_key) is the
    # strongest other config's against the benchmark
    power = {s: d.get(objective.power_key) or d.get("comparisons", {}).get(bench) or {}
             for s, d in candidates.items()}
    rows = {s: p for s, p in power.items() if p.get("long_run_variance")}
    if not rows:
        return None
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(7, 4))
    n = np.logspace(1, 5, 200)
    for k, (symbol, c) in enumerate(sorted(rows.items())):
        alpha = c.get("alpha") or candidates[symbol]["comparisons"][bench]["alpha"]
        scale = 100 / candidates[symbol]["test"][objective.benchmark_key] if objective.relative_skill else 1.0
        overlap = c.get("overlap", 1)  # windows sharing a target bar (tests from before it counted none)
        axes.loglog(n, scale * mde_for_origins(c["long_run_variance"], n, alpha, overlap=overlap), color=f"C{k}",
                    label=symbol)
        axes.plot([c["n_windows"]], [scale * mde_for_origins(c["long_run_variance"], c["n_windows"], alpha,
                                                             overlap=overlap)], "o", color=f"C{k}")
    for gain in (5, 10) if objective.relative_skill else ():
        axes.axhline(gain, color="grey", linestyle=":", linewidth=1)
    # an MDE is a size: the units without their qualifier (pnl's "sign flipped")
    unit = f"% of its {loss_word(objective)}" if objective.relative_skill else objective.units.partition(",")[0]
    axes.set(xlabel="test origins", ylabel=f"MDE vs {bench}\n({unit})",
             title=f"Smallest gain the review sees with {100 * MDE_POWER:.0f}% power (dot: this run)")
    axes.legend()
    return save_figure(figure, folder / "mde-vs-origins.png")
