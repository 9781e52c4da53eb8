"""A forecast distribution: sample paths, or quantiles at fixed levels.

Sample-path families (Toto 1.0, Kronos) and quantile families (Toto 2.0,
Chronos-2, Chronos-Bolt) meet here, so aggregation, metrics, ensembles, the
report and ``predict`` treat both alike without inventing pseudo-samples from
quantiles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .aggregate import aggregate, aggregate_quantiles
from .metrics import coverage, crps, quantile_coverage, quantile_crps

__all__ = ["Predictive"]


@dataclass(frozen=True)
class Predictive:
    """Predictive distribution of a set of forecast origins.

    Attributes
    ----------
    values : numpy.ndarray
        ``[n_windows, n_samples, horizon]`` equally weighted sample paths when ``levels`` is None, else
        ``[n_windows, n_levels, horizon]`` quantiles; price units.
    levels : numpy.ndarray or None
        ``[n_levels]`` increasing quantile levels in (0, 1) of ``values``' second axis.
    fixed_point : numpy.ndarray or None
        ``[n_windows, horizon]`` prices: a point forecast that is not an aggregate of ``values`` (persistence's last
        close beside its empirical distribution); :meth:`point` returns it whatever the aggregation.
    """

    values: np.ndarray
    levels: np.ndarray | None = None
    fixed_point: np.ndarray | None = None

    @property
    def kind(self) -> str:
        """``"samples"`` or ``"quantiles"``."""
        return "samples" if self.levels is None else "quantiles"

    def point(self, aggregation: str) -> np.ndarray:
        """``[n_windows, horizon]`` point forecast by aggregation name (see :mod:`sweep.stats.aggregate`).

        Raises
        ------
        ConfigError
            If the name is invalid, or for quantiles names a level the model does not predict.
        """
        if self.fixed_point is not None:
            return self.fixed_point
        if self.levels is None:
            return aggregate(self.values, aggregation)
        return aggregate_quantiles(self.values, self.levels, aggregation)

    def quantiles(self, levels) -> np.ndarray:
        """``[n_windows, len(levels), horizon]`` quantiles at ``levels``.

        Samples: numpy's linear-interpolation quantiles. Quantiles: linear interpolation between the
        model's levels (a level the model predicts is returned exactly); beyond its outermost levels the
        outermost quantile is returned (no extrapolation,
        as ``chronos``' ``predict_quantiles`` does).
        """
        levels = np.asarray(levels, dtype=float)
        if self.levels is None:
            return np.moveaxis(np.quantile(self.values, levels, axis=1), 0, 1)
        position = np.interp(levels, self.levels, np.arange(len(self.levels)))
        position = np.where(np.isclose(position, np.round(position), rtol=0, atol=1e-9), np.round(position), position)
        low = np.floor(position).astype(int)
        high = np.minimum(low + 1, len(self.levels) - 1)
        frac = (position - low)[None, :, None]
        return self.values[:, low] * (1 - frac) + self.values[:, high] * frac

    def rows(self, rows: np.ndarray) -> "Predictive":
        """The distribution of windows ``rows`` only."""
        return Predictive(self.values[rows], self.levels, None if self.fixed_point is None else self.fixed_point[rows])

    def endpoint(self) -> "Predictive":
        """The distribution of each window's last step only (``[n_windows, n_samples | n_levels, 1]``): the close
        ``horizon`` bars ahead, which every objective scores."""
        return Predictive(self.values[..., -1:], self.levels,
                          None if self.fixed_point is None else self.fixed_point[:, -1:])

    def metrics(self, targets: np.ndarray, last_close: np.ndarray) -> dict[str, float]:
        """``crps`` (return units), ``coverage_90`` and the nominal level of that interval, ``coverage_nominal``.

        Samples give the central 90 % interval; quantiles give the interval between the levels nearest
        to 0.05 and 0.95 (``coverage_nominal`` 0.8 for levels 0.1 ... 0.9).
        """
        if self.levels is None:
            return {"crps": crps(self.values, targets, last_close), "coverage_90": coverage(self.values, targets),
                    "coverage_nominal": 0.9}
        value, nominal = quantile_coverage(self.values, self.levels, targets)
        return {"crps": quantile_crps(self.values, self.levels, targets, last_close), "coverage_90": value,
                "coverage_nominal": nominal}
