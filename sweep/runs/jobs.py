"""Settings -> study jobs: which studies a run has, how each loads its model, what each tries first.

The sweep (:mod:`sweep.runs.run`), the backtest (:mod:`sweep.runs.backtest`) and the report build their
studies and models here, so a study of the same model on the same windows is the same job for all.
"""

from __future__ import annotations

from typing import Any, Callable

from ..data.common_calendar import require_same_origin_times
from ..data.bars import OHLCVData
from ..objectives import get_objective
from ..errors import TrialError
from ..forecasters.base import Forecaster
from ..forecasters.registry import FAMILIES, family_of
from .settings import SweepSettings, checkpoint_sources, run_settings_document
from ..search.study import StudyJob, StudyOutcome
from ..search.study_job import POOLED, SymbolWindows
from ..search.warm_start import pooled_warm_starts, warm_starts
from ..data.windows import Splits

__all__ = ["make_forecaster", "context_ceiling", "context_ceilings", "scoring_ceilings", "forecaster_lookup", "study_job", "pooled_job",
           "sweep_jobs"]


def make_forecaster(label: str, settings: SweepSettings) -> Forecaster:
    """Load the model ``label`` names: a family, or a fine-tuned variant in ``settings.variants``.

    Raises
    ------
    ModelLoadError
        If the model cannot be loaded.
    """
    # a family's further checkpoints (Kronos' tokenizer) go with its flag's model, not a fine-tuned variant's
    options = settings.model_options.get(label, {})
    return FAMILIES[family_of(label)].load(checkpoint_sources(settings).get(label), **options)


def context_ceiling(settings: SweepSettings, label: str) -> int:
    """The longest context (bars) of model ``label``'s studies and of its family default: the smaller of the
    model's own limit (read from its checkpoint's config without loading weights,
    :meth:`sweep.forecasters.registry.Family.context_limit`) and ``--max-context-length``.

    The one owner of this value: the search space, the warm starts, the trial target and the default's
    context all read it from the job.

    Raises
    ------
    ModelLoadError
        If the checkpoint's config cannot be found or read.
    """
    options = settings.model_options.get(label, {})
    limit = FAMILIES[family_of(label)].context_limit(checkpoint_sources(settings).get(label), **options)
    return min(limit, settings.windows.max_context_length)


def context_ceilings(settings: SweepSettings) -> dict[str, int]:
    """:func:`context_ceiling` of every study label of ``settings``, each read once."""
    return {label: context_ceiling(settings, label) for label in settings.labels}


def scoring_ceilings(settings: SweepSettings, ceilings: dict[str, int]) -> dict[str, int]:
    """``ceilings`` (the studies') and the :func:`context_ceiling` of every family the objective compares candidates
    with that no study swept (:attr:`sweep.objectives.Objective.references`): what a :class:`Scoring` reads."""
    references = get_objective(settings.objective).references.values()
    return {**ceilings, **{family: context_ceiling(settings, family) for family in references if family not in ceilings}}


def forecaster_lookup(settings: SweepSettings, outcomes: list[StudyOutcome | TrialError]) -> Callable[[str], Forecaster]:
    """Loaded model of a study label: the one a study already loaded in this process, else loaded once now
    (executors on other processes return no loaded model)."""
    loaded = {o.model: o.forecaster for o in outcomes if isinstance(o, StudyOutcome) and o.forecaster}

    def forecaster_of(label: str) -> Forecaster:
        if label not in loaded:
            loaded[label] = make_forecaster(label, settings)
        return loaded[label]

    return forecaster_of


def study_job(settings: SweepSettings, data: OHLCVData, splits: Splits, label: str, context_ceiling: int,
              **overrides: Any) -> StudyJob:
    """The study of model ``label`` on ``data`` under ``settings``, searching contexts up to ``context_ceiling``
    (:func:`context_ceiling`); ``overrides`` replace job fields (a backtest fold's namespace and warm start; a
    pooled study's symbol and pool)."""
    fields = dict(symbol=data.symbol, model=label, family=family_of(label), data=data, splits=splits,
                  context_ceiling=context_ceiling, make_forecaster=lambda: make_forecaster(label, settings),
                  n_trials=settings.n_trials,
                  storage=settings.storage_url(), seed=settings.seed, cache_dir=str(settings.cache_folder),
                  use_cache=settings.use_cache, timeout_s=settings.timeout_s, objectives=settings.objectives,
                  latency_budget_s=settings.latency_budget_s, namespace=settings.study_namespace,
                  fixed_decision=settings.fixed_decision, horizons=settings.horizons)
    return StudyJob(**{**fields, **overrides})


def pooled_job(settings: SweepSettings, pool: tuple[SymbolWindows, ...], label: str, context_ceiling: int,
               **overrides: Any) -> StudyJob:
    """The pooled study of model ``label`` over every symbol of ``pool`` (named ``pooled.<label>``).

    Raises
    ------
    ValueError
        If the pool's symbols do not share their origin times (their relative losses are averaged window by window).
    """
    require_same_origin_times([(w.symbol, w.data.frame.index, w.splits) for w in pool])
    return study_job(settings, pool[0].data, pool[0].splits, label, context_ceiling, symbol=POOLED, pool=pool,
                     **overrides)


def sweep_jobs(settings: SweepSettings, datasets: dict[str, OHLCVData], splits: dict[str, Splits]) -> list[StudyJob]:
    """Every study of a sweep: one per (symbol, model), or one per model with ``--selection pooled``; each
    warm-started with its family default and production config(s), and recording the run's settings."""
    recorded = run_settings_document(settings, datasets)  # on every study: a resume without run.json checks it
    ceilings = context_ceilings(settings)
    if settings.scope == POOLED:
        pool = tuple(SymbolWindows(s, datasets[s], splits[s]) for s in settings.symbols)
        return [pooled_job(settings, pool, label, ceiling, warm_start=pooled_warm_starts(settings, label, ceiling),
                           run_settings=recorded) for label, ceiling in ceilings.items()]
    return [study_job(settings, datasets[symbol], splits[symbol], label, ceiling,
                      warm_start=warm_starts(settings, symbol, label, ceiling), run_settings=recorded)
            for symbol in settings.symbols for label, ceiling in ceilings.items()]
