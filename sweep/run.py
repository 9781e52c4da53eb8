"""A whole sweep: data -> studies -> selection on validation -> test report -> candidate files."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from ._version import __version__
from .cache import SampleCache
from .candidate import (Scoring, candidate_document, ensemble_document, fit_ensemble, persistence_power,
                        window_losses_csv, window_losses_path)
from .data import OHLCVData, load_ohlcv
from .errors import ConfigError, TrialError
from .evaluate import EvaluationResult
from .execution import Executor, InProcessExecutor
from .finetune import finetune_checkpoints
from .model_paths import portable_document
from .forecasters.registry import FAMILIES, family_of
from .forecasters.base import Forecaster
from .overlap import warn_overlaps
from .settings import SweepSettings, check_run_settings, checkpoint_sources, claimed_run, model_sources, run_settings_document
from .selection import Selection, select_per_symbol, select_pooled
from .study import Progress, StudyJob, StudyOutcome
from .study_job import POOLED, SymbolWindows
from .warm_start import pooled_warm_starts, warm_starts
from .store import candidate_path, ensemble_candidate_path, git_commit, utc_now, write_json_atomic, write_text_atomic
from .windows import Splits, make_splits

__all__ = ["SymbolResult", "run_sweep", "make_forecaster", "forecaster_lookup", "provenance", "selection_settings",
           "study_job", "pooled_job", "selections"]

logger = logging.getLogger(__name__)

@dataclass
class SymbolResult:
    """The selected candidate of one symbol.

    Attributes
    ----------
    outcome : StudyOutcome
        Best trial of the model selected on validation pct_return_mae.
    test : EvaluationResult
        That config on the test origins (never used for selection).
    path : Path
        The candidate JSON written.
    outcomes : list
        Every study's outcome (or error) for this symbol.
    ensemble : dict or None
        The ensemble candidate document, when ``settings.ensemble`` is set.
    """

    symbol: str
    outcome: StudyOutcome
    test: EvaluationResult
    path: Path
    document: dict[str, Any]
    outcomes: list[StudyOutcome | TrialError]
    ensemble: dict[str, Any] | None = None


def make_forecaster(label: str, settings: SweepSettings) -> Forecaster:
    """Load the model ``label`` names: a family, or a fine-tuned variant in ``settings.variants``.

    Raises
    ------
    ModelLoadError
        If the model cannot be loaded.
    """
    family = FAMILIES[family_of(label)]
    if label == "kronos":
        return family.load(settings.kronos_model, tokenizer=settings.kronos_tokenizer)
    return family.load(checkpoint_sources(settings).get(label))


def forecaster_lookup(settings: SweepSettings, outcomes: list[StudyOutcome | TrialError]) -> Callable[[str], Forecaster]:
    """Loaded model of a study label: the one a study already loaded in this process, else loaded once now
    (executors on other processes return no loaded model)."""
    loaded = {o.model: o.forecaster for o in outcomes if isinstance(o, StudyOutcome) and o.forecaster}

    def forecaster_of(label: str) -> Forecaster:
        if label not in loaded:
            loaded[label] = make_forecaster(label, settings)
        return loaded[label]

    return forecaster_of


def provenance(settings: SweepSettings, data: OHLCVData) -> dict[str, Any]:
    """The ``provenance`` block of a candidate of ``data`` under ``settings``.

    It records the bar ``freq`` and ``gap_policy`` the data was read with: ``predict`` and ``evaluate --config``
    read bars the same way and refuse other values (:func:`sweep.tuned_data.tuned_data_settings`).

    Parameters
    ----------
    settings : SweepSettings
    data : OHLCVData

    Returns
    -------
    dict
    """
    return {
        "sweep_version": __version__,
        "git_commit": git_commit(),
        "data_path": str(data.path),
        "data_fingerprint": data.fingerprint,
        "data_range": data.date_range(),
        "data_rows": data.n_bars,
        "freq": settings.freq,
        "gap_policy": settings.gap_policy,
        "run_id": settings.run_id,
        "storage": settings.storage_url() if settings.storage is None else "<external>",
        "seed": settings.seed,
        "created_at": utc_now(),
    }


def selection_settings(settings: SweepSettings) -> dict[str, Any]:
    return {"objectives": list(settings.objectives), "latency_budget_s": settings.latency_budget_s,
            "promotion_candidate": settings.promote_candidate}


def study_job(settings: SweepSettings, data: OHLCVData, splits: Splits, label: str, **overrides: Any) -> StudyJob:
    """The study of model ``label`` on ``data`` under ``settings``; ``overrides`` replace job fields
    (a backtest fold's namespace, warm start and origin universe; a pooled study's symbol and pool)."""
    fields = dict(symbol=data.symbol, model=label, family=family_of(label), data=data, splits=splits,
                  make_forecaster=lambda: make_forecaster(label, settings), n_trials=settings.n_trials,
                  storage=settings.storage_url(), seed=settings.seed, cache_dir=str(settings.run_dir / "cache"),
                  use_cache=settings.use_cache, timeout_s=settings.timeout_s, objectives=settings.objectives,
                  latency_budget_s=settings.latency_budget_s, namespace=settings.study_namespace)
    return StudyJob(**{**fields, **overrides})


def pooled_job(settings: SweepSettings, pool: tuple[SymbolWindows, ...], label: str, **overrides: Any) -> StudyJob:
    """The pooled study of model ``label`` over every symbol of ``pool`` (named ``pooled.<label>``)."""
    return study_job(settings, pool[0].data, pool[0].splits, label, symbol=POOLED, pool=pool, **overrides)


def _jobs(settings: SweepSettings, datasets: dict[str, OHLCVData], splits: dict[str, Splits]) -> list[StudyJob]:
    recorded = run_settings_document(settings, datasets)  # on every study: a resume without run.json checks it
    if settings.scope == POOLED:
        pool = tuple(SymbolWindows(s, datasets[s], splits[s]) for s in settings.symbols)
        return [pooled_job(settings, pool, label, warm_start=pooled_warm_starts(settings, label),
                           run_settings=recorded) for label in settings.labels]
    return [study_job(settings, datasets[symbol], splits[symbol], label,
                      warm_start=warm_starts(settings, symbol, label), run_settings=recorded)
            for symbol in settings.symbols for label in settings.labels]


def selections(scope: str, scorings: dict[str, Scoring], jobs: list[StudyJob],
               outcomes: list[StudyOutcome | TrialError]) -> dict[str, Selection]:
    """``{symbol: Selection}`` of every symbol with a completed study, from ``jobs``' outcomes in ``scope``."""
    mine = [(job, o) for job, o in zip(jobs, outcomes) if job.scope == scope]
    if scope == POOLED:
        return select_pooled(scorings, [o for _, o in mine])
    chosen = {symbol: select_per_symbol(scoring, [o for job, o in mine if job.symbol == symbol])
              for symbol, scoring in scorings.items()}
    return {symbol: selection for symbol, selection in chosen.items() if selection is not None}


