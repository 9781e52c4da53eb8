"""Score one config on a set of forecast origins, with the persistence baseline beside it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .cache import SampleCache, origins_digest
from ..forecasters.config import ForecastConfig
from ..data.bars import COLUMNS as OHLCV_COLUMNS, OHLCVData
from ..errors import ConfigError
from ..forecasters.base import Forecaster, QuantileBatch, SampleBatch
from ..forecasters.registry import draws_once
from ..objectives import DEFAULT_OBJECTIVE, ScoredWindows, get_objective
from ..stats.metrics import point_metrics
from ..stats.predictive import Predictive
from ..data.windows import gather_contexts, gather_targets

__all__ = ["EvaluationResult", "evaluate", "score", "persistence_metrics", "persistence_errors", "benchmark_losses",
           "draw_samples", "drawn_horizon",
           "inference_fields", "window_inputs"]


@dataclass(frozen=True)
class EvaluationResult:
    """Metrics of one config on one set of origins.

    Attributes
    ----------
    metrics : dict
        The objective's loss under its name (e.g. ``quantile_loss``, return units) and its secondary metrics
        (per-level ``coverage_<level>``), ``pct_return_mae``, ``price_mae``, ``rmse``, ``mape``,
        ``direction_accuracy``, ``crps``, ``coverage_90`` (with ``coverage_nominal``, the interval's
        nominal level: 0.9, or that of a quantile model's nearest levels), ``latency_s`` (inference
        seconds per origin), the benchmark's loss ``<benchmark>_<objective>`` (``persistence_pct_return_mae``)
        and ``skill = 1 - loss / benchmark loss``.
    window_errors : numpy.ndarray
        ``[n_windows]`` the objective's loss per origin (for paired tests; absolute return errors under
        ``pct_return_mae``).
    baseline : dict
        Point metrics of the persistence forecast on the same origins, and the objective's benchmark loss under
        the objective's name (persistence's own under ``pct_return_mae``).
    speed : dict
        Speed settings chosen automatically (e.g. ``samples_per_batch``).
    n_windows : int
    baseline_window_errors : numpy.ndarray
        ``[n_windows]`` the objective's benchmark loss per origin.
    objective : str
        The objective's name (:mod:`sweep.objectives`).
    window_hits : numpy.ndarray or None
        ``[n_windows, n_levels]`` under a distribution objective: each window's share of steps at or below each
        scored quantile (:func:`sweep.stats.calibration.level_hits`), the input of its calibration test.
    window_records : dict
        ``{name: [n_windows]}`` the objective's per-window values (:attr:`sweep.objectives.Objective.window_records`:
        the probability of up, the trading rule's position and PnL).
    """

    metrics: dict[str, float]
    window_errors: np.ndarray
    baseline: dict[str, float]
    speed: dict[str, Any] = field(default_factory=dict)
    n_windows: int = 0
    baseline_window_errors: np.ndarray | None = None
    objective: str = DEFAULT_OBJECTIVE
    window_hits: np.ndarray | None = None
    window_records: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def loss(self) -> float:
        """Mean of :attr:`window_errors`: the objective's loss."""
        return self.metrics[self.objective]

    @property
    def baseline_loss(self) -> float:
        """The objective's benchmark loss on the same origins."""
        return self.baseline[self.objective]

    def to_dict(self) -> dict[str, Any]:
        return {**self.metrics, "n_windows": self.n_windows, "speed": self.speed}


def _persistence(data: OHLCVData, origins: np.ndarray, horizon: int) -> tuple[np.ndarray, ...]:
    """``(point, targets, last_close)`` of the persistence forecast at the close ``horizon`` bars ahead
    (``[n_windows, 1]`` each but ``last_close``)."""
    last_close = data.close[origins - 1]
    return last_close[:, None], gather_targets(data.close, origins, horizon)[:, -1:], last_close


def persistence_metrics(data: OHLCVData, origins: np.ndarray, horizon: int) -> dict[str, float]:
    """Point metrics of the persistence forecast (last close for every step) on ``origins``."""
    return point_metrics(*_persistence(data, origins, horizon))


def persistence_errors(data: OHLCVData, origins: np.ndarray, horizon: int) -> np.ndarray:
    """``[n_windows]`` absolute return error of the persistence forecast per origin (no inference): the
    ``pct_return_mae`` benchmark (:mod:`sweep.objectives`, which owns it), of every paired test and the SPA test."""
    return benchmark_losses(data, origins, horizon, DEFAULT_OBJECTIVE)


