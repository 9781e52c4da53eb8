"""Ray actors as Optuna workers.

Each actor loads a model once, keeps its sample caches across trials, and pulls
trials from every study of the sweep (starting at a different study than its
neighbours, so several symbols run at once) until each study holds its target
number of completed trials. The studies in persistent storage stay the source
of truth: actors only ask and tell trials.

Crash safety: every trial records the worker that runs it. When an actor dies
(killed, out of memory, node lost), the driver marks the trials that worker
left RUNNING as FAIL and starts a replacement, so a sweep finishes with the
requested number of completed trials. A killed driver takes its actors with it
(Ray's owner fate-sharing); rerunning the same command resumes from storage.
"""

from __future__ import annotations

import logging
import os
import socket
import zlib
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from ..scoring.cache import SampleCache
from ..storage.faults import storage_faults
from ..errors import ConfigError, TrialError
from ..forecasters.base import Forecaster
from .study import (INTERRUPTED, SOURCE_ATTR, NoRepeatSampler, Objective, Progress, StudyJob, StudyOutcome,
                    make_storage, open_job_study, outcome_of)
from ._symbol_batch import SymbolBatcher

__all__ = ["RayExecutor", "StudyWorker", "worker_pass"]

logger = logging.getLogger(__name__)

WORKER_ATTR = "worker"
#: The Ray node a trial ran on (hex node id; None outside Ray).
NODE_ATTR = "worker_node"
#: The number of the trial a dead worker left, on the trial that re-runs its parameters.
RETRY_ATTR = "retry_of"
#: What a re-run keeps of the lost trial's attributes: where its config came from.
CARRIED_ATTRS = (SOURCE_ATTR, "production")
POLL_S = 1.0
MAX_REPLACEMENTS = 8
#: Seconds to wait for a TCP connection to --ray-address before refusing it.
CONNECT_TIMEOUT_S = 5.0


def _node_id() -> str | None:
    """The Ray node this process runs on, or None when Ray is not running here."""
    import ray

    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None


def _count(study: optuna.Study, *states: TrialState) -> int:
    return len(study.get_trials(deepcopy=False, states=states))


class StudyWorker:
    """The body of one Optuna worker; :class:`RayExecutor` runs it as a Ray actor.

    Parameters
    ----------
    worker_id : str
        Recorded on every trial it runs (``user_attrs["worker"]``), with its process id.
    """

    def __init__(self, worker_id: str):
        self.worker_id = worker_id
        self._forecasters: dict[str, Forecaster] = {}
        self._caches: dict[tuple[str | None, bool], SampleCache] = {}
        self._batcher: SymbolBatcher | None = None

    def pid(self) -> int:
        return os.getpid()

    def _objective(self, job: StudyJob) -> Objective:
        if job.model not in self._forecasters:
            self._forecasters[job.model] = job.make_forecaster()
        key = (job.cache_dir, job.use_cache)
        if key not in self._caches:
            self._caches[key] = SampleCache(job.cache_dir, enabled=job.use_cache)
        return Objective(job, self._forecasters[job.model], self._caches[key], self._batcher)

    def work(self, jobs: list[StudyJob], start: int) -> int:
        """Run trials of every job, beginning with ``jobs[start]``, until all reach their targets.

        Returns
        -------
        int
            Trials this worker ran.
        """
        self._batcher = SymbolBatcher(jobs)
        order = jobs[start:] + jobs[:start]
        return sum(worker_pass(job, self._objective(job), self.worker_id) for job in order)


def worker_pass(job: StudyJob, objective: Objective, worker_id: str) -> int:
    """Ask and run trials of ``job`` while completed plus running trials are below its target.

    Counting running trials keeps concurrent workers from overshooting the target
    (at most one extra trial per worker in a tight race).
    """
    study = optuna.load_study(study_name=job.name, storage=make_storage(job.storage))
    study.sampler = NoRepeatSampler(job.seed + _count(study) + zlib.crc32(worker_id.encode()) % 10_000)
    target = job.target_trials()
    tag = {WORKER_ATTR: worker_id, "worker_pid": os.getpid(), NODE_ATTR: _node_id()}

    def tagged(trial: optuna.Trial):
        for key, value in tag.items():
            trial.set_user_attr(key, value)
        return objective(trial)

    ran = 0
    while _count(study, TrialState.COMPLETE, TrialState.RUNNING) < target:
        study.optimize(tagged, n_trials=1, catch=(TrialError,))
        ran += 1
    return ran


def fail_trials_of(study: optuna.Study, worker_id: str) -> int:
    """Mark the RUNNING trials of a dead worker FAIL and enqueue each one's parameters again (the worker failed,
    not the config, so the study re-runs it, as Optuna's RDB heartbeat does), recording
    ``user_attrs["retry_of"]``; returns how many failed."""
    orphans = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
               if t.user_attrs.get(WORKER_ATTR) == worker_id]
    for trial in orphans:
        study._storage.set_trial_user_attr(trial._trial_id, "error", f"{INTERRUPTED}: worker {worker_id} died")
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        if trial.params:  # none when it died before suggesting: the sampler's next trial replaces it
            kept = {k: v for k, v in trial.user_attrs.items() if k in CARRIED_ATTRS}
            study.enqueue_trial(trial.params, user_attrs={**kept, RETRY_ATTR: trial.number})
    return len(orphans)



