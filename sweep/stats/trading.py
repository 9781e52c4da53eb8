"""Statistics of the trading objectives: direction forecasts and the PnL of a long/flat/short rule.

Direction: the Pesaran-Timmermann test and the hit rate's Wilson interval against a target; both assume
independent windows, so feed them non-overlapping ones (origins ``horizon`` bars apart or more). PnL (return
units per period, additive): Sharpe ratio, drawdown, Probabilistic and Deflated Sharpe Ratios, bootstrap intervals.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np
from scipy import stats

from ._dependence import auto_block_length

__all__ = ["PTResult", "pesaran_timmermann", "accuracy_interval", "accuracy_target", "sharpe_ratio",
           "max_drawdown", "DSRResult", "probabilistic_sharpe_ratio", "deflated_sharpe_ratio", "trading_summary"]


def _directions(values: np.ndarray, name: str) -> np.ndarray:
    """``values`` as a 1-D boolean array; booleans or 0/1 only."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D [n_windows] array, got shape {array.shape}")
    if array.dtype != bool and not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name} must be booleans (True = up), got values {np.unique(array)[:5].tolist()}; "
                         "pass e.g. `forecast > last_close`")
    return array.astype(bool)


def _returns(pnl: np.ndarray, name: str = "pnl", minimum: int = 1) -> np.ndarray:
    """``pnl`` as a finite 1-D float array of at least ``minimum`` periods."""
    array = np.asarray(pnl, dtype=float)
    if array.ndim != 1 or len(array) < minimum:
        raise ValueError(f"{name} must be 1-D [n_periods] with at least {minimum} periods, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} has {int((~np.isfinite(array)).sum())} non-finite values; drop or fill them first")
    return array


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


