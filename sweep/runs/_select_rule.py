"""Which trial a selection keeps: ``--select best`` or ``--select significant``.

``best`` keeps the trial with the lowest validation loss. On 100 validation origins the best of
many trials is partly the luckiest one, and out of sample it can lose to the untuned default.
``significant`` keeps the family default unless the evidence says a trial beats it: Hansen's
(2005) SPA test of every trial against the default, on the validation windows the trials were
scored on, must reject at ``--select-alpha``. Only then is the best trial selected.

Which default. With several families, the reference is the family default with the lowest
validation loss (a choice among a handful of untuned configs, which differ far more than the
trials of one study). Under ``pct_return_mae`` that is often persistence, and the rule then asks
what the SPA against persistence already asks. The ensemble's members are chosen study by study
in the same way: each study's best trial if the SPA of that study's trials against its own family
default rejects, else that default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..flags import unique
from ..search.study import StudyOutcome
from ..stats.significance import BOOTSTRAP_REPS, spa_test

__all__ = ["RULES", "BEST", "SIGNIFICANT", "DEFAULT_RULE", "DEFAULT_SELECT_ALPHA", "RuleChoice", "apply_rule",
           "checked_rules"]

BEST = "best"
SIGNIFICANT = "significant"
RULES = (BEST, SIGNIFICANT)
#: The rule a sweep uses unless ``--select`` says otherwise (README, "Is the tuning worth it?", for the evidence).
DEFAULT_RULE = SIGNIFICANT
#: Level of the SPA that lets ``significant`` leave the default. 0.10, not 0.05: at 100 validation windows the
#: SPA's power is low (``benchmarks/spa_power.py``), and a wrong switch costs less than a missed gain of the size
#: the test can see.
DEFAULT_SELECT_ALPHA = 0.10


def checked_rules(rules: str | tuple[str, ...], alpha: float) -> tuple[str, ...]:
    """``rules`` as a tuple, each once, after checking them and ``alpha``.

    Raises
    ------
    ConfigError
        On a rule not in :data:`RULES`, none, or ``alpha`` outside (0, 0.5).
    """
    rules = unique((rules,) if isinstance(rules, str) else tuple(rules), "--select")
    if not rules or set(rules) - set(RULES):
        raise ConfigError(f"--select {list(rules)}: choose from {list(RULES)}")
    if not 0 < alpha < 0.5:
        raise ConfigError(f"--select-alpha must be in (0, 0.5), got {alpha}")
    return rules


@dataclass(frozen=True)
class RuleChoice:
    """What a rule selected from a set of studies.

    Attributes
    ----------
    chosen : StudyOutcome
        The selected trial.
    members : list of StudyOutcome
        Each study's own choice under the rule (the ensemble's members).
    record : dict
        The candidate's ``selection.rule`` block: ``rule``, ``alpha``, ``kept_default``, ``reason`` and, under
        ``significant``, ``reference`` (the default tested against) and ``spa_vs_default``.
    """

    chosen: StudyOutcome
    members: list[StudyOutcome]
    record: dict[str, Any]


def apply_rule(rule: str, done: list[StudyOutcome], alpha: float, seed: int = 0,
               reps: int = BOOTSTRAP_REPS) -> RuleChoice:
    """Select from ``done`` (completed studies of one symbol, or pooled studies) under ``rule``.

    Parameters
    ----------
    rule : str
        ``"best"`` or ``"significant"``.
    done : list of StudyOutcome
        Non-empty; each with its trials' per-window validation losses ``[n_validation_windows]`` (of a pooled
        study, relative losses) and its ``default_trial``.
    alpha : float
        Level of the SPA under ``significant``.
    seed, reps : int
        Bootstrap seed and resamples of the SPA.

    Returns
    -------
    RuleChoice
    """
    best = min(done, key=lambda o: o.selection_loss)
    if rule == BEST:
        return RuleChoice(best, list(done), {"rule": BEST, "kept_default": best.default_trial is not None and _same(
            best, best.default_trial), "reason": "the lowest validation loss; no test against the default"})
    defaults = [o.default_trial for o in done if o.default_trial is not None and _losses(o, o.default_trial) is not None]
    if not defaults:
        return RuleChoice(best, list(done), {"rule": SIGNIFICANT, "alpha": alpha, "kept_default": False,
                                             "reason": "no study completed its family default; the best trial is "
                                                       "kept"})
    reference = min(defaults, key=lambda o: o.selection_loss)
    owner = next(o for o in done if o.study_name == reference.study_name)
    others = [t.losses for o in done for t in o.trials if (t.study_name, t.trial_number) != _key(reference)]
    chosen, record = _significant(best, reference, _losses(owner, reference), others, alpha, seed, reps)
    # one study: its own choice is the run's (the same test); several: each study against its own default
    members = [chosen] if len(done) == 1 else [_study_choice(o, alpha, seed, reps) for o in done]
    return RuleChoice(chosen, members, record)


def _significant(best: StudyOutcome, reference: StudyOutcome, benchmark: np.ndarray, others: list[np.ndarray],
                 alpha: float, seed: int, reps: int) -> tuple[StudyOutcome, dict[str, Any]]:
    """The best trial if the SPA of ``others`` against ``benchmark`` (the reference default's losses) rejects at
    ``alpha``, else the reference; with the record of why."""
    others = [losses for losses in others if len(losses) == len(benchmark)]
    described = {"study": reference.study_name, "trial": reference.trial_number, "model": reference.model,
                 "config": reference.config.to_dict(), "validation_loss": reference.selection_loss}
    record: dict[str, Any] = {"rule": SIGNIFICANT, "alpha": alpha, "reference": described}
    if not others:
        return reference, {**record, "kept_default": True, "reason": "no trial other than the default to test"}
    spa = spa_test(benchmark, np.column_stack(others), seed, reps)
    leaves = spa.p_value <= alpha
    verdict = (f"the SPA of {spa.n_models} trials against the default rejects (p = {spa.p_value:.3g} <= {alpha}): "
               "the best trial is selected") if leaves else (
        f"the SPA of {spa.n_models} trials against the default does not reject (p = {spa.p_value:.3g} > {alpha}): "
        "the default is kept")
    spa_record = {**spa.to_dict(), "benchmark": f"the family default {reference.study_name} trial "
                                                f"{reference.trial_number}"}
    return (best if leaves else reference), {**record, "kept_default": not leaves or _same(best, reference),
                                             "reason": verdict, "spa_vs_default": spa_record,
                                             "trials_tested": spa.n_models, "block_size": spa.block_size}


def _study_choice(outcome: StudyOutcome, alpha: float, seed: int, reps: int) -> StudyOutcome:
    """One study's choice under ``significant``: its best trial if its trials beat its family default by the SPA."""
    default = outcome.default_trial
    benchmark = None if default is None else _losses(outcome, default)
    if benchmark is None or _same(outcome, default):
        return outcome
    others = [t.losses for t in outcome.trials if t.trial_number != default.trial_number]
    chosen, _ = _significant(outcome, default, benchmark, others, alpha, seed, reps)
    return chosen


def _key(outcome: StudyOutcome) -> tuple[str, int]:
    return outcome.study_name, outcome.trial_number


def _same(a: StudyOutcome, b: StudyOutcome) -> bool:
    return _key(a) == _key(b)


def _losses(owner: StudyOutcome, trial: StudyOutcome) -> np.ndarray | None:
    """``[n_validation_windows]`` recorded losses of ``trial`` among ``owner``'s trials, or None."""
    return next((t.losses for t in owner.trials if (t.study_name, t.trial_number) == _key(trial)), None)
