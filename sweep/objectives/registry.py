"""The objectives: one entry each, read by scoring, the studies, selection, candidates, the review and the report.

An objective is what a run is tuned, selected, compared and promoted on. It is declared when a sweep starts
(``--objective``), recorded in ``run.json``, every study and every candidate, and never changed afterwards:
choosing it after seeing test results would be another try at alpha. An entry names its per-window loss,
its direction and units, its benchmark (the reference scored without inference, beside every result), the
families whose documented defaults every candidate is compared with on test, and the plots the report draws
for it. An objective joins by adding one :class:`Objective` here; the studies, the selection and the review
read only these fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..data.bars import OHLCVData
from ..data.windows import gather_contexts, gather_targets
from ..errors import ConfigError
from ..forecasters.naive import DEFAULT_LOOKBACK, empirical_quantiles
from ..stats.metrics import QUANTILE_LEVELS, coverage_by_level, pct_return_errors, quantile_loss_windows
from ..stats.calibration import level_hits
from .direction import climatology_losses, direction_losses, direction_metrics, direction_records
from .pnl import flat_losses, pnl_losses, pnl_metrics, pnl_records
from .scored import ScoredWindows
from .trading import DEFAULT_FEE_BPS, DEFAULT_THRESHOLD_FEES, THRESHOLD_FEES

__all__ = ["Objective", "OBJECTIVES", "DEFAULT_OBJECTIVE", "LATENCY", "get_objective", "objective_of_run"]

#: The second objective a study may minimise (``--objectives <objective> latency_s``): seconds per forecast origin.
LATENCY = "latency_s"

#: ``(scored windows) -> [n_windows]`` losses.
WindowLosses = Callable[[ScoredWindows], np.ndarray]


@dataclass(frozen=True)
class Objective:
    """One objective.

    Attributes
    ----------
    name : str
        ``--objective`` value, and the metric's key in every validation and test block.
    units : str
    summary : str
        What it measures, in one sentence (``--help``, the report).
    window_losses : callable
        ``(ScoredWindows)`` -> ``[n_windows]`` per-window losses, lower is better: the input of every paired test,
        SPA and MCS.
    benchmark : str
        Name of the reference scored without inference beside every result (``<benchmark>_<name>`` and the
        skill ``1 - loss / benchmark loss`` in every metrics block; the SPA's benchmark; a pooled study's scale).
    benchmark_losses : callable
        ``(data, origins [n_windows], horizon)`` -> ``[n_windows]`` losses of :attr:`benchmark`.
    references : dict
        ``{comparison name: family}``: the families whose documented default (under this objective) every
        candidate is compared with on the same test origins, the benchmark's first. The better of them on
        validation is the implicit incumbent of a symbol with no best config yet.
    scores_distribution : bool
        Whether the loss reads the forecast distribution (then the ``naive`` family searches its return lookback).
    default_models : tuple of str
        Families swept with this objective when ``--models`` is not given, besides the usual ones.
    plots : tuple of str
        What ``report`` draws for it beyond the trials: ``"reliability"`` (nominal vs observed quantile levels) and
        ``"fan"`` (test quantiles beside the realised closes), ``"equity"`` (the trading rule's equity curve after
        fees beside its default's and buy-and-hold's, with their drawdowns).
    secondary : callable or None
        ``(ScoredWindows)`` -> further metrics (floats) recorded beside the loss.
    window_hits : callable or None
        ``(ScoredWindows)`` -> ``[n_windows, n_levels]`` share of each window's steps at or below each
        scored quantile (the PIT at the levels), for the calibration test of a distribution objective.
    window_records : callable or None
        ``(ScoredWindows)`` -> ``{name: [n_windows]}`` per-window values beside the loss (the probability of up,
        the position and PnL) that ``predict`` serves and the report draws.
    decision_grid : dict
        ``{name: grid}`` of settings that turn the forecast into a decision, searched with the forecast's own
        (the trading rule's ``threshold_fees``); recorded in the config's ``decision``.
    decision_default : dict
        The untuned value of each of :attr:`decision_grid`, and of the run's fixed decision settings (``fee_bps``,
        ``long_only``) when the run does not set them.
    relative_skill : bool
        Whether ``skill`` is ``1 - loss / benchmark loss`` (a loss whose benchmark is positive) or, when the
        benchmark's loss is 0 by construction (flat PnL), ``benchmark loss - loss`` in the objective's units.
    pools : bool
        Whether ``--selection pooled`` can average it over symbols relative to each symbol's benchmark.
    levels : tuple of float
        The quantile levels a distribution objective scores (empty for a point objective).
    min_context_length : int
        Bars before the first origin its benchmark needs.
    direction : str
        ``"minimize"``: every objective is a loss.
    """

    name: str
    units: str
    summary: str
    window_losses: WindowLosses
    benchmark: str
    benchmark_losses: Callable[[OHLCVData, np.ndarray, int], np.ndarray]
    references: dict[str, str]
    scores_distribution: bool = False
    default_models: tuple[str, ...] = ()
    plots: tuple[str, ...] = ()
    secondary: Callable[[ScoredWindows], dict[str, float]] | None = field(default=None, compare=False)
    window_hits: Callable[[ScoredWindows], np.ndarray] | None = field(default=None, compare=False)
    window_records: Callable[[ScoredWindows], dict[str, np.ndarray]] | None = field(default=None, compare=False)
    decision_grid: dict[str, tuple] = field(default_factory=dict)
    decision_default: dict[str, Any] = field(default_factory=dict)
    relative_skill: bool = True
    pools: bool = True
    levels: tuple[float, ...] = ()
    min_context_length: int = 1
    direction: str = "minimize"

    @property
    def benchmark_key(self) -> str:
        """Key of the benchmark's mean loss in a metrics block (``persistence_pct_return_mae``)."""
        return f"{self.benchmark}_{self.name}"

    def metrics(self, scored: ScoredWindows) -> tuple[np.ndarray, dict[str, float]]:
        """``(per-window losses [n_windows], {name: mean loss, **secondary metrics})``."""
        losses = np.asarray(self.window_losses(scored), dtype=float)
        extra = self.secondary(scored) if self.secondary else {}
        return losses, {self.name: float(losses.mean()), **extra}

    def judged_decision(self, own: dict[str, Any] | None, run: dict[str, Any]) -> dict[str, Any] | None:
        """The decision a config is judged under beside a run's config (``run``, its ``decision``): the config's own
        searched settings (the default where it has none: a config tuned under another objective) with the run's
        fixed ones (``fee_bps``, ``long_only``), so that a review compares both at the same cost. None when the
        objective scores no decision."""
        if not self.decision_default:
            return None
        own = own or {}
        fixed = {k: v for k, v in run.items() if k not in self.decision_grid}
        return {**self.decision_default, **{k: own[k] for k in self.decision_grid if k in own}, **fixed}

    def skill(self, loss: float, benchmark_loss: float) -> float:
        """``1 - loss / benchmark loss``, or ``benchmark loss - loss`` when :attr:`relative_skill` is off."""
        return 1.0 - loss / benchmark_loss if self.relative_skill else benchmark_loss - loss

    @property
    def power_key(self) -> str:
        """Key of a candidate's power block when the benchmark itself is selected (``power_vs_persistence``): the
        strongest other config's power against the benchmark."""
        return f"power_vs_{self.benchmark}"

    def describe(self) -> dict[str, Any]:
        """The objective as a run, a study and a candidate record it."""
        return {"name": self.name, "units": self.units, "direction": self.direction, "benchmark": self.benchmark,
                "references": dict(self.references)}


