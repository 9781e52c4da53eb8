"""Paired tests of two forecasters' per-window losses on identical windows.

Both tests work on the loss differential ``d_t = loss_candidate_t - loss_best_t``
(negative = the candidate is better), one value per test origin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["PairedTest", "diebold_mariano", "newey_west_lags", "block_bootstrap_ci", "paired_test"]


def newey_west_lags(n: int) -> int:
    """Default HAC truncation lag ``floor(4 (n / 100) ** (2 / 9))`` (Newey & West, 1994)."""
    return int(np.floor(4 * (n / 100) ** (2 / 9)))


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


def diebold_mariano(differential: np.ndarray, max_lag: int | None = None) -> tuple[float, float, int]:
    """One-sided Diebold-Mariano test that the mean loss differential is negative.

    ``DM = mean(d) / sqrt(S / n)`` with ``S`` the Newey-West HAC long-run variance
    of ``d`` (Diebold & Mariano, 1995, "Comparing predictive accuracy", JBES 13(3);
    HAC weights of Newey & West, 1987). Under H0 (equal accuracy) DM is standard
    normal; the p-value is ``P(Z <= DM)``, small when the candidate is better.

    Parameters
    ----------
    differential : numpy.ndarray
        ``[n_windows]`` loss differentials, candidate minus incumbent.
    max_lag : int, optional
        HAC truncation lag; default :func:`newey_west_lags`.

    Returns
    -------
    statistic, p_value : float
    max_lag : int

    Raises
    ------
    ValueError
        With fewer than 3 windows or a non-finite differential.
    """
    d = np.asarray(differential, dtype=float)
    if d.ndim != 1 or len(d) < 3 or not np.isfinite(d).all():
        raise ValueError(f"the DM test needs at least 3 finite loss differentials, got shape {d.shape}")
    lags = newey_west_lags(len(d)) if max_lag is None else max_lag
    variance = hac_variance(d, lags)
    if variance <= 0:  # the same differential in every window: certain in its sign, or no evidence at all
        mean = float(d.mean())
        return (0.0, 0.5, lags) if mean == 0 else (float(np.copysign(np.inf, mean)), float(mean > 0), lags)
    statistic = float(d.mean() / np.sqrt(variance / len(d)))
    return statistic, float(stats.norm.cdf(statistic)), lags


def block_bootstrap_ci(differential: np.ndarray, alpha: float, reps: int = 2000, seed: int = 0,
                       block_length: int | None = None) -> tuple[float, float, int]:
    """Percentile interval of the mean differential from a circular block bootstrap (``arch``).

    Blocks keep serial dependence between neighbouring windows. The block length
    defaults to the Politis & White (2004) automatic choice, rounded up.

    Parameters
    ----------
    differential : numpy.ndarray
        ``[n_windows]`` loss differentials.
    alpha : float
        The interval is the two-sided ``1 - 2 * alpha`` one, so ``upper < 0`` is a
        one-sided test at level ``alpha``.
    reps : int
        Bootstrap resamples.
    seed : int
    block_length : int, optional

    Returns
    -------
    lower, upper : float
        Return units, like the losses.
    block_length : int
    """
    from arch.bootstrap import CircularBlockBootstrap, optimal_block_length

    d = np.asarray(differential, dtype=float)
    if block_length is None:
        block_length = 1 if np.ptp(d) == 0 else max(1, int(np.ceil(optimal_block_length(d)["circular"].iloc[0])))
    bootstrap = CircularBlockBootstrap(block_length, d, seed=seed)
    lower, upper = bootstrap.conf_int(np.mean, reps=reps, method="percentile", size=1 - 2 * alpha)[:, 0]
    return float(lower), float(upper), block_length


@dataclass(frozen=True)
class PairedTest:
    """Outcome of :func:`paired_test`.

    Attributes
    ----------
    mean_differential : float
        Mean of candidate minus incumbent per-window loss (return units; < 0 = candidate better).
    dm_statistic, dm_p_value : float
        One-sided Diebold-Mariano test.
    hac_max_lag : int
    ci_lower, ci_upper : float
        Two-sided ``1 - 2 alpha`` block-bootstrap interval of the mean differential.
    block_length : int
    alpha : float
    n_windows : int
    """

    mean_differential: float
    dm_statistic: float
    dm_p_value: float
    hac_max_lag: int
    ci_lower: float
    ci_upper: float
    block_length: int
    alpha: float
    n_windows: int

    @property
    def candidate_better(self) -> bool:
        """Both tests reject equal accuracy in the candidate's favour at level ``alpha``."""
        return self.dm_p_value < self.alpha and self.ci_upper < 0


def paired_test(candidate_losses: np.ndarray, incumbent_losses: np.ndarray, alpha: float = 0.05,
                seed: int = 0) -> PairedTest:
    """Is the candidate's loss lower than the incumbent's on the same windows?

    Parameters
    ----------
    candidate_losses, incumbent_losses : numpy.ndarray
        ``[n_windows]`` per-window losses on identical origins.
    alpha : float
        Level of both one-sided tests, in (0, 0.5).
    seed : int
        Bootstrap seed.

    Raises
    ------
    ValueError
        If the arrays differ in shape, or ``alpha`` is out of range.
    """
    a, b = np.asarray(candidate_losses, dtype=float), np.asarray(incumbent_losses, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired losses must cover the same windows, got shapes {a.shape} and {b.shape}")
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
    d = a - b
    statistic, p_value, lags = diebold_mariano(d)
    lower, upper, block = block_bootstrap_ci(d, alpha, seed=seed)
    return PairedTest(float(d.mean()), statistic, p_value, lags, lower, upper, block, alpha, len(d))
