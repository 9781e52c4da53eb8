"""A trading objective's candidate block: what the selected config did on test against its default (and, under
``pnl``, buy-and-hold and flat), its Deflated Sharpe Ratio over every trial, and the seeds' three targets
(:mod:`sweep.objectives.targets`), each with its interval."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..objectives import get_objective, periods_per_year
from ..objectives.direction import direction_calls
from ..objectives.targets import seed_targets
from ..scoring.evaluate import EvaluationResult
from ..search.study import StudyOutcome
from ..stats.paired import paired_test
from ..stats.significance import distinct_columns
from ..stats.trading import accuracy_target, deflated_sharpe_ratio, pesaran_timmermann, sharpe_ratio, trading_summary
from ._candidate import Scoring

__all__ = ["trading_block", "TRADING_OBJECTIVES"]

#: Objectives whose candidates carry a ``trading`` block.
TRADING_OBJECTIVES = ("direction", "pnl")


def _direction_judged(result: EvaluationResult) -> dict[str, Any]:
    up, realised = direction_calls(result.window_records["up_probability"], result.window_records["realised_up"])
    if len(up) < 2:
        return {"n_called": int(len(up))}
    return {"accuracy": accuracy_target(up == realised),
            "pesaran_timmermann": pesaran_timmermann(up, realised).to_dict()}


def _deflated_sharpe(scoring: Scoring, selected: StudyOutcome, trials: list[Any]) -> dict[str, Any]:
    """The selected rule's Deflated Sharpe Ratio on the validation windows it was selected on, given every
    distinct trial of the symbol's studies (Bailey & Lopez de Prado, 2014)."""
    validation = scoring.evaluate(selected.model, selected.config, "validation")
    trials = [t for t in trials if len(t.losses) == validation.n_windows]  # runs of other windows are not comparable
    losses = np.column_stack([t.losses for t in trials]) if trials else -validation.window_records["pnl"][:, None]
    distinct, _ = distinct_columns(losses)
    trial_sharpes = np.array([sharpe_ratio(-distinct[:, j], 1.0) for j in range(distinct.shape[1])])
    return {**deflated_sharpe_ratio(validation.window_records["pnl"], trial_sharpes).to_dict(),
            "on": "validation origins (where the trials were selected)", "distinct_trials": int(distinct.shape[1])}


def _pnl_test(result: EvaluationResult, per_year: float, seed: int) -> dict[str, Any]:
    return trading_summary(result.window_records["pnl"], result.window_records["position"], per_year, 0.05, seed)


def trading_block(scoring: Scoring, selected: StudyOutcome, test: EvaluationResult,
                  trials: list[Any]) -> dict[str, Any] | None:
    """The candidate's ``trading`` block under ``direction`` or ``pnl``; None under any other objective.

    Parameters
    ----------
    scoring : Scoring
        The symbol's data, splits and cache.
    selected : StudyOutcome
        The selected config's trial.
    test : EvaluationResult
        Its test result (with the objective's per-window records).
    trials : list of TrialLosses
        Every completed trial of the symbol's studies (validation losses), for the Deflated Sharpe Ratio.
    """
    name = get_objective(scoring.objective).name
    if name not in TRADING_OBJECTIVES:
        return None
    default = scoring.evaluate(selected.model, scoring.default_config(selected.model), "test")
    per_year = periods_per_year(scoring.splits.test_origins, scoring.data.freq.total_seconds())
    targets = seed_targets(test.window_records, per_year, scoring.seed)
    if name == "direction":
        return {"test": {"selected": _direction_judged(test), "default": _direction_judged(default)},
                "targets": targets}
    hold = test.window_records["buy_and_hold_pnl"]
    return {"rule": selected.config.decision, "periods_per_year": per_year,
            "test": {"selected": _pnl_test(test, per_year, scoring.seed),
                     "default": _pnl_test(default, per_year, scoring.seed),
                     "buy_and_hold": trading_summary(hold, np.ones(len(hold)), per_year, 0.05, scoring.seed)},
            "vs_buy_and_hold": paired_test(test.window_errors, -hold, scoring.alpha, scoring.seed,
                                           overlap=scoring.splits.spec.overlap).to_dict(),
            "deflated_sharpe": _deflated_sharpe(scoring, selected, trials), "targets": targets}
