"""Calibration of a quantile forecast: does each quantile level hold its share of the targets?

A forecast is calibrated at level ``a`` when the target falls at or below its ``a``-quantile a fraction ``a`` of the
time: the probability integral transform (PIT) is uniform (Gneiting, Balabdaoui & Raftery 2007, "Probabilistic
forecasts, calibration and sharpness", JRSS-B 69(2), 243-268), checked at the levels the forecast states. At one level
this is Christoffersen's (1998, "Evaluating interval forecasts", Int. Econ. Review 39(4), 841-862) unconditional
coverage hypothesis.

Christoffersen's likelihood-ratio test, like a plain binomial test, counts every hit as an independent Bernoulli draw.
Here they are not: windows of ``horizon`` steps taken at consecutive origins share ``horizon - 1`` targets, and hourly
crypto volatility clusters, so a forecast that is calibrated on average misses in runs through volatile stretches. A
binomial test then rejects a calibrated forecast far more often than its level (99 % of the time at 0.05 with 24-step
windows at every origin, ``tests/stats/test_calibration.py``). :func:`calibration_test` instead runs,
per level, the t test of :func:`sweep.stats.paired.diebold_mariano` on ``hit - level``: the equal-weighted cosine
long-run variance and its Student-t reference, robust to that serial dependence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from scipy import stats

from ._dependence import ewc_degrees_of_freedom, ewc_long_run_variance
from .paired import MIN_ORIGINS

__all__ = ["CalibrationTest", "calibration_test", "calibration_degrees_of_freedom", "coverage_band", "holm_adjust",
           "level_hits", "CALIBRATION_RULE"]

#: How every calibration test is computed, as its JSON records it.
CALIBRATION_RULE = ("per level, two-sided t test of mean(hit - level) = 0 with the equal-weighted cosine (EWC) "
                    "long-run variance, df = round(0.4 n^(2/3)) terms (Lazarus, Lewis, Stock & Watson 2018), at most "
                    "n // (2 overlap) when overlap windows share a target, and a Student t(df) reference; Holm (1979) "
                    "adjusted over the levels; joint p-value = the smallest adjusted one")


def level_hits(quantiles: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Share of each window's horizon steps whose target is at or below the forecast quantile, per level.

    ``hits[w, l] = mean_h 1{targets[w, h] <= quantiles[w, l, h]}``: the PIT indicator at level ``l``
    (Gneiting, Balabdaoui & Raftery 2007), averaged over the window's steps. A calibrated forecast's hits at
    level ``a`` have mean ``a``. The comparison is the same on prices or on returns from the last close,
    which is positive.

    Parameters
    ----------
    quantiles : numpy.ndarray
        ``[n_windows, n_levels, horizon]`` forecast quantiles (prices or returns).
    targets : numpy.ndarray
        ``[n_windows, horizon]`` realised values, in the units of ``quantiles``.

    Returns
    -------
    numpy.ndarray
        ``[n_windows, n_levels]`` fractions in ``[0, 1]``.

    Raises
    ------
    ValueError
        If the shapes do not match or a value is not finite.
    """
    quantiles, targets = np.asarray(quantiles, dtype=float), np.asarray(targets, dtype=float)
    if quantiles.ndim != 3 or targets.ndim != 2 or targets.shape != (quantiles.shape[0], quantiles.shape[2]):
        raise ValueError(f"level_hits needs quantiles [n_windows, n_levels, horizon] and targets [n_windows, horizon] "
                         f"of the same windows and horizon, got shapes {quantiles.shape} and {targets.shape}")
    if not (np.isfinite(quantiles).all() and np.isfinite(targets).all()):
        raise ValueError("level_hits needs finite quantiles and targets; drop windows with missing values first")
    return (targets[:, None, :] <= quantiles).mean(axis=2)


