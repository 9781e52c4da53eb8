"""What a trial scores: one config on one symbol's validation origins, or pooled over every symbol's.

Per symbol, the objective is the config's validation loss under the run's objective (:mod:`sweep.objectives`;
``pct_return_mae`` by default). Pooled (``--selection pooled``), one config is scored on every symbol's
validation origins and the objective is the relative loss (``relative_mae`` under ``pct_return_mae``,
``relative_<objective>`` otherwise): the mean over symbols of the config's validation loss divided by that
symbol's benchmark loss (persistence; the empirical random walk under ``quantile_loss``). This scale-free skill
lets a quiet symbol weigh as much as a volatile one (a raw mean would be BTCUSD's and ETHUSD's volatilities, not
the config's accuracy). Test origins are never touched here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna

from ..scoring.cache import SampleCache
from ..forecasters.config import ForecastConfig
from ..errors import ConfigError, ModelLoadError, StorageError, SweepError, TrialError
from ..scoring.evaluate import EvaluationResult, evaluate
from ..forecasters.base import Forecaster
from ..objectives import DEFAULT_OBJECTIVE
from .space import n_max_samples, space_of
from .study_job import StudyJob, SymbolWindows
from ._symbol_batch import SymbolBatcher
from .horizon_trials import record_horizons

__all__ = ["Objective", "relative_window_losses", "pooled_validation", "pooled_objective", "OBJECTIVE",
           "POOLED_OBJECTIVE", "SOURCE_ATTR", "WINDOW_ERRORS_ATTR", "BY_SYMBOL_ATTR", "OBJECTIVE_ATTR",
           "check_study_objective"]

OBJECTIVE = DEFAULT_OBJECTIVE
#: A pooled study's accuracy objective under ``pct_return_mae``: mean over symbols of validation MAE / persistence
#: MAE.
POOLED_OBJECTIVE = "relative_mae"


def pooled_objective(objective: str = DEFAULT_OBJECTIVE) -> str:
    """Key of a pooled study's relative loss under ``objective``: ``relative_mae``, or ``relative_<objective>``."""
    return POOLED_OBJECTIVE if objective == DEFAULT_OBJECTIVE else f"relative_{objective}"
#: Trial attribute naming where a trial's config came from: "default", "production" or "search".
SOURCE_ATTR = "source"
#: Trial attribute holding the ``[n_validation_windows]`` per-window validation losses (the inputs of the
#: SPA test, the Model Confidence Set and the report; no new inference needed): absolute pct-return errors,
#: or, in a pooled study, :func:`relative_window_losses`.
WINDOW_ERRORS_ATTR = "validation_window_errors"
#: Trial attribute of a pooled trial: ``{symbol: validation metrics}``.
BY_SYMBOL_ATTR = "validation_by_symbol"
#: Study attribute naming the objective it is tuned on.
OBJECTIVE_ATTR = "objective"


def relative_window_losses(window_errors: list[np.ndarray], persistence_mae: list[float]) -> np.ndarray:
    """Per-window losses of a pooled config: each symbol's losses over its benchmark's mean loss (persistence MAE
    under ``pct_return_mae``), averaged by window.

    Symbols share the window layout (one window spec), so their windows line up by position, at the
    same origin times when their series end together. The average keeps one time series whose mean
    is the pooled objective; its serial dependence and the symbols' common moves stay inside each
    value, where the SPA's bootstrap sees them. Concatenating the symbols instead would count
    correlated symbols' windows as independent evidence and overstate significance
    (``benchmarks/pooled_spa.py`` measures both).

    Parameters
    ----------
    window_errors : list of numpy.ndarray
        One ``[n_windows]`` array of the objective's losses per symbol (return units).
    persistence_mae : list of float
        Each symbol's benchmark loss on the same windows (return units).

    Returns
    -------
    numpy.ndarray
        ``[n_windows]`` unitless; the benchmark's own relative losses average to exactly 1.

    Raises
    ------
    ValueError
        If the symbols' window counts differ, or a persistence MAE is not positive.
    """
    lengths = {len(e) for e in window_errors}
    if len(lengths) != 1:
        raise ValueError(f"pooled symbols must share their validation windows, got counts {sorted(lengths)}")
    if not all(m > 0 for m in persistence_mae):
        raise ValueError(f"every benchmark loss must be positive, got {persistence_mae}")
    return np.mean([np.asarray(e, dtype=float) / m for e, m in zip(window_errors, persistence_mae)], axis=0)


def pooled_validation(results: dict[str, EvaluationResult]) -> dict[str, Any]:
    """The ``validation`` block of a pooled trial from each symbol's validation result.

    Returns
    -------
    dict
        :func:`pooled_objective` (the objective: ``relative_mae`` under ``pct_return_mae``), ``skill``
        (``1 - relative loss``), the objective's loss (mean over symbols, return units; not scale-free),
        ``latency_s`` (mean seconds per origin), ``n_symbols`` and ``n_windows`` (per symbol).
    """
    first = next(iter(results.values()))
    losses = np.array([r.loss for r in results.values()])
    benchmark = np.array([r.baseline_loss for r in results.values()])
    relative = float(np.mean(losses / benchmark))
    return {pooled_objective(first.objective): relative, "skill": 1.0 - relative, first.objective: float(losses.mean()),
            "latency_s": float(np.mean([r.metrics["latency_s"] for r in results.values()])),
            "n_symbols": len(results), "n_windows": first.n_windows}


