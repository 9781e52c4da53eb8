"""Define-by-run Optuna search spaces, read from the registry.

A family's space is the generic one of its output (:class:`SampleSpace`: context, paths and point;
:class:`QuantileSpace`: context, point and the family's declared choices) unless its registry
entry names its own (``Family.space``: :class:`KronosSpace`, :class:`PersistenceSpace`). Its
documented default (``Family.default``) and its path-count grid (``Family.num_samples``) are the
registry's too, so a new family needs no edit here.

Only statistical parameters are searched; speed settings (samples_per_batch,
batch size, dtype) are chosen by the forecaster and recorded. All choices are
categorical grids so that repeated configs hit the sample cache.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Any, Protocol

import optuna

from ..forecasters.config import ForecastConfig
from ..errors import ConfigError
from ..forecasters import import_path
from ..forecasters.naive import DEFAULT_LOOKBACK, LOOKBACKS
from ..forecasters.registry import FAMILIES, KRONOS_NUM_SAMPLES, NUM_SAMPLES, FamilyDefault
from ..objectives import DEFAULT_OBJECTIVE, get_objective

__all__ = ["CONTEXT_LENGTHS", "NUM_SAMPLES", "KRONOS_NUM_SAMPLES", "TEMPERATURES", "TOP_KS", "TOP_PS", "CLIPS",
           "AGGREGATIONS", "QUANTILE_AGGREGATIONS", "Space", "SampleSpace", "QuantileSpace", "KronosSpace",
           "PersistenceSpace", "DecisionSpace", "space_of", "n_max_samples", "space_size", "FamilyDefault", "default_config",
           "params_of", "context_choices"]

CONTEXT_LENGTHS = (64, 128, 256, 512, 1024, 2048, 4096)
#: Sampling grids around upstream's defaults (``KronosPredictor.predict``: T=1.0, top_k=0,
#: top_p=0.9, clip=5). ``top_p`` 1.0 is plain sampling from the tempered distribution.
TEMPERATURES = (0.5, 0.7, 0.85, 1.0, 1.15, 1.3)
TOP_KS = (5, 10, 20, 50, 100)
TOP_PS = (0.8, 0.9, 0.95, 0.99, 1.0)
CLIPS = (2.0, 3.0, 5.0, 8.0)
AGGREGATIONS = (
    "mean",
    "median",
    "trimmed_mean_0.1",
    "trimmed_mean_0.25",
    "winsorized_mean_0.1",
    "winsorized_mean_0.25",
    "quantile_0.45",
    "quantile_0.55",
)
#: Point forecasts of quantile families: the mean of the quantiles, or one of the levels every quantile
#: family predicts (Toto 2.0 and Chronos-Bolt: 0.1 ... 0.9; Chronos-2 adds finer tails).
QUANTILE_AGGREGATIONS = ("mean", "median", "quantile_0.4", "quantile_0.6", "quantile_0.3", "quantile_0.7")


def context_choices(max_context_length: int) -> list[int]:
    """Context lengths of the grid that fit ``max_context_length`` (at least the smallest)."""
    return [c for c in CONTEXT_LENGTHS if c <= max_context_length] or [CONTEXT_LENGTHS[0]]


class Space(Protocol):
    """A family's search space: how a trial suggests a config, how many configs there are, and the
    parameters (and their grids) under which a config is suggested."""

    def __call__(self, trial: optuna.Trial, max_context_length: int, seed: int) -> ForecastConfig: ...

    def size(self, max_context_length: int) -> int: ...

    def params(self, config: ForecastConfig) -> dict[str, Any]: ...

    def grids(self, max_context_length: int) -> dict[str, Any]: ...

    def inference_keys(self, max_context_length: int) -> list[tuple[int, dict[str, Any]]] | None: ...


class _PointSearched:
    """The point aggregation a space searches: every one of its grid under a point objective; under a distribution
    objective, whose loss never reads the point, only the family default's (a trial spent on it would be wasted)."""

    aggregations: tuple[str, ...]

    def for_objective(self, objective: str):
        default = FAMILIES[self.family].default
        if not get_objective(objective).scores_distribution or default is None:
            return self
        narrowed = copy.copy(self)
        narrowed.aggregations = (default.aggregate,)
        return narrowed


