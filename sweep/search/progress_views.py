"""How the CLI shows study progress: rich progress bars, or JSON lines for log collectors.

Both implement :class:`sweep.search.study.Progress`.
"""

from __future__ import annotations

import json
from typing import Any

from optuna.trial import TrialState
from rich.progress import Progress

from .objective import OBJECTIVE, pooled_objective
from .study_job import POOLED

__all__ = ["RichStudyProgress", "JsonLinesProgress"]


class RichStudyProgress:
    """One progress bar per study: trials done and the best validation objective so far (the run's ``objective``,
    or a pooled study's relative loss, ``relative_mae``), shown in the ``best`` field."""

    def __init__(self, progress: Progress, objective: str = OBJECTIVE):
        self.progress, self.objective = progress, objective
        self.tasks: dict[str, Any] = {}
        self.objectives: dict[str, str] = {}

    def start(self, name: str, total: int, done: int) -> None:
        pooled = name.rpartition("/")[2].startswith(f"{POOLED}.")
        self.objectives[name] = pooled_objective(self.objective) if pooled else self.objective
        self.tasks[name] = self.progress.add_task(name, total=total, completed=done, best=f"{self.objectives[name]} -")

    def trial(self, name: str, study, trial) -> None:
        task = self.tasks[name]
        if trial.state == TrialState.COMPLETE:
            self.progress.advance(task)
        values = [t.values[0] for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
        if values:
            self.progress.update(task, best=f"{self.objectives[name]} {min(values):.5f}")


class JsonLinesProgress:
    """``--log-format json``: one JSON object per finished trial on stdout.

    Keys: study, trial, params, value (a list with two objectives), state, duration_s, error.
    """

    def start(self, name: str, total: int, done: int) -> None:
        """Nothing to print: the lines report finished trials only."""

    def trial(self, name: str, study, trial) -> None:
        duration = trial.duration.total_seconds() if trial.duration is not None else None
        values = trial.values
        print(json.dumps({"study": name, "trial": trial.number, "params": trial.params,
                          "value": values[0] if values and len(values) == 1 else values, "state": trial.state.name,
                          "duration_s": duration, "error": trial.user_attrs.get("error")}), flush=True)
