"""Running a study: persistent storage, resume, warm starts, and its best trial.

A study is per (symbol, model), or per model over every symbol with ``--selection pooled``
(:mod:`sweep.study_job`); what its trials score is :mod:`sweep.objective`. Test origins are
never touched here. Studies live in persistent storage (a journal file by default),
so rerunning the same run resumes: completed trials are kept, trials left
RUNNING by a killed process are marked FAIL, and only the missing number of
trials runs.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from .cache import SampleCache
from .config import ForecastConfig
from .errors import ConfigError, DiskFullError, StorageError, TrialError
from .faults import STORAGE_RETRY_DELAYS_S, storage_faults
from .forecasters.base import Forecaster
from .journal import journal_storage
from .objective import (BY_SYMBOL_ATTR, OBJECTIVE, OBJECTIVE_SETS, POOLED_OBJECTIVE, SOURCE_ATTR, WINDOW_ERRORS_ATTR,
                        Objective)
from .storage_url import is_database_url
from .significance import TrialLosses
from .study_job import StudyJob, WarmStart, study_name
from .symbol_batch import SymbolBatcher

__all__ = ["Progress", "StudyJob", "StudyOutcome", "TrialLosses", "WarmStart", "make_storage", "open_study",
           "fail_stale_running", "enqueue_warm_start", "open_job_study", "run_study", "study_name", "outcome_of",
           "Objective", "OBJECTIVE", "OBJECTIVE_SETS", "SOURCE_ATTR", "WINDOW_ERRORS_ATTR", "RUN_SETTINGS_ATTR"]

logger = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_S = 30
HEARTBEAT_GRACE_S = 120
MAX_RETRIES = 3
#: Study attribute: the run settings (run.json's document) of the run that created the study.
RUN_SETTINGS_ATTR = "run_settings"


def make_storage(storage: str | Path) -> optuna.storages.BaseStorage:
    """Optuna storage from a URL (``postgresql://...``, ``sqlite:///...``) or a journal file path.

    A journal file is Optuna's file-based storage; its file lock makes it safe
    for several local processes. A torn last record is moved aside first, and a process keeps one
    open storage per journal (:func:`sweep.journal.journal_storage`). An RDB storage gets heartbeats: a trial whose
    worker stops beating for :data:`HEARTBEAT_GRACE_S` is marked FAIL by the next
    worker and re-queued with the same parameters (up to :data:`MAX_RETRIES` times).
    """
    text = str(storage)
    if is_database_url(text):
        with warnings.catch_warnings():  # the retry callback is marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                text, engine_kwargs={"pool_pre_ping": True},  # a restarted server: reconnect, not fail
                heartbeat_interval=HEARTBEAT_INTERVAL_S, grace_period=HEARTBEAT_GRACE_S,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES))
    Path(text).parent.mkdir(parents=True, exist_ok=True)
    return journal_storage(text)


def fail_stale_running(study: optuna.Study) -> int:
    """Mark trials left RUNNING by a crashed worker as FAIL; returns how many.

    Only safe when no other worker is running trials of this study (local runs).
    """
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in stale:
        study._storage.set_trial_user_attr(trial._trial_id, "error", "interrupted: left RUNNING by a killed process")
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    if stale:
        logger.warning("study %s: marked %d interrupted trial(s) FAIL", study.study_name, len(stale))
    return len(stale)


def open_study(storage: optuna.storages.BaseStorage, name: str, seed: int, n_objectives: int = 1) -> optuna.Study:
    """Create or load a minimising study (one or more objectives) with a seeded TPE sampler.

    The sampler seed is offset by the number of trials already stored, so a
    resumed study does not replay the random start-up configs of its first run.

    Raises
    ------
    ConfigError
        If the stored study has a different number of objectives.
    """
    try:
        study = optuna.create_study(storage=storage, study_name=name, directions=["minimize"] * n_objectives,
                                    load_if_exists=True, sampler=optuna.samplers.TPESampler(seed=seed))
    except ValueError as e:  # Optuna refuses to load a study under other directions
        raise ConfigError(f"study {name!r} exists with other objectives ({e}); use its original --objectives "
                          f"or a new --run-id") from e
    n_existing = len(study.get_trials(deepcopy=False))
    if n_existing:
        study.sampler = optuna.samplers.TPESampler(seed=seed + n_existing)
    return study


@dataclass
class StudyOutcome:
    """Best validation trial of a study.

    Attributes
    ----------
    config : ForecastConfig
        Best config on the validation origins.
    validation : dict
        Its validation metrics (see :class:`sweep.evaluate.EvaluationResult`; of a pooled study,
        :func:`sweep.objective.pooled_validation`).
    trials : list of TrialLosses
        Every completed trial that recorded its per-window validation losses.
    by_symbol : dict
        Of a pooled study: ``{symbol: validation metrics}`` of the best trial (see :meth:`for_symbol`).
    """

    symbol: str
    model: str
    study_name: str
    trial_number: int
    config: ForecastConfig
    validation: dict[str, Any]
    n_complete: int
    n_failed: int
    forecaster: Forecaster | None = field(default=None, repr=False)
    trials: list[TrialLosses] = field(default_factory=list, repr=False)
    by_symbol: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    @property
    def selection_loss(self) -> float:
        """What selection minimises: the validation ``pct_return_mae``, or a pooled study's ``relative_mae``."""
        return self.validation[POOLED_OBJECTIVE if self.by_symbol else OBJECTIVE]

    def for_symbol(self, symbol: str) -> "StudyOutcome":
        """A pooled outcome seen from one of its symbols: that symbol's validation metrics, with the pooled
        ``relative_mae`` beside them as ``pooled_relative_mae``.

        Raises
        ------
        KeyError
            If the pooled trial did not score ``symbol``.
        """
        validation = {**self.by_symbol[symbol], f"pooled_{POOLED_OBJECTIVE}": self.validation[POOLED_OBJECTIVE]}
        return replace(self, symbol=symbol, validation=validation, by_symbol={})


def open_job_study(job: StudyJob) -> optuna.Study:
    """Open ``job``'s study before any worker runs: record the run's settings on a study that has none
    (:data:`RUN_SETTINGS_ATTR`), fail trials a crashed run left RUNNING, enqueue the warm starts."""
    study = open_study(make_storage(job.storage), job.name, job.seed, len(job.objectives))
    if job.run_settings and RUN_SETTINGS_ATTR not in study.user_attrs:
        study.set_user_attr(RUN_SETTINGS_ATTR, job.run_settings)
    fail_stale_running(study)
    enqueue_warm_start(study, job)
    return study


def enqueue_warm_start(study: optuna.Study, job: StudyJob) -> int:
    """Enqueue each of ``job.warm_start`` whose source the study has not seen yet; returns how many.

    A trial of every source (and production file), in any state, counts as seen, so a rerun (a resumed
    run, or a second worker's driver) never enqueues the same warm start twice; a
    study that already holds its target of completed trials gets none.
    """
    trials = study.get_trials(deepcopy=False)
    if sum(t.state == TrialState.COMPLETE for t in trials) >= job.target_trials():
        return 0  # nothing will run: a finished study gets no pending trials
    seen = {WarmStart(t.user_attrs.get(SOURCE_ATTR), {}, t.user_attrs).key for t in trials}
    added = 0
    for warm in job.warm_start:
        if warm.key not in seen:
            study.enqueue_trial(warm.params, user_attrs={SOURCE_ATTR: warm.source, **warm.user_attrs})
            added += 1
    if added:
        logger.debug("study %s: enqueued %d warm-start trial(s)", study.study_name, added)
    return added


class Progress:
    """Receives study progress; the CLI draws it with rich, the default ignores it."""

    def start(self, name: str, total: int, done: int) -> None:
        """Study ``name`` holds ``done`` of ``total`` completed trials."""

    def trial(self, name: str, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        """A trial of study ``name`` ended."""


def run_study(job: StudyJob, progress: Progress | None = None, forecaster: Forecaster | None = None,
              batcher: SymbolBatcher | None = None) -> StudyOutcome:
    """Run (or resume) a study until it holds ``job.n_trials`` completed trials.

    Parameters
    ----------
    job : StudyJob
    progress : Progress, optional
        Told the trial count at start and every finished trial.
    forecaster : Forecaster, optional
        An already loaded model; by default ``job.make_forecaster()``.
    batcher : SymbolBatcher, optional
        Draws the configs the run's other studies share for all their symbols at once (see
        :mod:`sweep.symbol_batch`).

    Returns
    -------
    StudyOutcome

    A database that fails mid-study (a restarted server) is retried after
    :data:`sweep.faults.STORAGE_RETRY_DELAYS_S`; each new attempt fails the trial the
    broken one left RUNNING and runs only the missing trials.

    Raises
    ------
    TrialError
        If the study holds no completed trial at the end.
    ModelLoadError
        If the model cannot be loaded.
    DiskFullError
        If the disk of the journal or the sample cache is full.
    StorageError
        If the database still fails after the retries.
    """
    forecaster = forecaster or job.make_forecaster()
    progress = progress or Progress()
    delays = STORAGE_RETRY_DELAYS_S if is_database_url(job.storage) else ()
    for attempt, delay in enumerate((*delays, None), start=1):
        try:
            with storage_faults(job.storage, Path(job.cache_dir).parent if job.cache_dir else None):
                return _run_study_once(job, progress, forecaster, batcher)
        except StorageError as e:
            if isinstance(e, DiskFullError) or delay is None:
                raise
            logger.warning("%s; retrying study %s in %.0f s (attempt %d of %d)", e, job.name, delay, attempt + 1,
                           len(delays) + 1)
            time.sleep(delay)


def _run_study_once(job: StudyJob, progress: Progress, forecaster: Forecaster,
                    batcher: SymbolBatcher | None) -> StudyOutcome:
    """Open the study (failing trials an interrupted attempt left RUNNING), then run the missing trials."""
    study = open_job_study(job)
    cache = SampleCache(job.cache_dir, enabled=job.use_cache)
    objective = Objective(job, forecaster, cache, batcher)
    target = job.target_trials()
    done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    progress.start(job.name, target, done)
    if done < target:
        logger.info("study %s: %d of %d trials complete, running %d", job.name, done, target, target - done)
        study.optimize(objective, n_trials=target - done, timeout=job.timeout_s, catch=(TrialError,),
                       callbacks=[lambda st, tr: progress.trial(job.name, st, tr)])
    return outcome_of(study, job, forecaster)


def outcome_of(study: optuna.Study, job: StudyJob, forecaster: Forecaster | None = None) -> StudyOutcome:
    """The best completed trial of ``study`` as a :class:`StudyOutcome`.

    The lowest validation ``pct_return_mae``; with a latency budget, among the
    trials whose validation latency (seconds per origin) is within it.

    Raises
    ------
    TrialError
        If no trial completed, or none is within the latency budget.
    """
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    failed = [t for t in trials if t.state == TrialState.FAIL]
    n_complete = len(complete)
    if not complete:
        errors = sorted({t.user_attrs.get("error", "unknown error") for t in failed})[:3]
        raise TrialError(f"study {job.name}: no trial completed ({len(failed)} failed: {errors})")
    if job.latency_budget_s is not None:
        fastest = min(t.user_attrs["validation"]["latency_s"] for t in complete)
        complete = [t for t in complete if t.user_attrs["validation"]["latency_s"] <= job.latency_budget_s]
        if not complete:
            raise TrialError(f"study {job.name}: no completed trial is within --latency-budget-s "
                             f"{job.latency_budget_s} (fastest: {fastest:.4g} s per origin); raise the budget")
    best = min(complete, key=lambda t: (t.values[0], t.number))
    losses = [TrialLosses(job.name, t.number, t.user_attrs.get(SOURCE_ATTR, "search"),
                          np.asarray(t.user_attrs[WINDOW_ERRORS_ATTR], dtype=float))
              for t in trials if t.state == TrialState.COMPLETE and WINDOW_ERRORS_ATTR in t.user_attrs]
    return StudyOutcome(symbol=job.symbol, model=job.model, study_name=job.name, trial_number=best.number,
                        config=ForecastConfig.from_dict(best.user_attrs["config"], source=f"{job.name} trial {best.number}"),
                        validation=best.user_attrs["validation"], n_complete=n_complete, n_failed=len(failed),
                        forecaster=forecaster, trials=losses, by_symbol=best.user_attrs.get(BY_SYMBOL_ATTR, {}))