class SampleSpace(_PointSearched):
    """A sample family: ``context_length``, ``num_samples`` (the family's grid) and ``aggregate``."""

    def __init__(self, family: str):
        self.family, self.num_samples, self.aggregations = family, FAMILIES[family].num_samples, AGGREGATIONS

    def __call__(self, trial: optuna.Trial, max_context_length: int, seed: int) -> ForecastConfig:
        return ForecastConfig(
            model=self.family,
            context_length=trial.suggest_categorical("context_length", context_choices(max_context_length)),
            num_samples=trial.suggest_categorical("num_samples", list(self.num_samples)),
            aggregate=trial.suggest_categorical("aggregate", list(self.aggregations)),
            seed=seed,
        )

    def size(self, max_context_length: int) -> int:
        return len(context_choices(max_context_length)) * len(self.num_samples) * len(self.aggregations)

    def params(self, config: ForecastConfig) -> dict[str, Any]:
        return {"context_length": config.context_length, "aggregate": config.aggregate,
                "num_samples": config.num_samples}

    def grids(self, max_context_length: int) -> dict[str, Any]:
        return {"context_length": context_choices(max_context_length), "num_samples": self.num_samples,
                "aggregate": self.aggregations}

    def inference_keys(self, max_context_length: int) -> list[tuple[int, dict[str, Any]]] | None:
        """Every ``(context_length, sampling)`` whose forecasts the space's configs share (``num_samples`` and
        ``aggregate`` are served from one draw); ``None`` when they are too many to expect a study to try them
        all (:class:`sweep.search._symbol_batch.SymbolBatcher` batches only the listed ones across symbols)."""
        return [(c, {}) for c in context_choices(max_context_length)]


class KronosSpace(SampleSpace):
    """Kronos: a sample space plus ``temperature``, either ``top_k`` or ``top_p`` (a conditional choice: the
    other is off, so never both active) and ``clip``; all on fixed grids so repeats hit the sample cache."""

    def __call__(self, trial: optuna.Trial, max_context_length: int, seed: int) -> ForecastConfig:
        # the parameter order is the one the studies were created with: the same seed gives the same trials
        context_length = trial.suggest_categorical("context_length", context_choices(max_context_length))
        temperature = trial.suggest_categorical("temperature", list(TEMPERATURES))
        if trial.suggest_categorical("filter", ["top_k", "top_p"]) == "top_k":
            top_k, top_p = trial.suggest_categorical("top_k", list(TOP_KS)), 1.0
        else:
            top_k, top_p = 0, trial.suggest_categorical("top_p", list(TOP_PS))
        return ForecastConfig(
            model=self.family,
            context_length=context_length,
            num_samples=trial.suggest_categorical("num_samples", list(self.num_samples)),
            aggregate=trial.suggest_categorical("aggregate", list(self.aggregations)),
            seed=seed,
            sampling={"temperature": temperature, "top_k": top_k, "top_p": top_p,
                      "clip": trial.suggest_categorical("clip", list(CLIPS))},
        )

    def size(self, max_context_length: int) -> int:
        return super().size(max_context_length) * len(TEMPERATURES) * (len(TOP_KS) + len(TOP_PS)) * len(CLIPS)

    def params(self, config: ForecastConfig) -> dict[str, Any]:
        s = config.sampling
        active = {"filter": "top_k", "top_k": s.get("top_k", 0)} if s.get("top_k", 0) > 0 else \
            {"filter": "top_p", "top_p": s.get("top_p", 1.0)}
        return {**super().params(config), "temperature": s.get("temperature", 1.0), "clip": s.get("clip", 5.0),
                **active}

    def grids(self, max_context_length: int) -> dict[str, Any]:
        return {**super().grids(max_context_length), "temperature": TEMPERATURES, "top_k": TOP_KS, "top_p": TOP_PS,
                "clip": CLIPS}

    def inference_keys(self, max_context_length: int) -> None:
        return None  # hundreds of sampling settings per context: two studies rarely share one


class QuantileSpace(_PointSearched):
    """A quantile family: ``context_length`` (up to the model's maximum), the point
    (:data:`QUANTILE_AGGREGATIONS`) and each of the family's declared choices
    (:attr:`~sweep.forecasters.registry.Family.choices`, e.g. ``inputs`` or ``weights``); no paths, so
    ``num_samples`` is 1 and no sampling parameter exists."""

    def __init__(self, family: str):
        self.family, self.choices, self.aggregations = family, FAMILIES[family].choices, QUANTILE_AGGREGATIONS

    def __call__(self, trial: optuna.Trial, max_context_length: int, seed: int) -> ForecastConfig:
        return ForecastConfig(
            model=self.family,
            context_length=trial.suggest_categorical("context_length", context_choices(max_context_length)),
            num_samples=1,
            aggregate=trial.suggest_categorical("aggregate", list(self.aggregations)),
            seed=seed,
            sampling={key: trial.suggest_categorical(key, list(values)) for key, values in self.choices.items()},
        )

    def size(self, max_context_length: int) -> int:
        return (len(context_choices(max_context_length)) * len(self.aggregations)
                * len(FAMILIES[self.family].choice_grid()))

    def params(self, config: ForecastConfig) -> dict[str, Any]:
        family = FAMILIES[self.family]
        return {"context_length": config.context_length, "aggregate": config.aggregate,
                **{key: family.choice(config.sampling, key) for key in self.choices}}

    def grids(self, max_context_length: int) -> dict[str, Any]:
        return {"context_length": context_choices(max_context_length), "aggregate": self.aggregations,
                **self.choices}

    def inference_keys(self, max_context_length: int) -> list[tuple[int, dict[str, Any]]]:
        """Every context with every combination of the declared choices (the point is served from one draw)."""
        return [(c, g) for c in context_choices(max_context_length) for g in FAMILIES[self.family].choice_grid()]