def holm_adjust(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values: ``p_(i) -> max_{j <= i} min(1, (m - j + 1) p_(j))``.

    Holm, S. (1979), "A simple sequentially rejective multiple test procedure", Scand. J. Statist. 6(2),
    65-70. Rejecting every hypothesis whose adjusted p-value is below ``alpha`` keeps the family-wise error
    rate at most ``alpha`` under any dependence between the tests (``statsmodels``' ``multipletests(...,
    method="holm")`` gives the same values; statsmodels is not a dependency of the package).

    Parameters
    ----------
    p_values : numpy.ndarray
        ``[m]`` p-values in ``[0, 1]``.

    Returns
    -------
    numpy.ndarray
        ``[m]`` adjusted p-values, in the order given.
    """
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    scaled = np.minimum(1.0, (len(p) - np.arange(len(p))) * p[order])
    adjusted = np.empty_like(p)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def coverage_band(n_windows: int, levels: Sequence[float], alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise ``1 - alpha`` band of the observed coverage of a calibrated forecast, for a reliability diagram.

    ``level -+ z_{1 - alpha / 2} sqrt(level (1 - level) / n_windows)``, clipped to ``[0, 1]``: the normal
    approximation to the binomial share of ``n_windows`` independent hits. It assumes independent windows;
    overlapping horizons and volatility clustering make the real spread wider (which :func:`calibration_test`
    accounts for), so a point just outside the band is not by itself evidence of miscalibration.

    Parameters
    ----------
    n_windows : int
        Windows (independent one-step hits), at least 1.
    levels : sequence of float
        ``[n_levels]`` nominal levels in (0, 1).
    alpha : float
        One minus the band's pointwise coverage, in (0, 1).

    Returns
    -------
    lower, upper : numpy.ndarray
        ``[n_levels]`` each, shares in ``[0, 1]``.

    Raises
    ------
    ValueError
        If ``n_windows < 1``, a level is outside (0, 1) or ``alpha`` is outside (0, 1).
    """
    if n_windows < 1:
        raise ValueError(f"a coverage band needs at least 1 window, got {n_windows}")
    levels = _checked_levels(levels)
    _check_alpha(alpha)
    half_width = stats.norm.ppf(1 - alpha / 2) * np.sqrt(levels * (1 - levels) / n_windows)
    return np.clip(levels - half_width, 0.0, 1.0), np.clip(levels + half_width, 0.0, 1.0)


