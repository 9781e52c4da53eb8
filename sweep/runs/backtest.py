"""Walk-forward backtest of the tuning procedure itself: does tuning beat the default and persistence?

``python -m sweep backtest --folds K`` repeats the whole selection (every study,
warm-started with the family default, selection on validation, the ensemble if
asked) on each of K walk-forward folds (:func:`sweep.data.windows.walk_forward_splits`),
using only that fold's validation origins. The selected config, its family's
default and persistence are then scored on the fold's test origins, which no
selection of that fold saw. The gains over the folds say whether tuning helps
at all on this data, with the search accounted for.

Inference is shared, never wider than a fold needs: the sample cache keeps one row per
forecast origin (:mod:`sweep.scoring.cache`), so a config that a fold tries is drawn on that
fold's origins only, and an origin that two requests share (one fold's test origins are
a later fold's validation origins) is drawn once.

With ``--selection per-symbol pooled`` each fold runs both selection scopes
(:mod:`sweep.selection`) on the same rows: a pooled study's trials hit the cache rows
the per-symbol studies of the same configs drew. The summary then
gives each scope's gains and the paired gain of pooled over per-symbol selection on
the same test origins: which scope generalised better, with its interval.

The production config is not enqueued here: it was chosen on data that later
folds' pasts do not contain.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..scoring.cache import SampleCache
from ._candidate import Scoring, default_block, fit_ensemble
from ..data.common_calendar import aligned_splits
from ..data.bars import OHLCVData, load_ohlcv
from ..errors import ConfigError
from ..scoring.evaluate import EvaluationResult
from ..search.execution import Executor, InProcessExecutor
from ..forecasters.overlap import overlaps, training_limits
from ..objectives import get_objective
from .jobs import context_ceilings, forecaster_lookup, pooled_job, scoring_ceilings, study_job
from .settings import SweepSettings, claimed_run, model_sources, run_settings_document
from ._selection import Selection, selections
from ..stats.paired import block_bootstrap_ci, minimum_detectable_effect
from ..storage.store import git_commit, utc_now, write_json_atomic
from ..search.study import Progress, StudyJob
from ..search.study_job import PER_SYMBOL, POOLED, SCOPES, SymbolWindows
from ..search.warm_start import default_warm_start
from ..data.windows import Splits, check_moving_closes

__all__ = ["BacktestSettings", "FoldResult", "run_backtest", "gain_summary", "pooled_vs_per_symbol", "BACKTEST_FILE"]

logger = logging.getLogger(__name__)

BACKTEST_FILE = "backtest.json"


@dataclass(frozen=True)
class BacktestSettings:
    """``python -m sweep backtest``: the sweep's settings, the fold count and the overlap policy.

    Attributes
    ----------
    sweep : SweepSettings
        Every sweep flag; each fold runs the sweep's selection under them.
    folds : int
        Walk-forward folds; the last is today's split.
    allow_overlap : bool
        Run folds whose windows a model has seen in (pre)training (flagged, not refused).

    Raises
    ------
    ConfigError
        On fewer than 1 fold, or with ``--finetune`` (each fold would need its own fine-tuning).
    """

    sweep: SweepSettings
    folds: int = 3
    allow_overlap: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.folds, int) or self.folds < 1:
            raise ConfigError(f"--folds must be a positive integer, got {self.folds!r}")
        if self.sweep.finetune:
            raise ConfigError("backtest does not fine-tune per fold; train a checkpoint with `python -m tototraining "
                              f"--folds {self.folds} ...` and pass it as --toto-model")


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

    def row(self) -> dict[str, Any]:
        """The fold's row of ``backtest.json``."""
        index = self.data.frame.index

        def block(origins: np.ndarray) -> dict[str, Any]:
            return {"first": str(index[origins[0]]), "last": str(index[origins[-1]]), "count": len(origins)}

        objective = self.selected.objective
        return {"symbol": self.symbol, "fold": self.fold, "selection": self.scope,
                "validation_origins": block(self.splits.validation_origins),
                "test_origins": block(self.splits.test_origins),
                "selected": {"model": self.selected_model, "config": self.selected_config},
                f"validation_{objective}": self.validation_mae, "spa_p_value": self.spa_p_value,
                f"test_{objective}": {"selected": self.selected.loss, "default": self.default.loss,
                                      get_objective(objective).benchmark: self.selected.baseline_loss}}