@dataclass(frozen=True)
class PTResult:
    """The Pesaran-Timmermann test of a direction forecast.

    Attributes
    ----------
    accuracy, expected_accuracy : float
        ``P``, the share of windows called right, and ``P*``, that of a call independent of the outcome.
    statistic : float
        ``S = (P - P*) / sqrt(var(P) - var(P*))``, N(0, 1) under independence; 0 when one side is constant.
    p_value : float
        One-sided ``1 - Phi(S)`` (H1: the forecast predicts the direction); 1 when one side is constant.
    n : int
    """

    accuracy: float
    expected_accuracy: float
    statistic: float
    p_value: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the fields as plain floats and an int."""
        return {key: int(value) if key == "n" else float(value) for key, value in asdict(self).items()}


def pesaran_timmermann(predicted_up: np.ndarray, realised_up: np.ndarray) -> PTResult:
    """Does a direction forecast beat the accuracy its base rates give by chance?

    Pesaran & Timmermann (1992), "A simple nonparametric test of predictive performance", JBES 10(4), 461-465:
    ``Px``, ``Py`` the shares of predicted and realised ups, ``P* = Py Px + (1 - Py)(1 - Px)``, ``var(P) = P*(1 -
    P*)/n``, ``var(P*) = (2Py - 1)^2 Px(1 - Px)/n + (2Px - 1)^2 Py(1 - Py)/n + 4 Py Px (1 - Py)(1 - Px)/n^2``, ``S =
    (P - P*)/sqrt(var(P) - var(P*))`` ~ N(0, 1) under independence. (Always calling "up" when 55 % rise: 55 %.)

    The denominator is ``4 Px(1 - Px) Py(1 - Py)(n - 1)/n^2``, positive unless one side is constant; then ``P = P*``
    and the test is undefined: this returns ``statistic = 0.0``, ``p_value = 1.0`` (no evidence of skill).

    Parameters
    ----------
    predicted_up, realised_up : numpy.ndarray
        ``[n_windows]`` booleans: the forecast (the outcome) has the close ``horizon`` bars ahead above the last.

    Raises
    ------
    ValueError
        If an input is not 1-D booleans (or 0/1), the lengths differ, or there are fewer than 2 windows.
    """
    predicted = _directions(predicted_up, "predicted_up")
    realised = _directions(realised_up, "realised_up")
    n = len(predicted)
    if n != len(realised):
        raise ValueError(f"predicted_up has {n} windows but realised_up {len(realised)}; pass the same windows")
    if n < 2:
        raise ValueError(f"the Pesaran-Timmermann test needs at least 2 windows, got {n}")
    accuracy = float((predicted == realised).mean())
    p_x, p_y = float(predicted.mean()), float(realised.mean())
    expected = p_y * p_x + (1 - p_y) * (1 - p_x)
    if p_x in (0.0, 1.0) or p_y in (0.0, 1.0):
        return PTResult(accuracy, expected, 0.0, 1.0, n)
    var_accuracy = expected * (1 - expected) / n
    var_expected = ((2 * p_y - 1) ** 2 * p_x * (1 - p_x) / n + (2 * p_x - 1) ** 2 * p_y * (1 - p_y) / n
                    + 4 * p_y * p_x * (1 - p_y) * (1 - p_x) / n ** 2)
    statistic = float((accuracy - expected) / np.sqrt(var_accuracy - var_expected))
    return PTResult(accuracy, expected, statistic, float(stats.norm.sf(statistic)), n)


def accuracy_interval(hits: np.ndarray, alpha: float = 0.05) -> tuple[float, float]:
    """``(low, high)``, the Wilson (1927, JASA 22(158)) interval of the hit rate at ``1 - alpha`` (scipy's
    ``binomtest(...).proportion_ci(method="wilson")``).

    Parameters
    ----------
    hits : numpy.ndarray
        ``[n_windows]`` booleans, True where the direction was right; windows should not overlap.
    alpha : float
        One minus the (two-sided) confidence level.

    Raises
    ------
    ValueError
        If ``hits`` is not 1-D booleans (or 0/1) with at least one window, or ``alpha`` is not in (0, 1).
    """
    _check_alpha(alpha)
    hits = _directions(hits, "hits")
    if len(hits) == 0:
        raise ValueError("hits is empty; an accuracy interval needs at least one window")
    interval = stats.binomtest(int(hits.sum()), len(hits)).proportion_ci(confidence_level=1 - alpha, method="wilson")
    return float(interval.low), float(interval.high)


def accuracy_target(hits: np.ndarray, target: float = 0.55, alpha: float = 0.05) -> dict[str, Any]:
    """Is the hit rate above ``target``? The Wilson interval and a one-sided exact binomial test.

    Parameters
    ----------
    hits : numpy.ndarray
        ``[n_windows]`` booleans, True where the direction was right; windows should not overlap.
    target, alpha : float
        The accuracy to beat, in (0, 1); one minus the interval's (two-sided) confidence level.

    Returns
    -------
    dict
        ``accuracy``, ``ci_low``, ``ci_high`` (:func:`accuracy_interval`), ``target``, ``met`` (``ci_low > target``:
        a one-sided test at ``alpha / 2``), ``p_value`` (exact, ``binomtest`` of H0: accuracy <= ``target``), ``n``.

    Raises
    ------
    ValueError
        As :func:`accuracy_interval`, or if ``target`` is not in (0, 1).
    """
    if not 0 < target < 1:
        raise ValueError(f"target must be an accuracy in (0, 1), got {target}")
    low, high = accuracy_interval(hits, alpha)
    hits = _directions(hits, "hits")
    p_value = stats.binomtest(int(hits.sum()), len(hits), p=target, alternative="greater").pvalue
    return {"accuracy": float(hits.mean()), "ci_low": low, "ci_high": high, "target": float(target),
            "met": bool(low > target), "p_value": float(p_value), "n": len(hits)}


def _sharpe(pnl: np.ndarray) -> float:
    """Per-period ``mean / std`` (ddof 1); 0 when the PnL never varies."""
    return 0.0 if np.ptp(pnl) == 0 else float(pnl.mean() / pnl.std(ddof=1))


def sharpe_ratio(pnl: np.ndarray, periods_per_year: float) -> float:
    """Annualised Sharpe ratio ``mean / std * sqrt(periods_per_year)`` (std ddof 1, no risk-free rate); 0.0 when flat.

    Sharpe, W. F. (1994), "The Sharpe Ratio", JPM 21(1); the square-root-of-time annualisation assumes
    uncorrelated periods (Lo, A. W. (2002), "The Statistics of Sharpe Ratios", FAJ 58(4)).

    Parameters
    ----------
    pnl : numpy.ndarray
        ``[n_periods]`` PnL per period in return units (0.01 = 1 %).
    periods_per_year : float
        E.g. 8760 for hourly bars of a market open around the clock.

    Raises
    ------
    ValueError
        If ``pnl`` is not 1-D finite with at least 2 periods, or ``periods_per_year`` is not positive.
    """
    if not periods_per_year > 0:
        raise ValueError(f"periods_per_year must be positive (e.g. 8760 for hourly bars), got {periods_per_year}")
    return _sharpe(_returns(pnl, minimum=2)) * float(np.sqrt(periods_per_year))


def _drawdown(pnl: np.ndarray) -> float:
    equity = np.concatenate([[0.0], np.cumsum(pnl)])
    return float((np.maximum.accumulate(equity) - equity).max())


def max_drawdown(pnl: np.ndarray) -> float:
    """The largest fall of cumulative PnL from its running peak: non-negative, in return units (0.15 = 15 %).

    Equity is the running sum of ``pnl`` (additive, not compounded) from 0, and the peak includes that start.

    Parameters
    ----------
    pnl : numpy.ndarray
        ``[n_periods]`` PnL per period in return units.

    Raises
    ------
    ValueError
        If ``pnl`` is not 1-D finite with at least one period.
    """
    return _drawdown(_returns(pnl))


@dataclass(frozen=True)
class DSRResult:
    """The Deflated Sharpe Ratio of the trial a search kept.

    Attributes
    ----------
    dsr : float
        Probability in [0, 1] that the true Sharpe ratio exceeds 0, given that the best of ``n_trials`` was kept.
    sharpe, expected_max_sharpe : float
        Per-period (not annualised) Sharpe ratio of the kept trial; ``SR0``, that of the best skill-less trial.
    skewness, kurtosis : float
        Of the PnL (kurtosis not excess: 3 for normal returns); 0 and 3 when the PnL never varies.
    n_trials, n : int
        Trials and periods.
    """

    dsr: float
    sharpe: float
    expected_max_sharpe: float
    n_trials: int
    skewness: float
    kurtosis: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the fields as plain floats and ints."""
        return {key: int(value) if key in ("n_trials", "n") else float(value) for key, value in asdict(self).items()}


