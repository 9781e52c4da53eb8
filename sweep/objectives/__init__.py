"""The objectives a run is tuned, selected, compared and promoted on (:mod:`.registry`): each entry's per-window
loss, direction, units, benchmark, reference families and plots; the probability of up and the trading rule the
trading objectives read (:mod:`.trading`)."""

from .registry import DEFAULT_OBJECTIVE, LATENCY, OBJECTIVES, Objective, get_objective, objective_of_run
from .scored import ScoredWindows
from .trading import DEFAULT_FEE_BPS, TradingRule, periods_per_year, trading_costs, up_probability

__all__ = ["DEFAULT_OBJECTIVE", "LATENCY", "OBJECTIVES", "Objective", "get_objective", "objective_of_run",
           "ScoredWindows", "DEFAULT_FEE_BPS", "TradingRule", "periods_per_year", "trading_costs",
           "up_probability"]
