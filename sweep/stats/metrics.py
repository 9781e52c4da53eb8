"""Forecast metrics.

Shapes: ``point`` and ``targets`` are ``[n_windows, horizon]`` prices,
``samples`` is ``[n_windows, n_samples, horizon]`` prices, ``quantiles`` is
``[n_windows, n_levels, horizon]`` prices at ``levels`` ``[n_levels]``, and ``last_close``
is ``[n_windows]``, the last close inside each context. Returns are measured
from ``last_close``: ``r = price / last_close - 1``.

The primary metric is ``pct_return_mae`` (DESIGN.md)::

    mean over windows and steps of |pred_close / last_close - 1 - (true_close / last_close - 1)|

in return units (0.01 = 1 %).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "pct_return_errors",
    "pct_return_mae",
    "price_mae",
    "rmse",
    "mape",
    "direction_accuracy",
    "crps",
    "coverage",
    "quantile_crps",
    "quantile_coverage",
    "point_metrics",
    "QUANTILE_LEVELS",
    "quantile_loss_windows",
    "coverage_by_level",
]

COVERAGE_LEVEL = 0.9
#: The levels every family is scored on under ``quantile_loss`` (fev-bench's and GluonTS' weighted quantile loss).
QUANTILE_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def _returns(prices: np.ndarray, last_close: np.ndarray) -> np.ndarray:
    return prices / last_close[:, None] - 1.0


def pct_return_errors(point: np.ndarray, targets: np.ndarray, last_close: np.ndarray) -> np.ndarray:
    """Absolute return error per window, ``[n_windows]`` (mean over horizon steps, return units)."""
    return np.abs(_returns(point, last_close) - _returns(targets, last_close)).mean(axis=1)


def pct_return_mae(point: np.ndarray, targets: np.ndarray, last_close: np.ndarray) -> float:
    """Mean absolute error of returns relative to the last context close (return units)."""
    return float(pct_return_errors(point, targets, last_close).mean())


def price_mae(point: np.ndarray, targets: np.ndarray) -> float:
    """Mean absolute error in price units."""
    return float(np.abs(point - targets).mean())


def rmse(point: np.ndarray, targets: np.ndarray) -> float:
    """Root mean squared error in price units."""
    return float(np.sqrt(((point - targets) ** 2).mean()))


def mape(point: np.ndarray, targets: np.ndarray) -> float:
    """Mean absolute percentage error, ``mean |pred - true| / |true|`` (fraction, 0.01 = 1 %)."""
    return float((np.abs(point - targets) / np.abs(targets)).mean())


def direction_accuracy(point: np.ndarray, targets: np.ndarray, last_close: np.ndarray) -> float:
    """Fraction of (window, step) pairs where the forecast return has the sign of the true return.

    A zero true return counts as a hit only for a zero forecast return.
    """
    return float((np.sign(_returns(point, last_close)) == np.sign(_returns(targets, last_close))).mean())


def crps(samples: np.ndarray, targets: np.ndarray, last_close: np.ndarray) -> float:
    """Continuous ranked probability score of the sample paths, in return units.

    Uses the sample (energy) form ``E|X - y| - 0.5 E|X - X'|`` (Gneiting & Raftery,
    2007, eq. 21) on returns, averaged over windows and steps; lower is better
    and it equals ``pct_return_mae`` for a single sample.
    """
    x = samples / last_close[:, None, None] - 1.0  # [W, S, H]
    y = _returns(targets, last_close)[:, None, :]  # [W, 1, H]
    term_obs = np.abs(x - y).mean(axis=1)
    # E|X - X'| from sorted samples in O(S log S): sum_i (2i - S + 1) x_(i) * 2 / S^2
    s = x.shape[1]
    ordered = np.sort(x, axis=1)
    weights = (2.0 * np.arange(s) - s + 1.0)[None, :, None]
    term_spread = 2.0 * (weights * ordered).sum(axis=1) / (s * s)
    return float((term_obs - 0.5 * term_spread).mean())


def coverage(samples: np.ndarray, targets: np.ndarray, level: float = COVERAGE_LEVEL) -> float:
    """Fraction of targets inside the central ``level`` interval of the samples (ideal: ``level``)."""
    low, high = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2], axis=1)
    return float(((targets >= low) & (targets <= high)).mean())


def quantile_crps(quantiles: np.ndarray, levels: np.ndarray, targets: np.ndarray, last_close: np.ndarray) -> float:
    """CRPS of a quantile forecast, in return units: twice the pinball loss averaged over the levels.

    ``CRPS(F, y) = 2 * integral_0^1 QS_a(F^-1(a), y) da`` with the quantile score
    ``QS_a(q, y) = (1{y < q} - a) (q - y)`` (Gneiting & Raftery, 2007, JASA 102(477), eq. 19 / section 9.1);
    the integral is approximated by the mean over the model's levels, as GluonTS' mean weighted quantile
    loss and the Chronos paper (Ansari et al., 2024, section 5.2) do. Averaged over windows and steps on
    returns from ``last_close``; it equals ``pct_return_mae`` for the single level 0.5.
    """
    return float(quantile_loss_windows(quantiles, levels, targets, last_close).mean())


def quantile_loss_windows(quantiles: np.ndarray, levels, targets: np.ndarray, last_close: np.ndarray) -> np.ndarray:
    """Per-window quantile loss, ``[n_windows]``: twice the pinball loss averaged over ``levels`` and horizon steps.

    The loss behind fev-bench's and GluonTS' weighted quantile loss, unscaled and on returns from ``last_close``
    (:func:`quantile_crps` is its mean over windows; it approximates the CRPS).

    Parameters
    ----------
    quantiles : numpy.ndarray
        ``[n_windows, n_levels, horizon]`` price quantiles at ``levels``.
    levels : sequence of float
        ``[n_levels]`` in (0, 1).
    targets : numpy.ndarray
        ``[n_windows, horizon]`` realised prices.
    last_close : numpy.ndarray
        ``[n_windows]`` last close of each context.
    """
    q = quantiles / last_close[:, None, None] - 1.0  # [W, L, H]
    y = _returns(targets, last_close)[:, None, :]  # [W, 1, H]
    a = np.asarray(levels, dtype=float)[None, :, None]
    return 2.0 * (((y < q).astype(float) - a) * (q - y)).mean(axis=(1, 2))


def coverage_by_level(quantiles: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Observed level of each quantile, ``[n_levels]``: the fraction of (window, step) targets at or below it (the
    PIT evaluated at the levels; a calibrated forecast's equals its nominal levels).

    Parameters
    ----------
    quantiles : numpy.ndarray
        ``[n_windows, n_levels, horizon]`` prices.
    targets : numpy.ndarray
        ``[n_windows, horizon]`` prices.
    """
    return (targets[:, None, :] <= quantiles).mean(axis=(0, 2))


