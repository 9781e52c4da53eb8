"""Candidate documents: the selected config with the default and persistence beside it.

Selection happens on validation origins only. The selected config, its family's
documented default and persistence are then scored on the test origins, which
no selection ever saw, so a paired test there is valid for the one selected
config. The selection itself is judged on validation by Hansen's SPA test and
the Model Confidence Set over every trial (:mod:`sweep.stats.significance`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

from ..scoring.cache import SampleCache
from ..forecasters.config import ForecastConfig
from ..data.bars import OHLCVData
from ..scoring.ensemble import Member, ensemble_result, fit_weights, member_entries, member_forecast
from ..errors import TrialError
from ..objectives import DEFAULT_OBJECTIVE, get_objective
from ..scoring.evaluate import EvaluationResult, benchmark_losses, evaluate, persistence_metrics
from ..forecasters.registry import FAMILIES, family_of
from ..forecasters.base import Forecaster
from ..forecasters.overlap import overlap_flags
from ..stats.calibration import calibration_test
from ..stats.significance import selection_significance
from ..search.space import default_config, n_max_samples
from ..stats.paired import paired_test
from ..search.study import StudyOutcome
from ..data.windows import Splits
from ..storage.store import TEST_LOSSES_SUFFIX, horizon_slot, window_losses_path

__all__ = ["Scoring", "FittedEnsemble", "default_block", "comparisons", "symbol_significance", "candidate_document",
           "fit_ensemble", "ensemble_document", "window_losses_csv", "window_losses_path", "persistence_power",
           "BENCHMARK_LABEL", "POWER_KEYS",
           "TEST_LOSSES_SUFFIX"]

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
    context_ceilings : dict
        ``{study label: longest context}`` of the run's studies (:func:`sweep.runs.jobs.context_ceiling`); the
        family default's context fits it.
    alpha : float
        Level of the paired tests and the MCS.
    seed : int
        Bootstrap seed.
    objective : str
        What configs are scored on (:mod:`sweep.objectives`).
    fixed_decision : dict
        The run's fixed decision settings (``pnl``'s ``fee_bps`` and ``long_only``), for the family defaults.
    """

    data: OHLCVData
    splits: Splits
    cache: SampleCache
    forecaster_of: Callable[[str], Forecaster]
    context_ceilings: dict[str, int]
    alpha: float = 0.05
    seed: int = 0
    objective: str = DEFAULT_OBJECTIVE
    fixed_decision: dict[str, Any] = field(default_factory=dict)

    @property
    def horizon(self) -> int:
        return self.splits.spec.horizon

    @property
    def test_origins_per_day(self) -> float:
        """Test origins per day of bars (24 for hourly bars at test stride 1)."""
        return self.splits.spec.test_origins_per_day(self.data.freq.total_seconds())

    def evaluate(self, label: str, config: ForecastConfig, split: str) -> EvaluationResult:
        """Metrics of ``config`` on the ``split`` origins, through the study's cache entries. Test origins are drawn
        at the config's own ``num_samples``: no trial searches them, and a later request for more paths there (the
        report's trial plots) draws the rows it lacks."""
        n_max = n_max_samples(family_of(label)) if split == "validation" else None
        return evaluate(self.forecaster_of(label), config, self.data, self.splits.origins(split), self.horizon,
                        self.cache, n_max, self.objective, self.splits.spec.layout)

    def default_config(self, label: str) -> ForecastConfig:
        """The documented default of model ``label``'s family under the objective, in its study's context ceiling."""
        return default_config(family_of(label), self.context_ceilings[label], self.seed, self.objective,
                              self.fixed_decision)


def default_block(scoring: Scoring, label: str) -> tuple[dict[str, Any], EvaluationResult]:
    """The family default of model ``label`` on the same validation and test windows.

    Returns
    -------
    block : dict
        ``config``, ``source`` (where the default is documented), ``validation`` and ``test`` metrics.
    test : EvaluationResult
        For the paired comparison.
    """
    config = scoring.default_config(label)
    validation, test = (scoring.evaluate(label, config, split) for split in ("validation", "test"))
    return {"model": label, "config": config.to_dict(), "source": FAMILIES[family_of(label)].default.source,
            "validation": validation.to_dict(), "test": test.to_dict()}, test