def benchmark_losses(data: OHLCVData, origins: np.ndarray, horizon: int,
                     objective: str = DEFAULT_OBJECTIVE) -> np.ndarray:
    """``[n_windows]`` losses of ``objective``'s benchmark at ``origins`` (no model inference): persistence's
    absolute return errors under ``pct_return_mae``, the empirical random walk's quantile losses under
    ``quantile_loss``; the benchmark of the SPA test and the scale of a pooled study."""
    return get_objective(objective).benchmark_losses(data, origins, horizon)


def inference_fields(forecaster: Forecaster, config: ForecastConfig, data: OHLCVData, origins: np.ndarray,
                     horizon: int) -> dict[str, Any]:
    """The sample cache's key fields of ``config``'s forecasts on ``data``: everything a window's paths depend on
    but its origin (and, for a family whose windows depend on their request, the request's origins too).

    Raises
    ------
    ConfigError
        If ``config.context_length`` exceeds the model's maximum.
    """
    context_length = config.context_length
    if context_length > forecaster.max_context_length:
        raise ConfigError(f"context_length {context_length} exceeds the {forecaster.family} model's maximum "
                          f"{forecaster.max_context_length}; lower it")
    independent = forecaster.rows_independent(horizon)
    fields = {
        "model": forecaster.identity(),
        "data": data.fingerprint,
        "context_length": context_length,
        "horizon": horizon,
        "sampling": config.sampling,
        "seed": config.seed,
        # block size, device and decoder shape the random stream; rows that do not depend on their request
        # share a key whatever its size (a quantile family's chunk size changes float32 rounding only)
        "speed": forecaster.speed_settings(1 if independent else len(origins), context_length, horizon),
    }
    if not independent:  # a window's paths depend on its request: cache it whole
        fields["origins"] = origins_digest(origins)
    return fields


def window_inputs(forecaster: Forecaster, config: ForecastConfig, data: OHLCVData,
                  origins: np.ndarray) -> dict[str, Any]:
    """The keyword arguments of ``forecaster.forecast`` but ``horizon`` and ``num_samples`` for ``config`` at
    ``origins``: contexts ``[n_windows, context_length]``, their bar times, the seed, sampling and (if read) the
    OHLCV bars ``[n_windows, context_length, 5]``."""
    n = config.context_length
    ohlcv = gather_contexts(data.frame[list(OHLCV_COLUMNS)].to_numpy(np.float64), origins, n) \
        if forecaster.uses_ohlcv else None
    return {"contexts": gather_contexts(data.close, origins, n), "timestamps_s": gather_contexts(
        data.timestamps_s, origins, n), "seed": config.seed, "sampling": config.sampling, "ohlcv": ohlcv}


def drawn_horizon(forecaster: Forecaster, horizon: int, layout: int | None) -> int:
    """The horizon ``forecaster`` draws at to forecast ``horizon`` bars in a run laid out for ``layout`` (its
    longest horizon): ``layout`` when the family's shorter horizons equal a direct draw
    (:func:`sweep.forecasters.registry.draws_once`), so that every horizon of the run shares one draw; else
    ``horizon``."""
    return layout if layout and layout > horizon and draws_once(forecaster.family) else horizon


def draw_samples(forecaster: Forecaster, config: ForecastConfig, data: OHLCVData, origins: np.ndarray,
                 horizon: int, cache: SampleCache, n_max: int | None = None, layout: int | None = None
                 ) -> tuple[SampleBatch | QuantileBatch, dict[str, Any]]:
    """Sample paths (or quantiles) of ``config`` at ``origins``, through the cache.

    With ``layout`` (a run's longest horizon) a family that draws once (:func:`drawn_horizon`) draws ``layout``
    steps, cached under that horizon, and returns the first ``horizon``: every horizon of the run reads one draw.

    The cache keeps one row per origin and draws only the origins no earlier request drew (a
    window's paths depend on its own bars only): a walk-forward backtest's folds, or a study's
    validation and a candidate's test origins, share every row they have in common.

    Returns
    -------
    batch : SampleBatch or QuantileBatch
        ``[n_windows, config.num_samples, horizon]`` price samples, or ``[n_windows, n_levels, horizon]`` quantiles.
    speed : dict
        The forecaster's automatic speed settings.
    """
    steps = drawn_horizon(forecaster, horizon, layout)
    fields = inference_fields(forecaster, config, data, origins, steps)

    def draw(drawn: np.ndarray, num_samples: int) -> SampleBatch | QuantileBatch:
        return forecaster.forecast(**window_inputs(forecaster, config, data, drawn), horizon=steps,
                                   num_samples=num_samples)

    batch = cache.get(fields, origins, config.num_samples, n_max or config.num_samples, draw)
    return batch.leading(horizon), forecaster.speed_settings(len(origins), config.context_length, steps)


