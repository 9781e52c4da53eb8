"""``--objective pnl``: the PnL after fees of a declared trading rule, against flat and buy-and-hold."""

from __future__ import annotations

import numpy as np

from ..data.bars import OHLCVData
from ..stats.trading import max_drawdown, sharpe_ratio
from .scored import ScoredWindows
from .trading import TradingRule, periods_per_year, rule_pnl

__all__ = ["pnl_losses", "pnl_metrics", "pnl_records", "flat_losses", "window_pnl", "buy_and_hold_pnl"]


def _realised(scored: ScoredWindows) -> np.ndarray:
    return scored.targets[:, -1] / scored.last_close - 1.0


def window_pnl(scored: ScoredWindows) -> tuple[np.ndarray, np.ndarray]:
    """``([n_windows] positions, [n_windows] PnL after fees)`` of the config's trading rule (return units).

    Raises
    ------
    ConfigError
        If the config declares no trading rule (``decision``).
    """
    rule = TradingRule.from_decision(scored.decision)
    positions = rule.positions(scored.point, scored.last_close)
    return positions, rule_pnl(positions, _realised(scored), scored.origins, scored.horizon, rule.fee)


def buy_and_hold_pnl(scored: ScoredWindows) -> np.ndarray:
    """``[n_windows]`` PnL of staying long through every window under the same holding and fee rule."""
    rule = TradingRule.from_decision(scored.decision)
    return rule_pnl(np.ones(len(scored.origins)), _realised(scored), scored.origins, scored.horizon, rule.fee)


def pnl_losses(scored: ScoredWindows) -> np.ndarray:
    """``[n_windows]`` minus the PnL after fees (lower is better)."""
    return -window_pnl(scored)[1]


def pnl_records(scored: ScoredWindows) -> dict[str, np.ndarray]:
    """``{"position", "pnl", "buy_and_hold_pnl": [n_windows]}``: the report's equity curves."""
    positions, pnl = window_pnl(scored)
    return {"position": positions, "pnl": pnl, "buy_and_hold_pnl": buy_and_hold_pnl(scored)}


def pnl_metrics(scored: ScoredWindows) -> dict[str, float]:
    """The rule's annualised Sharpe ratio, maximum drawdown (of the summed PnL), turnover (mean absolute change of
    position per window, from flat), number of trades (windows that change the position), hit rate (share of
    windows in the market with a positive PnL; absent when never in the market), total return, and buy-and-hold's
    total return and Sharpe ratio on the same windows."""
    positions, pnl = window_pnl(scored)
    hold = buy_and_hold_pnl(scored)
    per_year = periods_per_year(scored.origins, scored.bar_seconds)
    changes = np.abs(np.diff(positions, prepend=0.0))
    out = {"sharpe": sharpe_ratio(pnl, per_year), "max_drawdown": max_drawdown(pnl),
           "turnover": float(changes.mean()), "n_trades": float((changes > 0).sum()),
           "mean_pnl": float(pnl.mean()), "total_return": float(pnl.sum()),
           "market_share": float((positions != 0).mean()),
           "buy_and_hold_total_return": float(hold.sum()), "buy_and_hold_sharpe": sharpe_ratio(hold, per_year)}
    if (positions != 0).any():
        out["hit_rate"] = float((pnl[positions != 0] > 0).mean())
    return out


def flat_losses(data: OHLCVData, origins: np.ndarray, horizon: int) -> np.ndarray:
    """``[n_windows]`` losses of staying flat: no position, no fee, PnL 0."""
    return np.zeros(len(origins))
