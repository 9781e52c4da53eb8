"""Paired tests of two forecasters' per-window losses on identical windows.

Both tests work on the loss differential ``d_t = loss_candidate_t - loss_best_t``
(negative = the candidate is better), one value per test origin.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import stats

from ._dependence import (effective_sample_size, ewc_degrees_of_freedom, ewc_long_run_variance,
                          overlap_block_length)

__all__ = ["PairedTest", "diebold_mariano", "origins_for_power", "block_bootstrap_ci", "paired_test",
           "minimum_detectable_effect", "mde_for_origins", "MDE_POWER", "POWER_GAINS", "MIN_ORIGINS",
           "MIN_PERIOD_ORIGINS", "LONG_RUN_VARIANCE_RULE", "OVERLAP_RULE", "relative_to"]

#: Power at which :func:`minimum_detectable_effect` is stated.
MDE_POWER = 0.8
#: Relative gains (fractions of the other forecast's MAE) for which every review states the origins needed.
POWER_GAINS = (0.05, 0.10)
#: The fewest loss differentials the DM test runs on.
MIN_ORIGINS = 3
#: The fewest origins a validation or test period may hold (:class:`sweep.data.windows.WindowSpec` refuses fewer), so
#: the fewest :func:`origins_for_power` ever states.
MIN_PERIOD_ORIGINS = 5
#: How the test's variance and reference distribution are chosen, as every paired test's JSON records it.
LONG_RUN_VARIANCE_RULE = ("equal-weighted cosine (EWC) long-run variance with df = round(0.4 n^(2/3)) terms, "
                          "1 <= df <= n - 1 (Lazarus, Lewis, Stock & Watson 2018); p-value and MDE from Student "
                          "t with df degrees of freedom")
#: What overlapping windows change, appended to :data:`LONG_RUN_VARIANCE_RULE` in a test with ``overlap`` above 1.
OVERLAP_RULE = ("overlap m consecutive windows share a target bar: df <= floor(n / (2 m)), at least 1, and bootstrap "
                "blocks of at least m (sweep.stats._dependence.ewc_degrees_of_freedom)")


def diebold_mariano(differential: np.ndarray, df: int | None = None, overlap: int = 1) -> tuple[float, float, int]:
    """One-sided Diebold-Mariano test that the mean loss differential is negative, with a t reference.

    ``DM = mean(d) / sqrt(S / n)`` (Diebold & Mariano, 1995, "Comparing predictive accuracy", JBES
    13(3)) with ``S`` the equal-weighted cosine long-run variance of ``d`` with ``df`` terms
    (:func:`sweep.stats._dependence.ewc_long_run_variance`). Under H0 (equal accuracy) DM is Student t with
    ``df`` degrees of freedom: exactly for Gaussian iid differentials, approximately under serial
    dependence (fixed-``df`` asymptotics; Sun 2013, Lazarus et al. 2018). The p-value is
    ``P(T_df <= DM)``, small when the candidate is better. This is the small-sample correction of the
    test: with ``df = n - 1`` it is the Harvey, Leybourne & Newbold (1997, IJF 13(2)) modified DM test
    at horizon 1 (``DM * sqrt((n - 1) / n)`` against t(n - 1)); the smaller default ``df`` also pays
    for estimating the dependence, which a Newey-West variance against t(n - 1) does not (its size was
    0.085-0.16 at 10 origins, :func:`sweep.stats._dependence.ewc_degrees_of_freedom`).

    Parameters
    ----------
    differential : numpy.ndarray
        ``[n_windows]`` loss differentials, candidate minus incumbent.
    df : int, optional
        Cosine terms of ``S`` and degrees of freedom, in ``1..n - 1``; default
        :func:`sweep.stats._dependence.ewc_degrees_of_freedom` of ``n`` and ``overlap``.
    overlap : int
        Consecutive windows sharing a target bar (:func:`paired_test`); used only for the default ``df``.

    Returns
    -------
    statistic, p_value : float
    df : int

    Raises
    ------
    ValueError
        With fewer than :data:`MIN_ORIGINS` windows, a non-finite differential, a bad ``df`` or ``overlap``.
    """
    d = np.asarray(differential, dtype=float)
    if d.ndim != 1 or len(d) < MIN_ORIGINS or not np.isfinite(d).all():
        raise ValueError(f"the DM test needs at least {MIN_ORIGINS} finite loss differentials, got shape {d.shape}")
    df = ewc_degrees_of_freedom(len(d), overlap) if df is None else df
    variance = ewc_long_run_variance(d, df)
    if variance <= 0:  # e.g. the same differential in every window: certain in its sign, or no evidence at all
        mean = float(d.mean())
        return (0.0, 0.5, df) if mean == 0 else (float(np.copysign(np.inf, mean)), float(mean > 0), df)
    statistic = float(d.mean() / np.sqrt(variance / len(d)))
    return statistic, float(stats.t.cdf(statistic, df)), df


def block_bootstrap_ci(differential: np.ndarray, alpha: float, reps: int = 2000, seed: int = 0,
                       block_length: int | None = None, overlap: int = 1) -> tuple[float, float, int]:
    """Percentile interval of the mean differential from a circular block bootstrap (``arch``).

    Blocks keep serial dependence between neighbouring windows. The block length defaults to the Politis &
    White (2004) automatic choice, rounded up, and at least ``overlap`` (windows sharing a target bar).

    Parameters
    ----------
    differential : numpy.ndarray
        ``[n_windows]`` loss differentials.
    alpha : float
        The interval is the two-sided ``1 - 2 * alpha`` one, so ``upper < 0`` is a
        one-sided test at level ``alpha``.
    reps : int
        Bootstrap resamples.
    seed, block_length, overlap : int

    Returns
    -------
    lower, upper : float
        Return units, like the losses.
    block_length : int
    """
    from arch.bootstrap import CircularBlockBootstrap

    d = np.asarray(differential, dtype=float)
    block_length = overlap_block_length(d, overlap) if block_length is None else block_length
    bootstrap = CircularBlockBootstrap(block_length, d, seed=seed)
    lower, upper = bootstrap.conf_int(np.mean, reps=reps, method="percentile", size=1 - 2 * alpha)[:, 0]
    return float(lower), float(upper), block_length


@lru_cache(maxsize=1024)
def _noncentrality(df: int, alpha: float, power: float) -> float:
    """Shift of the mean, in standard errors, that the one-sided t(df) test at ``alpha`` finds with ``power``.

    Solves ``P(T'_{df}(delta) > t_{df, 1 - alpha}) = power`` for ``delta`` (noncentral t, ``scipy.stats.nct``).
    """
    from scipy.optimize import brentq

    critical = stats.t.ppf(1 - alpha, df)
    upper = critical + stats.norm.ppf(power) + 1.0
    while stats.nct.sf(critical, df, upper) < power:  # heavy tails at df 1-2 need a wider bracket
        upper *= 2
    return float(brentq(lambda shift: stats.nct.sf(critical, df, shift) - power, 0.0, upper, xtol=1e-12))


def _check_power(alpha: float, power: float) -> None:
    if not 0 < alpha < power < 1:
        raise ValueError(f"need 0 < alpha < power < 1, got alpha {alpha} and power {power}")


def mde_for_origins(long_run_variance: float, n_origins: np.ndarray | float, alpha: float,
                    power: float = MDE_POWER, overlap: int = 1) -> np.ndarray:
    """Minimum detectable effect with ``n_origins`` origins of the same long-run variance ``S``.

    ``MDE(n) = delta(df(n)) * sqrt(S / n)``, ``df(n)`` from :func:`sweep.stats._dependence.ewc_degrees_of_freedom`
    and ``delta`` the noncentrality at which the one-sided t(df) test at ``alpha`` rejects with
    probability ``power``. Under fixed-df asymptotics the DM statistic with a true mean improvement
    ``m`` is noncentral t(df) with noncentrality ``m / sqrt(S / n)`` (exactly so for Gaussian
    differentials), so this is the exact power calculation of the test :func:`diebold_mariano` runs;
    as ``df`` grows ``delta`` falls to ``z_{1-alpha} + z_power`` (2.49 at 0.05 and 0.8), the usual
    normal-theory formula.

    Parameters
    ----------
    long_run_variance : float
        ``S``, squared loss units (:func:`sweep.stats._dependence.ewc_long_run_variance`).
    n_origins : numpy.ndarray or float
        ``[m]`` numbers of test origins, each at least 2.
    alpha : float
        Level of the one-sided test.
    power : float
        Wanted probability of detecting the effect, above ``alpha``.
    overlap : int
        Consecutive windows sharing a target bar; caps ``df(n)`` (:func:`paired_test`).

    Returns
    -------
    numpy.ndarray
        ``[m]`` (0-d for a scalar ``n_origins``), in loss units.

    Raises
    ------
    ValueError
        Unless ``0 < alpha < power < 1``, or with a bad ``overlap``.
    """
    _check_power(alpha, power)
    n = np.asarray(n_origins, dtype=float)
    shifts = np.vectorize(lambda k: _noncentrality(ewc_degrees_of_freedom(int(k), overlap), alpha, power))(n)
    return shifts * np.sqrt(max(long_run_variance, 0.0) / n)


def minimum_detectable_effect(differential: np.ndarray, alpha: float, power: float = MDE_POWER,
                              df: int | None = None, overlap: int = 1) -> float:
    """Smallest mean loss improvement the one-sided DM test detects with probability ``power``.

    ``MDE = delta * sqrt(S / n)``, ``S`` the long-run variance of the differential with ``df`` cosine
    terms and ``delta`` the noncentral-t shift of :func:`mde_for_origins`, with the same ``df`` and t
    critical value as :func:`diebold_mariano`. A true improvement smaller than this is more likely
    missed than found on these windows.

    Parameters
    ----------
    differential : numpy.ndarray
        ``[n_windows]`` loss differentials (return units), at least 2.
    alpha : float
        Level of the one-sided test.
    power : float
        Wanted probability of detecting the effect (default 0.8).
    df, overlap : int, optional
        Degrees of freedom; default :func:`sweep.stats._dependence.ewc_degrees_of_freedom` of ``n`` and ``overlap``.

    Returns
    -------
    float
        In the units of the losses (divide by the reference MAE for a relative effect); NaN when
        every differential is 0. It can exceed the reference MAE: then no possible gain is detectable.

    Raises
    ------
    ValueError
        Unless ``0 < alpha < power < 1``.
    """
    _check_power(alpha, power)
    d = np.asarray(differential, dtype=float)
    if not d.any():  # identical forecasts (e.g. persistence against itself): there is nothing to detect
        return float("nan")
    df = ewc_degrees_of_freedom(len(d), overlap) if df is None else df
    spread = np.sqrt(max(ewc_long_run_variance(d, df), 0.0) / len(d))
    return float(_noncentrality(df, alpha, power) * spread)


def origins_for_power(long_run_variance: float, effect: float, alpha: float, power: float = MDE_POWER,
                      overlap: int = 1) -> float:
    """Origins the one-sided DM test needs to detect a true mean improvement ``effect`` with ``power``.

    The smallest ``n >= MIN_PERIOD_ORIGINS`` with ``mde_for_origins(S, n) <= effect``, ``S`` the measured
    long-run variance held fixed: inverts :func:`mde_for_origins`, whose degrees of freedom grow with
    ``n``. Never below :data:`MIN_PERIOD_ORIGINS`, the fewest a test period may hold, however small ``S``.

    Parameters
    ----------
    long_run_variance : float
        ``S``, in squared loss units.
    effect : float
        Mean loss improvement to detect, in loss units (e.g. ``0.05 * mae_persistence``).
    alpha, power : float
    overlap : int
        Consecutive windows sharing a target bar, as in :func:`mde_for_origins`.

    Returns
    -------
    float
        A whole number of origins; NaN when ``S`` or ``effect`` is not positive.

    Raises
    ------
    ValueError
        Unless ``0 < alpha < power < 1``.
    """
    _check_power(alpha, power)
    if not (long_run_variance > 0 and effect > 0):
        return float("nan")
    # the normal-theory count: where the search starts, and the answer itself where t and normal agree
    normal = ((stats.norm.ppf(1 - alpha) + stats.norm.ppf(power)) / effect) ** 2 * long_run_variance
    if normal > 1e12:  # df beyond 10^7: the t shift equals z_{1-alpha} + z_power to 1e-6
        return float(np.ceil(normal))

    def detects(n: int) -> bool:
        return bool(mde_for_origins(long_run_variance, n, alpha, power, overlap) <= effect)

    low = MIN_PERIOD_ORIGINS
    if detects(low):
        return float(low)
    high = max(2 * low, int(np.ceil(normal)))
    while not detects(high):
        low, high = high, 2 * high
    while high - low > 1:  # detects(high) and not detects(low)
        middle = (low + high) // 2
        low, high = (low, middle) if detects(middle) else (middle, high)
    return float(high)


@dataclass(frozen=True)
class PairedTest:
    """Outcome of :func:`paired_test`.

    Attributes
    ----------
    mean_differential : float
        Mean of candidate minus incumbent per-window loss (return units; < 0 = candidate better).
    dm_statistic, dm_p_value : float
        One-sided Diebold-Mariano test (:func:`diebold_mariano`).
    df : int
        Degrees of freedom of its t reference, and cosine terms of ``long_run_variance``.
    ci_lower, ci_upper : float
        Two-sided ``1 - 2 alpha`` block-bootstrap interval of the mean differential.
    block_length : int
    alpha : float
    n_windows : int
    mde : float
        Minimum detectable effect at 80 % power (return units; :func:`minimum_detectable_effect`).
    long_run_variance : float
        EWC long-run variance of the differential with ``df`` terms (squared return units): the
        statistic, the MDE, the effective sample size and the origins needed for a given gain all
        follow from it.
    effective_n : float
        :func:`sweep.stats._dependence.effective_sample_size`, at most ``n_windows``.
    overlap : int
        Consecutive windows sharing a target bar, which capped ``df`` and set the least ``block_length``.
    """

    mean_differential: float
    dm_statistic: float
    dm_p_value: float
    df: int
    ci_lower: float
    ci_upper: float
    block_length: int
    alpha: float
    n_windows: int
    mde: float = float("nan")
    long_run_variance: float = float("nan")
    effective_n: float = float("nan")
    overlap: int = 1

    def origins_needed(self, reference_mae: float) -> dict[str, float]:
        """Test origins for 80 % power at each of :data:`POWER_GAINS` of ``reference_mae`` (keys ``"5%"``, ...)."""
        return {f"{100 * g:g}%": origins_for_power(self.long_run_variance, g * reference_mae, self.alpha,
                                                   overlap=self.overlap) for g in POWER_GAINS}

    @property
    def candidate_better(self) -> bool:
        """Both tests reject equal accuracy in the candidate's favour at level ``alpha``."""
        return self.dm_p_value < self.alpha and self.ci_upper < 0

    def to_dict(self, reference_mae: float | None = None,
                origins_per_day: float | None = None) -> dict[str, Any]:
        """JSON form: ``mean_diff``, ``ci_low``, ``ci_high``, ``dm_stat``, ``p_value`` and the rest.

        ``df``, ``overlap`` and ``long_run_variance_rule`` (:data:`LONG_RUN_VARIANCE_RULE`, with
        :data:`OVERLAP_RULE` when ``overlap`` is above 1) make the p-value and the MDE reproducible from the
        stored per-window losses.

        With ``reference_mae`` (the other forecast's MAE) the minimum detectable effect is also
        given relative to it (``mde_relative``), with the origins 80 % power needs at each of
        :data:`POWER_GAINS` (``origins_needed``) and, given ``origins_per_day`` (test origins per day
        at the test stride), the days of history they span (``days_needed``).
        """
        out: dict[str, Any] = {
            "mean_diff": self.mean_differential, "ci_low": self.ci_lower, "ci_high": self.ci_upper,
            "dm_stat": self.dm_statistic, "p_value": self.dm_p_value, "alpha": self.alpha,
            "significant": self.candidate_better, "n_windows": self.n_windows, "block_length": self.block_length,
            "df": self.df, "overlap": self.overlap, "long_run_variance_rule": LONG_RUN_VARIANCE_RULE
            if self.overlap == 1 else f"{LONG_RUN_VARIANCE_RULE}; {OVERLAP_RULE}",
            "long_run_variance": self.long_run_variance, "effective_n": self.effective_n, "mde": self.mde}
        if reference_mae and reference_mae > 0:  # a loss of 0 or below (flat's or a profit's) is no scale
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
                seed: int = 0, overlap: int = 1) -> PairedTest:
    """Is the candidate's loss lower than the incumbent's on the same windows?

    Parameters
    ----------
    candidate_losses, incumbent_losses : numpy.ndarray
        ``[n_windows]`` per-window losses on identical origins.
    alpha : float
        Level of both one-sided tests, in (0, 0.5).
    seed : int
        Bootstrap seed.
    overlap : int
        Consecutive windows sharing a target bar, ``ceil(horizon / test_stride)``: above 1 the differential is
        MA(``overlap - 1``) at least (Diebold & Mariano 1995; Harvey, Leybourne & Newbold 1997), so the DM test
        and the MDE cap ``df`` (:func:`sweep.stats._dependence.ewc_degrees_of_freedom`) and the bootstrap blocks
        are at least ``overlap`` bars (:func:`sweep.stats._dependence.overlap_block_length`).

    Raises
    ------
    ValueError
        If the arrays differ in shape, ``alpha`` is out of range or ``overlap`` is not a whole number >= 1.
    """
    a, b = np.asarray(candidate_losses, dtype=float), np.asarray(incumbent_losses, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired losses must cover the same windows, got shapes {a.shape} and {b.shape}")
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
    d = a - b
    statistic, p_value, df = diebold_mariano(d, overlap=overlap)
    lower, upper, block = block_bootstrap_ci(d, alpha, seed=seed, overlap=overlap)
    return PairedTest(float(d.mean()), statistic, p_value, df, lower, upper, block, alpha, len(d),
                      minimum_detectable_effect(d, alpha, df=df), ewc_long_run_variance(d, df),
                      effective_sample_size(d, df), int(overlap))


def relative_to(value: float, base: float) -> float | None:
    """``value / base`` when ``base`` (a mean loss) is positive; None otherwise: a loss that is 0 (flat's PnL) or
    negative (a profitable rule's minus PnL) gives no scale for a relative effect, only its units."""
    return float(value / base) if base > 0 else None
