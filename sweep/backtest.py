"""Walk-forward backtest of the tuning procedure itself: does tuning beat the default and persistence?

``python -m sweep backtest --folds K`` repeats the whole selection (every study,
warm-started with the family default, selection on validation, the ensemble if
asked) on each of K walk-forward folds (:func:`sweep.windows.walk_forward_splits`),
using only that fold's validation origins. The selected config, its family's
default and persistence are then scored on the fold's test origins, which no
selection of that fold saw. The gains over the folds say whether tuning helps
at all on this data, with the search accounted for.

Inference is shared across folds: every (model, context, sampling, seed) a study
tries is drawn once over the union of all folds' validation origins
(``StudyJob.origin_universe``), and the selected and default configs once over
the union of all folds' test origins; each fold slices its rows from the sample
cache. A config that several folds try (every Toto context, every Kronos
encoding) is inferred once for all of them.

The production config is not enqueued here: it was chosen on data that later
folds' pasts do not contain.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .cache import SampleCache
from .candidate import Scoring, default_block, fit_ensemble, symbol_significance
from .data import OHLCVData, load_ohlcv
from .errors import ConfigError
from .evaluate import EvaluationResult
from .execution import Executor, InProcessExecutor
from .overlap import overlaps, training_limits
from .run import forecaster_lookup, study_job
from .settings import SweepSettings, claimed_run, model_sources, run_settings_document
from .stats import block_bootstrap_ci
from .store import git_commit, utc_now, write_json_atomic
from .study import Progress, StudyOutcome
from .warm_start import default_warm_start
from .windows import Splits, origin_universe, walk_forward_splits

__all__ = ["BacktestSettings", "FoldResult", "run_backtest", "gain_summary", "BACKTEST_FILE"]

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
        On the fold's test origins; ``selected.baseline_window_errors`` is persistence.
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

    def row(self) -> dict[str, Any]:
        """The fold's row of ``backtest.json``."""
        index = self.data.frame.index

        def block(origins: np.ndarray) -> dict[str, Any]:
            return {"first": str(index[origins[0]]), "last": str(index[origins[-1]]), "count": len(origins)}

        return {"symbol": self.symbol, "fold": self.fold,
                "validation_origins": block(self.splits.validation_origins),
                "test_origins": block(self.splits.test_origins),
                "selected": {"model": self.selected_model, "config": self.selected_config},
                "validation_pct_return_mae": self.validation_mae, "spa_p_value": self.spa_p_value,
                "test_pct_return_mae": {"selected": self.selected.metrics["pct_return_mae"],
                                        "default": self.default.metrics["pct_return_mae"],
                                        "persistence": self.selected.baseline["pct_return_mae"]}}


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
                if seen["pretraining"]:
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


def _select(settings: SweepSettings, scoring: Scoring, fold: int, done: list[StudyOutcome]) -> FoldResult:
    """The sweep's selection on one fold's validation origins, then all three on its test origins."""
    significance = symbol_significance(scoring, done)
    spa = significance["spa"]["p_value"] if significance["spa"] else None
    if settings.ensemble:
        fitted = fit_ensemble(scoring, settings.ensemble, done)
        _, default = default_block(scoring, fitted.strongest)
        members = {m.label: {"config": m.config.to_dict(), "weight": float(w)}
                   for m, w in zip(fitted.members, fitted.weights) if w > 0}
        return FoldResult(scoring.data.symbol, fold, scoring.splits, scoring.data, f"ensemble-{settings.ensemble}",
                          {"members": members}, fitted.test, default, fitted.validation.metrics["pct_return_mae"], spa)
    best = min(done, key=lambda o: o.validation["pct_return_mae"])
    selected = scoring.evaluate(best.model, best.config, "test")
    _, default = default_block(scoring, best.model)
    return FoldResult(scoring.data.symbol, fold, scoring.splits, scoring.data, best.model, best.config.to_dict(),
                      selected, default, best.validation["pct_return_mae"], spa)


