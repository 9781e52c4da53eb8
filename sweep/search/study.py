"""Running a study: persistent storage, resume, warm starts, and its best trial.

A study is per (symbol, model), or per model over every symbol with ``--selection pooled``
(:mod:`sweep.search.study_job`); what its trials score is :mod:`sweep.search.objective`. Test origins are
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

from ..scoring.cache import SampleCache
from ..forecasters.config import ForecastConfig
from ..errors import ConfigError, DiskFullError, StorageError, TrialError
from ..storage.faults import STORAGE_RETRY_DELAYS_S, storage_faults
from ..forecasters.base import Forecaster
from ..storage.journal import journal_storage
from .objective import (BY_SYMBOL_ATTR, OBJECTIVE, SOURCE_ATTR, WINDOW_ERRORS_ATTR,
                        check_study_objective, pooled_objective,
                        Objective)
from ..storage.storage_url import is_database_url
from ..stats.significance import TrialLosses
from .study_job import StudyJob, WarmStart, study_name
from .horizon_trials import at_horizon
from .sampler import NoRepeatSampler
from ._symbol_batch import SymbolBatcher

__all__ = ["Progress", "StudyJob", "StudyOutcome", "TrialLosses", "WarmStart", "NoRepeatSampler", "make_storage",
           "open_study", "fail_stale_running", "interrupted", "enqueue_warm_start", "open_job_study", "run_study",
           "study_name", "outcome_of", "Objective", "OBJECTIVE", "SOURCE_ATTR", "WINDOW_ERRORS_ATTR",
           "RUN_SETTINGS_ATTR", "INTERRUPTED"]

logger = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_S = 30
HEARTBEAT_GRACE_S = 120
MAX_RETRIES = 3
#: Study attribute: the run settings (run.json's document) of the run that created the study.
RUN_SETTINGS_ATTR = "run_settings"
#: How the ``error`` of a trial that a killed process or worker left RUNNING begins.
INTERRUPTED = "interrupted"


def make_storage(storage: str | Path) -> optuna.storages.BaseStorage:
    """Optuna storage from a URL (``postgresql://...``, ``sqlite:///...``) or a journal file path.

    A journal file is Optuna's file-based storage; its file lock makes it safe
    for several local processes. A torn last record is moved aside first, and a process keeps one
    open storage per journal (:func:`sweep.storage.journal.journal_storage`). An RDB storage gets heartbeats: a trial whose
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


def interrupted(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether ``trial`` failed without any fault of its config: Optuna's FAIL on Ctrl-C or a lost database
    (no ``error`` recorded), or a trial a killed process or worker left RUNNING (an ``error`` starting with
    :data:`INTERRUPTED`). The objective records every failure of the config itself as ``error``."""
    return trial.state == TrialState.FAIL and str(trial.user_attrs.get("error", INTERRUPTED)).startswith(INTERRUPTED)


def fail_stale_running(study: optuna.Study) -> int:
    """Mark trials left RUNNING by a crashed worker as FAIL (:func:`interrupted`); returns how many.

    Only safe when no other worker is running trials of this study (local runs).
    """
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in stale:
        study._storage.set_trial_user_attr(trial._trial_id, "error", f"{INTERRUPTED}: left RUNNING by a killed process")
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    if stale:
        logger.warning("study %s: marked %d interrupted trial(s) FAIL", study.study_name, len(stale))
    return len(stale)


def open_study(storage: optuna.storages.BaseStorage, name: str, seed: int, n_objectives: int = 1) -> optuna.Study:
    """Create or load a minimising study (one or more objectives) with a seeded :class:`NoRepeatSampler`.

    The sampler seed is offset by the number of trials already stored, so a
    resumed study does not replay the random start-up configs of its first run.

    Raises
    ------
    ConfigError
        If the stored study has a different number of objectives.
    """
    try:
        study = optuna.create_study(storage=storage, study_name=name, directions=["minimize"] * n_objectives,
                                    load_if_exists=True, sampler=NoRepeatSampler(seed))
    except ValueError as e:  # Optuna refuses to load a study under other directions
        raise ConfigError(f"study {name!r} exists with other objectives ({e}); use its original --objectives "
                          f"or a new --run-id") from e
    n_existing = len(study.get_trials(deepcopy=False))
    if n_existing:
        study.sampler = NoRepeatSampler(seed + n_existing)
    return study


@dataclass
class StudyOutcome:
    """Best validation trial of a study.

    Attributes
    ----------
    config : ForecastConfig
        Best config on the validation origins.
    validation : dict
        Its validation metrics (see :class:`sweep.scoring.evaluate.EvaluationResult`; of a pooled study,
        :func:`sweep.search.objective.pooled_validation`).
    trials : list of TrialLosses
        Every completed trial that recorded its per-window validation losses.
    by_symbol : dict
        Of a pooled study: ``{symbol: validation metrics}`` of the best trial (see :meth:`for_symbol`).
    objective : str
        The run's objective (:mod:`sweep.objectives`).
    default_trial : StudyOutcome or None
        The study's first completed trial of the family default (warm-start source ``"default"``), as an outcome
        of its own (what ``--select significant`` keeps); None when it did not complete (or missed the latency budget).
    by_horizon : dict
        Of a study of several ``--horizons``: ``{horizon: the study's outcome at that horizon}`` (see
        :meth:`for_horizon`).
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
    objective: str = OBJECTIVE
    default_trial: "StudyOutcome | None" = field(default=None, repr=False)
    by_horizon: dict[int, "StudyOutcome"] = field(default_factory=dict, repr=False)

    def for_horizon(self, horizon: int) -> "StudyOutcome":
        """The outcome at one of the run's horizons: its best trial, validation and per-window losses there (the
        outcome itself in a one-horizon run); a KeyError names a horizon the study did not score."""
        if self.by_horizon and horizon not in self.by_horizon:
            raise KeyError(f"study {self.study_name} scored horizons {sorted(self.by_horizon)}, not {horizon}")
        return self.by_horizon.get(horizon, self)

    @property
    def selection_loss(self) -> float:
        """What selection minimises: the validation loss of the objective, or a pooled study's relative loss
        (:func:`sweep.search.objective.pooled_objective`)."""
        return self.validation[pooled_objective(self.objective) if self.by_symbol else self.objective]

    def for_symbol(self, symbol: str) -> "StudyOutcome":
        """A pooled outcome seen from one of its symbols: that symbol's validation metrics, with the pooled
        relative loss beside them as ``pooled_<key>`` (``pooled_relative_mae``).

        Raises
        ------
        KeyError
            If the pooled trial did not score ``symbol``.
        """
        key = pooled_objective(self.objective)
        validation = {**self.by_symbol[symbol], f"pooled_{key}": self.validation[key]}
        default = self.default_trial and self.default_trial.for_symbol(symbol)
        return replace(self, symbol=symbol, validation=validation, by_symbol={}, default_trial=default)


def open_job_study(job: StudyJob) -> optuna.Study:
    """Open ``job``'s study before any worker runs: record the run's settings on a study that has none
    (:data:`RUN_SETTINGS_ATTR`), fail trials a crashed run left RUNNING, enqueue the warm starts."""
    study = open_study(make_storage(job.storage), job.name, job.seed, len(job.objectives))
    check_study_objective(study, job.objective)
    if job.run_settings and RUN_SETTINGS_ATTR not in study.user_attrs:
        study.set_user_attr(RUN_SETTINGS_ATTR, job.run_settings)
    fail_stale_running(study)
    enqueue_warm_start(study, job)
    return study


def enqueue_warm_start(study: optuna.Study, job: StudyJob) -> int:
    """Enqueue each of ``job.warm_start`` that the study has not settled yet; returns how many.

    A warm start is settled by a trial of its source (and production file) that completed, is waiting
    or running, or failed on the config itself (the objective recorded its ``error``: out of memory,
    off the grid), so a rerun never scores it twice nor retries a config that cannot run. A trial
    that was only interrupted (:func:`interrupted`: Ctrl-C, a killed process or worker, a lost
    database) settles nothing: the rerun enqueues the warm start again, once per rerun, so the
    family default is always scored. A study that already holds its target of completed trials gets none.
    """
    trials = study.get_trials(deepcopy=False)
    if sum(t.state == TrialState.COMPLETE for t in trials) >= job.target_trials():
        return 0  # nothing will run: a finished study gets no pending trials
    settled = {WarmStart(t.user_attrs.get(SOURCE_ATTR), {}, t.user_attrs).key
               for t in trials if not interrupted(t)}
    added = 0
    for warm in job.warm_start:
        if warm.key not in settled:
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
        :mod:`sweep.search._symbol_batch`).

    Returns
    -------
    StudyOutcome

    A database that fails mid-study (a restarted server) is retried after
    :data:`sweep.storage.faults.STORAGE_RETRY_DELAYS_S`; each new attempt fails the trial the
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

    The lowest validation loss of the run's objective; with a latency budget, among the
    trials whose validation latency (seconds per origin) is within it.

    Raises
    ------
    TrialError
        If no trial completed, or none is within the latency budget.
    """
    trials = study.get_trials(deepcopy=False)
    outcome = _outcome_of_trials(trials, job, forecaster)
    if len(job.horizons) < 2:
        return outcome
    return replace(outcome, by_horizon={h: _outcome_of_trials(
        [at_horizon(t, h, job.objective, WINDOW_ERRORS_ATTR) for t in trials], job, forecaster) for h in job.horizons})


def _outcome_of_trials(trials: list[optuna.trial.FrozenTrial], job: StudyJob, forecaster: Forecaster | None
                       ) -> StudyOutcome:
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
                          np.asarray(t.user_attrs[WINDOW_ERRORS_ATTR], dtype=float), t.user_attrs.get("config"))
              for t in trials if t.state == TrialState.COMPLETE and WINDOW_ERRORS_ATTR in t.user_attrs]
    outcome = _trial_outcome(job, best, forecaster, n_complete, len(failed), losses)
    default = next((t for t in complete if t.user_attrs.get(SOURCE_ATTR) == "default"), None)
    return replace(outcome, default_trial=default and _trial_outcome(job, default, forecaster, n_complete,
                                                                     len(failed), []))


def _trial_outcome(job: StudyJob, trial: optuna.trial.FrozenTrial, forecaster: Forecaster | None, n_complete: int,
                   n_failed: int, losses: list[TrialLosses]) -> StudyOutcome:
    return StudyOutcome(symbol=job.symbol, model=job.model, study_name=job.name, trial_number=trial.number,
                        config=ForecastConfig.from_dict(trial.user_attrs["config"],
                                                        source=f"{job.name} trial {trial.number}"),
                        validation=trial.user_attrs["validation"], n_complete=n_complete, n_failed=n_failed,
                        forecaster=forecaster, trials=losses, by_symbol=trial.user_attrs.get(BY_SYMBOL_ATTR, {}),
                        objective=job.objective)
