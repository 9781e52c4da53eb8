"""Selection on validation, per symbol or pooled: each symbol's selected config and the tests that judge it.

``--selection per-symbol`` picks, for each symbol, the study whose best trial has the lowest
validation loss of the run's objective on that symbol. ``--selection pooled`` picks one config per run:
the pooled study (one per model, every trial scored on every symbol) with the lowest relative loss
(``relative_mae``; :mod:`sweep.search.objective`), and each symbol's candidate is that config, with
its own validation metrics. The SPA test and the Model Confidence Set run over the trials the
selection chose from: one symbol's, or the pooled trials on their relative losses. Within a scope the
rule (``--select best | significant``, :mod:`sweep.runs._select_rule`) says which trial is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._candidate import BENCHMARK_LABEL, Scoring, symbol_significance
from ._select_rule import BEST, DEFAULT_SELECT_ALPHA, apply_rule
from ..errors import TrialError
from ..objectives import DEFAULT_OBJECTIVE, get_objective
from ..scoring.evaluate import benchmark_losses
from ..search.objective import pooled_objective, relative_window_losses
from ..stats.significance import selection_significance
from ..search.study import StudyOutcome
from ..search.study_job import PER_SYMBOL, POOLED, StudyJob

__all__ = ["Selection", "select_per_symbol", "select_pooled", "pooled_benchmark", "selections"]


@dataclass(frozen=True)
class Selection:
    """What one symbol's candidate is selected from, and what was selected.

    Attributes
    ----------
    symbol, scope : str
        ``scope`` is ``"per-symbol"`` or ``"pooled"``.
    studies : list
        Every study as seen from this symbol (a pooled study through :meth:`StudyOutcome.for_symbol`),
        or its :class:`TrialError`.
    done : list of StudyOutcome
        The completed ones.
    best : StudyOutcome
        The selected trial (under the rule ``block["rule"]``), with this symbol's validation metrics.
    significance : dict
        ``spa``, ``mcs`` and ``mcs_alpha`` (:func:`sweep.stats.significance.selection_significance`).
    block : dict
        Extra keys of the candidate's ``selection`` block (``scope``, ``objective``, ``rule``; pooled: ``pooled``).
    members : list of StudyOutcome
        Each study's choice under the rule, the ensemble's members (seen from this symbol).
    """

    symbol: str
    scope: str
    studies: list[StudyOutcome | TrialError]
    done: list[StudyOutcome]
    best: StudyOutcome
    significance: dict[str, Any]
    block: dict[str, Any] = field(default_factory=dict)
    members: list[StudyOutcome] = field(default_factory=list)

    @property
    def rule(self) -> str:
        return self.block["rule"]["rule"]


def select_per_symbol(scoring: Scoring, studies: list[StudyOutcome | TrialError], rule: str = BEST,
                      select_alpha: float = DEFAULT_SELECT_ALPHA) -> Selection | None:
    """The trial of ``scoring``'s symbol's studies that ``rule`` keeps (``best``: the lowest validation loss); None if
    no study completed."""
    done = [o for o in studies if isinstance(o, StudyOutcome)]
    if not done:
        return None
    choice = apply_rule(rule, done, select_alpha, scoring.seed)
    return Selection(scoring.data.symbol, PER_SYMBOL, studies, done, choice.chosen, symbol_significance(scoring, done),
                     {"scope": PER_SYMBOL, "objective": f"validation {scoring.objective}", "rule": choice.record},
                     choice.members)


def pooled_benchmark(scorings: dict[str, Scoring]) -> np.ndarray:
    """``[n_validation_windows]`` the benchmark's relative losses over the pooled symbols (their mean is 1)."""
    errors = [benchmark_losses(s.data, s.splits.validation_origins, s.horizon, s.objective) for s in scorings.values()]
    return relative_window_losses(errors, [float(e.mean()) for e in errors])


def _pooled_description(objective: str) -> str:
    key = pooled_objective(objective)
    if objective == DEFAULT_OBJECTIVE:
        return f"validation {key}: mean over symbols of MAE / persistence MAE"
    return f"validation {key}: mean over symbols of {objective} / {get_objective(objective).benchmark} {objective}"


def select_pooled(scorings: dict[str, Scoring], studies: list[StudyOutcome | TrialError], rule: str = BEST,
                  select_alpha: float = DEFAULT_SELECT_ALPHA) -> dict[str, Selection]:
    """Each symbol's selection from the pooled studies: the one config ``rule`` keeps on the relative losses.

    Parameters
    ----------
    scorings : dict
        ``{symbol: Scoring}`` of every pooled symbol.
    studies : list
        The pooled studies' outcomes (one per model) or errors.
    rule, select_alpha
        The selection rule and its SPA's level (:func:`sweep.runs._select_rule.apply_rule`).

    Returns
    -------
    dict
        ``{symbol: Selection}``; empty when no pooled study completed.
    """
    done = [o for o in studies if isinstance(o, StudyOutcome)]
    if not done:
        return {}
    first = next(iter(scorings.values()))
    choice = apply_rule(rule, done, select_alpha, first.seed)
    best = choice.chosen
    trials = [t for o in done for t in o.trials]
    significance = selection_significance(trials, pooled_benchmark(scorings), BENCHMARK_LABEL, first.alpha,
                                          first.seed, get_objective(first.objective).benchmark)
    key = pooled_objective(first.objective)
    block = {"scope": POOLED, "objective": _pooled_description(first.objective), "rule": choice.record,
             "pooled": {"study_name": best.study_name, "trial_number": best.trial_number,
                        "symbols": list(scorings), f"validation_{key}": best.selection_loss,
                        "studies": [{"model": o.model, "study_name": o.study_name, "best_trial": o.trial_number,
                                     f"validation_{key}": o.selection_loss} for o in done]}}
    return {symbol: Selection(symbol, POOLED, [_seen_from(o, symbol) for o in studies],
                              [o.for_symbol(symbol) for o in done], best.for_symbol(symbol), significance, block,
                              [o.for_symbol(symbol) for o in choice.members])
            for symbol in scorings}


def _seen_from(outcome: StudyOutcome | TrialError, symbol: str) -> StudyOutcome | TrialError:
    return outcome.for_symbol(symbol) if isinstance(outcome, StudyOutcome) else outcome


def selections(scope: str, scorings: dict[str, Scoring], jobs: list[StudyJob],
               outcomes: list[StudyOutcome | TrialError], rule: str = BEST,
               select_alpha: float = DEFAULT_SELECT_ALPHA) -> dict[str, Selection]:
    """``{symbol: Selection}`` of every symbol with a completed study, from ``jobs``' outcomes in ``scope``, the trial
    kept by ``rule``."""
    mine = [(job, o) for job, o in zip(jobs, outcomes) if job.scope == scope]
    if scope == POOLED:
        return select_pooled(scorings, [o for _, o in mine], rule, select_alpha)
    chosen = {symbol: select_per_symbol(scoring, [o for job, o in mine if job.symbol == symbol], rule, select_alpha)
              for symbol, scoring in scorings.items()}
    return {symbol: selection for symbol, selection in chosen.items() if selection is not None}
