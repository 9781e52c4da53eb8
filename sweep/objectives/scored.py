"""What an objective's loss may read of a set of scored windows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..stats.predictive import Predictive

__all__ = ["ScoredWindows"]


@dataclass(frozen=True)
class ScoredWindows:
    """One config's forecasts at a set of origins, with what they are judged against.

    Attributes
    ----------
    point : numpy.ndarray
        ``[n_windows, 1]`` point forecast of the close ``horizon`` bars ahead (price units).
    predictive : Predictive
        Sample paths or quantiles of the same windows at that close (:meth:`Predictive.endpoint`).
    targets : numpy.ndarray
        ``[n_windows, 1]`` realised close ``horizon`` bars ahead: every objective scores the return from the last
        context close to it, what a position held for the horizon is paid on.
    last_close : numpy.ndarray
        ``[n_windows]`` last context close.
    origins : numpy.ndarray
        ``[n_windows]`` increasing bar indices (:mod:`sweep.data.windows`).
    decision : dict
        The config's decision settings (:attr:`sweep.forecasters.config.ForecastConfig.decision`): the trading rule
        under ``pnl``, empty otherwise.
    bar_seconds : float
        Seconds per bar (``--freq``), for annualising.
    horizon : int
        Bars from the last context close to the scored close.
    """

    point: np.ndarray
    predictive: Predictive
    targets: np.ndarray
    last_close: np.ndarray
    origins: np.ndarray
    decision: dict[str, Any] = field(default_factory=dict)
    bar_seconds: float = 3600.0
    horizon: int = 1
