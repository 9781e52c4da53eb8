"""``report.md`` of a run and its plots (:mod:`.report`), with the backtest section, the report folder and the plotting
helpers (private)."""

from .report import write_report

__all__ = ["write_report"]
