"""Optuna's TPE sampler that never repeats the config of the trial scored just before it."""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

__all__ = ["NoRepeatSampler"]


class NoRepeatSampler(optuna.samplers.TPESampler):
    """Optuna's TPE sampler, except that a trial never repeats the config of the trial scored just before it.

    TPE's random start-up draws collide often in a small categorical grid (1 in 48 per pair), and the
    seeds are fixed, so a collision repeats in every study of a family and every resume: seed 1 (``--seed
    0`` resumed after one trial) draws one config twice first for toto2, chronos2 and fracast at 512 bars,
    seed 0 for chronos-bolt at 2048; and once started, TPE itself often proposes its best config again.
    When a trial's draw would equal the latest earlier trial that completed or is running (TPE's joint
    draw, on its parameters; else the last parameter's draw, which completes the config), one parameter
    takes another value of its grid, drawn uniformly (not TPE-weighted). A config may still come back later
    (the sample cache makes that cheap). One case still repeats: during TPE's start-up draws only the last
    parameter drawn can move, so when its grid holds a single value (one context length at a low context
    ceiling), the repeat goes through.

    Parameters
    ----------
    seed : int
        Seeds TPE and the redraws.
    """

    def __init__(self, seed: int):
        super().__init__(seed=seed)
        self._redraws = np.random.RandomState(seed)

    def sample_relative(self, study: optuna.Study, trial: optuna.trial.FrozenTrial,
                        search_space: dict[str, optuna.distributions.BaseDistribution]) -> dict[str, Any]:
        """TPE's joint draw (after its start-up trials), with one parameter moved when it equals the latest trial's
        values of the same parameters."""
        params = super().sample_relative(study, trial, search_space)
        latest = _latest_scored(study, trial.number)
        if not params or latest is None or not all(k in latest.params and latest.params[k] == v
                                                   for k, v in params.items()):
            return params
        movable = sorted(k for k, v in params.items() if len(self._others(search_space[k], v)))
        if movable:
            name = movable[self._redraws.randint(len(movable))]
            params[name] = self._another(search_space[name], params[name])
        return params

    def sample_independent(self, study: optuna.Study, trial: optuna.trial.FrozenTrial, param_name: str,
                           param_distribution: optuna.distributions.BaseDistribution) -> Any:
        """TPE's draw of one parameter (every parameter during the start-up trials), another value of its grid when
        it would complete the latest trial's config."""
        value = super().sample_independent(study, trial, param_name, param_distribution)
        latest = _latest_scored(study, trial.number)
        # equal dicts have the same names: ``param_name`` completes a config equal to the latest trial's
        if latest is None or {**trial.params, param_name: value} != latest.params:
            return value
        return self._another(param_distribution, value)

    @staticmethod
    def _others(distribution: optuna.distributions.BaseDistribution, value: Any) -> list[Any]:
        """The other values of a categorical grid (every space of sweep is one)."""
        choices = getattr(distribution, "choices", ())
        return [choice for choice in choices if choice != value]

    def _another(self, distribution: optuna.distributions.BaseDistribution, value: Any) -> Any:
        """A random other value of the grid, or ``value`` when the grid has no other."""
        others = self._others(distribution, value)
        return others[self._redraws.randint(len(others))] if others else value


def _latest_scored(study: optuna.Study, number: int) -> optuna.trial.FrozenTrial | None:
    """The latest trial before trial ``number`` that completed or is running, or None."""
    earlier = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING))
               if t.number < number]
    return max(earlier, key=lambda t: t.number, default=None)
