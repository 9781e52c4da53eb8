"""What a study tries first: the family's documented default and the production config.

Both are enqueued with Optuna's ``enqueue_trial`` (:func:`sweep.search.study.enqueue_warm_start`),
so every study measures the untuned default on its own windows, and a sweep can never
report a config worse on validation than what is already in production without
having tried the production config itself.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ..forecasters.config import ForecastConfig
from ..scoring.ensemble import document_members, read_best
from ..errors import ConfigError
from ..forecasters.registry import family_of
from .space import default_config, params_of
from ..storage.store import best_path, horizon_slot
from .study import WarmStart

if TYPE_CHECKING:
    from ..runs.settings import SweepSettings

__all__ = ["warm_starts", "default_warm_start", "pooled_warm_starts"]

logger = logging.getLogger(__name__)


def warm_starts(settings: "SweepSettings", symbol: str, label: str, context_ceiling: int) -> tuple[WarmStart, ...]:
    """The family default and, when ``best/<SYMBOL>.json`` (or, for each other horizon of the run,
    ``best/<SYMBOL>.h<H>.json``) holds a config of model ``label``, that production config, as search-space
    parameters for ``enqueue_trial`` in a study whose longest context is ``context_ceiling``
    (:func:`sweep.runs.jobs.context_ceiling`).

    A production config that is not a point of this study's space (another max context, an
    old grid) is left out with a warning; one equal to the default marks the default trial.
    """
    default = default_warm_start(settings, label, context_ceiling)
    starts = [default]
    for horizon in settings.run_horizons:  # each horizon's production config (best/<SYMBOL>.h<H>.json beyond 1 bar)
        production = _production_config(settings, horizon_slot(symbol, horizon), label)
        if production is None:
            continue
        path, config = production
        try:
            params = params_of(config, context_ceiling, settings.objective, settings.fixed_decision)
        except ConfigError as e:
            logger.warning("%s: the production config of %s is not enqueued: %s", path, label, e)
            continue
        if params == default.params and starts[0] is default:
            starts[0] = WarmStart("default", params, {"production": str(path)})
        elif all(params != kept.params for kept in starts):
            starts.append(WarmStart("production", params, {"production": str(path)}))
    return tuple(starts)


def pooled_warm_starts(settings: "SweepSettings", label: str, context_ceiling: int) -> tuple[WarmStart, ...]:
    """A pooled study's warm starts: the family default, then each symbol's production config of model
    ``label`` once (a config two symbols share, or the default itself, is enqueued once)."""
    starts: list[WarmStart] = [default_warm_start(settings, label, context_ceiling)]
    for symbol in settings.symbols:
        for warm in warm_starts(settings, symbol, label, context_ceiling):
            if all(warm.params != kept.params for kept in starts):
                starts.append(warm)
    return tuple(starts)


def default_warm_start(settings: "SweepSettings", label: str, context_ceiling: int) -> WarmStart:
    """The documented default of model ``label``'s family (:func:`sweep.search.space.default_config`) as a warm start
    of a study whose longest context is ``context_ceiling``."""
    config = default_config(family_of(label), context_ceiling, settings.seed, settings.objective,
                            settings.fixed_decision)
    return WarmStart("default", params_of(config, context_ceiling, settings.objective, settings.fixed_decision))


def _production_config(settings: "SweepSettings", symbol: str, label: str) -> tuple[Path, ForecastConfig] | None:
    """``(file, config)`` of the current best of ``symbol`` for model ``label`` (an ensemble's member of that
    label counts), or None."""
    path = best_path(settings.output_dir, symbol)
    if not path.is_file():
        return None
    try:
        members = document_members(read_best(path))
    except (ConfigError, KeyError, TypeError, AttributeError) as e:
        logger.warning("%s cannot warm-start the %s study (%s)", path, label, e)
        return None
    for member_label, identity, config, _weight in members:
        if (identity.get("variant") or member_label) == label and config.model == family_of(label):
            return path, config
    return None
