"""A whole sweep: data -> studies -> selection on validation -> test report -> candidate files."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .._version import __version__
from ..scoring.cache import SampleCache
from ._trading import trading_block
from ._candidate import (Scoring, candidate_document, ensemble_document, fit_ensemble, persistence_power,
                         window_losses_csv, window_losses_path)
from ..data.bars import OHLCVData, load_ohlcv
from ..errors import ConfigError, TrialError
from ..scoring.evaluate import EvaluationResult, drawn_horizon
from ..forecasters.registry import draws_once
from ..search.execution import Executor, InProcessExecutor
from ._finetune import finetune_checkpoints
from .jobs import forecaster_lookup, scoring_ceilings, sweep_jobs
from ..objectives import get_objective
from ..forecasters.model_paths import portable_document
from ..forecasters.overlap import warn_overlaps
from .settings import SweepSettings, check_run_settings, claimed_run, model_sources
from ._selection import Selection, selections
from ..search.study import Progress, StudyOutcome
from ..storage.store import (candidate_path, ensemble_candidate_path, git_commit, horizon_slot, utc_now,
                             write_json_atomic, write_text_atomic)
from ..data.common_calendar import sweep_splits
from ..search.study_job import POOLED
from ..data.windows import Splits, check_moving_closes

__all__ = ["SymbolResult", "run_sweep", "provenance", "selection_settings"]

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
    horizon : int
        The horizon (bars) it was selected and scored at.
    """

    symbol: str
    outcome: StudyOutcome
    test: EvaluationResult
    path: Path
    document: dict[str, Any]
    outcomes: list[StudyOutcome | TrialError]
    ensemble: dict[str, Any] | None = None
    horizon: int = 1

    @property
    def slot(self) -> str:
        """The name of its files: the symbol at 1 bar, ``<SYMBOL>.h<H>`` otherwise (:func:`horizon_slot`)."""
        return horizon_slot(self.symbol, self.horizon)


