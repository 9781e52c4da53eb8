"""What a trading system reads off a forecast: the probability of up, and a declared, cost-aware trading rule.

Both objectives score the close ``horizon`` bars after the last context close (the forecast's last step), as a
trader holding for the horizon is paid on it. Returns are simple returns from the last close, in return units
(0.01 = 1 %); PnL adds up (it is not compounded), so a sum of per-window PnL is the strategy's return on a capital
of 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.windows import WindowSpec
from ..errors import ConfigError
from ..stats.predictive import Predictive

__all__ = ["up_probability", "realised_up", "brier_scores", "TradingRule", "rule_pnl", "windows_open_at_once",
           "periods_per_year", "DEFAULT_FEE_BPS", "THRESHOLD_FEES", "DEFAULT_THRESHOLD_FEES", "SECONDS_PER_YEAR"]

#: ``--fee-bps``: fee per side, in basis points of the traded notional. 10 bps is Binance's spot taker fee at its
#: base (VIP 0) tier (binance.com/en/fee/trading, 0.1000 % maker and taker), a typical retail spot fee.
DEFAULT_FEE_BPS = 10.0
#: The entry threshold a ``pnl`` study searches, in round trips of the fee (2 x ``fee_bps``): 0 trades on any
#: forecast move, 1 only when the forecast return pays the round trip.
THRESHOLD_FEES = (0.0, 0.5, 1.0, 2.0, 4.0)
#: The untuned threshold: trade when the forecast return covers the round trip's fees.
DEFAULT_THRESHOLD_FEES = 1.0
#: A year of 365.25 days: crypto trades every hour of every day.
SECONDS_PER_YEAR = 365.25 * 86400.0


def _last_step_returns(prices: np.ndarray, last_close: np.ndarray) -> np.ndarray:
    """``[n_windows, ...]`` simple returns of the forecast's last step from the last close."""
    shape = (-1,) + (1,) * (prices.ndim - 2)
    return prices[..., -1] / last_close.reshape(shape) - 1.0


def realised_up(targets: np.ndarray, last_close: np.ndarray) -> np.ndarray:
    """``[n_windows]`` outcome of the direction event: 1 when the close ``horizon`` bars ahead is above the last
    close, 0 below, 0.5 on a tie (a tie is neither up nor down; it counts half, as a tied path does)."""
    r = _last_step_returns(targets, last_close)
    return np.where(r > 0, 1.0, np.where(r < 0, 0.0, 0.5))