def reference_results(scoring: Scoring, split: str, benchmark: bool = False) -> dict[str, EvaluationResult]:
    """``{comparison name: result}`` on ``split`` of the objective's references' defaults after its benchmark (the
    ``garch`` default under ``quantile_loss``; none under ``pct_return_mae``, whose one reference is persistence);
    with ``benchmark``, the benchmark's too (the ``naive`` default: the empirical random walk)."""
    references = list(get_objective(scoring.objective).references.items())[0 if benchmark else 1:]
    return {name: scoring.evaluate(family, scoring.default_config(family), split) for name, family in references}


def comparisons(candidate: EvaluationResult, default: EvaluationResult, alpha: float, seed: int,
                origins_per_day: float | None = None,
                references: dict[str, EvaluationResult] | None = None, overlap: int = 1) -> dict[str, Any]:
    """Paired tests of the candidate against the objective's benchmark (persistence; the empirical random walk),
    its other references (``references``: the GARCH default) and the family default, on test windows.

    Each entry holds ``mean_diff`` (candidate minus the other, mean per-window loss of the objective;
    negative = the candidate is better), ``ci_low``/``ci_high`` (circular
    block bootstrap, two-sided ``1 - 2 alpha``), ``dm_stat``/``p_value`` (one-sided
    Diebold-Mariano), the effective sample size, the minimum detectable effect and the origins
    (and, with ``origins_per_day``, days) a 5 % and a 10 % gain need for 80 % power (see
    :meth:`sweep.stats.paired.PairedTest.to_dict`), each test counting the ``overlap`` consecutive windows that
    share a target bar (:attr:`sweep.data.windows.WindowSpec.overlap`).
    """
    others = {get_objective(candidate.objective).benchmark: (candidate.baseline_window_errors, candidate.baseline_loss)}
    others.update({name: (r.window_errors, r.loss) for name, r in (references or {}).items()})
    others["default"] = (default.window_errors, default.loss)
    return {name: paired_test(candidate.window_errors, errors, alpha, seed, overlap=overlap).to_dict(
        loss, origins_per_day) for name, (errors, loss) in others.items()}


#: Keys of a paired test's JSON that describe its power, not its verdict.
POWER_KEYS = ("alpha", "n_windows", "df", "long_run_variance_rule", "long_run_variance", "effective_n", "mde",
              "mde_relative", "origins_needed", "days_needed", "overlap")


def persistence_power(scoring: Scoring, done: list[StudyOutcome], selected: StudyOutcome
                      ) -> tuple[dict[str, Any] | None, np.ndarray | None]:
    """What the test origins could see when the objective's benchmark itself is selected (persistence; under
    ``quantile_loss`` the ``naive`` default, the empirical random walk).

    The benchmark compared with itself has no differential, so no MDE. The strongest other study
    (lowest validation MAE) is scored on the test origins and its differential against persistence
    gives the MDE and the origins a 5 % and a 10 % gain need: the power of the comparison a model
    would have faced. Only its power is kept (:data:`POWER_KEYS`), not a verdict, so it adds no
    test at alpha. In a run of several ``--horizons`` ``done`` holds the studies' outcomes over every horizon
    (the lowest mean validation loss / benchmark loss): one alternative config, drawn once, for every horizon.

    Returns
    -------
    block : dict or None
        ``{"config_of": study, "trial": number, <POWER_KEYS>}``; None when the selected config is not
        persistence or no other study completed.
    losses : numpy.ndarray or None
        ``[n_test_origins]`` that config's per-window test losses (the ``alternative`` column of the test-loss file).
    """
    others = [o for o in done if family_of(o.model) != BENCHMARK_LABEL]
    benchmark = scoring.default_config(BENCHMARK_LABEL)
    if family_of(selected.model) != BENCHMARK_LABEL or selected.config != benchmark or not others:
        return None, None
    runner_up = min(others, key=lambda o: o.validation[scoring.objective])
    test = scoring.evaluate(runner_up.model, runner_up.config, "test")
    full = paired_test(test.window_errors, test.baseline_window_errors, scoring.alpha, scoring.seed,
                       overlap=scoring.splits.spec.overlap).to_dict(test.baseline_loss, scoring.test_origins_per_day)
    over = {"chosen_over_horizons": sorted(runner_up.by_horizon)} if runner_up.by_horizon else {}
    return {"config_of": runner_up.study_name, "trial": runner_up.trial_number, **over,
            **{k: full[k] for k in POWER_KEYS if k in full}}, test.window_errors