class PersistenceSpace:
    """Persistence: its point is the last close, so under a point objective it has nothing to tune (one config,
    a one-bar context). Under a distribution objective (:attr:`sweep.objectives.Objective.scores_distribution`)
    its empirical random walk searches the return ``lookback`` (:data:`sweep.forecasters.naive.LOOKBACKS`;
    ``context_length = lookback + 1``), default :data:`sweep.forecasters.naive.DEFAULT_LOOKBACK`."""

    def __init__(self, family: str, lookbacks: tuple[int, ...] = ()):
        self.family, self.lookbacks = family, lookbacks

    def for_objective(self, objective: str) -> "PersistenceSpace":
        """This space under ``objective``: with the lookback searched when the objective scores the distribution."""
        return PersistenceSpace(self.family, LOOKBACKS if get_objective(objective).scores_distribution else ())

    def _fitting(self, max_context_length: int) -> list[int]:
        return [n for n in self.lookbacks if n + 1 <= max_context_length] or list(self.lookbacks[:1])

    def _config(self, lookback: int, seed: int) -> ForecastConfig:
        return ForecastConfig(model=self.family, context_length=lookback + 1, num_samples=1, aggregate="mean",
                              seed=seed)

    def __call__(self, trial: optuna.Trial, max_context_length: int, seed: int) -> ForecastConfig:
        if not self.lookbacks:
            return self._config(0, seed)
        return self._config(trial.suggest_categorical("lookback", self._fitting(max_context_length)), seed)

    def default_config(self, max_context_length: int, seed: int) -> ForecastConfig:
        """The untuned config: persistence, or the default lookback (the longest that fits, if it does not)."""
        if not self.lookbacks:
            return self._config(0, seed)
        fitting = self._fitting(max_context_length)
        return self._config(DEFAULT_LOOKBACK if DEFAULT_LOOKBACK in fitting else max(fitting), seed)

    def size(self, max_context_length: int) -> int:
        return len(self._fitting(max_context_length)) if self.lookbacks else 1

    def params(self, config: ForecastConfig) -> dict[str, Any]:
        return {"lookback": config.context_length - 1} if self.lookbacks else {}

    def grids(self, max_context_length: int) -> dict[str, Any]:
        return {"lookback": tuple(self._fitting(max_context_length))} if self.lookbacks else {}

    def inference_keys(self, max_context_length: int) -> list[tuple[int, dict[str, Any]]]:
        return [(n + 1, {}) for n in self._fitting(max_context_length)] if self.lookbacks else [(1, {})]


class DecisionSpace:
    """A family's space plus the objective's decision settings (:attr:`sweep.objectives.Objective.decision_grid`,
    the trading rule's ``threshold_fees``), recorded in the config's ``decision`` with the run's fixed ones
    (``fee_bps``, ``long_only``). Persistence's point never moves, so it never trades: it searches no decision."""

    def __init__(self, inner: Space, objective: str, fixed: dict[str, Any] | None = None):
        entry = get_objective(objective)
        self.inner, self.family = inner, getattr(inner, "family", None)
        self.grid = {} if isinstance(inner, PersistenceSpace) else dict(entry.decision_grid)
        self.base = {**entry.decision_default, **(fixed or {})}

    def _with(self, config: ForecastConfig, searched: dict[str, Any]) -> ForecastConfig:
        return dataclasses.replace(config, decision={**self.base, **searched})

    def __call__(self, trial: optuna.Trial, max_context_length: int, seed: int) -> ForecastConfig:
        config = self.inner(trial, max_context_length, seed)
        return self._with(config, {k: trial.suggest_categorical(k, list(g)) for k, g in self.grid.items()})

    def default_config(self, config: ForecastConfig) -> ForecastConfig:
        """``config`` (the family's default forecast) with the untuned decision."""
        return self._with(config, {})

    def size(self, max_context_length: int) -> int:
        return self.inner.size(max_context_length) * math.prod(len(g) for g in self.grid.values())

    def params(self, config: ForecastConfig) -> dict[str, Any]:
        return {**self.inner.params(config), **{k: config.decision.get(k) for k in self.grid}}

    def grids(self, max_context_length: int) -> dict[str, Any]:
        return {**self.inner.grids(max_context_length), **self.grid}

    def inference_keys(self, max_context_length: int) -> list[tuple[int, dict[str, Any]]] | None:
        keys = getattr(self.inner, "inference_keys", None)
        return keys(max_context_length) if keys else None


