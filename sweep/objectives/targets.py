"""The seeds' three trading targets, judged with intervals on a trading objective's test windows.

The system sweep replaces judged itself by them: direction accuracy above 55 %, Sharpe ratio above 1.5 after fees,
maximum drawdown below 15 %. A target is met only when its whole 95 % interval is on the right side of it: a point
estimate above 55 % whose interval reaches below it is not met.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..stats.trading import accuracy_target, trading_summary
from .direction import direction_calls

__all__ = ["TARGETS", "seed_targets", "target_verdict"]

#: ``{target: (threshold, side)}``: met when the interval is wholly above (below) the threshold.
TARGETS = {"accuracy": (0.55, "above"), "sharpe": (1.5, "above"), "max_drawdown": (0.15, "below")}


def target_verdict(name: str, value: float | None, interval: list[float] | None,
                   missing: str = "not measured: the rule was never in the market") -> dict[str, Any]:
    """``{"target", "value", "interval", "met", "verdict"}`` of target ``name`` (a key of :data:`TARGETS`)."""
    threshold, side = TARGETS[name]
    target = f"{name} {'>' if side == 'above' else '<'} {threshold:g}"
    if value is None or interval is None:
        return {"target": target, "value": None, "interval": None, "met": False, "verdict": missing}
    met = interval[0] > threshold if side == "above" else interval[1] < threshold
    shown = f"{value:.3g} [{interval[0]:.3g}, {interval[1]:.3g}]"
    return {"target": target, "value": value, "interval": interval, "met": bool(met),
            "verdict": f"{'met' if met else 'not met'}: {shown} (95 % interval on the test origins)"}


def _accuracy(hits: np.ndarray, of: str) -> dict[str, Any]:
    judged = accuracy_target(hits, TARGETS["accuracy"][0]) if len(hits) >= 2 else None
    interval = judged and [judged["ci_low"], judged["ci_high"]]
    return {**target_verdict("accuracy", judged and judged["accuracy"], interval), "of": of}


def seed_targets(records: dict[str, np.ndarray], periods_per_year: float, seed: int = 0) -> dict[str, Any]:
    """The three targets' verdicts from a trading objective's per-window records
    (:attr:`sweep.objectives.Objective.window_records` on test windows).

    Under ``pnl`` accuracy is the share of windows in the market with a positive PnL after fees, and the Sharpe ratio
    and drawdown are the rule's (:func:`sweep.stats.trading.trading_summary`'s stationary-bootstrap intervals);
    under ``direction`` accuracy is the share of called directions that were right (Wilson interval), and the
    Sharpe ratio and drawdown are not measured (they need a trading rule: ``--objective pnl``). A rule that never
    takes a position measures none of them: flat's drawdown of 0 meets nothing.

    Parameters
    ----------
    records : dict
        ``{"position", "pnl", ...}`` or ``{"up_probability", "realised_up"}``, each ``[n_windows]``.
    periods_per_year : float
        Windows per year, for the annualised Sharpe ratio.
    seed : int
        Bootstrap seed.
    """
    if "pnl" in records and not records["position"].any():  # flat meets a drawdown target by doing nothing
        never = "not measured: the rule never took a position (flat)"
        return {name: target_verdict(name, None, None, never) for name in TARGETS}
    if "pnl" in records:
        pnl, positions = records["pnl"], records["position"]
        summary = trading_summary(pnl, positions, periods_per_year, 0.05, seed)
        return {"accuracy": _accuracy(pnl[positions != 0] > 0, "share of windows in the market with a positive PnL "
                                                              "after fees"),
                "sharpe": target_verdict("sharpe", summary["sharpe"], summary["sharpe_ci"]),
                "max_drawdown": target_verdict("max_drawdown", summary["max_drawdown"], summary["max_drawdown_ci"])}
    up, realised = direction_calls(records["up_probability"], records["realised_up"])
    unmeasured = "not measured under --objective direction: it needs a trading rule (--objective pnl)"
    return {"accuracy": _accuracy(up == realised, "share of called directions that were right"),
            "sharpe": target_verdict("sharpe", None, None, unmeasured),
            "max_drawdown": target_verdict("max_drawdown", None, None, unmeasured)}