def run_sweep(settings: SweepSettings, executor: Executor | None = None,
              progress: Progress | None = None) -> list[SymbolResult]:
    """Run the sweep and write one candidate per symbol.

    Per symbol, the model whose best trial has the lowest validation
    ``pct_return_mae`` is selected (``settings.selection`` pooled: one config for every
    symbol, the pooled study's with the lowest ``relative_mae``; :mod:`sweep.selection`);
    only that config is then evaluated on each symbol's test origins, and the result is
    written to ``<output_dir>/candidates/<run_id>/<SYMBOL>.json``.

    Returns
    -------
    list of SymbolResult
        One per symbol that has at least one completed study.

    Raises
    ------
    DataValidationError, ConfigError
        On invalid data or settings, before any model is loaded.
    ModelLoadError
        If a model cannot be loaded.
    ConfigError
        Also with more than one selection scope, or when another driver is running the same run id (:func:`sweep.run_lock.run_lock`).
    DiskFullError, StorageError
        If the run folder, ``hyperparams/`` or the study storage fails; rerunning resumes.
    """
    if len(settings.selection) != 1:
        raise ConfigError(f"--selection {' '.join(settings.selection)}: a sweep writes one candidate per symbol, so it "
                          "takes one scope (per-symbol or pooled); `python -m sweep backtest --selection per-symbol "
                          "pooled` compares them")
    datasets = {s: load_ohlcv(settings.data_dir, s, settings.freq, settings.gap_policy) for s in settings.symbols}
    splits = {s: make_splits(d.n_bars, settings.windows, source=str(d.path)) for s, d in datasets.items()}
    with claimed_run(settings, datasets):
        return _sweep(settings, datasets, splits, executor, progress)


