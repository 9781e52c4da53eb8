"""Ensemble weights across the tuned models, fitted on validation forecasts.

The point forecast of an ensemble is the weighted sum of its members' point
forecasts; its distribution averages the members' quantiles (Vincentization),
whether a member draws sample paths or predicts quantiles.
Weights are non-negative and sum to 1, and are fitted on the validation
origins only, to minimise the run's objective: the blend's point error under
``pct_return_mae``, the blend's quantile loss on the objective's levels under
a distribution objective (:mod:`sweep.scoring._quantile_weights`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from scipy.optimize import linprog

from .cache import SampleCache
from ..forecasters.config import ForecastConfig
from ..data.bars import OHLCVData
from .evaluate import EvaluationResult, draw_samples, score
from ._quantile_weights import fit_pinball_greedy_weights, fit_pinball_lp_weights
from ..objectives import DEFAULT_OBJECTIVE, get_objective, objective_of_run
from ..stats.metrics import QUANTILE_LEVELS as SCORED_LEVELS
from ..errors import ConfigError
from ..forecasters.base import Forecaster
from ..forecasters.registry import FAMILIES
from ..stats.predictive import Predictive
from ..storage.store import slot_parts, read_json
from ..data.windows import gather_targets

__all__ = ["Member", "MemberForecast", "member_forecast", "fit_lp_weights", "fit_greedy_weights", "fit_weights",
           "ENSEMBLE_METHODS", "GREEDY_ITERATIONS", "blend", "blend_levels", "ensemble_result", "document_members",
           "document_forecast", "evaluate_document", "member_entries", "read_best", "check_best"]

#: Quantile levels the members' distributions are averaged on: 100 equally weighted mid-points.
QUANTILE_LEVELS = (np.arange(100) + 0.5) / 100
#: Rounds of greedy selection (each adds one member with replacement; weights are multiples of 1/25).
GREEDY_ITERATIONS = 25


@dataclass(frozen=True)
class Member:
    """One model of an ensemble: the loaded model and its tuned config.

    Attributes
    ----------
    label : str
        Name in outputs, e.g. ``"toto"``.
    forecaster : Forecaster
    config : ForecastConfig
    n_max : int, optional
        Paths to draw on a cache miss (the study's, so its cache entries are reused).
    """

    label: str
    forecaster: Forecaster
    config: ForecastConfig
    n_max: int | None = None


@dataclass(frozen=True)
class MemberForecast:
    """A member's forecasts at a set of origins.

    Attributes
    ----------
    point : numpy.ndarray
        ``[n_windows, horizon]`` price point forecast (the member's own aggregation).
    predictive : Predictive
        The member's sample paths or quantiles, price units.
    latency_s : float
        Inference seconds per origin.
    """

    label: str
    point: np.ndarray
    predictive: Predictive
    latency_s: float


def member_forecast(member: Member, data: OHLCVData, origins: np.ndarray, horizon: int,
                    cache: SampleCache, layout: int | None = None) -> MemberForecast:
    """Forecasts of ``member`` at ``origins``, through the sample cache (drawn at ``layout``, a run's longest
    horizon, when the family draws once: :func:`sweep.scoring.evaluate.draw_samples`)."""
    batch, _speed = draw_samples(member.forecaster, member.config, data, origins, horizon, cache, member.n_max, layout)
    predictive = batch.predictive
    return MemberForecast(member.label, predictive.point(member.config.aggregate), predictive, batch.latency_s())


def _as_returns(prices: np.ndarray, last_close: np.ndarray) -> np.ndarray:
    """``[n_windows, horizon]`` prices -> flat ``[n_windows * horizon]`` returns from the last close."""
    return (prices / last_close[:, None] - 1.0).ravel()


def fit_lp_weights(member_returns: np.ndarray, target_returns: np.ndarray) -> np.ndarray:
    """Weights minimising the mean absolute error of the blend, exactly, as a linear program.

    Minimise ``mean_i t_i`` over ``w >= 0, sum(w) = 1, t >= |R w - y|`` with scipy's
    HiGHS solver.

    Parameters
    ----------
    member_returns : numpy.ndarray
        ``[n_members, n_points]`` forecast returns.
    target_returns : numpy.ndarray
        ``[n_points]`` realised returns.

    Returns
    -------
    numpy.ndarray
        ``[n_members]`` weights.

    Raises
    ------
    RuntimeError
        If the solver fails (it cannot on a feasible, bounded problem like this one).
    """
    n_members, n_points = member_returns.shape
    cost = np.concatenate([np.zeros(n_members), np.full(n_points, 1.0 / n_points)])
    slack = np.eye(n_points)
    upper = np.block([[member_returns.T, -slack], [-member_returns.T, -slack]])
    bounds_rhs = np.concatenate([target_returns, -target_returns])
    equality = np.concatenate([np.ones(n_members), np.zeros(n_points)])[None, :]
    result = linprog(cost, A_ub=upper, b_ub=bounds_rhs, A_eq=equality, b_eq=[1.0],
                     bounds=[(0, None)] * (n_members + n_points), method="highs")
    if not result.success:
        raise RuntimeError(f"ensemble LP failed: {result.message}")
    weights = np.clip(result.x[:n_members], 0.0, None)
    return weights / weights.sum()


def fit_greedy_weights(member_returns: np.ndarray, target_returns: np.ndarray,
                       n_iterations: int = GREEDY_ITERATIONS) -> np.ndarray:
    """Caruana ensemble selection with replacement.

    Each round adds the member whose inclusion gives the lowest mean absolute
    error of the running average (ties to the first member); weights are the
    selection counts over the rounds (Caruana et al., 2004, "Ensemble selection
    from libraries of models", ICML; the variant AutoGluon uses).

    Parameters, returns
        As :func:`fit_lp_weights`; ``n_iterations`` rounds.
    """
    counts = np.zeros(len(member_returns))
    running_sum = np.zeros_like(target_returns, dtype=float)
    for round_number in range(1, n_iterations + 1):
        errors = np.abs((running_sum[None, :] + member_returns) / round_number - target_returns).mean(axis=1)
        choice = int(np.argmin(errors))
        counts[choice] += 1
        running_sum += member_returns[choice]
    return counts / n_iterations


ENSEMBLE_METHODS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "lp": fit_lp_weights, "greedy": fit_greedy_weights}


def blend_levels(objective: str = DEFAULT_OBJECTIVE) -> np.ndarray:
    """The levels :func:`blend` averages the members' quantiles on: a distribution objective's scored levels (so
    the blend's scored quantiles are exactly the weighted averages its weights were fitted on), else
    :data:`QUANTILE_LEVELS`."""
    scored = get_objective(objective)
    return np.asarray(scored.levels if scored.scores_distribution else QUANTILE_LEVELS, dtype=float)


def fit_weights(method: str, forecasts: list[MemberForecast], data: OHLCVData, origins: np.ndarray,
                horizon: int, objective: str = DEFAULT_OBJECTIVE) -> np.ndarray:
    """Fit ``method`` weights to the members' forecasts at (validation) ``origins``; ``[n_members]``.

    Under a distribution objective the members' quantiles at the scored levels are the blend's inputs, as
    :func:`blend` averages them.
    """
    last_close = data.close[origins - 1]
    targets = gather_targets(data.close, origins, horizon)[:, -1:]  # the scored close, as evaluate.score
    if len(forecasts) == 1:
        return np.ones(1)
    if not get_objective(objective).scores_distribution:
        returns = np.stack([_as_returns(f.point[:, -1:], last_close) for f in forecasts])
        return ENSEMBLE_METHODS[method](returns, _as_returns(targets, last_close))
    quantiles = np.stack([(f.predictive.endpoint().quantiles(SCORED_LEVELS) / last_close[:, None, None] - 1.0).ravel()
                          for f in forecasts])  # [M, W * L]
    target = np.broadcast_to((targets / last_close[:, None] - 1.0)[:, None, :],
                             (len(origins), len(SCORED_LEVELS), 1)).ravel()
    levels = np.broadcast_to(np.asarray(SCORED_LEVELS)[None, :, None], (len(origins), len(SCORED_LEVELS), 1)).ravel()
    if method == "lp":
        return fit_pinball_lp_weights(quantiles, target, levels)
    return fit_pinball_greedy_weights(quantiles, target, levels, GREEDY_ITERATIONS)


def blend(forecasts: list[MemberForecast], weights: np.ndarray, levels: np.ndarray | None = None) -> MemberForecast:
    """The weighted blend of the members' forecasts.

    With a single member of positive weight the blend is that member (its own
    distribution); otherwise it is the weighted average of the members'
    quantiles at ``levels`` (default :data:`QUANTILE_LEVELS`, ``[n_windows, 100, horizon]``; see
    :func:`blend_levels`) (a quantile
    member's tails beyond its outermost levels are held flat, see
    :meth:`sweep.stats.predictive.Predictive.quantiles`). Latency
    is the sum over members with positive weight (they run one after another).
    """
    active = [(f, w) for f, w in zip(forecasts, weights) if w > 0]
    point = sum(w * f.point for f, w in active)
    if len(active) == 1:
        predictive = active[0][0].predictive
    else:
        levels = np.asarray(QUANTILE_LEVELS if levels is None else levels, dtype=float)
        predictive = Predictive(sum(w * f.predictive.quantiles(levels) for f, w in active), levels)
    label = "+".join(f.label for f, _ in active)
    return MemberForecast(label, point, predictive, sum(f.latency_s for f, _ in active))


def ensemble_result(forecasts: list[MemberForecast], weights: np.ndarray, data: OHLCVData, origins: np.ndarray,
                    horizon: int, objective: str = DEFAULT_OBJECTIVE) -> EvaluationResult:
    """Metrics of the :func:`blend` of ``forecasts`` at ``origins`` under ``objective``."""
    blended = blend(forecasts, weights, blend_levels(objective))
    return score(blended.point, blended.predictive, blended.latency_s, data, origins, horizon, objective=objective)


def document_members(document: dict[str, Any]) -> list[tuple[str, dict[str, Any], ForecastConfig, float]]:
    """``(label, model identity, config, weight)`` of every member of a candidate or best-config document.

    A single-model document is an ensemble of one member with weight 1.

    Raises
    ------
    ConfigError
        If a member's config is invalid.
    """
    if document["model"].get("family") == "ensemble":
        return [(e["label"], e["model"], ForecastConfig.from_dict(e["config"], source=f"ensemble member {e['label']}"),
                 float(e["weight"])) for e in document["config"]["members"]]
    return [(document["model"]["family"], document["model"],
             ForecastConfig.from_dict(document["config"], source=f"{document.get('symbol', 'candidate')} config"), 1.0)]


#: JSON type names for messages about a document that is not an object.
_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean",
               type(None): "null"}


def _best_problem(document: Any, slot: str) -> str | None:
    """What makes ``document`` not a best config of the file name ``slot`` (a symbol, or ``<SYMBOL>.h<H>``;
    :func:`sweep.storage.store.horizon_slot`) (None when it is one)."""
    symbol, horizon = slot_parts(slot)
    if not isinstance(document, dict):
        return f"it holds {_JSON_TYPES.get(type(document), type(document).__name__)}, not a JSON object"
    missing = [key for key in ("model", "config") if key not in document]
    if missing:
        held = f"its keys are {sorted(document)}" if document else "it is an empty object"
        return f"it has no {' and no '.join(repr(k) for k in missing)} key ({held})"
    model = document["model"]
    if not isinstance(model, dict) or "family" not in model:
        return f"its 'model' block {model!r} is not an object with a 'family'"
    if model["family"] != "ensemble" and model["family"] not in FAMILIES:
        return f"its model family {model['family']!r} is unknown (known: {sorted(FAMILIES)} and 'ensemble')"
    if document.get("symbol", symbol) != symbol:
        return f"it is the best config of {document['symbol']!r}, not of {symbol!r}"
    windows = document.get("windows")
    recorded = windows.get("horizon", 1) if isinstance(windows, dict) else 1
    if horizon > 1 and recorded != horizon:  # a 1-bar name may hold an older run's longer horizon, as it always could
        return f"it was tuned at --horizon {recorded}, not {horizon} as its name says"
    try:
        members = document_members(document)
    except ConfigError as e:
        return f"its config is invalid: {e}"
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        return f"its config is malformed ({type(e).__name__}: {e})"
    if not any(weight > 0 for *_, weight in members):
        return "no member of its ensemble has a positive weight"
    for label, identity, config, _ in members:  # a toto block over a naive config would load one, serve the other
        family = identity.get("family") if isinstance(identity, dict) else None
        if family is not None and family != config.model:
            where = "its 'model' block" if model["family"] != "ensemble" else f"ensemble member {label!r}'s model"
            return (f"{where} names the family {family!r} but its config is a {config.model!r} config "
                    f"(config.model); a file written by the sweep has them agree")
    return None


def check_best(document: Any, path: str | Path) -> dict[str, Any]:
    """Return ``document`` if it is a best config (``best/<SYMBOL>.json``): one model, an ensemble or persistence.

    Parameters
    ----------
    document : object
        The parsed JSON.
    path : str or Path
        The file it came from; its stem is the symbol, and messages name it.

    Returns
    -------
    dict

    Raises
    ------
    ConfigError
        If it is not a JSON object, lacks ``model`` or ``config``, names an unknown model family or another
        symbol, holds an invalid config, or a ``model`` block whose family is not its config's ``model`` (a
        ``toto`` block over a naive config); the message names the file, the problem and the fix.
    """
    path = Path(path)
    problem = _best_problem(document, path.stem)
    if problem is not None:
        reviews = path.parent.parent / "reviews"
        raise ConfigError(f"{path} is not a best config: {problem}. Restore it from a backup, or delete it and re-run "
                          f"`python -m sweep promote --run RUN_ID --symbols {path.stem}` (the latest review, "
                          f"{reviews}/<time>-{path.stem}.md, names its run)")
    return document


def read_best(path: str | Path) -> dict[str, Any]:
    """Read and check a ``best/<SYMBOL>.json`` (see :func:`check_best`).

    Raises
    ------
    ConfigError
        If the file is missing, not valid JSON, or not a best config.
    """
    return check_best(read_json(path, "best config"), path)


def document_forecast(document: dict[str, Any], data: OHLCVData, origins: np.ndarray, horizon: int,
                      cache: SampleCache, load: Callable[[dict[str, Any]], Forecaster]) -> MemberForecast:
    """Forecasts of the config a document holds (single model or ensemble) at ``origins``.

    Parameters
    ----------
    document : dict
        A candidate or best-config JSON.
    load : callable
        Loads a model from its identity (e.g. :func:`sweep.forecasters.forecaster_from_identity`).

    Raises
    ------
    ModelLoadError, ConfigError
        If a member cannot be loaded or its config is invalid.
    """
    members = [(Member(label, load(identity), config), weight)
               for label, identity, config, weight in document_members(document) if weight > 0]
    layout = (document.get("windows") or {}).get("layout_horizon")  # the run drew its horizons at its longest
    forecasts = [member_forecast(m, data, origins, horizon, cache, layout) for m, _ in members]
    return blend(forecasts, np.array([w for _, w in members]), blend_levels(objective_of_run(document)))


def member_entries(members: list[Member], weights: np.ndarray, extra: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """JSON entries of an ensemble's members: label, model identity, config, weight, plus ``extra`` per member."""
    return [{"label": m.label, "model": m.forecaster.identity(), "config": m.config.to_dict(), "weight": float(w), **e}
            for m, w, e in zip(members, weights, extra)]


def evaluate_document(document: dict[str, Any], data: OHLCVData, origins: np.ndarray, horizon: int,
                      cache: SampleCache, load: Callable[[dict[str, Any]], Forecaster],
                      objective: str = DEFAULT_OBJECTIVE, decision: dict[str, Any] | None = None) -> EvaluationResult:
    """Metrics of the config a document holds (single model or ensemble) at ``origins`` under ``objective``.

    See :func:`document_forecast` for the parameters and errors; a single config's ``decision`` (``pnl``'s trading
    rule) is scored with it, unless ``decision`` is given.
    """
    forecast = document_forecast(document, data, origins, horizon, cache, load)
    decision = decision if decision is not None else (document.get("config") or {}).get("decision")
    return score(forecast.point, forecast.predictive, forecast.latency_s, data, origins, horizon, objective=objective,
                 decision=decision)