@dataclass(frozen=True)
class CalibrationTest:
    """Outcome of :func:`calibration_test`; every per-level field is a tuple in the order of ``levels``.

    Attributes
    ----------
    levels : tuple of float
        Nominal levels.
    coverage : tuple of float
        Observed coverage: the mean hit at each level (ideal: the level).
    statistic : tuple of float
        ``mean(hit - level) / sqrt(S / n)``.
    p_value : tuple of float
        Two-sided, unadjusted, from Student t with ``df`` degrees of freedom.
    holm_p_value : tuple of float
        :func:`holm_adjust` of ``p_value`` over the levels.
    joint_p_value : float
        The smallest Holm-adjusted p-value: below ``alpha`` when any level is miscalibrated at family-wise level
        ``alpha``.
    long_run_variance : tuple of float
        ``S`` per level (squared shares), the EWC long-run variance of ``hit - level``.
    df : int
        Cosine terms of ``S`` and degrees of freedom of the t reference (:func:`calibration_degrees_of_freedom`).
    alpha : float
    n_windows : int
    overlap : int
        Consecutive windows sharing a target step, as given to :func:`calibration_test`.
    """

    levels: tuple[float, ...]
    coverage: tuple[float, ...]
    statistic: tuple[float, ...]
    p_value: tuple[float, ...]
    holm_p_value: tuple[float, ...]
    joint_p_value: float
    long_run_variance: tuple[float, ...]
    df: int
    alpha: float
    n_windows: int
    overlap: int = 1

    @property
    def calibrated(self) -> bool:
        """No level's Holm-adjusted p-value is below ``alpha``."""
        return self.joint_p_value >= self.alpha

    @property
    def miscalibrated_levels(self) -> tuple[float, ...]:
        """The levels whose Holm-adjusted p-value is below ``alpha``."""
        return tuple(level for level, p in zip(self.levels, self.holm_p_value) if p < self.alpha)

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``joint_p_value``, ``calibrated``, ``alpha``, ``n_windows``, ``overlap``, ``df``, ``test``
        (:data:`CALIBRATION_RULE`) and ``by_level``, one ``{level, coverage, statistic, p_value, holm_p_value,
        long_run_variance, band}`` per level, ``band`` the ``[lower, upper]`` of :func:`coverage_band`; Python
        floats throughout."""
        lower, upper = coverage_band(self.n_windows, self.levels, self.alpha)
        by_level = [{"level": level, "coverage": coverage, "statistic": statistic, "p_value": p,
                     "holm_p_value": holm, "long_run_variance": variance, "band": [float(low), float(high)]}
                    for level, coverage, statistic, p, holm, variance, low, high
                    in zip(self.levels, self.coverage, self.statistic, self.p_value, self.holm_p_value,
                           self.long_run_variance, lower, upper)]
        return {"joint_p_value": self.joint_p_value, "calibrated": self.calibrated, "alpha": self.alpha,
                "n_windows": self.n_windows, "overlap": self.overlap, "df": self.df, "test": CALIBRATION_RULE,
                "by_level": by_level}


def calibration_degrees_of_freedom(n_windows: int, overlap: int = 1) -> int:
    """Cosine terms ``K`` of the calibration test's long-run variance, and the degrees of freedom of its t reference.

    ``ewc_degrees_of_freedom(n)`` (Lazarus, Lewis, Stock & Watson 2018), as
    :func:`sweep.stats.paired.diebold_mariano` uses, capped at ``max(1, n // (2 overlap))`` when ``overlap``
    consecutive windows share a target step. Hits of such windows are, for a calibrated forecast, a moving average
    over ``overlap`` windows, whose spectrum falls from its value at frequency 0 (the long-run variance) to 0 at
    ``2 pi / overlap``. The EWC estimate averages the periodogram up to frequency ``pi K / n``; the cap keeps that
    band within the first quarter of the way, where a moving average's spectrum is still above 80 % of its value
    at 0. Without it, 24-step windows at every origin (``K = 25`` at 500 windows) rejected a calibrated forecast at
    one level 10 % of the time at ``alpha = 0.05``, and 5.7 % with it (``K = 10``; ``tests/stats/test_calibration.py``
    holds the bar): the LLSW rule was tuned for AR(1) dependence up to 0.7, not for a 24-window overlap.

    Parameters
    ----------
    n_windows : int
        Windows, at least 2.
    overlap : int
        How many consecutive windows share a target: ``ceil(horizon / test_stride)``; 1 when windows do not overlap.

    Returns
    -------
    int
        In ``1..n_windows - 1``.

    Raises
    ------
    ValueError
        If ``n_windows < 2`` or ``overlap < 1``.
    """
    if overlap < 1:
        raise ValueError(f"overlap must be at least 1 (windows sharing a target: ceil(horizon / test_stride)), "
                         f"got {overlap}")
    return ewc_degrees_of_freedom(n_windows, overlap)  # the paired tests' rule for overlapping windows


def calibration_test(hits: np.ndarray, levels: Sequence[float], alpha: float = 0.05,
                     overlap: int = 1) -> CalibrationTest:
    """Test that a quantile forecast's observed coverage equals its nominal level at every level.

    Per level ``a``, H0: ``E[hit_t] = a`` (Christoffersen's 1998 unconditional coverage; a uniform PIT at the
    level, Gneiting, Balabdaoui & Raftery 2007), tested two-sided with ``t = mean(hit - a) / sqrt(S / n)``, ``S``
    the EWC long-run variance of ``hit - a`` with ``df`` cosine terms and a Student t(df) reference, exactly as
    :func:`sweep.stats.paired.diebold_mariano` does for loss differentials: hits of overlapping windows and of
    clustered volatility are serially dependent, which a binomial test ignores (see the module docstring).
    ``df`` is :func:`sweep.stats._dependence.ewc_degrees_of_freedom` of ``n``, as the DM test's, capped for
    overlapping windows (:func:`calibration_degrees_of_freedom`). The levels' p-values are Holm (1979) adjusted,
    and the joint p-value, the smallest adjusted one (Bonferroni on the smallest p), keeps the family-wise error
    rate at most ``alpha`` however the levels depend on each other; it is conservative, as neighbouring levels'
    hits are strongly correlated.

    When every window has the same hit (``S = 0``, e.g. a lowest quantile that is never reached in a few
    windows), ``S`` is replaced by ``a (1 - a)``, the variance of one step's hit under H0 with independent
    windows, so that a handful of windows is not taken for certainty.

    Parameters
    ----------
    hits : numpy.ndarray
        ``[n_windows, n_levels]`` shares of each window's targets at or below each quantile (:func:`level_hits`).
    levels : sequence of float
        ``[n_levels]`` nominal levels in (0, 1), e.g. :data:`sweep.stats.metrics.QUANTILE_LEVELS`.
    alpha : float
        Family-wise level of the test, in (0, 1).
    overlap : int
        How many consecutive windows share a target step, ``ceil(horizon / test_stride)`` (24 for 24-step windows at
        every hourly origin); 1, the default, for windows that do not overlap.

    Returns
    -------
    CalibrationTest

    Raises
    ------
    ValueError
        If ``hits`` is not ``[n_windows, n_levels]`` with one column per level, holds fewer than
        :data:`sweep.stats.paired.MIN_ORIGINS` windows or a share outside ``[0, 1]``, a level is outside (0, 1), or
        ``alpha`` is outside (0, 1), or ``overlap < 1``.
    """
    levels = _checked_levels(levels)
    _check_alpha(alpha)
    hits = np.asarray(hits, dtype=float)
    if hits.ndim != 2 or hits.shape[1] != len(levels):
        raise ValueError(f"hits must be [n_windows, n_levels] with one column for each of the {len(levels)} levels, "
                         f"got shape {hits.shape}")
    if hits.shape[0] < MIN_ORIGINS:
        raise ValueError(f"a calibration test needs at least {MIN_ORIGINS} windows, got {hits.shape[0]}; "
                         "test on a longer period")
    if not (np.isfinite(hits).all() and (hits >= 0).all() and (hits <= 1).all()):
        raise ValueError("hits must be finite shares in [0, 1] (level_hits of the quantiles and targets)")
    n = hits.shape[0]
    df = calibration_degrees_of_freedom(n, overlap)
    deviations = hits - levels
    variances = np.array([ewc_long_run_variance(deviations[:, j], df) for j in range(len(levels))])
    variances = np.where(variances > 0, variances, levels * (1 - levels))
    statistics = deviations.mean(axis=0) / np.sqrt(variances / n)
    p_values = np.minimum(1.0, 2 * stats.t.sf(np.abs(statistics), df))
    adjusted = holm_adjust(p_values)
    return CalibrationTest(_floats(levels), _floats(hits.mean(axis=0)), _floats(statistics), _floats(p_values),
                           _floats(adjusted), float(adjusted.min()), _floats(variances), df, float(alpha), n,
                           int(overlap))


def _checked_levels(levels: Sequence[float]) -> np.ndarray:
    array = np.asarray(levels, dtype=float)
    if array.ndim != 1 or len(array) == 0 or not ((array > 0) & (array < 1)).all():
        raise ValueError(f"levels must be a non-empty [n_levels] sequence inside (0, 1), got {levels!r}; "
                         "give quantile levels such as 0.1, ..., 0.9, not percentages")
    return array


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def _floats(values: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in values)