def window_losses_csv(scoring: Scoring, losses: dict[str, np.ndarray]) -> str:
    """CSV of per-window test losses: ``origin`` (bar index), ``origin_time`` (UTC) and one column per forecast.

    Parameters
    ----------
    losses : dict
        ``{name: [n_test_origins]}`` losses of the objective (return units) on the test origins.
        Floats are written at full precision, so every comparison recomputes exactly from the file.
    """
    import pandas as pd

    origins = scoring.splits.test_origins
    frame = pd.DataFrame({"origin": origins, "origin_time": scoring.data.frame.index[origins].astype(str),
                          **{name: np.asarray(v, dtype=float) for name, v in losses.items()}})
    return frame.to_csv(index=False)


def symbol_significance(scoring: Scoring, outcomes: list[StudyOutcome]) -> dict[str, Any]:
    """``spa``, ``mcs`` and ``mcs_alpha`` over every trial of the symbol's studies (validation windows)."""
    trials = [t for o in outcomes for t in o.trials]
    benchmark = benchmark_losses(scoring.data, scoring.splits.validation_origins, scoring.horizon, scoring.objective)
    return selection_significance(trials, benchmark, BENCHMARK_LABEL, scoring.alpha, scoring.seed,
                                  get_objective(scoring.objective).benchmark)


def _baseline(scoring: Scoring, test: EvaluationResult) -> dict[str, Any]:
    origins, objective = scoring.splits.validation_origins, scoring.objective
    validation = {**persistence_metrics(scoring.data, origins, scoring.horizon),
                  objective: float(benchmark_losses(scoring.data, origins, scoring.horizon, objective).mean())}
    return {"model": get_objective(objective).benchmark, "validation": validation, "test": test.baseline}


def implicit_incumbent(scoring: Scoring, validation: dict[str, EvaluationResult]) -> dict[str, Any]:
    """The config a symbol with no best file is served: of the objective's references, the one with the lowest
    validation loss (``validation``: ``{comparison name: result}``, the benchmark's included)."""
    name = min(validation, key=lambda n: validation[n].loss)
    family = get_objective(scoring.objective).references[name]
    config = scoring.default_config(family)
    return {"comparison": name, "model": scoring.forecaster_of(family).identity(), "config": config.to_dict(),
            "validation": {n: r.loss for n, r in validation.items()}, "chosen_on": "validation origins"}


