"""The objectives a run is tuned, selected, compared and promoted on (:mod:`.registry`): each entry's per-window
loss, direction, units, benchmark, reference families and plots."""

from .registry import DEFAULT_OBJECTIVE, LATENCY, OBJECTIVES, Objective, get_objective, objective_of_run

__all__ = ["DEFAULT_OBJECTIVE", "LATENCY", "OBJECTIVES", "Objective", "get_objective", "objective_of_run"]
