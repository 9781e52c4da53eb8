"""Serial dependence of per-window loss series: the long-run variance of a paired test, its degrees of
freedom, the effective sample size it implies, and automatic bootstrap block lengths.

Hourly forecast errors cluster (volatility), so neighbouring test origins carry less information than
independent ones. The paired test, MDE and origins needed of :mod:`sweep.stats.paired` take their long-run
variance and degrees of freedom from here; the bootstraps of :mod:`sweep.stats.paired` and
:mod:`sweep.stats.significance` take their blocks from here, chosen from the data.
"""

from __future__ import annotations

import logging

import numpy as np

__all__ = ["ewc_degrees_of_freedom", "ewc_long_run_variance", "effective_sample_size", "auto_block_length",
           "overlap_block_length", "median_block_length", "check_overlap", "MIN_BLOCK_ESTIMATION",
           "OVERLAP_BANDWIDTH_FACTOR"]

#: Below this many observations the automatic block length is not estimable; blocks of 1 are used.
MIN_BLOCK_ESTIMATION = 10
#: With ``overlap`` windows sharing a target bar, the EWC bandwidth ``n / K`` is kept at least this many overlaps
#: (:func:`ewc_degrees_of_freedom`).
OVERLAP_BANDWIDTH_FACTOR = 2

logger = logging.getLogger(__name__)


def check_overlap(overlap: int) -> int:
    """``overlap`` itself if it is a whole number of at least 1; ValueError naming it otherwise."""
    if isinstance(overlap, bool) or not isinstance(overlap, (int, np.integer)) or overlap < 1:
        raise ValueError(f"overlap must be a whole number >= 1, the windows sharing a target bar: "
                         f"ceil(horizon / test_stride), 1 for disjoint windows; got {overlap!r}")
    return int(overlap)