def _moments(pnl: np.ndarray) -> tuple[float, float, float]:
    """Per-period Sharpe ratio, skewness and (non-excess) kurtosis; 0, 0, 3 when the PnL never varies."""
    if np.ptp(pnl) == 0:
        return 0.0, 0.0, 3.0
    return _sharpe(pnl), float(stats.skew(pnl)), float(stats.kurtosis(pnl, fisher=False))


def _psr(pnl: np.ndarray, benchmark: float) -> float:
    """The PSR. ``1 - g3 SR + (g4 - 1)/4 SR^2 = (1 - g3 SR/2)^2 + (g4 - 1 - g3^2) SR^2/4 >= 0``; it is 0 (no sampling
    spread: the answer is certain, 0.5 at a tie) for a flat PnL and for a two-valued one at ``SR = 2/g3``."""
    sharpe, skewness, kurtosis = _moments(pnl)
    spread = 1 - skewness * sharpe + (kurtosis - 1) / 4 * sharpe ** 2 if np.ptp(pnl) > 0 else 0.0
    gap = sharpe - benchmark
    if spread <= 0:
        return 0.5 if gap == 0 else float(gap > 0)
    return float(stats.norm.cdf(gap * np.sqrt(len(pnl) - 1) / np.sqrt(spread)))