def _check_overlap(settings: BacktestSettings, datasets: dict[str, OHLCVData],
                   folds: dict[str, list[Splits]]) -> list[str]:
    """Every (model, fold) whose first validation window a model has seen; raises unless allowed.

    Raises
    ------
    ConfigError
        If a fold overlaps and ``allow_overlap`` is off (naming the model, the date and the flag).
    """
    problems = []
    for label, source in model_sources(settings.sweep).items():
        limits = training_limits(source)
        for symbol, splits in folds.items():
            for k, split in enumerate(splits):
                start = str(datasets[symbol].frame.index[split.first_validation_origin])
                seen = overlaps(start, limits)
                if seen["pretraining"] is True:
                    problems.append(f"{label} ({source}) was pretrained on data up to {limits['pretraining_cutoff']}, "
                                    f"after {symbol} fold {k}'s first validation window ({start})")
                if seen["training"]:
                    problems.append(f"{label} ({source}) was trained on bars up to {limits['trained_until']}, "
                                    f"after {symbol} fold {k}'s first validation window ({start})")
    if problems and not settings.allow_overlap:
        raise ConfigError("backtest folds overlap what a model has seen, so their scores would not be out of "
                          f"sample: {'; '.join(problems[:4])}{' ...' if len(problems) > 4 else ''}. Train the "
                          f"checkpoint with --folds {settings.folds} (it then stops before the oldest fold), use "
                          "later data, or pass --allow-overlap to run and flag them")
    for problem in problems:
        logger.warning("overlap: %s", problem)
    return problems


def _fold_namespace(settings: SweepSettings, fold: int) -> str:
    return f"{settings.run_id}/fold{fold}" if settings.storage else f"fold{fold}"


def _select(settings: SweepSettings, scoring: Scoring, fold: int, selection: Selection) -> FoldResult:
    """The selected config (or ensemble) of one fold, its family default and persistence on the fold's test origins."""
    spa = selection.significance["spa"]["p_value"] if selection.significance["spa"] else None
    row = dict(symbol=scoring.data.symbol, fold=fold, splits=scoring.splits, data=scoring.data,
               spa_p_value=spa, scope=selection.scope)
    if settings.ensemble:
        fitted = fit_ensemble(scoring, settings.ensemble, selection.done)
        _, default = default_block(scoring, fitted.strongest)
        members = {m.label: {"config": m.config.to_dict(), "weight": float(w)}
                   for m, w in zip(fitted.members, fitted.weights) if w > 0}
        return FoldResult(**row, selected_model=f"ensemble-{settings.ensemble}", selected_config={"members": members},
                          selected=fitted.test, default=default,
                          validation_mae=fitted.validation.loss)
    best = selection.best
    _, default = default_block(scoring, best.model)
    return FoldResult(**row, selected_model=best.model, selected_config=best.config.to_dict(),
                      selected=scoring.evaluate(best.model, best.config, "test"), default=default,
                      validation_mae=best.validation[scoring.objective])


def gain_summary(selected: np.ndarray, other: np.ndarray, fold_of: np.ndarray, alpha: float,
                 seed: int = 0, reps: int = 2000) -> dict[str, Any]:
    """How much lower the selected config's test loss is than another's, over all folds' test windows.

    Parameters
    ----------
    selected, other : numpy.ndarray
        ``[n_windows]`` per-window absolute pct-return errors on the same test origins, folds in
        time order (consecutive blocks, so a block bootstrap keeps their serial dependence).
    fold_of : numpy.ndarray
        ``[n_windows]`` fold index of each window.
    alpha : float
        The interval is the two-sided ``1 - 2 alpha`` circular block bootstrap one.
    seed, reps : int
        Bootstrap seed and resamples.

    Returns
    -------
    dict
        ``mean`` (other minus selected, return units: positive = tuning helped), ``ci_low``,
        ``ci_high``, ``relative`` (mean over the other's MAE), ``folds_won`` (folds where the
        selected test MAE is lower) and ``n_folds``.
    """
    gain = np.asarray(other, dtype=float) - np.asarray(selected, dtype=float)
    low, high, block = block_bootstrap_ci(gain, alpha, reps=reps, seed=seed)
    folds = np.unique(fold_of)
    won = sum(int(selected[fold_of == k].mean() < other[fold_of == k].mean()) for k in folds)
    return {"mean": float(gain.mean()), "ci_low": low, "ci_high": high, "ci_level": 1 - 2 * alpha,
            "relative": float(gain.mean() / np.mean(other)), "folds_won": won, "n_folds": len(folds),
            "block_length": block, "n_windows": len(gain)}