def ewc_degrees_of_freedom(n: int, overlap: int = 1) -> int:
    """Cosine terms ``K`` of :func:`ewc_long_run_variance`, and so the Student-t degrees of freedom of the test.

    ``K = round(0.4 n ** (2 / 3))``, kept within ``1 <= K <= n - 1``: the rule of Lazarus, Lewis, Stock &
    Watson (2018, "HAR inference: recommendations for practice", JBES 36(4), 541-559), chosen to keep
    the size of a HAR test near nominal under AR(1) dependence up to about 0.7. The estimator averages
    the ``K`` lowest frequencies, a band of width ``K / n`` around 0, and ``K / n -> 0`` (the implied
    bandwidth ``n / K`` grows like ``n ** (1 / 3)``, the Bartlett rate of Andrews 1991), so it is
    consistent as ``n`` grows while its t reference keeps small samples honest. A data-driven
    Newey-West lag is not used: at 10-100 origins its plug-in bandwidth can approach ``n`` (an
    effective sample size above ``n`` was observed), and even capped, with the Harvey, Leybourne &
    Newbold (1997) correction and t(n - 1) critical values, it rejected a true null 8.5 % (iid) to
    16 % (AR(1) 0.5) of the time at 10 origins and alpha 0.05 (``tests/stats/test_power.py`` holds the bar).

    Overlapping windows: with an ``h``-step target at test stride ``s``, ``m = ceil(h / s)`` consecutive
    origins share target bars, so the differential is (at least) MA(``m - 1``) (Diebold & Mariano 1995;
    Harvey, Leybourne & Newbold 1997). The estimator averages a band of width ``K / n`` and so resolves lags up to
    about its bandwidth ``n / K`` (Lazarus et al. 2018 choose ``K`` from that bandwidth). Then ``K = min(default,
    floor(n / (2 m)))``, at least 1: a bandwidth of at least :data:`OVERLAP_BANDWIDTH_FACTOR` ``m``. For a sum of
    ``m`` iid steps (triangular autocorrelation, spectral density ``~ sinc^2(m w / 2)``) and bandwidth ``c m``,
    ``E[S]`` is the mean of ``sinc^2`` over ``(0, pi / (2 c)]`` times the long-run variance: 0.77 at ``c = 1``,
    0.93 at ``c = 2``. Simulated one-sided size at ``m = 24`` and alpha 0.05, 4,000 nulls (SE 0.0034), at 240 /
    720 / 2,400 origins: for absolute errors of 24-bar sums (``tests/stats/test_overlapping_windows.py``) the default ``K``
    rejected 0.080 / 0.072 / 0.058, ``n / (2 m)`` 0.054 / 0.060 / 0.051; for a sum of 24 iid steps as the
    differential the default 0.11 / 0.08 / 0.065, ``n / m`` 0.08 / 0.08 / 0.065, ``n / (2 m)`` 0.06 / 0.06 / 0.06.

    Parameters
    ----------
    n : int
        Number of observations (test origins), at least 2.
    overlap : int
        ``m``, consecutive windows sharing a target bar; 1 (disjoint windows) keeps the default.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        If ``n < 2`` or ``overlap`` is not a whole number of at least 1.
    """
    if n < 2:
        raise ValueError(f"a long-run variance needs at least 2 observations, got {n}")
    default = int(min(n - 1, max(1, round(0.4 * n ** (2 / 3)))))
    if check_overlap(overlap) == 1:
        return default
    return max(1, min(default, n // (OVERLAP_BANDWIDTH_FACTOR * overlap)))


def ewc_long_run_variance(x: np.ndarray, df: int | None = None) -> float:
    """Equal-weighted cosine (EWC) estimate of the long-run variance of ``x``.

    ``S = (1 / K) sum_{j=1..K} L_j ** 2`` with ``L_j = sqrt(2 / n) sum_t x_t cos(pi j (t + 1/2) / n)``
    (``t = 0..n-1``): the orthonormal series estimator of Müller (2007, "A theory of robust long-run
    variance estimation", J. Econometrics 141) and Sun (2013, Econometrics Journal 16), recommended by
    Lazarus et al. (2018). The cosines are orthogonal to the constant, so the mean needs no removing and
    adds no bias; for Gaussian iid ``x`` each ``L_j ** 2 / var`` is chi-square(1), independent of the
    mean, so ``mean(x) / sqrt(S / n)`` is exactly Student t with ``K`` degrees of freedom, and with
    dependence approximately so (fixed-``K`` asymptotics). With ``K = n - 1`` ``S`` is the sample
    variance (``n - 1`` divisor) and the test is the one-sample t test, which is also the Harvey,
    Leybourne & Newbold (1997) modified Diebold-Mariano test at horizon 1 without autocovariance terms.

    Parameters
    ----------
    x : numpy.ndarray
        ``[n]`` series (e.g. loss differentials, return units).
    df : int, optional
        ``K``, in ``1..n - 1``; default :func:`ewc_degrees_of_freedom` of ``n``.

    Returns
    -------
    float
        In squared units of ``x``; 0 for a constant series.

    Raises
    ------
    ValueError
        If ``x`` is not one-dimensional with at least 2 values, or ``df`` is outside ``1..n - 1``.
    """
    from scipy.fft import dct

    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or len(x) < 2:
        raise ValueError(f"a long-run variance needs a [n] series with n >= 2, got shape {x.shape}")
    k = ewc_degrees_of_freedom(len(x)) if df is None else df
    if not 1 <= k <= len(x) - 1:
        raise ValueError(f"df must be in 1..{len(x) - 1} for {len(x)} observations, got {k}")
    projections = dct(x, type=2, norm="ortho")[1:k + 1]  # the orthonormal DCT-II is the L_j above
    return float(projections @ projections / k)


def auto_block_length(x: np.ndarray, bootstrap: str = "circular") -> int:
    """Politis & White (2004) automatic block length (``arch``), rounded up; 1 for constant or short series.

    Parameters
    ----------
    x : numpy.ndarray
        ``[n]`` series.
    bootstrap : str
        ``"circular"`` or ``"stationary"`` (the column of ``arch.bootstrap.optimal_block_length``).
    """
    x = np.asarray(x, dtype=float)
    if len(x) < MIN_BLOCK_ESTIMATION or np.ptp(x) == 0:
        return 1
    (length,) = _politis_white(x[:, None], bootstrap)
    return max(1, int(np.ceil(length))) if np.isfinite(length) else 1


def overlap_block_length(x: np.ndarray, overlap: int = 1) -> int:
    """:func:`auto_block_length` (circular), at least ``overlap`` (at most ``n``) so a block keeps every pair of
    windows that share a target bar together; with ``overlap`` 1 it is the automatic length itself.

    Parameters
    ----------
    x : numpy.ndarray
        ``[n]`` series.
    overlap : int
        Consecutive windows sharing a target bar (:func:`ewc_degrees_of_freedom`).

    Raises
    ------
    ValueError
        If ``overlap`` is not a whole number of at least 1.
    """
    return max(auto_block_length(x, "circular"), min(check_overlap(overlap), len(x)))


def median_block_length(x: np.ndarray, bootstrap: str = "stationary") -> int:
    """One block length for many series: the median of their Politis-White lengths, rounded up.

    Every non-constant column gets the automatic length of Politis & White (2004) with the
    correction of Patton, Politis & White (2009) (``arch.bootstrap.optimal_block_length``); the
    median of the unrounded lengths is rounded up.
    A bootstrap over many columns at once (the SPA, the MCS) uses it, so the block follows the
    design and every column's dependence rather than one column's (e.g. the winner's) chance
    autocorrelation.

    Parameters
    ----------
    x : numpy.ndarray
        ``[n, n_columns]`` series (e.g. loss differentials, return units), or ``[n]`` for one.
    bootstrap : str
        ``"stationary"`` or ``"circular"``.

    Returns
    -------
    int
        At least 1; 1 when ``n`` is below :data:`MIN_BLOCK_ESTIMATION` or every column is constant
        (constant columns are left out of the median).

    Raises
    ------
    ValueError
        If ``x`` has more than two dimensions or a non-finite value, or ``bootstrap`` is unknown.
    """
    if bootstrap not in ("stationary", "circular"):
        raise ValueError(f"bootstrap must be 'stationary' or 'circular', got {bootstrap!r}")
    x = np.asarray(x, dtype=float)
    x = x[:, None] if x.ndim == 1 else x
    if x.ndim != 2 or not np.isfinite(x).all():
        raise ValueError(f"block lengths need a finite [n, n_columns] array, got shape {x.shape}")
    if len(x) < MIN_BLOCK_ESTIMATION:
        return 1
    varying = x[:, np.ptp(x, axis=0) > 0]
    if varying.shape[1] == 0:
        return 1
    lengths = _politis_white(varying, bootstrap)
    lengths = lengths[np.isfinite(lengths)]  # a zero long-run variance leaves a column's length undefined
    return max(1, int(np.ceil(np.median(lengths)))) if len(lengths) else 1


def _politis_white(x: np.ndarray, bootstrap: str) -> np.ndarray:
    """``arch.bootstrap.optimal_block_length(x)[bootstrap]``, ``[n_columns]``, its floating-point errors logged.

    arch divides each lag's autocovariance by the product of two sums of squared deviations. That product is 0
    at a lag with no pairs of observations (at 10 observations arch computes a lag of 9, which it never reads)
    and after a stretch that never leaves the mean (differentials that are 0 from some window on); a column
    whose long-run variance is 0 gets a non-finite length, which the callers leave out. numpy would print each
    division as a bare ``RuntimeWarning``; it goes to this module's log (DEBUG) instead.

    Parameters
    ----------
    x : numpy.ndarray
        ``[n, n_columns]`` finite, non-constant columns.
    bootstrap : str
        ``"stationary"`` or ``"circular"``.
    """
    from arch.bootstrap import optimal_block_length

    errors: set[str] = set()
    with np.errstate(divide="call", invalid="call", call=lambda kind, _flag: errors.add(kind)):
        lengths = optimal_block_length(x)[bootstrap].to_numpy()
    if errors:
        logger.debug("arch.bootstrap.optimal_block_length on %d observations x %d column(s) met %s (a lag with no "
                     "pairs of observations, or a stretch with no variation); %s block lengths: %s",
                     x.shape[0], x.shape[1], " and ".join(sorted(errors)), bootstrap, lengths.tolist())
    return lengths


def effective_sample_size(differential: np.ndarray, df: int | None = None) -> float:
    """Independent observations worth as much as these: ``n * var(d) / S``, at most ``n``.

    ``S`` is :func:`ewc_long_run_variance`. Positive autocorrelation (volatility clustering of hourly
    errors) makes ``S`` exceed the plain variance, so 2,400 hourly origins count for fewer independent
    ones. Negative autocorrelation, or the noise of ``S`` with few cosine terms, can make ``S`` smaller
    than the variance; the result is clipped at ``n``: a report should not claim more information than the
    origins it counts, and with few cosine terms a ratio above ``n`` is mostly the noise of ``S``.

    Parameters
    ----------
    differential : numpy.ndarray
        ``[n_windows]`` loss differentials.
    df : int, optional
        Cosine terms of ``S``; default :func:`ewc_degrees_of_freedom`.

    Returns
    -------
    float
        In ``(0, n]``; NaN when ``S`` is not positive.
    """
    d = np.asarray(differential, dtype=float)
    long_run = ewc_long_run_variance(d, df)
    return float(min(len(d), len(d) * d.var() / long_run)) if long_run > 0 else float("nan")