def _sweep(settings: SweepSettings, datasets: dict[str, OHLCVData], splits: dict[str, Splits],
           executor: Executor | None, progress: Progress | None) -> list[SymbolResult]:
    warn_overlaps(model_sources(settings), datasets, splits)
    executor = executor or InProcessExecutor()
    if settings.finetune:
        bases = model_sources(settings)
        variants = finetune_checkpoints(settings.run_dir, datasets, splits,
                                        {family: bases[family] for family in settings.finetune},
                                        settings.finetune_steps, settings.seed, executor)
        settings = replace(settings, variants=variants)
        check_run_settings(settings, datasets)  # records the variants for resumes and reports
    jobs = _jobs(settings, datasets, splits)
    outcomes = executor.run(jobs, progress)
    forecaster_of = forecaster_lookup(settings, outcomes)
    cache = SampleCache(settings.run_dir / "cache", enabled=settings.use_cache)
    scorings = {s: Scoring(datasets[s], splits[s], cache, forecaster_of, settings.alpha, settings.seed)
                for s in settings.symbols}
    chosen = selections(settings.scope, scorings, jobs, outcomes)
    results = []
    for symbol in settings.symbols:
        if symbol not in chosen:
            logger.error("%s: no study has a usable trial (errors above); no candidate written", symbol)
            continue
        results.append(_write_candidates(settings, scorings[symbol], chosen[symbol]))
    return results


def _write_candidates(settings: SweepSettings, scoring: Scoring, selection: Selection) -> SymbolResult:
    """Score the selected config on test, write the candidate (and the ensemble candidate)."""
    symbol, best, done = scoring.data.symbol, selection.best, selection.done
    test = scoring.evaluate(best.model, best.config, "test")
    recorded = provenance(settings, scoring.data)
    block = {**selection_settings(settings), **selection.block}
    document, losses = candidate_document(scoring, best, test, selection.studies, selection.significance, recorded,
                                          block)
    power = persistence_power(scoring, done, best)
    if power is not None:
        document["power_vs_persistence"] = power
    document = portable_document(document, settings.output_dir)  # checkpoints in the project: relative paths
    path = _write_with_losses(candidate_path(settings.output_dir, settings.run_id, symbol), document,
                              window_losses_csv(scoring, losses))
    ensemble = None
    if settings.ensemble:
        ensemble, losses = ensemble_document(scoring, fit_ensemble(scoring, settings.ensemble, done), done,
                                             selection.significance, recorded, block)
        ensemble = portable_document(ensemble, settings.output_dir)
        _write_with_losses(ensemble_candidate_path(settings.output_dir, settings.run_id, symbol), ensemble,
                           window_losses_csv(scoring, losses))
    return SymbolResult(symbol, best, test, path, document, selection.studies, ensemble)


def _write_with_losses(path: Path, document: dict[str, Any], losses_csv: str) -> Path:
    """The per-window test losses first, then the candidate that names them: a candidate never lacks its file."""
    write_text_atomic(window_losses_path(path), losses_csv)
    return write_json_atomic(path, document)