def check_study_objective(study: optuna.Study, objective: str) -> None:
    """Record ``objective`` on a study that has none (:data:`OBJECTIVE_ATTR`); refuse one that records another.
    Studies from before ``--objective`` existed, with trials, were tuned on ``pct_return_mae``.

    Raises
    ------
    ConfigError
        If the study was tuned on another objective.
    """
    recorded = study.user_attrs.get(OBJECTIVE_ATTR)
    if recorded is None and study.get_trials(deepcopy=False):
        recorded = OBJECTIVE
    if recorded is not None and recorded != objective:
        raise ConfigError(f"study {study.study_name!r} was tuned on --objective {recorded}, not {objective}: the "
                          f"objective is declared when a run starts and never changed; rerun with --objective "
                          f"{recorded}, or sweep under a new --run-id")
    if OBJECTIVE_ATTR not in study.user_attrs:
        study.set_user_attr(OBJECTIVE_ATTR, objective)


class Objective:
    """The objective of ``job``'s trials: validation loss (and ``latency_s`` with two objectives) of the
    config a trial suggests, on the job's symbol or, pooled, on every symbol of its pool."""

    def __init__(self, job: StudyJob, forecaster: Forecaster, cache: SampleCache,
                 batcher: SymbolBatcher | None = None):
        self.job, self.forecaster, self.cache, self.batcher = job, forecaster, cache, batcher
        if forecaster.max_context_length < job.context_ceiling:  # the checkpoint changed since the job was built
            raise ModelLoadError(f"{job.model} takes contexts of at most {forecaster.max_context_length} bars, but its "
                                 f"study {job.name} was built for {job.context_ceiling}; rerun the command")
        self.max_context = job.context_ceiling
        self.space = space_of(job.model_family, job.objective, job.fixed_decision)

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, ...]:
        if SOURCE_ATTR not in trial.user_attrs:
            trial.set_user_attr(SOURCE_ATTR, "search")
        try:
            config = self.space(trial, self.max_context, self.job.seed)
        except ValueError as e:  # an enqueued config off this model's grid (e.g. a longer max context)
            raise self._failure(trial, e, "the enqueued config is not in this model's search space") from e
        try:
            if self.batcher is not None:
                self.batcher.before(self.job, self.forecaster, config, self.cache)
            if len(self.job.horizons) > 1:  # one symbol (pooled runs take one horizon), every horizon of one draw
                (windows,) = self.job.windows
                results = {h: self._evaluate(config, windows, h) for h in self.job.horizons}
            else:
                results = {w.symbol: self._evaluate(config, w) for w in self.job.windows}
        except StorageError:  # not the config's fault: stop the study rather than fail every trial
            raise
        except (SweepError, ValueError, RuntimeError, MemoryError) as e:
            raise self._failure(trial, e) from e
        trial.set_user_attr("config", config.to_dict())
        metrics = record_horizons(trial, results) if len(self.job.horizons) > 1 else self._record(trial, results)
        values = tuple(metrics[pooled_objective(name) if self.job.pool and name == self.job.objective else name]
                       for name in self.job.objectives)
        return values[0] if len(values) == 1 else values

    def _evaluate(self, config: ForecastConfig, windows: SymbolWindows, horizon: int | None = None
                  ) -> EvaluationResult:
        """``config`` on the validation origins at ``horizon`` (default the layout's own), drawn at the layout's."""
        spec = windows.splits.spec
        return evaluate(self.forecaster, config, windows.data, windows.splits.validation_origins,
                        horizon or spec.horizon, self.cache, n_max_samples(self.job.model_family),
                        self.job.objective, spec.layout)

    def _record(self, trial: optuna.Trial, results: dict[str, EvaluationResult]) -> dict[str, Any]:
        """Store the validation metrics and per-window losses on the trial; the metrics the objective reads."""
        if not self.job.pool:
            (result,) = results.values()
            trial.set_user_attr("validation", result.to_dict())
            trial.set_user_attr(WINDOW_ERRORS_ATTR, result.window_errors.tolist())
            return result.metrics
        metrics = pooled_validation(results)
        trial.set_user_attr("validation", metrics)
        trial.set_user_attr(BY_SYMBOL_ATTR, {symbol: r.to_dict() for symbol, r in results.items()})
        losses = relative_window_losses([r.window_errors for r in results.values()],
                                        [r.baseline_loss for r in results.values()])
        trial.set_user_attr(WINDOW_ERRORS_ATTR, losses.tolist())
        return metrics

    def _failure(self, trial: optuna.Trial, error: Exception, why: str = "") -> TrialError:
        """Record ``error`` on the trial; the :class:`TrialError` that marks it FAIL and lets the study go on."""
        message = f"{type(error).__name__}: {error}" + (f" ({why})" if why else "")
        trial.set_user_attr("error", message)
        return TrialError(f"{self.job.name} trial {trial.number}: {message}")
