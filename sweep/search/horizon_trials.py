"""Trials of a run with several ``--horizons``: one draw, every horizon scored, one decision per horizon.

A trial's config is drawn once at the run's longest horizon (a family whose shorter horizons equal a direct draw;
:func:`sweep.scoring.evaluate.drawn_horizon`) and scored at every horizon of the run on the same validation
origins. The study minimises one number, the mean over horizons of the trial's loss relative to its benchmark's
(the mean loss itself when the benchmark's loss is 0 by construction, as flat PnL's), so that no horizon's scale
outweighs another's. Selection never reads that number: each horizon selects from the same trials on its own
validation losses (:func:`at_horizon` turns a trial into the trial of one horizon), with its own SPA, MCS,
candidate, review and best config.
"""

from __future__ import annotations

import copy

import numpy as np
import optuna

from ..objectives import get_objective
from ..scoring.evaluate import EvaluationResult

__all__ = ["BY_HORIZON_ATTR", "HORIZON_ERRORS_ATTR", "record_horizons", "horizons_metrics", "at_horizon"]

#: Trial attribute: ``{str(horizon): validation metrics}`` of every horizon of the run.
BY_HORIZON_ATTR = "validation_by_horizon"
#: Trial attribute: ``{str(horizon): [n_validation_windows] per-window validation losses}``.
HORIZON_ERRORS_ATTR = "validation_window_errors_by_horizon"


def horizons_metrics(results: dict[int, EvaluationResult]) -> dict[str, float]:
    """What a study of several horizons minimises, from each horizon's validation result.

    Parameters
    ----------
    results : dict
        ``{horizon: EvaluationResult}`` of one config on the same validation origins.

    Returns
    -------
    dict
        Under the objective's name: the mean over horizons of ``loss / benchmark loss`` (unitless; the mean loss
        in the objective's units when its skill is not relative, as ``pnl``'s); ``latency_s`` (the one draw's
        seconds per origin) and ``horizons``.
    """
    first = next(iter(results.values()))
    objective = get_objective(first.objective)
    scaled = [r.loss / r.baseline_loss if objective.relative_skill else r.loss for r in results.values()]
    return {first.objective: float(np.mean(scaled)),
            "latency_s": float(max(r.metrics["latency_s"] for r in results.values())),
            "horizons": sorted(results)}


def record_horizons(trial: optuna.Trial, results: dict[int, EvaluationResult]) -> dict[str, float]:
    """Store every horizon's validation metrics and per-window losses on ``trial``; returns
    :func:`horizons_metrics` (recorded as the trial's ``validation``)."""
    trial.set_user_attr(BY_HORIZON_ATTR, {str(h): r.to_dict() for h, r in results.items()})
    trial.set_user_attr(HORIZON_ERRORS_ATTR, {str(h): r.window_errors.tolist() for h, r in results.items()})
    metrics = horizons_metrics(results)
    trial.set_user_attr("validation", metrics)
    return metrics


def at_horizon(trial: optuna.trial.FrozenTrial, horizon: int, objective: str,
               window_errors_attr: str) -> optuna.trial.FrozenTrial:
    """``trial`` as the trial of one horizon: its ``validation`` and per-window losses (``window_errors_attr``) are
    that horizon's and its first value is that horizon's loss (a second value, latency, is kept). A trial that did
    not complete is returned as it is.

    Raises
    ------
    KeyError
        If the completed trial did not score ``horizon``.
    """
    if trial.state != optuna.trial.TrialState.COMPLETE:
        return trial
    key = str(horizon)
    validation = trial.user_attrs[BY_HORIZON_ATTR][key]
    view = copy.copy(trial)
    view.user_attrs = {**trial.user_attrs, "validation": validation,
                       window_errors_attr: trial.user_attrs[HORIZON_ERRORS_ATTR][key]}
    view.values = [validation[objective], *trial.values[1:]]
    return view