def _honesty(scoring: Scoring, test: EvaluationResult, name: str, label: str, identities: list[dict[str, Any]],
             windows: dict[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The ``default``, ``comparisons`` and ``test_losses`` blocks and the overlap flags of a candidate (with a
    distribution objective, also ``references``, ``implicit_incumbent`` and ``calibration``), and the per-window test
    losses (``name`` is the candidate's column) of the candidate, the default, the benchmark and the references."""
    default, default_test = default_block(scoring, label)
    objective = get_objective(scoring.objective)
    tested = reference_results(scoring, "test", benchmark=True) if len(objective.references) > 1 else {}
    references = {n: r for n, r in tested.items() if n != objective.benchmark}
    losses = {name: test.window_errors, "default": default_test.window_errors,
              objective.benchmark: test.baseline_window_errors, **{n: r.window_errors for n, r in references.items()}}
    units = "absolute pct-return error per test origin" if objective.name == DEFAULT_OBJECTIVE else \
        f"{objective.name} per test origin ({objective.units})"
    block = {"objective": objective.name, "default": default,
             "comparisons": comparisons(test, default_test, scoring.alpha, scoring.seed, scoring.test_origins_per_day,
                                        references, scoring.splits.spec.overlap),
             "test_losses": {"file": horizon_slot(scoring.data.symbol, scoring.horizon) + TEST_LOSSES_SUFFIX,
                             "columns": list(losses),
                             "units": units},
             **overlap_flags(identities, windows)}
    if tested:  # a distribution objective: every reference's metrics, and the one a new symbol is served
        validation = reference_results(scoring, "validation", benchmark=True)
        block["references"] = {n: {"model": objective.references[n], "config": scoring.default_config(
            objective.references[n]).to_dict(), "validation": validation[n].to_dict(), "test": tested[n].to_dict()}
            for n in tested}
        block["implicit_incumbent"] = implicit_incumbent(scoring, validation)
        block["calibration"] = calibration_block(scoring, {name: test, "default": default_test, **tested})
    elif objective.scores_distribution:  # one reference, the benchmark, but not persistence: climatology's lookback
        block["implicit_incumbent"] = implicit_incumbent(scoring, reference_results(scoring, "validation", True))
    return block, losses


def calibration_block(scoring: Scoring, results: dict[str, EvaluationResult]) -> dict[str, Any]:
    """``{forecast: calibration test on the test windows}`` (:func:`sweep.stats.calibration.calibration_test` of each
    result's per-window level hits, overlapping windows counted)."""
    objective, overlap = get_objective(scoring.objective), scoring.splits.spec.overlap
    return {name: calibration_test(r.window_hits, objective.levels, scoring.alpha, overlap).to_dict()
            for name, r in results.items()}


def candidate_document(scoring: Scoring, outcome: StudyOutcome, test: EvaluationResult,
                       outcomes: list[StudyOutcome | TrialError], significance: dict[str, Any],
                       provenance: dict[str, Any],
                       selection: dict[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The candidate JSON of the config selected on validation, and its per-window test losses.

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

    Returns
    -------
    document : dict
    losses : dict
        ``{"selected", "default", "persistence": [n_test_origins]}`` for :func:`window_losses_csv`.
    """
    identity = scoring.forecaster_of(outcome.model).identity()
    windows = scoring.splits.describe(scoring.data.frame.index)
    studies = [{"model": o.model, "study_name": o.study_name, "best_trial": o.trial_number,
                f"validation_{scoring.objective}": o.validation[scoring.objective], "n_complete": o.n_complete,
                "n_failed": o.n_failed} for o in outcomes if isinstance(o, StudyOutcome)]
    honesty, losses = _honesty(scoring, test, "selected", outcome.model, [identity], windows)
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
        **honesty,
    }, losses


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
    validation = [member_forecast(m, data, splits.validation_origins, horizon, scoring.cache) for m in members]
    weights = fit_weights(method, validation, data, splits.validation_origins, horizon, scoring.objective)
    active = [(m, w) for m, w in zip(members, weights) if w > 0]  # test inference only for members in use
    # test rows at the member's own num_samples: no later trial asks for more of them
    test_forecasts = [member_forecast(replace(m, n_max=None), data, splits.test_origins, horizon, scoring.cache)
                      for m, _ in active]
    test = ensemble_result(test_forecasts, np.array([w for _, w in active]), data, splits.test_origins, horizon,
                           scoring.objective)
    return FittedEnsemble(method, members, weights, ensemble_result(validation, weights, data,
                                                                    splits.validation_origins, horizon,
                                                                    scoring.objective), test)


def ensemble_document(scoring: Scoring, fitted: FittedEnsemble, done: list[StudyOutcome],
                      significance: dict[str, Any], provenance: dict[str, Any],
                      selection: dict[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The ensemble candidate JSON and its per-window test losses (columns ``ensemble``, ``default``, ``persistence``).

    Its ``default`` block is the family default of the strongest member. The SPA and MCS over the
    member studies' trials are kept as ``selection.members_significance``: they test the trials, not
    the blend, whose weights were fitted on the same validation windows; the blend is judged by its
    paired tests on the test windows, which neither the trials nor the weights saw.
    """
    studies = [{"study_name": o.study_name, "trial_number": o.trial_number} for o in done]
    windows = scoring.splits.describe(scoring.data.frame.index)
    active = [m.forecaster.identity() for m, w in zip(fitted.members, fitted.weights) if w > 0]
    honesty, losses = _honesty(scoring, fitted.test, "ensemble", fitted.strongest, active, windows)
    return {
        "symbol": scoring.data.symbol,
        "model": {"family": "ensemble", "method": fitted.method},
        "config": {"members": member_entries(fitted.members, fitted.weights, studies)},
        "validation": fitted.validation.to_dict(),
        "test": fitted.test.to_dict(),
        "baseline": _baseline(scoring, fitted.test),
        "windows": windows,
        "provenance": {**provenance, "ensemble_method": fitted.method},
        "selection": {**selection, "weights_fitted_on": "validation origins",
                      "objective": f"validation {scoring.objective}", "studies": studies,
                      "members_significance": {**significance, "tests": "the member studies' trials, not the "
                                               "ensemble (its weights were fitted on the same validation windows)"}},
        **honesty,
    }, losses
