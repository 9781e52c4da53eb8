"""The backtest's rows (:class:`FoldResult`) and verdicts: gains of tuning over the folds, and paired comparisons of two ways to select.

Every gain is computed on the same test origins for both sides, folds in time order, symbols
averaged window by window (their folds are the same hours), with a circular block bootstrap
interval. Two comparisons have no favoured side and get a two-sided test with its MDE: pooled
against per-symbol selection (``--selection``) and the ``significant`` rule against ``best``
(``--select``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.bars import OHLCVData
from ..data.windows import Splits
from ..objectives import get_objective
from ..scoring.evaluate import EvaluationResult
from ..search.study_job import PER_SYMBOL, POOLED, SCOPES
from ..stats.paired import block_bootstrap_ci, minimum_detectable_effect, relative_to
from ..stats.trading import max_drawdown
from ._select_rule import BEST, RULES, SIGNIFICANT

__all__ = ["FoldResult", "gain_summary", "pooled_vs_per_symbol", "significant_vs_best", "summaries"]


@dataclass(frozen=True)
class FoldResult:
    """One (symbol, fold): what was selected and how it, the default and persistence did on test.

    Attributes
    ----------
    selected, default : EvaluationResult
        On the fold's test origins; ``selected.baseline_window_errors`` is the objective's benchmark (persistence).
    validation_mae : float
        The selected config's validation loss (the run's objective) on this symbol.
    scope : str
        The selection scope that chose it (``"per-symbol"`` or ``"pooled"``).
    rule : str
        The selection rule that kept it (``"best"`` or ``"significant"``).
    regret : dict or None
        Its selection regret (:func:`selection_regret`); None when no trial recorded its config.
    horizon : int
        The horizon (bars) it was selected and scored at (``--horizons``).
    """

    symbol: str
    fold: int
    splits: Splits
    data: OHLCVData
    selected_model: str
    selected_config: dict[str, Any]
    selected: EvaluationResult
    default: EvaluationResult
    validation_mae: float
    spa_p_value: float | None
    scope: str = PER_SYMBOL
    rule: str = "best"
    regret: dict[str, Any] | None = None
    horizon: int = 1

    @property
    def overlap(self) -> int:  # test windows sharing a target bar (1 for rows without splits)
        return 1 if self.splits is None else self.splits.spec.overlap

    def row(self) -> dict[str, Any]:
        """The fold's row of ``backtest.json``."""
        index = self.data.frame.index

        def block(origins: np.ndarray) -> dict[str, Any]:
            return {"first": str(index[origins[0]]), "last": str(index[origins[-1]]), "count": len(origins)}

        objective = self.selected.objective
        return {"symbol": self.symbol, "horizon": self.horizon, "fold": self.fold, "selection": self.scope,
                "select": self.rule,
                "validation_origins": block(self.splits.validation_origins),
                "test_origins": block(self.splits.test_origins),
                "selected": {"model": self.selected_model, "config": self.selected_config},
                f"validation_{objective}": self.validation_mae, "spa_p_value": self.spa_p_value,
                f"test_{objective}": {"selected": self.selected.loss, "default": self.default.loss,
                                      get_objective(objective).benchmark: self.selected.baseline_loss},
                "selection_regret": self.regret, **trading_row(self.selected, self.default)}


#: Per-fold trading metrics of a trading objective's row (:func:`trading_row`).
_PNL_KEYS = ("sharpe", "max_drawdown", "total_return", "turnover", "hit_rate")
_DIRECTION_KEYS = ("accuracy", "accuracy_ci_low", "accuracy_ci_high", "pt_p_value")


def trading_row(selected: EvaluationResult, default: EvaluationResult) -> dict[str, Any]:
    """``{"trading": ...}`` of a fold under ``pnl`` (the tuned rule's and its default's annualised Sharpe ratio after
    fees, drawdown, total return, turnover and hit rate on the fold's test origins, against flat and buy-and-hold) or
    ``direction`` (accuracy with its Wilson interval and the Pesaran-Timmermann p-value); empty otherwise."""
    records = selected.window_records
    if "pnl" in records:
        hold = records["buy_and_hold_pnl"]
        keys = _PNL_KEYS
        others = {"flat": {"sharpe": 0.0, "max_drawdown": 0.0, "total_return": 0.0},
                  "buy_and_hold": {"sharpe": selected.metrics["buy_and_hold_sharpe"],
                                   "max_drawdown": max_drawdown(hold), "total_return": float(hold.sum())}}
    elif "up_probability" in records:
        keys, others = _DIRECTION_KEYS, {}
    else:
        return {}
    return {"trading": {"selected": {k: selected.metrics.get(k) for k in keys},
                        "default": {k: default.metrics.get(k) for k in keys}, **others}}


