"""What one study is: a model, the symbols whose validation windows score its trials, and how to run it.

A study is per symbol (``--selection per-symbol``, the default: one study per (symbol, model)) or
pooled (``--selection pooled``: one study per model over every symbol of the run, each trial one
config scored on all of their validation windows; see :mod:`sweep.search.objective`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


from ..data.bars import OHLCVData
from ..forecasters.base import Forecaster
from .space import space_of
from ..data.windows import Splits

__all__ = ["PER_SYMBOL", "POOLED", "SCOPES", "SymbolWindows", "WarmStart", "StudyJob", "study_name"]

#: Selection scopes (``--selection``): one study per (symbol, model), or one per model over every symbol.
PER_SYMBOL, POOLED = "per-symbol", "pooled"
SCOPES = (PER_SYMBOL, POOLED)


def study_name(symbol: str, model: str, namespace: str | None = None) -> str:
    """Name of the study of ``model`` on ``symbol``: ``"BTCUSD.toto"``, or ``"<namespace>/BTCUSD.toto"``.

    A run's own journal file needs no namespace; a shared database (``--storage``)
    holds many runs, so their studies are prefixed with the run id. A pooled study is
    named ``"pooled.toto"``: symbols are upper case, so it never collides with one.
    """
    return f"{namespace}/{symbol}.{model}" if namespace else f"{symbol}.{model}"


@dataclass(frozen=True)
class SymbolWindows:
    """One symbol's bars and windows, as a study scores them.

    Attributes
    ----------
    symbol : str
    data : OHLCVData
    splits : Splits
    """

    symbol: str
    data: OHLCVData
    splits: Splits


@dataclass(frozen=True)
class WarmStart:
    """A config enqueued as one of a study's first trials (Optuna's ``enqueue_trial``).

    Attributes
    ----------
    source : str
        ``"default"`` (the family's documented default) or ``"production"`` (the current best config).
    params : dict
        The config as the family's search-space parameters (:func:`sweep.search.space.params_of`).
    user_attrs : dict
        Extra attributes recorded on the trial (e.g. the production file it came from).
    """

    source: str
    params: dict[str, Any]
    user_attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, Any]:
        """What makes two warm starts the same: the source and the production file it came from."""
        return self.source, self.user_attrs.get("production")


@dataclass
class StudyJob:
    """Everything one study needs.

    Attributes
    ----------
    symbol, model : str
        ``model`` labels the model: a family (``"toto"``, ``"naive"``) or a variant of
        one (``"toto-ft"``, a fine-tuned checkpoint; see ``family``). ``symbol`` is
        :data:`POOLED` for a pooled study.
    data : OHLCVData
    splits : Splits
        The symbol's (a pooled study's: its first symbol's; every symbol shares the window spec).
    make_forecaster : callable
        Loads the model; called once per study, inside the worker.
    n_trials : int
        Completed trials wanted in the study (including earlier runs).
    storage : str
        Journal file path or RDB URL.
    context_ceiling : int
        The longest context (bars) the study searches: the smaller of the model's limit and
        ``--max-context-length`` (:func:`sweep.runs.jobs.context_ceiling`, its one owner).
    seed : int
    cache_dir : str or None
        Sample cache folder; ``None`` keeps samples in memory.
    use_cache : bool
    timeout_s : float or None
        Wall-clock limit of this run of the study.
    objectives : tuple of str
        ``(objective,)`` or ``(objective, "latency_s")``, the objective one of :data:`sweep.objectives.OBJECTIVES`.
    latency_budget_s : float or None
        With two objectives: the outcome is the most accurate trial within this latency.
    namespace : str or None
        Study name prefix (the run id) in shared storage; see :func:`study_name`.
    family : str or None
        Model family whose search space applies; default ``model``.
    warm_start : tuple of WarmStart
        Configs enqueued once, before the sampler's own suggestions.
    run_settings : dict or None
        Recorded on the study when it has none (:data:`sweep.search.study.RUN_SETTINGS_ATTR`).
    pool : tuple of SymbolWindows
        A pooled study's symbols (empty for a per-symbol study).
    fixed_decision : dict
        The run's fixed decision settings (``pnl``'s ``fee_bps`` and ``long_only``; empty otherwise).
    horizons : tuple of int
        Of a run with several ``--horizons``: every horizon a trial scores, from one draw at the longest
        (``splits.spec.horizon``; :mod:`sweep.search.horizon_trials`). Empty: the one horizon of ``splits``.
    """

    symbol: str
    model: str
    data: OHLCVData
    splits: Splits
    make_forecaster: Callable[[], Forecaster]
    n_trials: int
    storage: str
    context_ceiling: int
    seed: int = 0
    cache_dir: str | None = None
    use_cache: bool = True
    timeout_s: float | None = None
    objectives: tuple[str, ...] = ("pct_return_mae",)
    latency_budget_s: float | None = None
    namespace: str | None = None
    family: str | None = None
    warm_start: tuple[WarmStart, ...] = ()
    run_settings: dict[str, Any] | None = None
    pool: tuple[SymbolWindows, ...] = ()
    fixed_decision: dict[str, Any] = field(default_factory=dict)
    horizons: tuple[int, ...] = ()

    @property
    def model_family(self) -> str:
        return self.family or self.model

    @property
    def objective(self) -> str:
        """The accuracy objective (:mod:`sweep.objectives`): the first of :attr:`objectives`."""
        return self.objectives[0]

    @property
    def name(self) -> str:
        return study_name(self.symbol, self.model, self.namespace)

    @property
    def scope(self) -> str:
        return POOLED if self.pool else PER_SYMBOL

    @property
    def windows(self) -> tuple[SymbolWindows, ...]:
        """Every symbol whose validation windows score a trial: the pool, or the job's own symbol."""
        return self.pool or (SymbolWindows(self.symbol, self.data, self.splits),)

    def target_trials(self) -> int:
        """Trials to complete: ``n_trials``, or 1 for a space with a single config."""
        size = space_of(self.model_family, self.objective, self.fixed_decision).size(self.context_ceiling)
        return self.n_trials if size > 1 else min(self.n_trials, 1)
