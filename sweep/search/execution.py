"""Where studies run. The in-process executor runs them one after another in
this process, loading each model once and sharing it across symbols.

The interface is ``run(jobs, progress) -> outcomes`` plus ``run_task`` for
one-off jobs such as fine-tuning; the Ray executor (:mod:`sweep.search.ray_executor`,
actors as Optuna workers) plugs in behind it.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Protocol, TypeVar

from ..errors import TrialError
from ..forecasters.base import Forecaster
from .study import Progress, StudyJob, StudyOutcome, run_study
from ._symbol_batch import SymbolBatcher

__all__ = ["Executor", "InProcessExecutor"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Executor(Protocol):
    def run(self, jobs: list[StudyJob], progress: Progress | None = None) -> list[StudyOutcome | TrialError]:
        """Run every job; a study with no completed trial yields its :class:`TrialError`.

        Raises
        ------
        ModelLoadError
            If a model cannot be loaded (it would fail every study of that model).
        """
        ...

    def run_task(self, function: Callable[..., T], *args: Any) -> T:
        """Run one job (e.g. fine-tuning) where the studies run, and return its result."""
        ...


class InProcessExecutor:
    """Runs studies sequentially in the calling process (a laptop, a test, one GPU)."""

    def __init__(self) -> None:
        self._forecasters: dict[str, Forecaster] = {}

    def _forecaster(self, job: StudyJob) -> Forecaster:
        if job.model not in self._forecasters:
            self._forecasters[job.model] = job.make_forecaster()
        return self._forecasters[job.model]

    def run_task(self, function: Callable[..., T], *args: Any) -> T:
        return function(*args)

    def run(self, jobs: list[StudyJob], progress: Progress | None = None) -> list[StudyOutcome | TrialError]:
        outcomes: list[StudyOutcome | TrialError] = []
        batcher = SymbolBatcher(jobs)
        for job in jobs:
            try:
                outcomes.append(run_study(job, progress, forecaster=self._forecaster(job), batcher=batcher))
            except TrialError as e:
                logger.error("%s", e)
                outcomes.append(e)
        return outcomes
