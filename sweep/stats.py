"""Paired tests of two forecasters' per-window losses on identical windows.

Both tests work on the loss differential ``d_t = loss_candidate_t - loss_best_t``
(negative = the candidate is better), one value per test origin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from .dependence import auto_block_length, automatic_hac_lag, effective_sample_size, hac_variance

__all__ = ["PairedTest", "diebold_mariano", "origins_for_power", "block_bootstrap_ci", "paired_test",
           "minimum_detectable_effect", "MDE_POWER", "POWER_GAINS"]

#: Power at which :func:`minimum_detectable_effect` is stated.
MDE_POWER = 0.8
#: Relative gains (fractions of the other forecast's MAE) for which every review states the origins needed.
POWER_GAINS = (0.05, 0.10)


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
        HAC truncation lag; default :func:`automatic_hac_lag` of the differential.

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
    lags = automatic_hac_lag(d) if max_lag is None else max_lag
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
    from arch.bootstrap import CircularBlockBootstrap

    d = np.asarray(differential, dtype=float)
    if block_length is None:
        block_length = auto_block_length(d, "circular")
    bootstrap = CircularBlockBootstrap(block_length, d, seed=seed)
    lower, upper = bootstrap.conf_int(np.mean, reps=reps, method="percentile", size=1 - 2 * alpha)[:, 0]
    return float(lower), float(upper), block_length


def minimum_detectable_effect(differential: np.ndarray, alpha: float, power: float = MDE_POWER,
                              max_lag: int | None = None) -> float:
    """Smallest mean loss improvement the one-sided DM test detects with probability ``power``.

    ``MDE = (z_{1-alpha} + z_{power}) * sqrt(S / n)`` with ``S`` the Newey-West HAC long-run
    variance of the differential: the standard power calculation of a one-sided z test, applied
    to the asymptotically normal DM statistic (e.g. Chow, Shao & Wang, "Sample Size
    Calculations in Clinical Research", ch. 3). A true improvement smaller than this is more
    likely missed than found on these windows.

    Parameters
    ----------
    differential : numpy.ndarray
        ``[n_windows]`` loss differentials (return units).
    alpha : float
        Level of the one-sided test.
    power : float
        Wanted probability of detecting the effect (default 0.8).
    max_lag : int, optional
        HAC truncation lag; default :func:`automatic_hac_lag`.

    Returns
    -------
    float
        In the units of the losses (divide by the reference MAE for a relative effect); NaN when
        every differential is 0.
    """
    d = np.asarray(differential, dtype=float)
    if not d.any():  # identical forecasts (e.g. persistence against itself): there is nothing to detect
        return float("nan")
    lags = automatic_hac_lag(d) if max_lag is None else max_lag
    spread = np.sqrt(max(hac_variance(d, lags), 0.0) / len(d))
    return float((stats.norm.ppf(1 - alpha) + stats.norm.ppf(power)) * spread)


def origins_for_power(long_run_variance: float, effect: float, alpha: float, power: float = MDE_POWER) -> float:
    """Origins the one-sided DM test needs to detect a true mean improvement ``effect`` with ``power``.

    Inverts :func:`minimum_detectable_effect`: ``n = ((z_{1-alpha} + z_power) / effect) ** 2 * S``, with
    ``S`` the measured HAC long-run variance of the differential held fixed.

    Parameters
    ----------
    long_run_variance : float
        ``S``, in squared loss units.
    effect : float
        Mean loss improvement to detect, in loss units (e.g. ``0.05 * mae_persistence``).
    alpha, power : float

    Returns
    -------
    float
        NaN when ``S`` or ``effect`` is not positive.
    """
    if not (long_run_variance > 0 and effect > 0):
        return float("nan")
    return float(((stats.norm.ppf(1 - alpha) + stats.norm.ppf(power)) / effect) ** 2 * long_run_variance)


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
    mde : float
        Minimum detectable effect at 80 % power (return units; :func:`minimum_detectable_effect`).
    long_run_variance : float
        HAC long-run variance of the differential (squared return units): the MDE, the effective
        sample size and the origins needed for a given gain all follow from it.
    effective_n : float
        :func:`effective_sample_size`.
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
    mde: float = float("nan")
    long_run_variance: float = float("nan")
    effective_n: float = float("nan")

    def origins_needed(self, reference_mae: float) -> dict[str, float]:
        """Test origins for 80 % power at each of :data:`POWER_GAINS` of ``reference_mae`` (keys ``"5%"``, ...)."""
        return {f"{100 * g:g}%": origins_for_power(self.long_run_variance, g * reference_mae, self.alpha)
                for g in POWER_GAINS}

    def mde_at(self, n_origins: np.ndarray) -> np.ndarray:
        """MDE (return units) with ``n_origins`` origins of the same long-run variance, ``[len(n_origins)]``."""
        z = stats.norm.ppf(1 - self.alpha) + stats.norm.ppf(MDE_POWER)
        return z * np.sqrt(max(self.long_run_variance, 0.0) / np.asarray(n_origins, dtype=float))

    @property
    def candidate_better(self) -> bool:
        """Both tests reject equal accuracy in the candidate's favour at level ``alpha``."""
        return self.dm_p_value < self.alpha and self.ci_upper < 0

    def to_dict(self, reference_mae: float | None = None,
                origins_per_day: float | None = None) -> dict[str, Any]:
        """JSON form: ``mean_diff``, ``ci_low``, ``ci_high``, ``dm_stat``, ``p_value`` and the rest.

        With ``reference_mae`` (the other forecast's MAE) the minimum detectable effect is also
        given relative to it (``mde_relative``), with the origins 80 % power needs at each of
        :data:`POWER_GAINS` (``origins_needed``) and, given ``origins_per_day`` (test origins per day
        at the test stride), the days of history they span (``days_needed``).
        """
        out: dict[str, Any] = {
            "mean_diff": self.mean_differential, "ci_low": self.ci_lower, "ci_high": self.ci_upper,
            "dm_stat": self.dm_statistic, "p_value": self.dm_p_value, "alpha": self.alpha,
            "significant": self.candidate_better, "n_windows": self.n_windows, "block_length": self.block_length,
            "hac_max_lag": self.hac_max_lag, "hac_lag_rule": "Newey-West (1994) automatic Bartlett bandwidth",
            "long_run_variance": self.long_run_variance, "effective_n": self.effective_n, "mde": self.mde}
        if reference_mae:
            out["mde_relative"] = self.mde / reference_mae  # NaN (null in JSON) when the forecasts are identical
            out["origins_needed"] = _finite(self.origins_needed(reference_mae))
            if origins_per_day:
                out["days_needed"] = _finite({k: n / origins_per_day for k, n in self.origins_needed(reference_mae)
                                              .items()})
        return _finite(out)


def _finite(values: dict[str, Any]) -> dict[str, Any]:
    """NaN and infinite floats as None (null in JSON)."""
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in values.items()}


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
    return PairedTest(float(d.mean()), statistic, p_value, lags, lower, upper, block, alpha, len(d),
                      minimum_detectable_effect(d, alpha, max_lag=lags), hac_variance(d, lags),
                      effective_sample_size(d, lags))