def check_reachable(address: str | None, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Refuse a ``--ray-address`` ``host:port`` (or ``ray://host:port``) where nothing accepts connections.

    ``ray.init`` retries an unreachable address for minutes without a message of its own; ``None``
    (a local instance) and ``auto`` (the cluster this machine belongs to) are left to Ray.

    Raises
    ------
    ConfigError
        If the address is malformed or a TCP connection is refused or times out within ``timeout_s``.
    """
    if address in (None, "auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--ray-address {address!r} is not 'auto' or host:port (e.g. 10.0.0.5:6379, or "
                          f"ray://10.0.0.5:10001 for Ray Client)")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as e:
        raise ConfigError(f"--ray-address {address}: nothing accepts connections there ({e.strerror or e}); start "
                          f"the cluster's head ('ray start --head') or fix the address") from e

class RayExecutor:
    """Runs the studies on Ray actors (``--executor ray``).

    Parameters
    ----------
    address : str, optional
        ``"auto"`` or a cluster address; ``None`` starts a local Ray instance (or
        uses the one this process already started).
    workers : int
        Actors, each one Optuna worker with one CPU.
    gpus_per_worker : float
        GPU fraction per actor (``--gpus-per-worker``).
    run_label : str
        Prefix of the worker ids recorded on trials.

    Raises
    ------
    ConfigError
        On a non-positive worker count or a negative GPU fraction.
    """

    def __init__(self, address: str | None = None, workers: int = 2, gpus_per_worker: float = 0.0,
                 run_label: str = "run"):
        if workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {workers}")
        if gpus_per_worker < 0:
            raise ConfigError(f"--gpus-per-worker must be >= 0, got {gpus_per_worker}")
        check_reachable(address)
        self.address, self.workers, self.gpus_per_worker, self.run_label = address, workers, gpus_per_worker, run_label

    def _connect(self):
        import ray

        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False)
        return ray

    def run_task(self, function, *args):
        """Run ``function(*args)`` as a Ray task with one CPU and ``gpus_per_worker`` GPUs; its result.

        Raises
        ------
        Exception
            Whatever ``function`` raised, re-raised as its own type.
        """
        ray = self._connect()
        task = ray.remote(num_cpus=1, num_gpus=self.gpus_per_worker)(function)
        try:
            return ray.get(task.remote(*args))
        except ray.exceptions.RayTaskError as e:
            raise e.as_instanceof_cause() from None

    def run(self, jobs: list[StudyJob], progress: Progress | None = None) -> list[StudyOutcome | TrialError]:
        """Run every job to its target on the actors; outcomes in ``jobs`` order.

        Raises
        ------
        ModelLoadError
            If a worker cannot load a model.
        DiskFullError, StorageError
            If the study storage fails (rerunning the same command resumes).
        """
        if not jobs:
            return []
        folder = Path(jobs[0].cache_dir).parent if jobs[0].cache_dir else None
        with storage_faults(jobs[0].storage, folder):
            return self._run(jobs, progress)

    def _run(self, jobs: list[StudyJob], progress: Progress | None) -> list[StudyOutcome | TrialError]:
        ray = self._connect()
        progress = progress or Progress()
        studies = self._prepare(jobs, progress)
        # SPREAD: one actor per node first, so a lost node takes as few workers (and their trials) as it can
        actor_class = ray.remote(num_cpus=1, num_gpus=self.gpus_per_worker, scheduling_strategy="SPREAD")(StudyWorker)
        jobs_ref = ray.put(jobs)
        running: dict[Any, tuple[str, int, int, Any]] = {}  # ref -> (worker id, slot, generation, actor)

        def launch(slot: int, generation: int) -> None:
            worker_id = f"{self.run_label}-w{slot}-g{generation}"
            actor = actor_class.remote(worker_id)
            running[actor.work.remote(jobs_ref, slot % len(jobs))] = (worker_id, slot, generation, actor)

        for slot in range(self.workers):
            launch(slot, 0)
        seen = {job.name: {t.number for t in studies[job.name].get_trials(deepcopy=False)} for job in jobs}
        replacements = 0
        while running:
            ready, _ = ray.wait(list(running), num_returns=1, timeout=POLL_S)
            self._report(jobs, studies, seen, progress)
            for ref in ready:
                worker_id, slot, generation, _actor = running.pop(ref)  # the handle kept the actor alive until now
                try:
                    ray.get(ref)
                except ray.exceptions.RayActorError as e:
                    orphans = sum(fail_trials_of(studies[job.name], worker_id) for job in jobs)
                    logger.warning("worker %s died (%s); %d in-flight trial(s) marked FAIL", worker_id,
                                   type(e).__name__, orphans)
                    replacements += 1
                    if replacements > MAX_REPLACEMENTS:
                        raise TrialError(f"Ray workers died {replacements} times; giving up (see the Ray logs)") from e
                    launch(slot, generation + 1)
                except ray.exceptions.RayTaskError as e:
                    raise e.as_instanceof_cause() from None
        self._report(jobs, studies, seen, progress)
        return [self._outcome(studies[job.name], job) for job in jobs]

    @staticmethod
    def _prepare(jobs: list[StudyJob], progress: Progress) -> dict[str, optuna.Study]:
        """Create the studies and fail trials a crashed earlier run left RUNNING (no worker runs yet)."""
        studies = {}
        for job in jobs:
            study = open_job_study(job)
            studies[job.name] = study
            progress.start(job.name, job.target_trials(),
                           _count(study, TrialState.COMPLETE))
        return studies

    @staticmethod
    def _report(jobs, studies, seen: dict[str, set[int]], progress: Progress) -> None:
        """Tell ``progress`` about trials that finished since the last poll."""
        for job in jobs:
            study = studies[job.name]
            for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)):
                if trial.number not in seen[job.name]:
                    seen[job.name].add(trial.number)
                    progress.trial(job.name, study, trial)

    @staticmethod
    def _outcome(study: optuna.Study, job: StudyJob) -> StudyOutcome | TrialError:
        try:
            return outcome_of(study, job)
        except TrialError as e:
            logger.error("%s", e)
            return e

