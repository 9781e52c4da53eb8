"""The naive baseline: persistence as its point, the empirical random walk as its distribution."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..stats.metrics import QUANTILE_LEVELS
from .base import Forecaster, QuantileBatch

__all__ = ["PersistenceForecaster", "empirical_quantiles", "LOOKBACKS", "DEFAULT_LOOKBACK"]

#: Return windows (bars) the naive distribution's search tries under a distribution objective: a week to six months
#: of hourly bars.
LOOKBACKS = (168, 336, 720, 1440, 2160, 4320)
#: The untuned lookback: the last 720 hourly returns (30 days), the empirical random walk of issue 32's measurement
#: (its 80 % interval covered 78.6 % of BTCUSD's last 2,400 hourly origins).
DEFAULT_LOOKBACK = 720


def empirical_quantiles(contexts: np.ndarray, horizon: int, levels=QUANTILE_LEVELS) -> np.ndarray:
    """The empirical random walk: each context's last close times (1 + the empirical quantiles of its own k-bar
    returns), ``k = 1 .. horizon``.

    Step ``k`` reads the overlapping k-bar simple returns ``c[t] / c[t - k] - 1`` that lie wholly inside the
    context (numpy's default linear-interpolation quantiles). A context too short for any k-bar return (one bar)
    gives the last close at every level: persistence without a spread.

    Parameters
    ----------
    contexts : numpy.ndarray
        ``[n_windows, context_length]`` closes; ``context_length - 1`` one-bar returns.
    horizon : int
    levels : sequence of float
        ``[n_levels]`` in (0, 1).

    Returns
    -------
    numpy.ndarray
        ``[n_windows, n_levels, horizon]`` price quantiles.
    """
    contexts = np.asarray(contexts, dtype=np.float64)
    last = contexts[:, -1]
    out = np.repeat(last[:, None, None], len(levels), axis=1).repeat(horizon, axis=2)
    for k in range(1, min(horizon, contexts.shape[1] - 1) + 1):
        returns = contexts[:, k:] / contexts[:, :-k] - 1.0  # [W, C - k]
        out[:, :, k - 1] = last[:, None] * (1.0 + np.quantile(returns, levels, axis=1).T)
    if horizon >= contexts.shape[1] > 1:  # steps longer than the context: the longest return held
        out[:, :, contexts.shape[1] - 1:] = out[:, :, [contexts.shape[1] - 2]]
    return out


class PersistenceForecaster(Forecaster):
    """Forecasts the last close of the context for every future bar (random walk without drift), with the
    empirical random walk's quantiles (:func:`empirical_quantiles` of its context) as its distribution.

    Its point is always the last close, whatever the config's ``aggregate``: with a one-bar context (the
    ``pct_return_mae`` config) every quantile is the last close too, and its CRPS equals its absolute return
    error. Its ``context_length`` is its return lookback plus one bar.
    """

    family = "naive"
    output = "quantiles"
    max_context_length = max(LOOKBACKS) + 1

    def identity(self) -> dict[str, Any]:
        return {"family": self.family, "model_id": "persistence"}

    @classmethod
    def from_identity(cls, identity: dict[str, Any]) -> "PersistenceForecaster":
        return cls()

    def samples_per_batch(self, n_windows: int, context_length: int, horizon: int) -> int:
        return 1

    def rows_independent(self, horizon: int) -> bool:
        return True

    def speed_settings(self, n_windows: int, context_length: int, horizon: int) -> dict[str, Any]:
        # part of the cache key: rows cached before the distribution (equal sample paths) are not served
        return {"distribution": "empirical_quantiles"}

    def forecast(self, contexts: np.ndarray, timestamps_s: np.ndarray, horizon: int, num_samples: int,
                 seed: int, sampling: dict[str, Any] | None = None, ohlcv: np.ndarray | None = None) -> QuantileBatch:
        began = time.perf_counter()
        quantiles = empirical_quantiles(contexts, horizon)
        last = contexts[:, -1].astype(np.float64)
        return QuantileBatch(quantiles, np.asarray(QUANTILE_LEVELS), np.array([time.perf_counter() - began]),
                             point=np.repeat(last[:, None], horizon, axis=1))