def gain_summary(selected: np.ndarray, other: np.ndarray, fold_of: np.ndarray, alpha: float,
                 seed: int = 0) -> dict[str, Any]:
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

    Returns
    -------
    dict
        ``mean`` (other minus selected, return units: positive = tuning helped), ``ci_low``,
        ``ci_high``, ``relative`` (mean over the other's MAE), ``folds_won`` (folds where the
        selected test MAE is lower) and ``n_folds``.
    """
    gain = np.asarray(other, dtype=float) - np.asarray(selected, dtype=float)
    low, high, block = block_bootstrap_ci(gain, alpha, seed=seed)
    folds = np.unique(fold_of)
    won = sum(int(selected[fold_of == k].mean() < other[fold_of == k].mean()) for k in folds)
    return {"mean": float(gain.mean()), "ci_low": low, "ci_high": high, "ci_level": 1 - 2 * alpha,
            "relative": float(gain.mean() / np.mean(other)), "folds_won": won, "n_folds": len(folds),
            "block_length": block, "n_windows": len(gain)}


def _summaries(results: list[FoldResult], alpha: float, seed: int) -> dict[str, Any]:
    """Gains vs the default and vs persistence, per symbol and over symbols (averaged window by window)."""
    def stacked(rows: list[FoldResult]) -> tuple[np.ndarray, ...]:
        rows = sorted(rows, key=lambda r: r.fold)
        return tuple(np.concatenate(parts) for parts in zip(*[
            (r.selected.window_errors, r.default.window_errors, r.selected.baseline_window_errors,
             np.full(r.selected.n_windows, r.fold)) for r in rows]))

    def summary(selected, default, persistence, fold_of) -> dict[str, Any]:
        return {"gain_vs_default": gain_summary(selected, default, fold_of, alpha, seed),
                "gain_vs_persistence": gain_summary(selected, persistence, fold_of, alpha, seed)}

    symbols = sorted({r.symbol for r in results})
    per_symbol = {s: stacked([r for r in results if r.symbol == s]) for s in symbols}
    # symbols share the fold layout, so windows line up by position; averaging them keeps one time series
    pooled = [np.mean([per_symbol[s][i] for s in symbols], axis=0) for i in range(3)] + [per_symbol[symbols[0]][3]]
    return {**summary(*pooled), "per_symbol": {s: summary(*per_symbol[s]) for s in symbols},
            "gain": "other's test MAE minus the selected config's (return units; positive = tuning helped)"}


def run_backtest(settings: BacktestSettings, executor: Executor | None = None,
                 progress: Progress | None = None) -> dict[str, Any]:
    """Run the walk-forward backtest and write ``<runs_dir>/<run_id>/backtest.json``.

    Returns
    -------
    dict
        The ``backtest.json`` document: ``folds`` (one row per symbol and fold) and ``summary``
        (``gain_vs_default`` and ``gain_vs_persistence`` with ``mean``, ``ci_low``, ``ci_high``,
        ``folds_won``; overall and ``per_symbol``).

    Raises
    ------
    DataValidationError
        If a series is too short for the folds.
    ConfigError
        On invalid settings, or folds that overlap a model's (pre)training data without ``allow_overlap``.
    ModelLoadError
        If a model cannot be loaded.
    """
    sweep = settings.sweep
    datasets = {s: load_ohlcv(sweep.data_dir, s, sweep.freq, sweep.gap_policy) for s in sweep.symbols}
    folds = {s: walk_forward_splits(d.n_bars, sweep.windows, settings.folds, source=str(d.path))
             for s, d in datasets.items()}
    overlapping = _check_overlap(settings, datasets, folds)
    with claimed_run(sweep, datasets, settings.folds):
        return _backtest(settings, datasets, folds, overlapping, executor, progress)


def _backtest(settings: BacktestSettings, datasets: dict[str, OHLCVData], folds: dict[str, list[Splits]],
              overlapping: list[str], executor: Executor | None, progress: Progress | None) -> dict[str, Any]:
    sweep = settings.sweep
    universes = {s: {split: origin_universe(f, split) for split in ("validation", "test")} for s, f in folds.items()}
    recorded = run_settings_document(sweep, datasets, settings.folds)  # on every study, like the sweep's
    jobs = [study_job(sweep, datasets[s], folds[s][k], label, namespace=_fold_namespace(sweep, k),
                      warm_start=(default_warm_start(sweep, label),), origin_universe=universes[s]["validation"],
                      run_settings=recorded)
            for k in range(settings.folds) for s in sweep.symbols for label in sweep.labels]
    outcomes = (executor or InProcessExecutor()).run(jobs, progress)
    forecaster_of = forecaster_lookup(sweep, outcomes)
    cache = SampleCache(sweep.run_dir / "cache", enabled=sweep.use_cache)
    results = []
    for k in range(settings.folds):
        for symbol in sweep.symbols:
            done = [o for o, j in zip(outcomes, jobs)
                    if j.symbol == symbol and j.namespace == _fold_namespace(sweep, k) and isinstance(o, StudyOutcome)]
            if not done:
                raise ConfigError(f"{symbol} fold {k}: no study has a completed trial (errors above)")
            scoring = Scoring(datasets[symbol], folds[symbol][k], cache, forecaster_of, sweep.alpha, sweep.seed,
                              universes[symbol])
            results.append(_select(sweep, scoring, k, done))
    document = {"run_id": sweep.run_id, "n_folds": settings.folds, "symbols": list(sweep.symbols),
                "models": list(sweep.labels), "n_trials": sweep.n_trials, "ensemble": sweep.ensemble,
                "windows": {**sweep.windows.__dict__, "purge_gap_bars": sweep.windows.purge_gap},
                "overlap": overlapping, "folds": [r.row() for r in results],
                "summary": _summaries(results, sweep.alpha, sweep.seed),
                "inference": {"shared_origins": {s: {split: len(o) for split, o in u.items()}
                                                 for s, u in universes.items()},
                              "scoring_cache": {"hits": cache.hits, "misses": cache.misses}},
                "provenance": {"sweep_version": __version__, "git_commit": git_commit(),
                               "data": {s: {"path": str(d.path), "fingerprint": d.fingerprint} for s, d in
                                        datasets.items()}, "seed": sweep.seed, "created_at": utc_now()}}
    write_json_atomic(Path(sweep.run_dir) / BACKTEST_FILE, document)
    return document