def _stacked(rows: list[FoldResult]) -> tuple[np.ndarray, ...]:
    """``(selected, default, persistence, fold_of)`` test losses of one symbol's folds, in fold order."""
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
    """Gains vs the default and vs persistence, per symbol and over symbols (averaged window by window)."""
    benchmark = get_objective(results[0].selected.objective).benchmark

    def summary(selected, default, persistence, fold_of) -> dict[str, Any]:
        return {"gain_vs_default": gain_summary(selected, default, fold_of, alpha, seed),
                f"gain_vs_{benchmark}": gain_summary(selected, persistence, fold_of, alpha, seed)}

    per_symbol = {s: _stacked([r for r in results if r.symbol == s]) for s in sorted({r.symbol for r in results})}
    return {**summary(*_over_symbols(per_symbol)), "per_symbol": {s: summary(*v) for s, v in per_symbol.items()}}


def pooled_vs_per_symbol(results: list[FoldResult], alpha: float, seed: int = 0, reps: int = 2000) -> dict[str, Any]:
    """The paired gain of pooled over per-symbol selection on the same test origins.

    The gain is the per-symbol selection's test loss minus the pooled one's, averaged over symbols
    window by window (positive: pooling generalised better). The question has no favoured side, so
    the interval is the two-sided ``1 - alpha`` block-bootstrap one and the MDE is that of a
    two-sided test at ``alpha``.

    Parameters
    ----------
    results : list of FoldResult
        Both scopes' rows of every (symbol, fold).
    alpha : float
    seed, reps : int
        Bootstrap seed and resamples.

    Returns
    -------
    dict
        :func:`gain_summary`'s keys (``folds_won``: folds where pooling had the lower test MAE), plus
        ``better`` (the scope with the lower test loss), ``significant`` (the interval excludes 0),
        ``mde`` (return units), ``mde_relative`` and ``per_symbol``.
    """
    def compared(rows: list[FoldResult]) -> dict[str, Any]:
        scopes = {scope: _stacked([r for r in rows if r.scope == scope]) for scope in SCOPES}
        return _scope_gain(scopes[POOLED][0], scopes[PER_SYMBOL][0], scopes[POOLED][3], alpha, seed, reps)

    symbols = sorted({r.symbol for r in results})
    stacked = {scope: _over_symbols({s: _stacked([r for r in results if r.symbol == s and r.scope == scope])
                                     for s in symbols}) for scope in SCOPES}
    overall = _scope_gain(stacked[POOLED][0], stacked[PER_SYMBOL][0], stacked[POOLED][3], alpha, seed, reps)
    return {**overall, "per_symbol": {s: compared([r for r in results if r.symbol == s]) for s in symbols},
            "gain": "per-symbol selection's test MAE minus pooled selection's (return units; positive = pooled "
                    "generalised better)"}


def _scope_gain(pooled: np.ndarray, per_symbol: np.ndarray, fold_of: np.ndarray, alpha: float,
                seed: int, reps: int) -> dict[str, Any]:
    gain = gain_summary(pooled, per_symbol, fold_of, alpha / 2, seed, reps)
    mde = minimum_detectable_effect(per_symbol - pooled, alpha / 2)
    return {**gain, "better": POOLED if gain["mean"] > 0 else PER_SYMBOL,
            "significant": bool(gain["ci_low"] > 0 or gain["ci_high"] < 0),
            "mde": None if np.isnan(mde) else mde, "mde_relative": None if np.isnan(mde) else mde / np.mean(per_symbol)}


def _summaries(results: list[FoldResult], scopes: tuple[str, ...], alpha: float, seed: int) -> dict[str, Any]:
    """Each scope's gains (``by_selection``; the first scope's also at the top, as before scopes existed) and,
    with both scopes, :func:`pooled_vs_per_symbol`."""
    by_selection = {scope: _scope_summary([r for r in results if r.scope == scope], alpha, seed) for scope in scopes}
    summary = {**by_selection[scopes[0]], "by_selection": by_selection,
               "gain": "other's test MAE minus the selected config's (return units; positive = tuning helped)"}
    if set(scopes) == set(SCOPES):
        summary["pooled_vs_per_symbol"] = pooled_vs_per_symbol(results, alpha, seed)
    return summary


def _fold_jobs(sweep: SweepSettings, datasets: dict[str, OHLCVData], folds: dict[str, list[Splits]], k: int,
               recorded: dict[str, Any], ceilings: dict[str, int]) -> list[StudyJob]:
    """Fold ``k``'s studies in every selection scope, warm-started with the family default only."""
    common = dict(namespace=_fold_namespace(sweep, k), run_settings=recorded)
    starts = {label: (default_warm_start(sweep, label, ceiling),) for label, ceiling in ceilings.items()}
    jobs = []
    if PER_SYMBOL in sweep.selection:
        jobs += [study_job(sweep, datasets[s], folds[s][k], label, ceiling, warm_start=starts[label], **common)
                 for s in sweep.symbols for label, ceiling in ceilings.items()]
    if POOLED in sweep.selection:
        pool = tuple(SymbolWindows(s, datasets[s], folds[s][k]) for s in sweep.symbols)
        jobs += [pooled_job(sweep, pool, label, ceiling, warm_start=starts[label], **common)
                 for label, ceiling in ceilings.items()]
    return jobs


