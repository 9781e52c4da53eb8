"""Candidate documents: the selected config with the default and persistence beside it.

Selection happens on validation origins only. The selected config, its family's
documented default and persistence are then scored on the test origins, which
no selection ever saw, so a paired test there is valid for the one selected
config. The selection itself is judged on validation by Hansen's SPA test and
the Model Confidence Set over every trial (:mod:`sweep.significance`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

from .cache import SampleCache
from .config import ForecastConfig
from .data import OHLCVData
from .ensemble import Member, ensemble_result, fit_weights, member_entries, member_forecast
from .errors import TrialError
from .evaluate import EvaluationResult, evaluate, persistence_errors, persistence_metrics
from .forecasters.registry import family_of
from .forecasters.base import Forecaster
from .overlap import overlap_flags
from .significance import selection_significance
from .space import FAMILY_DEFAULTS, default_config, n_max_samples
from .stats import paired_test
from .study import StudyOutcome
from .windows import Splits

__all__ = ["Scoring", "FittedEnsemble", "default_block", "comparisons", "symbol_significance", "candidate_document",
           "fit_ensemble", "ensemble_document", "BENCHMARK_LABEL"]

#: Study label of the persistence baseline: the benchmark of the SPA test.
BENCHMARK_LABEL = "naive"


@dataclass(frozen=True)
class Scoring:
    """Where one symbol's configs are scored.

    Attributes
    ----------
    data : OHLCVData
    splits : Splits
    cache : SampleCache
    forecaster_of : callable
        Loaded model of a study label (``"toto"``, ``"toto-ft"``, ...).
    alpha : float
        Level of the paired tests and the MCS.
    seed : int
        Bootstrap seed.
    universes : dict or None
        ``{"validation": ..., "test": ...}`` origins inference is drawn over once for each role
        (walk-forward folds); see :func:`sweep.evaluate.draw_samples`.
    """

    data: OHLCVData
    splits: Splits
    cache: SampleCache
    forecaster_of: Callable[[str], Forecaster]
    alpha: float = 0.05
    seed: int = 0
    universes: dict[str, np.ndarray] | None = None

    @property
    def horizon(self) -> int:
        return self.splits.spec.horizon

    def universe(self, split: str) -> np.ndarray | None:
        """Origins the ``split`` forecasts are drawn over (None: the split's own origins)."""
        return None if self.universes is None else self.universes[split]

    def evaluate(self, label: str, config: ForecastConfig, split: str) -> EvaluationResult:
        """Metrics of ``config`` on the ``split`` origins, through the study's cache entries."""
        return evaluate(self.forecaster_of(label), config, self.data, self.splits.origins(split), self.horizon,
                        self.cache, n_max_samples(family_of(label)), universe=self.universe(split))


def default_block(scoring: Scoring, label: str) -> tuple[dict[str, Any], EvaluationResult]:
    """The family default of model ``label`` on the same validation and test windows.

    Returns
    -------
    block : dict
        ``config``, ``source`` (where the default is documented), ``validation`` and ``test`` metrics.
    test : EvaluationResult
        For the paired comparison.
    """
    family = family_of(label)
    forecaster = scoring.forecaster_of(label)
    config = default_config(family, min(forecaster.max_context_length, scoring.splits.spec.max_context_length),
                            scoring.seed)
    validation, test = (scoring.evaluate(label, config, split) for split in ("validation", "test"))
    return {"model": label, "config": config.to_dict(), "source": FAMILY_DEFAULTS[family].source,
            "validation": validation.to_dict(), "test": test.to_dict()}, test


def comparisons(candidate: EvaluationResult, default: EvaluationResult, alpha: float, seed: int) -> dict[str, Any]:
    """Paired tests of the candidate against persistence and against the default, on test windows.

    Each entry holds ``mean_diff`` (candidate minus the other, mean per-window absolute
    pct-return error; negative = the candidate is better), ``ci_low``/``ci_high`` (circular
    block bootstrap, two-sided ``1 - 2 alpha``), ``dm_stat``/``p_value`` (one-sided
    Diebold-Mariano) and the minimum detectable effect (see :meth:`sweep.stats.PairedTest.to_dict`).
    """
    out = {}
    for name, errors, mae in (("persistence", candidate.baseline_window_errors, candidate.baseline["pct_return_mae"]),
                              ("default", default.window_errors, default.metrics["pct_return_mae"])):
        out[name] = paired_test(candidate.window_errors, errors, alpha, seed).to_dict(reference_mae=mae)
    return out


def symbol_significance(scoring: Scoring, outcomes: list[StudyOutcome]) -> dict[str, Any]:
    """``spa``, ``mcs`` and ``mcs_alpha`` over every trial of the symbol's studies (validation windows)."""
    trials = [t for o in outcomes for t in o.trials]
    benchmark = persistence_errors(scoring.data, scoring.splits.validation_origins, scoring.horizon)
    return selection_significance(trials, benchmark, BENCHMARK_LABEL, scoring.alpha, scoring.seed)


def _baseline(scoring: Scoring, test: EvaluationResult) -> dict[str, Any]:
    return {"model": "persistence",
            "validation": persistence_metrics(scoring.data, scoring.splits.validation_origins, scoring.horizon),
            "test": test.baseline}


def _honesty(scoring: Scoring, test: EvaluationResult, label: str, identities: list[dict[str, Any]],
             windows: dict[str, Any]) -> dict[str, Any]:
    """The ``default`` and ``comparisons`` blocks and the overlap flags of a candidate."""
    default, default_test = default_block(scoring, label)
    return {"default": default, "comparisons": comparisons(test, default_test, scoring.alpha, scoring.seed),
            **overlap_flags(identities, windows)}


def candidate_document(scoring: Scoring, outcome: StudyOutcome, test: EvaluationResult,
                       outcomes: list[StudyOutcome | TrialError], significance: dict[str, Any],
                       provenance: dict[str, Any], selection: dict[str, Any]) -> dict[str, Any]:
    """The candidate JSON of the config selected on validation.

    Parameters
    ----------
    outcome : StudyOutcome
        The selected study's best trial.
    test : EvaluationResult
        Its test metrics.
    outcomes : list
        Every study of the symbol (for the ``selection.studies`` table).
    significance : dict
        :func:`symbol_significance`.
    provenance, selection : dict
        Run-level provenance and selection settings, completed here.
    """
    identity = scoring.forecaster_of(outcome.model).identity()
    windows = scoring.splits.describe(scoring.data.frame.index)
    studies = [{"model": o.model, "study_name": o.study_name, "best_trial": o.trial_number,
                "validation_pct_return_mae": o.validation["pct_return_mae"], "n_complete": o.n_complete,
                "n_failed": o.n_failed} for o in outcomes if isinstance(o, StudyOutcome)]
    return {
        "symbol": scoring.data.symbol,
        "model": identity if outcome.model == identity.get("family") else {**identity, "variant": outcome.model},
        "config": outcome.config.to_dict(),
        "validation": outcome.validation,
        "test": test.to_dict(),
        "baseline": _baseline(scoring, test),
        "windows": windows,
        "provenance": {**provenance, **{k: v for k, v in identity.items() if k != "family"},
                       "study_name": outcome.study_name, "trial_number": outcome.trial_number},
        "selection": {**selection, "studies": studies, **significance},
        **_honesty(scoring, test, outcome.model, [identity], windows),
    }


@dataclass(frozen=True)
class FittedEnsemble:
    """Ensemble weights fitted on validation and the blend's metrics.

    Attributes
    ----------
    members : list of Member
    weights : numpy.ndarray
        ``[n_members]``, non-negative, summing to 1.
    validation, test : EvaluationResult
        The blend on the validation (in-sample for the weights) and test origins.
    """

    method: str
    members: list[Member]
    weights: np.ndarray
    validation: EvaluationResult
    test: EvaluationResult

    @property
    def strongest(self) -> str:
        """Label of the member with the largest weight."""
        return self.members[int(np.argmax(self.weights))].label


def fit_ensemble(scoring: Scoring, method: str, done: list[StudyOutcome]) -> FittedEnsemble:
    """Fit ``method`` weights over each study's best config on validation; score the blend on test.

    Every member's validation samples come from the sample cache its study filled.
    """
    data, splits, horizon = scoring.data, scoring.splits, scoring.horizon
    members = [Member(o.model, scoring.forecaster_of(o.model), o.config, n_max_samples(family_of(o.model)))
               for o in done]
    validation = [member_forecast(m, data, splits.validation_origins, horizon, scoring.cache,
                                  scoring.universe("validation")) for m in members]
    weights = fit_weights(method, validation, data, splits.validation_origins, horizon)
    active = [(m, w) for m, w in zip(members, weights) if w > 0]  # test inference only for members in use
    test_forecasts = [member_forecast(replace(m, n_max=m.n_max if scoring.universes is not None else None), data,
                                      splits.test_origins, horizon, scoring.cache, scoring.universe("test"))
                      for m, _ in active]
    test = ensemble_result(test_forecasts, np.array([w for _, w in active]), data, splits.test_origins, horizon)
    return FittedEnsemble(method, members, weights,
                          ensemble_result(validation, weights, data, splits.validation_origins, horizon), test)


def ensemble_document(scoring: Scoring, fitted: FittedEnsemble, done: list[StudyOutcome],
                      significance: dict[str, Any], provenance: dict[str, Any]) -> dict[str, Any]:
    """The ensemble candidate JSON; its ``default`` block is the family default of the strongest member."""
    studies = [{"study_name": o.study_name, "trial_number": o.trial_number} for o in done]
    windows = scoring.splits.describe(scoring.data.frame.index)
    active = [m.forecaster.identity() for m, w in zip(fitted.members, fitted.weights) if w > 0]
    return {
        "symbol": scoring.data.symbol,
        "model": {"family": "ensemble", "method": fitted.method},
        "config": {"members": member_entries(fitted.members, fitted.weights, studies)},
        "validation": fitted.validation.to_dict(),
        "test": fitted.test.to_dict(),
        "baseline": _baseline(scoring, fitted.test),
        "windows": windows,
        "provenance": {**provenance, "ensemble_method": fitted.method},
        "selection": {"weights_fitted_on": "validation origins", "objective": "validation pct_return_mae",
                      "studies": studies, **significance},
        **_honesty(scoring, fitted.test, fitted.strongest, active, windows),
    }