def probabilistic_sharpe_ratio(pnl: np.ndarray, benchmark_sharpe: float = 0.0) -> float:
    """Probability that the true per-period Sharpe ratio exceeds ``benchmark_sharpe``, allowing for fat tails.

    Bailey & López de Prado (2012), "The Sharpe Ratio Efficient Frontier", Journal of Risk 15(2): ``PSR = Phi((SR -
    SR*) sqrt(T - 1) / sqrt(1 - g3 SR + (g4 - 1)/4 SR^2))``, ``SR`` the per-period ``mean / std`` (ddof 1), ``g3``,
    ``g4`` the PnL's skewness and kurtosis (``scipy.stats.skew``, ``kurtosis(fisher=False)``), ``T`` its periods.
    A flat PnL (``SR = 0`` exactly, no spread) gets 0.5 against ``SR* = 0``, 0 against ``SR* > 0``, 1 below.

    Parameters
    ----------
    pnl : numpy.ndarray
        ``[n_periods]`` PnL per period in return units.
    benchmark_sharpe : float
        ``SR*``, per period (not annualised).

    Raises
    ------
    ValueError
        If ``pnl`` is not 1-D finite with at least 2 periods, or ``benchmark_sharpe`` is not finite.
    """
    if not np.isfinite(benchmark_sharpe):
        raise ValueError(f"benchmark_sharpe must be a finite per-period Sharpe ratio, got {benchmark_sharpe}")
    return _psr(_returns(pnl, minimum=2), float(benchmark_sharpe))


def _expected_max_sharpe(trial_sharpes: np.ndarray) -> float:
    """``sqrt(V) ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e)))``; 0 for one trial."""
    n_trials = len(trial_sharpes)
    if n_trials == 1:
        return 0.0
    gamma, quantiles = np.euler_gamma, stats.norm.ppf([1 - 1 / n_trials, 1 - 1 / (n_trials * np.e)])
    return float(np.sqrt(trial_sharpes.var(ddof=1)) * ((1 - gamma) * quantiles[0] + gamma * quantiles[1]))


def deflated_sharpe_ratio(pnl: np.ndarray, trial_sharpes: np.ndarray) -> DSRResult:
    """Is the kept trial's Sharpe ratio more than the best of ``N`` skill-less trials would show?

    Bailey & López de Prado (2014), "The Deflated Sharpe Ratio: Correcting for Selection Bias, Backtest Overfitting
    and Non-Normality", JPM 40(5), 94-107: :func:`probabilistic_sharpe_ratio` against ``SR0 = sqrt(V) ((1 - gamma)
    Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e)))``, the expected best of ``N`` true-zero Sharpe ratios (``V`` the
    trials' variance, ddof 1; ``gamma`` Euler's). ``N = 1``: ``SR0 = 0``. A flat PnL gets 0.5 if ``SR0 = 0``, else 0.

    Parameters
    ----------
    pnl : numpy.ndarray
        ``[n_periods]`` PnL per period of the kept trial, in return units.
    trial_sharpes : numpy.ndarray
        ``[n_trials]`` per-period Sharpe ratios of every distinct trial of the search (the kept one included).

    Raises
    ------
    ValueError
        If ``pnl`` is not 1-D finite with at least 2 periods, or ``trial_sharpes`` is not 1-D finite and non-empty.
    """
    pnl = _returns(pnl, minimum=2)
    trials = _returns(trial_sharpes, "trial_sharpes")
    benchmark = _expected_max_sharpe(trials)
    sharpe, skewness, kurtosis = _moments(pnl)
    return DSRResult(_psr(pnl, benchmark), sharpe, benchmark, len(trials), skewness, kurtosis, len(pnl))


def _positions(positions: np.ndarray, n_periods: int) -> np.ndarray:
    array = np.asarray(positions)
    if array.shape != (n_periods,):
        raise ValueError(f"positions must be [n_periods] = [{n_periods}] like pnl, got shape {array.shape}")
    if not np.isin(array, (-1, 0, 1)).all():
        raise ValueError("positions must be -1 (short), 0 (flat) or 1 (long), got "
                         f"{np.unique(array[~np.isin(array, (-1, 0, 1))])[:5].tolist()}")
    return array.astype(float)


