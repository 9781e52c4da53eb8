"""Serial dependence of per-window loss series: the HAC long-run variance and its automatic lag, the
effective sample size it implies, and automatic bootstrap block lengths.

Hourly forecast errors cluster (volatility), so neighbouring test origins carry less information than
independent ones; every paired test, MDE and bootstrap in :mod:`sweep.stats` and
:mod:`sweep.significance` takes its lag or block from here, chosen from the data.
"""

from __future__ import annotations

import numpy as np

__all__ = ["automatic_hac_lag", "hac_variance", "effective_sample_size", "auto_block_length",
           "median_block_length", "MIN_BLOCK_ESTIMATION"]

#: Below this many observations the automatic block length is not estimable; blocks of 1 are used.
MIN_BLOCK_ESTIMATION = 10


def automatic_hac_lag(x: np.ndarray) -> int:
    """HAC truncation lag chosen from the data: Newey & West (1994) automatic Bartlett bandwidth.

    ``arch.covariance.kernel.Bartlett``'s plug-in bandwidth ``H`` (weights ``1 - h / H``) is rounded up;
    :func:`hac_variance` with ``max_lag = H`` then weights lags ``1..H`` by ``1 - lag / (H + 1)``, at
    least as long a window as arch's. Hourly loss differentials inherit volatility clustering, so a
    rule of thumb in ``n`` alone (such as ``floor(4 (n / 100) ** (2 / 9))``) can be far too short for them.

    Parameters
    ----------
    x : numpy.ndarray
        ``[n]`` series (loss differentials, return units).

    Returns
    -------
    int
        0 for a constant or very short series.
    """
    from arch.covariance.kernel import Bartlett

    x = np.asarray(x, dtype=float)
    if len(x) < MIN_BLOCK_ESTIMATION or np.ptp(x) == 0:
        return 0
    return int(min(np.ceil(Bartlett(x).opt_bandwidth), len(x) - 1))


def hac_variance(x: np.ndarray, max_lag: int) -> float:
    """Newey-West (Bartlett kernel) long-run variance of ``x`` (population autocovariances).

    Parameters
    ----------
    x : numpy.ndarray
        ``[n]`` series.
    max_lag : int
        Autocovariances at lags ``1..max_lag`` get weights ``1 - lag / (max_lag + 1)``.
    """
    centred = x - x.mean()
    n = len(x)
    variance = centred @ centred / n
    for lag in range(1, max_lag + 1):
        variance += 2 * (1 - lag / (max_lag + 1)) * (centred[lag:] @ centred[:-lag]) / n
    return float(variance)


def auto_block_length(x: np.ndarray, bootstrap: str = "circular") -> int:
    """Politis & White (2004) automatic block length (``arch``), rounded up; 1 for constant or short series.

    Parameters
    ----------
    x : numpy.ndarray
        ``[n]`` series.
    bootstrap : str
        ``"circular"`` or ``"stationary"`` (the column of ``arch.bootstrap.optimal_block_length``).
    """
    from arch.bootstrap import optimal_block_length

    x = np.asarray(x, dtype=float)
    if len(x) < MIN_BLOCK_ESTIMATION or np.ptp(x) == 0:
        return 1
    return max(1, int(np.ceil(optimal_block_length(x)[bootstrap].iloc[0])))


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
    from arch.bootstrap import optimal_block_length

    lengths = optimal_block_length(varying)[bootstrap].to_numpy()
    lengths = lengths[np.isfinite(lengths)]  # a zero long-run variance leaves a column's length undefined
    return max(1, int(np.ceil(np.median(lengths)))) if len(lengths) else 1


def effective_sample_size(differential: np.ndarray, max_lag: int) -> float:
    """Independent observations worth as much as these: ``n * var(d) / S`` (``S`` the HAC long-run variance).

    Positive autocorrelation (volatility clustering of hourly errors) makes ``S`` exceed the plain
    variance, so 2,400 hourly origins count for fewer independent ones.

    Parameters
    ----------
    differential : numpy.ndarray
        ``[n_windows]`` loss differentials.
    max_lag : int
        HAC truncation lag.

    Returns
    -------
    float
        NaN when the long-run variance is not positive.
    """
    d = np.asarray(differential, dtype=float)
    long_run = hac_variance(d, max_lag)
    return float(len(d) * d.var() / long_run) if long_run > 0 else float("nan")