def evaluate(forecaster: Forecaster, config: ForecastConfig, data: OHLCVData, origins: np.ndarray, horizon: int,
             cache: SampleCache | None = None, n_max: int | None = None,
             objective: str = DEFAULT_OBJECTIVE, layout: int | None = None) -> EvaluationResult:
    """Evaluate ``config`` at ``origins``.

    Parameters
    ----------
    forecaster : Forecaster
        A loaded model of family ``config.model``.
    config : ForecastConfig
    data : OHLCVData
    origins : numpy.ndarray
        ``[n_windows]`` bar indices (see :mod:`sweep.data.windows`).
    horizon : int
        Bars scored per origin.
    cache : SampleCache, optional
        Defaults to a fresh in-memory cache.
    n_max : int, optional
        Paths to draw on a cache miss (default ``config.num_samples``).
    objective : str
        What :attr:`EvaluationResult.window_errors` holds (:mod:`sweep.objectives`); the draws do not depend on it.
    layout : int, optional
        The run's longest horizon, when it has several (:attr:`sweep.data.windows.WindowSpec.layout`): a family
        that draws once draws there (:func:`draw_samples`).

    Returns
    -------
    EvaluationResult

    Raises
    ------
    ConfigError
        If ``config.context_length`` exceeds the model's maximum.
    ValueError
        If an origin lacks context or target bars.
    """
    batch, speed = draw_samples(forecaster, config, data, origins, horizon, cache or SampleCache(), n_max, layout)
    predictive = batch.predictive
    return score(predictive.point(config.aggregate), predictive, batch.latency_s(), data, origins, horizon, speed,
                 objective, config.decision)


def score(point: np.ndarray, predictive: Predictive, latency_s: float, data: OHLCVData, origins: np.ndarray,
          horizon: int, speed: dict[str, Any] | None = None, objective: str = DEFAULT_OBJECTIVE,
          decision: dict[str, Any] | None = None) -> EvaluationResult:
    """Metrics of a point forecast and its distribution at ``origins``, with the persistence baseline.

    Every metric scores the close ``horizon`` bars ahead, the forecast's last step: a position held for the
    horizon is paid on the return to that close, not on the path's average over its steps.

    Parameters
    ----------
    point : numpy.ndarray
        ``[n_windows, horizon]`` price forecast (its last step is scored).
    predictive : Predictive
        Sample paths or quantiles of the same windows.
    latency_s : float
        Inference seconds per origin.
    data, origins, horizon
        As in :func:`evaluate`.
    speed : dict, optional
        Speed settings to record.
    objective : str
        The objective whose per-window loss and benchmark the result holds.
    decision : dict, optional
        The config's decision settings (:attr:`sweep.forecasters.config.ForecastConfig.decision`).

    Raises
    ------
    ConfigError
        If the objective needs a decision (``pnl``'s trading rule) that ``decision`` does not declare.
    """
    scored = get_objective(objective)
    last_close = data.close[origins - 1]
    targets = gather_targets(data.close, origins, horizon)[:, -1:]
    point, predictive = point[:, -1:], predictive.endpoint()
    windows = ScoredWindows(point, predictive, targets, last_close, np.asarray(origins), dict(decision or {}),
                            data.freq.total_seconds(), horizon)
    losses, objective_metrics = scored.metrics(windows)
    metrics = {**point_metrics(point, targets, last_close), **predictive.metrics(targets, last_close),
               **objective_metrics}
    benchmark = scored.benchmark_losses(data, origins, horizon)
    baseline = {**persistence_metrics(data, origins, horizon), objective: float(benchmark.mean())}
    metrics["latency_s"] = float(latency_s)
    metrics[scored.benchmark_key] = baseline[objective]
    metrics["skill"] = scored.skill(metrics[objective], baseline[objective])
    hits = scored.window_hits(windows) if scored.window_hits else None
    records = scored.window_records(windows) if scored.window_records else {}
    return EvaluationResult(metrics=metrics, window_errors=losses, baseline=baseline, speed=speed or {},
                            n_windows=len(origins), baseline_window_errors=benchmark, objective=objective,
                            window_hits=hits, window_records=records)