def space_of(family: str, objective: str = DEFAULT_OBJECTIVE, fixed_decision: dict[str, Any] | None = None) -> Space:
    """The search space of ``family`` under ``objective``: its registry entry's own (``Family.space``,
    ``"module:Class"``), else the generic space of its output. A space whose grid depends on the objective
    has a ``for_objective(name)`` method (persistence's lookback). An objective that scores a decision
    (``pnl``) adds its settings (:class:`DecisionSpace`), with the run's ``fixed_decision`` (``fee_bps``,
    ``long_only``).

    Raises
    ------
    KeyError
        If ``family`` is not in the registry.
    """
    entry = FAMILIES[family]
    if entry.space:
        module, _, name = entry.space.partition(":")
        space = getattr(import_path(module), name)(family)
    else:
        space = (QuantileSpace if entry.output == "quantiles" else SampleSpace)(family)
    adapt = getattr(space, "for_objective", None)
    space = adapt(objective) if adapt else space
    return DecisionSpace(space, objective, fixed_decision) if get_objective(objective).decision_default else space


def n_max_samples(family: str) -> int:
    """Paths the sample cache draws per inference: the largest ``num_samples`` the space can ask for."""
    return 1 if FAMILIES[family].output == "quantiles" else max(FAMILIES[family].num_samples)


def space_size(family: str, max_context_length: int, objective: str = DEFAULT_OBJECTIVE) -> int:
    """Number of distinct configs of a family's space (1 for persistence under a point objective)."""
    return space_of(family, objective).size(max_context_length)


def default_config(family: str, max_context_length: int, seed: int = 0, objective: str = DEFAULT_OBJECTIVE,
                   fixed_decision: dict[str, Any] | None = None) -> ForecastConfig:
    """The family's documented default as a config of its search space under ``objective``.

    The context is the default's, or the longest grid value within ``max_context_length``; a space with a
    ``default_config(max_context_length, seed)`` method of its own (persistence, GARCH) gives it.

    Raises
    ------
    ConfigError
        If ``family`` has no documented default.
    """
    d = FAMILIES[family].default if family in FAMILIES else None
    if d is None:
        known = sorted(name for name, f in FAMILIES.items() if f.default)
        raise ConfigError(f"model family {family!r} has no documented default; known: {known}")
    space = space_of(family, objective, fixed_decision)
    decided = space if isinstance(space, DecisionSpace) else None
    space = decided.inner if decided else space
    if hasattr(space, "default_config"):
        config = space.default_config(max_context_length, seed)
    else:
        searched = "context_length" in space.grids(max_context_length)
        context = d.context_length if not searched else max(
            c for c in context_choices(max_context_length) if c <= max(d.context_length, CONTEXT_LENGTHS[0]))
        config = ForecastConfig(model=family, context_length=context, num_samples=d.num_samples, aggregate=d.aggregate,
                                seed=seed, sampling=dict(d.sampling))
    return decided.default_config(config) if decided else config


def params_of(config: ForecastConfig, max_context_length: int, objective: str = DEFAULT_OBJECTIVE,
              fixed_decision: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Optuna parameters under which the family's space suggests ``config`` (for ``enqueue_trial``).

    Raises
    ------
    ConfigError
        If the config is not a point of the space (a value off its grid, or a context above
        ``max_context_length``), so a study could not try it.
    """
    space = space_of(config.model, objective, fixed_decision)
    params, grids = space.params(config), space.grids(max_context_length)
    off_grid = {k: v for k, v in params.items() if k in grids and v not in grids[k]}
    if off_grid or space(optuna.trial.FixedTrial(params), max_context_length, config.seed) != config:
        raise ConfigError(f"config {config.to_dict()} is not in the {config.model} search space (off-grid values "
                          f"{off_grid}, max context {max_context_length}); a study cannot enqueue it")
    return params