def _intervals(func: Callable[..., Any], block: int, seed: int, reps: int, alpha: float,
               *data: np.ndarray) -> list[list[float]]:
    """``[[low, high], ...]``, one per statistic ``func(*data)`` returns: stationary bootstrap, percentile method."""
    from arch.bootstrap import StationaryBootstrap

    bounds = StationaryBootstrap(block, *data, seed=seed).conf_int(func, reps=reps, method="percentile", size=1 - alpha)
    return [[float(low), float(high)] for low, high in bounds.T]


def trading_summary(pnl: np.ndarray, positions: np.ndarray, periods_per_year: float, alpha: float = 0.05,
                    seed: int = 0, reps: int = 1000) -> dict[str, Any]:
    """Sharpe ratio, drawdown, turnover and hit rate of a long/flat/short rule, with bootstrap intervals.

    Intervals: ``arch.bootstrap.StationaryBootstrap`` (Politis & Romano 1994) ``.conf_int(method="percentile")``,
    mean block the "stationary" column of ``arch.bootstrap.optimal_block_length(pnl)`` rounded up (1 when constant
    or under 10 periods). Sharpe ratio, drawdown and turnover share resamples of (PnL, position change), so a block
    join adds no trade; the hit rate's resamples the in-market periods' hits alone, in order, at the same block.

    Parameters
    ----------
    pnl : numpy.ndarray
        ``[n_periods]`` PnL per period after fees, in return units.
    positions : numpy.ndarray
        ``[n_periods]`` the position held over each period: -1 short, 0 flat, 1 long.
    periods_per_year : float
        Annualises the Sharpe ratio (:func:`sharpe_ratio`).
    alpha, seed, reps : float, int, int
        One minus the intervals' level; the bootstrap's ``seed=`` (fixes the result) and resamples.

    Returns
    -------
    dict
        ``sharpe`` (annualised), ``max_drawdown`` (return units), ``turnover`` (mean ``|position change|`` per
        period, the first period's change from flat included), ``n_trades`` (periods whose position differs from
        the previous one's), ``hit_rate`` (share of in-market periods with PnL > 0; None when never in the market),
        ``total_return`` (sum of the PnL), ``mean_pnl``, ``n_periods``, ``block_size``, and ``sharpe_ci``,
        ``max_drawdown_ci``, ``turnover_ci``, ``hit_rate_ci`` (``[low, high]``; None with the hit rate). JSON-safe.

    Raises
    ------
    ValueError
        If ``pnl`` is not 1-D finite of 2+ periods, ``positions`` not ``[n_periods]`` in {-1, 0, 1},
        ``periods_per_year`` not positive, ``alpha`` not in (0, 1) or ``reps < 1``.
    """
    _check_alpha(alpha)
    if reps < 1:
        raise ValueError(f"reps must be at least 1, got {reps}")
    sharpe, annualiser = sharpe_ratio(pnl, periods_per_year), np.sqrt(periods_per_year)
    pnl = np.asarray(pnl, dtype=float)
    held = _positions(positions, len(pnl))
    changes = np.abs(np.diff(held, prepend=0.0))
    hits = (pnl[held != 0] > 0).astype(float)
    block = auto_block_length(pnl, "stationary")

    def statistics(pnl_sample: np.ndarray, change_sample: np.ndarray) -> np.ndarray:
        return np.array([_sharpe(pnl_sample) * annualiser, _drawdown(pnl_sample), change_sample.mean()])

    sharpe_ci, drawdown_ci, turnover_ci = _intervals(statistics, block, seed, reps, alpha, pnl, changes)
    hit_rate_ci = _intervals(np.mean, block, seed, reps, alpha, hits)[0] if len(hits) else None
    return {"sharpe": sharpe, "max_drawdown": _drawdown(pnl), "turnover": float(changes.mean()),
            "n_trades": int((changes > 0).sum()), "hit_rate": float(hits.mean()) if len(hits) else None,
            "total_return": float(pnl.sum()), "mean_pnl": float(pnl.mean()), "n_periods": len(pnl),
            "block_size": int(block), "sharpe_ci": sharpe_ci, "max_drawdown_ci": drawdown_ci,
            "turnover_ci": turnover_ci, "hit_rate_ci": hit_rate_ci}