def provenance(settings: SweepSettings, data: OHLCVData) -> dict[str, Any]:
    """The ``provenance`` block of a candidate of ``data`` under ``settings``.

    It records the bar ``freq`` and ``gap_policy`` the data was read with: ``predict`` and ``evaluate --config``
    read bars the same way and refuse other values (:func:`sweep.data.tuned_data.tuned_data_settings`).

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
            "promotion_candidate": settings.promote_candidate, "select": settings.rule,
            "select_alpha": settings.select_alpha}


def run_sweep(settings: SweepSettings, executor: Executor | None = None,
              progress: Progress | None = None) -> list[SymbolResult]:
    """Run the sweep and write one candidate per symbol and horizon (``--horizons``; one horizon by default).

    Per symbol, the trial with the lowest validation loss of the objective is selected under
    ``--select best``; under ``--select significant`` (the default) the family default is kept unless the SPA of
    the trials against it rejects (:mod:`sweep.runs._select_rule`). ``settings.selection`` pooled: one config for
    every symbol, from the pooled studies' relative losses (:mod:`sweep.runs._selection`). Only that config is then evaluated on each symbol's test origins, and the result is
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
        Also with more than one selection scope, or when another driver is running the same run id (:func:`sweep.storage.run_lock.run_lock`).
    DiskFullError, StorageError
        If the run folder, ``hyperparams/`` or the study storage fails; rerunning resumes.
    """
    if len(settings.select) != 1:
        raise ConfigError(f"--select {' '.join(settings.select)}: a sweep keeps one trial per symbol, so it takes one "
                          "rule (best or significant); `python -m sweep backtest --select best significant` compares "
                          "them")
    if len(settings.selection) != 1:
        raise ConfigError(f"--selection {' '.join(settings.selection)}: a sweep writes one candidate per symbol, so it "
                          "takes one scope (per-symbol or pooled); `python -m sweep backtest --selection per-symbol "
                          "pooled` compares them")
    datasets = {s: load_ohlcv(settings.data_dir, s, settings.freq, settings.gap_policy) for s in settings.symbols}
    splits = sweep_splits(datasets, settings.windows, pooled=settings.scope == POOLED)
    for (symbol, data), horizon in ((d, h) for d in datasets.items() for h in settings.run_horizons):
        check_moving_closes(data, splits[symbol].at_horizon(horizon))
    with claimed_run(settings, datasets):
        return _sweep(settings, datasets, splits, executor, progress)


def _sweep(settings: SweepSettings, datasets: dict[str, OHLCVData], splits: dict[str, Splits],
           executor: Executor | None, progress: Progress | None) -> list[SymbolResult]:
    warn_overlaps(model_sources(settings), datasets, splits)
    for label in settings.labels if settings.horizons else ():
        if not draws_once(label):
            logger.info("%s draws each of --horizons %s on its own: its shorter horizons only approximate a direct "
                        "draw (shorter_horizons in sweep/forecasters/registry.py)", label,
                        " ".join(map(str, settings.horizons)))
    executor = executor or InProcessExecutor()
    if settings.finetune:
        bases = model_sources(settings)
        variants = finetune_checkpoints(settings.run_dir, datasets, splits,
                                        {family: bases[family] for family in settings.finetune},
                                        settings.finetune_steps, settings.seed, executor)
        settings = replace(settings, variants=variants)
        check_run_settings(settings, datasets)  # records the variants for resumes and reports
    jobs = sweep_jobs(settings, datasets, splits)
    outcomes = executor.run(jobs, progress)
    forecaster_of = forecaster_lookup(settings, outcomes)
    cache = SampleCache(settings.cache_folder, enabled=settings.use_cache)
    ceilings = scoring_ceilings(settings, {job.model: job.context_ceiling for job in jobs})
    results = []
    for horizon in settings.run_horizons:  # each (symbol, horizon) selects from the same trials on its own losses
        scorings = {s: Scoring(datasets[s], splits[s].at_horizon(horizon), cache, forecaster_of, ceilings,
                               settings.alpha, settings.seed, settings.objective, settings.fixed_decision)
                    for s in settings.symbols}
        seen = [o.for_horizon(horizon) if isinstance(o, StudyOutcome) else o for o in outcomes]
        chosen = selections(settings.scope, scorings, jobs, seen, settings.rule, settings.select_alpha)
        for symbol in settings.symbols:
            if symbol not in chosen:
                logger.error("%s: no study has a usable trial (errors above); no candidate written",
                             horizon_slot(symbol, horizon))
                continue
            results.append(_write_candidates(settings, scorings[symbol], chosen[symbol], outcomes))
    return results


def _write_candidates(settings: SweepSettings, scoring: Scoring, selection: Selection,
                      outcomes: list[StudyOutcome | TrialError]) -> SymbolResult:
    """Score the selected config on test, write the candidate (and the ensemble candidate)."""
    symbol, best, done = scoring.data.symbol, selection.best, selection.done
    slot = horizon_slot(symbol, scoring.horizon)
    test = scoring.evaluate(best.model, best.config, "test")
    recorded = provenance(settings, scoring.data)
    block = {**selection_settings(settings), **selection.block}
    document, losses = candidate_document(scoring, best, test, selection.studies, selection.significance, recorded,
                                          block)
    trading = trading_block(scoring, best, test, [t for o in done for t in o.trials])
    if trading is not None:
        document["trading"] = trading
    # several horizons: the power block's alternative is the studies' best over every horizon, drawn once for all
    over_horizons = [o for o in outcomes if isinstance(o, StudyOutcome) and o.symbol == symbol]
    power, alternative = persistence_power(scoring, over_horizons if settings.horizons else done, best)
    if power is not None:
        document[get_objective(settings.objective).power_key] = power
    if power is not None and settings.horizons:  # its test losses too: the report draws that model by horizon
        losses["alternative"] = alternative
        document["test_losses"]["columns"].append("alternative")
    if settings.horizons:  # the horizon its forecasts were drawn at: the longest, or its own (draws_once)
        document["windows"]["drawn_horizon"] = drawn_horizon(scoring.forecaster_of(best.model), scoring.horizon,
                                                             scoring.splits.spec.layout)
    document = portable_document(document, settings.output_dir)  # checkpoints in the project: relative paths
    path = _write_with_losses(candidate_path(settings.output_dir, settings.run_id, slot), document,
                              window_losses_csv(scoring, losses))
    ensemble = None
    if settings.ensemble:
        members = selection.members
        ensemble, losses = ensemble_document(scoring, fit_ensemble(scoring, settings.ensemble, members), members,
                                             selection.significance, recorded, block)
        ensemble = portable_document(ensemble, settings.output_dir)
        _write_with_losses(ensemble_candidate_path(settings.output_dir, settings.run_id, slot), ensemble,
                           window_losses_csv(scoring, losses))
    return SymbolResult(symbol, best, test, path, document, selection.studies, ensemble, scoring.horizon)


def _write_with_losses(path: Path, document: dict[str, Any], losses_csv: str) -> Path:
    """The per-window test losses first, then the candidate that names them: a candidate never lacks its file."""
    write_text_atomic(window_losses_path(path), losses_csv)
    return write_json_atomic(path, document)