def _share_above_zero(knots: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """``[n_windows]`` measure of ``{u : Q(u) > 0}`` for the piecewise-linear quantile function through
    ``(knots [n_knots], quantiles [n_windows, n_knots])`` (increasing in its second axis), where ``Q`` is 0 counting
    half."""
    a, b, width = quantiles[:, :-1], quantiles[:, 1:], np.diff(knots)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = np.where(b - a > 0, b / (b - a), 0.0)
    share = np.select([a > 0, b < 0, (a == 0) & (b == 0), a == 0, b == 0], [1.0, 0.0, 0.5, 1.0, 0.0],
                      default=crossing)
    return (width * share).sum(axis=1)


def up_probability(predictive: Predictive, last_close: np.ndarray) -> np.ndarray:
    """``[n_windows]`` forecast probability that the close ``horizon`` bars ahead is above the last close.

    Sample paths: the share of paths whose last step is above the last close, ties counting half. Quantiles:
    ``1 - F(0)`` of the last step's return, with ``F`` the inverse of the piecewise-linear quantile function
    through the model's levels (each window's quantiles sorted first, the monotone rearrangement of Chernozhukov,
    Fernández-Val & Galichon, 2010, Econometrica 78(3)). Beyond the outermost levels the quantile function goes on
    in a straight line with its outermost segment's slope, so the tails below the lowest level and above the
    highest carry their mass (0.1 each for levels 0.1 ... 0.9) spread linearly rather than piled on the outermost
    quantile; a level range of equal quantiles is a point mass, counted half when it sits at zero.

    Parameters
    ----------
    predictive : Predictive
        ``[n_windows, n_samples, horizon]`` paths or ``[n_windows, n_levels, horizon]`` quantiles (price units).
    last_close : numpy.ndarray
        ``[n_windows]`` last context close.

    Raises
    ------
    ValueError
        If a quantile forecast has fewer than two levels (no slope to interpolate with).
    """
    returns = _last_step_returns(np.asarray(predictive.values, dtype=float), np.asarray(last_close, dtype=float))
    if predictive.levels is None:
        return (returns > 0).mean(axis=1) + 0.5 * (returns == 0).mean(axis=1)
    levels = np.asarray(predictive.levels, dtype=float)
    if len(levels) < 2:
        raise ValueError(f"a quantile forecast needs two levels or more for a probability of up, got {levels}")
    q = np.sort(returns, axis=1)
    low_slope = (q[:, 1] - q[:, 0]) / (levels[1] - levels[0])
    high_slope = (q[:, -1] - q[:, -2]) / (levels[-1] - levels[-2])
    tails = (q[:, :1] - levels[0] * low_slope[:, None], q[:, -1:] + (1 - levels[-1]) * high_slope[:, None])
    return _share_above_zero(np.concatenate([[0.0], levels, [1.0]]), np.concatenate([tails[0], q, tails[1]], axis=1))


def brier_scores(probability_up: np.ndarray, targets: np.ndarray, last_close: np.ndarray) -> np.ndarray:
    """``[n_windows]`` Brier score ``(p - o)^2`` of the probability of up against the outcome :func:`realised_up`
    (Brier, 1950, Monthly Weather Review 78(1)): a strictly proper scoring rule, so no hedged or overconfident
    probability scores better in expectation than the one the forecaster believes."""
    return (np.asarray(probability_up, dtype=float) - realised_up(targets, last_close)) ** 2


@dataclass(frozen=True)
class TradingRule:
    """The declared trading rule of ``--objective pnl``.

    Go long when the point forecast's return to the horizon's close is above the threshold, short when it is below
    minus the threshold (flat instead when ``long_only``), else flat. The threshold is ``threshold_fees`` round
    trips of the fee: ``threshold_fees * 2 * fee_bps / 10,000`` in return units.

    Attributes
    ----------
    threshold_fees : float
        Entry threshold in round-trip fees (searched over :data:`THRESHOLD_FEES`).
    fee_bps : float
        Fee per side in basis points (``--fee-bps``), paid on every unit of change of position.
    long_only : bool
        Never go short (``--long-only``).
    """

    threshold_fees: float = DEFAULT_THRESHOLD_FEES
    fee_bps: float = DEFAULT_FEE_BPS
    long_only: bool = False

    @classmethod
    def from_decision(cls, decision: dict[str, Any], source: str = "config") -> "TradingRule":
        """The rule a config's ``decision`` declares.

        Raises
        ------
        ConfigError
            If a key is missing or unknown or a value is negative, not finite or of the wrong type.
        """
        keys = {"threshold_fees", "fee_bps", "long_only"}
        if set(decision) != keys:
            raise ConfigError(f"{source}: a pnl config's decision has {sorted(keys)}, got {sorted(decision)}; rerun "
                              f"the sweep with --objective pnl to record it")
        for key in ("threshold_fees", "fee_bps"):
            value = decision[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"{source}: decision {key} must be a finite number >= 0, got {value!r}")
        if not isinstance(decision["long_only"], bool):
            raise ConfigError(f"{source}: decision long_only must be true or false, got {decision['long_only']!r}")
        return cls(float(decision["threshold_fees"]), float(decision["fee_bps"]), decision["long_only"])

    @property
    def fee(self) -> float:
        """Fee per side in return units."""
        return self.fee_bps / 1e4

    @property
    def threshold(self) -> float:
        """Entry threshold in return units."""
        return self.threshold_fees * 2 * self.fee

    def positions(self, point: np.ndarray, last_close: np.ndarray) -> np.ndarray:
        """``[n_windows]`` position (1 long, 0 flat, -1 short) from the ``[n_windows, horizon]`` point forecast."""
        expected = _last_step_returns(np.asarray(point, dtype=float), np.asarray(last_close, dtype=float))
        short = 0.0 if self.long_only else -1.0
        return np.where(expected > self.threshold, 1.0, np.where(expected < -self.threshold, short, 0.0))


def windows_open_at_once(origins: np.ndarray, horizon: int) -> int:
    """Windows whose positions are open at the same bar: ``ceil(horizon / spacing)`` for the smallest spacing of
    consecutive origins (1 when windows do not overlap)."""
    origins = np.asarray(origins)
    if len(origins) < 2:
        return 1
    return max(1, -(-horizon // int(np.diff(origins).min())))


def rule_pnl(positions: np.ndarray, realised: np.ndarray, origins: np.ndarray, horizon: int,
             fee: float) -> np.ndarray:
    """``[n_windows]`` PnL after fees of holding each window's position over its horizon, in return units.

    Each origin's position is held from the last context close to the close ``horizon`` bars later, on an equal
    tranche of the capital: ``1 / m`` with ``m`` windows open at once (:func:`windows_open_at_once`; ``m = 1`` when
    windows do not overlap, as at test stride 1 and horizon 1). A tranche that ends at the bar where the tranche
    ``m`` windows later opens hands its position on, paying the fee on the change of position only; any other
    tranche opens from flat and closes to flat, paying both sides. So at stride 1 and horizon 1 a window's PnL is
    ``position x return - fee x |change of position|``, and the last window closes its position.

    Parameters
    ----------
    positions, realised : numpy.ndarray
        ``[n_windows]`` positions and realised simple returns over the horizon, in origin order.
    origins : numpy.ndarray
        ``[n_windows]`` increasing bar indices of the origins.
    horizon : int
        Bars each position is held.
    fee : float
        Fee per side in return units (10 bps = 0.001).
    """
    positions, realised, origins = (np.asarray(x, dtype=float) for x in (positions, realised, origins))
    m = windows_open_at_once(origins, horizon)
    hands_on = np.zeros(len(origins), dtype=bool)  # window i hands its position on to window i + m
    hands_on[:-m] = origins[m:] - origins[:-m] == horizon
    before = np.zeros_like(positions)
    before[m:] = np.where(hands_on[:-m], positions[:-m], 0.0)
    exit_fee = np.where(hands_on, 0.0, np.abs(positions))
    return (positions * realised - fee * (np.abs(positions - before) + exit_fee)) / m


def periods_per_year(origins: np.ndarray, bar_seconds: float) -> float:
    """Windows per year at the origins' median spacing, for annualising a per-window Sharpe ratio."""
    origins = np.asarray(origins)
    spacing = float(np.median(np.diff(origins))) if len(origins) > 1 else 1.0
    return SECONDS_PER_YEAR / (spacing * bar_seconds)


def trading_costs(objective: str, fee_bps: float, long_only: bool, selection: tuple[str, ...] = (),
                  ensemble: str | None = None, windows: WindowSpec | None = None) -> dict[str, Any]:
    """The run's fixed trading-rule settings (``--fee-bps``, ``--long-only``) as a config's ``decision`` records
    them under ``pnl``; empty under any other objective.

    Raises
    ------
    ConfigError
        If the fee is negative or not finite; if they are set under an objective without a trading rule; under
        ``pnl`` with ``--selection pooled`` (the pooled loss is relative to each symbol's benchmark, and flat's PnL
        is 0) or ``--ensemble`` (a blend of members has no one rule); or under ``direction`` or ``pnl`` when
        windows overlap (``--horizon`` above ``--stride`` or ``--test-stride``): the Sharpe ratio of overlapping
        per-window PnL overstates a portfolio's, and the Wilson interval and the Pesaran-Timmermann test assume
        independent windows.
    """
    if objective in ("direction", "pnl") and windows is not None and \
            windows.horizon > min(windows.stride, windows.test_stride):
        raise ConfigError(f"--objective {objective} scores disjoint windows: --horizon {windows.horizon} is above "
                          f"--stride {windows.stride} or --test-stride {windows.test_stride}; pass strides of at "
                          f"least {windows.horizon} bars (overlapping windows need per-bar marking, not built yet)")
    if isinstance(fee_bps, bool) or not isinstance(fee_bps, (int, float)) or not math.isfinite(fee_bps) or fee_bps < 0:
        raise ConfigError(f"--fee-bps must be a finite number of basis points >= 0, got {fee_bps!r}")
    if objective != "pnl":
        if fee_bps != DEFAULT_FEE_BPS or long_only:
            raise ConfigError(f"--fee-bps and --long-only set the trading rule of --objective pnl; --objective "
                              f"{objective} has none: drop them or pass --objective pnl")
        return {}
    if "pooled" in selection or ensemble:
        raise ConfigError("--objective pnl scores each symbol's own trading rule: --selection pooled (a loss relative "
                          "to flat, whose PnL is 0) and --ensemble (no single rule for a blend) are not supported; "
                          "drop them")
    return {"fee_bps": float(fee_bps), "long_only": bool(long_only)}