def _last_close_and_targets(data: OHLCVData, origins: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """``([n_windows] last close, [n_windows, 1] close horizon bars ahead)``: what every objective scores."""
    return data.close[origins - 1], gather_targets(data.close, origins, horizon)[:, -1:]


def _persistence_losses(data: OHLCVData, origins: np.ndarray, horizon: int) -> np.ndarray:
    last_close, targets = _last_close_and_targets(data, origins, horizon)
    return pct_return_errors(last_close[:, None], targets, last_close)


def _random_walk_losses(data: OHLCVData, origins: np.ndarray, horizon: int) -> np.ndarray:
    """The empirical random walk of the default lookback (the ``naive`` default under a distribution objective)."""
    last_close, targets = _last_close_and_targets(data, origins, horizon)
    quantiles = empirical_quantiles(gather_contexts(data.close, origins, DEFAULT_LOOKBACK + 1), horizon)[..., -1:]
    return quantile_loss_windows(quantiles, QUANTILE_LEVELS, targets, last_close)


def _point_errors(s: ScoredWindows) -> np.ndarray:
    return pct_return_errors(s.point, s.targets, s.last_close)


def _quantile_losses(s: ScoredWindows) -> np.ndarray:
    return quantile_loss_windows(s.predictive.quantiles(QUANTILE_LEVELS), QUANTILE_LEVELS, s.targets, s.last_close)


def _level_hits(s: ScoredWindows) -> np.ndarray:
    return level_hits(s.predictive.quantiles(QUANTILE_LEVELS), s.targets)


def _coverage_by_level(s: ScoredWindows) -> dict[str, float]:
    observed = coverage_by_level(s.predictive.quantiles(QUANTILE_LEVELS), s.targets)
    return {f"coverage_{level:g}": float(value) for level, value in zip(QUANTILE_LEVELS, observed)}


OBJECTIVES: dict[str, Objective] = {o.name: o for o in (
    Objective("pct_return_mae", "return units (0.01 = 1 %)",
              "absolute error of the point forecast's return from the last close to the close horizon bars ahead",
              _point_errors, benchmark="persistence", benchmark_losses=_persistence_losses,
              references={"persistence": "naive"}, plots=()),
    # fev-bench's and GluonTS' weighted quantile loss, unscaled: twice the mean pinball loss on 0.1 ... 0.9
    Objective("quantile_loss", "return units (0.01 = 1 %)",
              "twice the mean pinball loss of the 0.1 ... 0.9 quantiles of the return from the last close to the close "
              "horizon bars ahead (about the CRPS)", _quantile_losses, benchmark="random_walk",
              benchmark_losses=_random_walk_losses, references={"random_walk": "naive", "garch": "garch"},
              scores_distribution=True, default_models=("garch",), plots=("reliability", "fan"),
              secondary=_coverage_by_level, window_hits=_level_hits, levels=QUANTILE_LEVELS,
              min_context_length=DEFAULT_LOOKBACK + 1),
    Objective("direction", "Brier score (0 ... 1)",
              "Brier score of the forecast probability that the close horizon bars ahead is above the last close",
              direction_losses, benchmark="climatology", benchmark_losses=climatology_losses,
              references={"climatology": "naive"}, scores_distribution=True, plots=(),
              secondary=direction_metrics, window_records=direction_records, min_context_length=DEFAULT_LOOKBACK + 1),
    Objective("pnl", "return units per window (0.01 = 1 %), sign flipped",
              "minus the mean PnL after fees per window of going long (short) when the point forecast's return to "
              "the horizon's close is above (below) a threshold in round-trip fees", pnl_losses, benchmark="flat",
              benchmark_losses=flat_losses, references={"flat": "naive"}, plots=("equity",), secondary=pnl_metrics,
              window_records=pnl_records, decision_grid={"threshold_fees": THRESHOLD_FEES},
              decision_default={"threshold_fees": DEFAULT_THRESHOLD_FEES, "fee_bps": DEFAULT_FEE_BPS,
                                "long_only": False}, relative_skill=False, pools=False),
)}

#: ``--objective`` when none is given.
DEFAULT_OBJECTIVE = "pct_return_mae"


def get_objective(name: str) -> Objective:
    """The registry entry of objective ``name``.

    Raises
    ------
    ConfigError
        If it is unknown.
    """
    objective = OBJECTIVES.get(name)
    if objective is None:
        raise ConfigError(f"objective {name!r} is unknown; use one of {list(OBJECTIVES)}")
    return objective


def objective_of_run(document: dict[str, Any]) -> str:
    """The objective a ``run.json`` or candidate document declares; documents from before ``--objective`` existed
    were tuned on ``pct_return_mae``."""
    declared = document.get("objective")
    if isinstance(declared, dict):
        declared = declared.get("name")
    return declared or DEFAULT_OBJECTIVE