def gain_summary(selected: np.ndarray, other: np.ndarray, fold_of: np.ndarray, alpha: float,
                 seed: int = 0, reps: int = 2000, overlap: int = 1) -> dict[str, Any]:
    """How much lower the selected config's test loss is than another's, over all folds' test windows.

    Parameters
    ----------
    selected, other : numpy.ndarray
        ``[n_windows]`` per-window losses of the objective on the same test origins, folds in
        time order (consecutive blocks, so a block bootstrap keeps their serial dependence).
    fold_of : numpy.ndarray
        ``[n_windows]`` fold index of each window.
    alpha : float
        The interval is the two-sided ``1 - 2 alpha`` circular block bootstrap one.
    seed, reps : int
        Bootstrap seed and resamples.
    overlap : int
        Test windows sharing a target bar (:attr:`sweep.data.windows.WindowSpec.overlap`): blocks at least as long.

    Returns
    -------
    dict
        ``mean`` (other minus selected, the objective's units: positive = the selected one is better), ``ci_low``,
        ``ci_high``, ``relative`` (mean over the other's mean loss), ``folds_won`` (folds where the selected
        test loss is lower) and ``n_folds``.
    """
    gain = np.asarray(other, dtype=float) - np.asarray(selected, dtype=float)
    low, high, block = block_bootstrap_ci(gain, alpha, reps=reps, seed=seed, overlap=overlap)
    folds = np.unique(fold_of)
    won = sum(int(selected[fold_of == k].mean() < other[fold_of == k].mean()) for k in folds)
    return {"mean": float(gain.mean()), "ci_low": low, "ci_high": high, "ci_level": 1 - 2 * alpha,
            "relative": relative_to(gain.mean(), np.mean(other)), "folds_won": won, "n_folds": len(folds),
            "block_length": block, "n_windows": len(gain)}


def _stacked(rows: list[FoldResult]) -> tuple[np.ndarray, ...]:
    """``(selected, default, benchmark, fold_of)`` test losses of one symbol's folds, in fold order."""
    rows = sorted(rows, key=lambda r: r.fold)
    return tuple(np.concatenate(parts) for parts in zip(*[
        (r.selected.window_errors, r.default.window_errors, r.selected.baseline_window_errors,
         np.full(r.selected.n_windows, r.fold)) for r in rows]))


def _over_symbols(per_symbol: dict[str, tuple[np.ndarray, ...]]) -> list[np.ndarray]:
    """The symbols' loss columns averaged window by window (the fold index kept): symbols share the fold
    layout, so windows line up by position and the average is one time series."""
    columns = list(zip(*per_symbol.values()))
    return [np.mean(c, axis=0) for c in columns[:-1]] + [columns[-1][0]]


def _scope_summary(results: list[FoldResult], alpha: float, seed: int) -> dict[str, Any]:
    """Gains vs the default and vs the benchmark, per symbol and over symbols (averaged window by window), and the
    mean selection regret."""
    benchmark, overlap = get_objective(results[0].selected.objective).benchmark, results[0].overlap

    def summary(selected, default, persistence, fold_of) -> dict[str, Any]:
        return {"gain_vs_default": gain_summary(selected, default, fold_of, alpha, seed, overlap=overlap),
                f"gain_vs_{benchmark}": gain_summary(selected, persistence, fold_of, alpha, seed, overlap=overlap)}

    per_symbol = {s: _stacked([r for r in results if r.symbol == s]) for s in sorted({r.symbol for r in results})}
    regrets = [r.regret["relative"] for r in results if r.regret and r.regret["relative"] is not None]
    return {**summary(*_over_symbols(per_symbol)), "per_symbol": {s: summary(*v) for s, v in per_symbol.items()},
            "mean_selection_regret_relative": float(np.mean(regrets)) if regrets else None}


def _compare(results: list[FoldResult], side: str, first: str, second: str, alpha: float, seed: int,
             reps: int) -> dict[str, Any]:
    """The paired gain of the rows whose ``side`` (``"scope"`` or ``"rule"``) is ``first`` over those where it is
    ``second``, on the same test origins: ``second``'s test loss minus ``first``'s, over symbols and per symbol."""
    def stacked(rows: list[FoldResult], value: str) -> dict[str, tuple[np.ndarray, ...]]:
        return {s: _stacked([r for r in rows if r.symbol == s and getattr(r, side) == value])
                for s in sorted({r.symbol for r in rows})}

    def compared(rows: list[FoldResult]) -> dict[str, Any]:
        a, b = _over_symbols(stacked(rows, first)), _over_symbols(stacked(rows, second))
        return _paired_gain(a[0], b[0], a[3], first, second, alpha, seed, reps, rows[0].overlap)

    symbols = sorted({r.symbol for r in results})
    return {**compared(results), "per_symbol": {s: compared([r for r in results if r.symbol == s]) for s in symbols},
            "gain": f"{second}'s test loss minus {first}'s (the objective's units; positive = {first} generalised "
                    "better)"}