def run_backtest(settings: BacktestSettings, executor: Executor | None = None,
                 progress: Progress | None = None) -> dict[str, Any]:
    """Run the walk-forward backtest and write ``<runs_dir>/<run_id>/backtest.json``.

    Returns
    -------
    dict
        The ``backtest.json`` document: ``folds`` (one row per symbol, fold and selection scope) and
        ``summary``: ``by_selection.<scope>`` holds ``gain_vs_default`` and ``gain_vs_persistence`` with
        ``mean``, ``ci_low``, ``ci_high``, ``folds_won`` (overall and ``per_symbol``); the first scope's
        are also at the top of ``summary``; with both scopes, ``pooled_vs_per_symbol``
        (:func:`pooled_vs_per_symbol`).

    Raises
    ------
    DataValidationError
        If a series is too short for the folds, or its close never moves over a fold's scored windows
        (:func:`sweep.windows.check_moving_closes`).
    ConfigError
        On invalid settings, or folds that overlap a model's (pre)training data without ``allow_overlap``.
    ModelLoadError
        If a model cannot be loaded.
    """
    sweep = settings.sweep
    datasets = {s: load_ohlcv(sweep.data_dir, s, sweep.freq, sweep.gap_policy) for s in sweep.symbols}
    # the verdict averages symbols window by window, in either scope: their folds are the same hours
    folds = aligned_splits(datasets, sweep.windows, settings.folds,
                           fix="drop it from --symbols (or backtest it on its own)")
    for symbol, data in datasets.items():
        check_moving_closes(data, *folds[symbol])
    overlapping = _check_overlap(settings, datasets, folds)
    with claimed_run(sweep, datasets, settings.folds):
        return _backtest(settings, datasets, folds, overlapping, executor, progress)


def _backtest(settings: BacktestSettings, datasets: dict[str, OHLCVData], folds: dict[str, list[Splits]],
              overlapping: list[str], executor: Executor | None, progress: Progress | None) -> dict[str, Any]:
    sweep = settings.sweep
    recorded = run_settings_document(sweep, datasets, settings.folds)  # on every study, like the sweep's
    ceilings = context_ceilings(sweep)
    jobs = [job for k in range(settings.folds)
            for job in _fold_jobs(sweep, datasets, folds, k, recorded, ceilings)]
    outcomes = (executor or InProcessExecutor()).run(jobs, progress)
    forecaster_of = forecaster_lookup(sweep, outcomes)
    cache = SampleCache(sweep.cache_folder, enabled=sweep.use_cache)
    results = []
    for k in range(settings.folds):
        fold = [(j, o) for j, o in zip(jobs, outcomes) if j.namespace == _fold_namespace(sweep, k)]
        scorings = {s: Scoring(datasets[s], folds[s][k], cache, forecaster_of, scoring_ceilings(sweep, ceilings),
                               sweep.alpha, sweep.seed,
                               sweep.objective)
                    for s in sweep.symbols}
        for scope in sweep.selection:
            chosen = selections(scope, scorings, [j for j, _ in fold], [o for _, o in fold])
            for symbol in sweep.symbols:
                if symbol not in chosen:
                    raise ConfigError(f"{symbol} fold {k} ({scope} selection): no study has a completed trial "
                                      "(errors above)")
                results.append(_select(sweep, scorings[symbol], k, chosen[symbol]))
    document = {"run_id": sweep.run_id, "objective": sweep.objective, "n_folds": settings.folds,
                "symbols": list(sweep.symbols),
                "selection": list(sweep.selection),
                "models": list(sweep.labels), "n_trials": sweep.n_trials, "ensemble": sweep.ensemble,
                "windows": {**sweep.windows.__dict__, "purge_gap_bars": sweep.windows.purge_gap},
                "overlap": overlapping, "folds": [r.row() for r in results],
                "summary": _summaries(results, sweep.selection, sweep.alpha, sweep.seed),
                "inference": {"scoring_cache": {"hits": cache.hits, "misses": cache.misses,
                                                "drawn_origins": cache.drawn_origins}},
                "provenance": {"sweep_version": __version__, "git_commit": git_commit(),
                               "data": {s: {"path": str(d.path), "fingerprint": d.fingerprint} for s, d in
                                        datasets.items()}, "seed": sweep.seed, "created_at": utc_now()}}
    write_json_atomic(Path(sweep.run_dir) / BACKTEST_FILE, document)
    return document
