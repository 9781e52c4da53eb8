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
(:mod:`sweep.runs._selection`) on the same rows: a pooled study's trials hit the cache rows
the per-symbol studies of the same configs drew. With ``--select best significant`` each scope
keeps a trial under both rules (:mod:`sweep.runs._select_rule`) from the same trials. The summary
(:mod:`sweep.runs._backtest_summary`) gives each combination's gains, the paired gain of pooled over
per-symbol selection and of ``significant`` over ``best`` on the same test origins, with their intervals.

Each row also records the fold's selection regret: the selected config's test loss minus that of
the trial that was best on test among each study's best validation trials and its default
(:data:`REGRET_TRIALS_PER_STUDY`), on the fold's test origins thinned to one per validation stride
(100 a fold at the defaults: scoring every trial on every hourly test origin would cost more than the
studies). Selection never sees it; it shows how much the search leaves on the table.

The production config is not enqueued here: it was chosen on data that later
folds' pasts do not contain.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..scoring.cache import SampleCache
from ..stats.paired import relative_to
from ._candidate import Scoring, default_block, fit_ensemble
from ..data.common_calendar import aligned_splits
from ..data.bars import OHLCVData, load_ohlcv
from ..errors import ConfigError
from ..forecasters.config import ForecastConfig
from ..scoring.evaluate import EvaluationResult, evaluate
from ..search.execution import Executor, InProcessExecutor
from ..forecasters.overlap import overlaps, training_limits
from .jobs import context_ceilings, forecaster_lookup, pooled_job, scoring_ceilings, study_job
from .settings import SweepSettings, claimed_run, model_sources, run_settings_document
from ._selection import Selection, selections
from ._backtest_summary import FoldResult, gain_summary, pooled_vs_per_symbol, significant_vs_best, summaries
from ..storage.store import git_commit, utc_now, write_json_atomic
from ..search.study import Progress, StudyJob, StudyOutcome
from ..search.study_job import PER_SYMBOL, POOLED, SymbolWindows
from ..search.warm_start import default_warm_start
from ..data.windows import Splits, check_moving_closes

__all__ = ["BacktestSettings", "FoldResult", "run_backtest", "gain_summary", "pooled_vs_per_symbol",
           "significant_vs_best", "BACKTEST_FILE"]

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


def _select(settings: SweepSettings, scoring: Scoring, fold: int, selection: Selection,
            oracle: dict[str, Any] | None) -> FoldResult:
    """The selected config (or ensemble) of one fold, its family default and persistence on the fold's test origins,
    and its regret against ``oracle`` (:func:`test_oracle`)."""
    spa = selection.significance["spa"]["p_value"] if selection.significance["spa"] else None
    row = dict(symbol=scoring.data.symbol, fold=fold, splits=scoring.splits, data=scoring.data,
               spa_p_value=spa, scope=selection.scope, rule=selection.rule, horizon=scoring.horizon)
    if settings.ensemble:
        fitted = fit_ensemble(scoring, settings.ensemble, selection.members)
        _, default = default_block(scoring, fitted.strongest)
        members = {m.label: {"config": m.config.to_dict(), "weight": float(w)}
                   for m, w in zip(fitted.members, fitted.weights) if w > 0}
        return FoldResult(**row, selected_model=f"ensemble-{settings.ensemble}", selected_config={"members": members},
                          selected=fitted.test, default=default, validation_mae=fitted.validation.loss,
                          regret=selection_regret(scoring, fitted.test, oracle))
    best = selection.best
    _, default = default_block(scoring, best.model)
    test = scoring.evaluate(best.model, best.config, "test")
    return FoldResult(**row, selected_model=best.model, selected_config=best.config.to_dict(), selected=test,
                      default=default, validation_mae=best.validation[scoring.objective],
                      regret=selection_regret(scoring, test, oracle))


def _thinned_test_origins(scoring: Scoring) -> tuple[np.ndarray, int]:
    """Every ``stride // test_stride``-th test origin (one per validation stride) and that step."""
    spec = scoring.splits.spec
    step = spec.stride // spec.test_stride
    return scoring.splits.test_origins[::step], step


#: Trials per study the selection regret scores on test: the best on validation, and the family default.
REGRET_TRIALS_PER_STUDY = 5


def _regret_trials(outcome: Any) -> list[Any]:
    """The study's :data:`REGRET_TRIALS_PER_STUDY` trials with the lowest validation loss and its default trial."""
    ranked = sorted((t for t in outcome.trials if t.config is not None), key=lambda t: float(np.mean(t.losses)))
    top = ranked[:REGRET_TRIALS_PER_STUDY]
    return top + [t for t in ranked if t.source == "default" and all(t is not kept for kept in top)][:1]


def test_oracle(scoring: Scoring, selection: Selection) -> dict[str, Any] | None:
    """The trial with the lowest loss on the fold's thinned test origins, among each study's
    :data:`REGRET_TRIALS_PER_STUDY` best validation trials and its family default (a config two trials share is
    scored once). Scoring every trial would cost a second study per study; the best of this subset is the one
    selection could plausibly have found, so the regret against it is a lower bound of the regret against all.

    Returns
    -------
    dict or None
        ``loss`` (the objective's mean over those origins), ``study``, ``trial``, ``model``, ``n_configs`` and
        ``n_test_origins``; None when no trial recorded its config (studies of older runs).
    """
    origins, _ = _thinned_test_origins(scoring)
    scored: dict[tuple[str, str], tuple[float, Any]] = {}
    for outcome in selection.done:
        for trial in _regret_trials(outcome):
            key = (outcome.model, json.dumps(trial.config, sort_keys=True))
            if key in scored:
                continue
            config = ForecastConfig.from_dict(trial.config, source=f"{trial.study_name} trial {trial.trial_number}")
            result = evaluate(scoring.forecaster_of(outcome.model), config, scoring.data, origins, scoring.horizon,
                              scoring.cache, None, scoring.objective, scoring.splits.spec.layout)
            scored[key] = (result.loss, (outcome.model, trial))
    if not scored:
        return None
    loss, (model, trial) = min(scored.values(), key=lambda v: v[0])
    return {"loss": loss, "study": trial.study_name, "trial": trial.trial_number, "model": model,
            "n_configs": len(scored), "n_test_origins": len(origins),
            "trials_scored": f"each study's {REGRET_TRIALS_PER_STUDY} best validation trials and its default"}