def _paired_gain(first: np.ndarray, second: np.ndarray, fold_of: np.ndarray, first_name: str, second_name: str,
                 alpha: float, seed: int, reps: int, overlap: int = 1) -> dict[str, Any]:
    """Two-sided: the ``1 - alpha`` interval and the MDE of a two-sided test at ``alpha`` (``overlap``: test windows
    sharing a target bar)."""
    gain = gain_summary(first, second, fold_of, alpha / 2, seed, reps, overlap)
    mde = minimum_detectable_effect(second - first, alpha / 2, overlap=overlap)
    return {**gain, "better": first_name if gain["mean"] > 0 else second_name,
            "significant": bool(gain["ci_low"] > 0 or gain["ci_high"] < 0),
            "mde": None if np.isnan(mde) else mde,
            "mde_relative": None if np.isnan(mde) else relative_to(mde, np.mean(second))}


def pooled_vs_per_symbol(results: list[FoldResult], alpha: float, seed: int = 0, reps: int = 2000) -> dict[str, Any]:
    """The paired gain of pooled over per-symbol selection on the same test origins.

    The gain is the per-symbol selection's test loss minus the pooled one's, averaged over symbols
    window by window (positive: pooling generalised better). The question has no favoured side, so
    the interval is the two-sided ``1 - alpha`` block-bootstrap one and the MDE is that of a
    two-sided test at ``alpha``.

    Parameters
    ----------
    results : list of FoldResult
        Both scopes' rows of every (symbol, fold), under one selection rule.
    alpha : float
    seed, reps : int
        Bootstrap seed and resamples.
    overlap : int
        Test windows sharing a target bar (:attr:`sweep.data.windows.WindowSpec.overlap`): blocks at least as long.

    Returns
    -------
    dict
        :func:`gain_summary`'s keys (``folds_won``: folds where pooling had the lower test loss), plus
        ``better`` (the scope with the lower test loss), ``significant`` (the interval excludes 0),
        ``mde`` (the objective's units), ``mde_relative`` and ``per_symbol``.
    """
    return _compare(results, "scope", POOLED, PER_SYMBOL, alpha, seed, reps)


def significant_vs_best(results: list[FoldResult], alpha: float, seed: int = 0, reps: int = 2000) -> dict[str, Any]:
    """The paired gain of the ``significant`` rule over ``best`` on the same test origins, in one selection scope.

    Same statistics as :func:`pooled_vs_per_symbol`: ``best``'s test loss minus ``significant``'s, over
    symbols (window by window) and per symbol, two-sided ``1 - alpha`` interval, folds won and the MDE.
    Both rules select from the same trials, so wherever they keep the same config the differential is 0.
    """
    return _compare(results, "rule", SIGNIFICANT, BEST, alpha, seed, reps)


def _rule_summary(results: list[FoldResult], scopes: tuple[str, ...], alpha: float, seed: int) -> dict[str, Any]:
    """One rule's gains per scope and, with both scopes, pooled against per-symbol."""
    summary: dict[str, Any] = {"by_selection": {scope: _scope_summary([r for r in results if r.scope == scope],
                                                                       alpha, seed) for scope in scopes}}
    if set(scopes) == set(SCOPES):
        summary["pooled_vs_per_symbol"] = pooled_vs_per_symbol(results, alpha, seed)
    return summary


def summaries(results: list[FoldResult], scopes: tuple[str, ...], rules: tuple[str, ...], alpha: float,
              seed: int) -> dict[str, Any]:
    """The backtest's ``summary``.

    ``by_rule.<rule>`` holds each rule's :func:`_rule_summary`; the first rule's is also at the top
    (``by_selection``, ``pooled_vs_per_symbol``, and the first scope's gains), as before rules existed. With both
    rules, ``significant_vs_best.<scope>`` is :func:`significant_vs_best` in each scope.
    """
    by_rule = {rule: _rule_summary([r for r in results if r.rule == rule], scopes, alpha, seed) for rule in rules}
    first = by_rule[rules[0]]
    summary = {**first["by_selection"][scopes[0]], **first, "by_rule": by_rule,
               "gain": "other's test loss minus the selected config's (the objective's units; positive = tuning "
                       "helped)"}
    if set(rules) == set(RULES):
        summary["significant_vs_best"] = {scope: significant_vs_best([r for r in results if r.scope == scope], alpha,
                                                                     seed) for scope in scopes}
    return summary