def quantile_coverage(quantiles: np.ndarray, levels: np.ndarray, targets: np.ndarray,
                      level: float = COVERAGE_LEVEL) -> tuple[float, float]:
    """Fraction of targets between the quantiles at the levels nearest to ``(1 -+ level) / 2``.

    Returns
    -------
    coverage : float
    nominal : float
        The interval's nominal level, ``high - low`` of the levels used (e.g. 0.8 for 0.1 and 0.9).
    """
    levels = np.asarray(levels, dtype=float)
    low = int(np.argmin(np.abs(levels - (1 - level) / 2)))
    high = int(np.argmin(np.abs(levels - (1 + level) / 2)))
    inside = (targets >= quantiles[:, low]) & (targets <= quantiles[:, high])
    return float(inside.mean()), float(levels[high] - levels[low])


def point_metrics(point: np.ndarray, targets: np.ndarray, last_close: np.ndarray) -> dict[str, float]:
    """Every point metric: ``pct_return_mae``, ``price_mae``, ``rmse``, ``mape``, ``direction_accuracy``."""
    return {
        "pct_return_mae": pct_return_mae(point, targets, last_close),
        "price_mae": price_mae(point, targets),
        "rmse": rmse(point, targets),
        "mape": mape(point, targets),
        "direction_accuracy": direction_accuracy(point, targets, last_close),
    }