def selection_regret(scoring: Scoring, selected: EvaluationResult, oracle: dict[str, Any] | None) -> dict[str, Any] | None:
    """The selected forecast's loss on the thinned test origins minus the oracle trial's (``regret``, the objective's
    units; ``relative`` to the oracle's loss). Negative only for an ensemble, which no single trial is."""
    if oracle is None:
        return None
    _, step = _thinned_test_origins(scoring)
    chosen = float(np.mean(selected.window_errors[::step]))
    return {"regret": chosen - oracle["loss"], "relative": relative_to(chosen - oracle["loss"], oracle["loss"]),
            "selected_loss": chosen, "best_trial_on_test": oracle,
            "test_origins": f"every {step}th test origin of the fold (one per validation stride)"}


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
        The ``backtest.json`` document: ``folds`` (one row per symbol, fold, selection scope and rule, with its
        ``selection_regret``) and ``summary`` (:func:`sweep.runs._backtest_summary.summaries`):
        ``by_rule.<rule>.by_selection.<scope>`` holds ``gain_vs_default`` and ``gain_vs_<benchmark>`` with
        ``mean``, ``ci_low``, ``ci_high``, ``folds_won`` (overall and ``per_symbol``); the first rule's are also
        at the top (``by_selection``, and the first scope's gains); with both scopes, ``pooled_vs_per_symbol``; with
        both rules, ``significant_vs_best.<scope>``.

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
        for horizon in settings.sweep.run_horizons:
            check_moving_closes(data, *(fold.at_horizon(horizon) for fold in folds[symbol]))
    overlapping = _check_overlap(settings, datasets, folds)
    with claimed_run(sweep, datasets, settings.folds):
        return _backtest(settings, datasets, folds, overlapping, executor, progress)


def _fold_results(sweep: SweepSettings, k: int, horizon: int, datasets: dict[str, OHLCVData],
                  folds: dict[str, list[Splits]], ran: list[tuple[StudyJob, Any]], cache: SampleCache,
                  forecaster_of: Any, ceilings: dict[str, int]) -> list[FoldResult]:
    """Fold ``k``'s rows at ``horizon``: each scope and rule's selection from the fold's trials, seen at that
    horizon, scored on the fold's test origins."""
    fold = [(j, o.for_horizon(horizon) if isinstance(o, StudyOutcome) else o) for j, o in ran
            if j.namespace == _fold_namespace(sweep, k)]
    scorings = {s: Scoring(datasets[s], folds[s][k].at_horizon(horizon), cache, forecaster_of, ceilings, sweep.alpha,
                           sweep.seed, sweep.objective, sweep.fixed_decision) for s in sweep.symbols}
    results = []
    for scope in sweep.selection:
        oracles: dict[str, dict[str, Any] | None] = {}
        for rule in sweep.select:
            chosen = selections(scope, scorings, [j for j, _ in fold], [o for _, o in fold], rule, sweep.select_alpha)
            for symbol in sweep.symbols:
                if symbol not in chosen:
                    raise ConfigError(f"{symbol} fold {k} ({scope} selection): no study has a completed trial "
                                      "(errors above)")
                if symbol not in oracles:  # both rules choose from the same trials: one oracle
                    oracles[symbol] = test_oracle(scorings[symbol], chosen[symbol])
                results.append(_select(sweep, scorings[symbol], k, chosen[symbol], oracles[symbol]))
    return results


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
    results = [result for k in range(settings.folds) for horizon in sweep.run_horizons
               for result in _fold_results(sweep, k, horizon, datasets, folds, list(zip(jobs, outcomes)), cache,
                                           forecaster_of, scoring_ceilings(sweep, ceilings))]
    document = {"run_id": sweep.run_id, "objective": sweep.objective, "n_folds": settings.folds,
                "symbols": list(sweep.symbols),
                "selection": list(sweep.selection), "select": list(sweep.select), "select_alpha": sweep.select_alpha,
                "models": list(sweep.labels), "n_trials": sweep.n_trials, "ensemble": sweep.ensemble,
                "windows": {**sweep.windows.__dict__, "purge_gap_bars": sweep.windows.purge_gap},
                "overlap": overlapping, "folds": [r.row() for r in results],
                "summary": summaries([r for r in results if r.horizon == sweep.run_horizons[0]], sweep.selection,
                                     sweep.select, sweep.alpha, sweep.seed),
                **({"summary_by_horizon": {str(h): summaries([r for r in results if r.horizon == h], sweep.selection,
                                                             sweep.select, sweep.alpha, sweep.seed)
                                           for h in sweep.run_horizons}} if sweep.horizons else {}),
                "inference": {"scoring_cache": {"hits": cache.hits, "misses": cache.misses,
                                                "drawn_origins": cache.drawn_origins}},
                "provenance": {"sweep_version": __version__, "git_commit": git_commit(),
                               "data": {s: {"path": str(d.path), "fingerprint": d.fingerprint} for s, d in
                                        datasets.items()}, "seed": sweep.seed, "created_at": utc_now()}}
    write_json_atomic(Path(sweep.run_dir) / BACKTEST_FILE, document)
    return document
