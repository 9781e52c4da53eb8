"""One forward pass for many symbols: a config a study misses is drawn for every symbol of the run at once.

The per-symbol studies of one model ask for the same forecasts when the family's forecasts depend
on nothing a trial searches but the context length and the declared inputs (Toto, Toto 2.0,
Chronos-2, Chronos-Bolt, Fracast: a handful of combinations, each tried by nearly every study). So
when a study first misses such a config, :class:`SymbolBatcher` draws it for the validation windows
of every symbol of the run in one forecast call (split into passes that fit the memory budget), and
stores each symbol's rows under that symbol's own cache key; the later studies find them there.

Every window keeps its own random stream (:func:`sweep.forecasters.base.window_keys`) and the
families compute it in shapes that do not depend on its batch, so a symbol's rows equal those of
its own per-symbol draw: on a CPU exactly for the sample families, to float32 rounding for the
quantile families (the contract every family is tested against); a GPU's kernels, chosen by batch
shape, may change float32 rounding (not measured here).

It runs where it pays: on a GPU (:meth:`~sweep.forecasters.base.Forecaster.batches_symbols`). On
a CPU one symbol's 100 windows already keep the cores busy, and one pass over 10 symbols measured
slower than 10 passes (``benchmarks/symbol_batch.py``; ``docs/nightly.md`` says how to measure the
GPU's gain).

Why a prefetch and not a batching queue: the in-process executor runs its studies one after
another and a Ray actor runs one trial at a time, so no two requests ever wait at once for a
queue to join, while the first miss of such a config is known in advance to be every study's. The
local executor and each Ray actor hold one :class:`SymbolBatcher` over the jobs they run; actors on
one node share the rows through the cache folder, so each node draws a config for all symbols once.

Kronos is not batched: its configs differ in sampling settings (hundreds per context) that two
studies rarely share. Its encoder, the part that could be shared, runs in fixed groups of windows
whatever the batch, so one pass over many symbols computes the same groups
(``benchmarks/symbol_batch.py`` times it).
"""

from __future__ import annotations

import logging

import numpy as np

from ..scoring.cache import SampleCache
from ..forecasters.config import ForecastConfig
from ..data.bars import OHLCVData
from ..errors import StorageError, SweepError
from ..scoring.evaluate import inference_fields, window_inputs
from ..forecasters.base import Forecaster, concatenate_batches
from .space import n_max_samples, space_of
from .study_job import StudyJob, SymbolWindows

__all__ = ["SymbolBatcher", "draw_for_symbols"]

logger = logging.getLogger(__name__)


def draw_for_symbols(forecaster: Forecaster, config: ForecastConfig, requests: list[tuple[OHLCVData, np.ndarray]],
                     horizon: int, cache: SampleCache, n_max: int) -> int:
    """Draw ``config`` at every request's origins the cache lacks, all symbols' windows in one forecast call per
    :meth:`~sweep.forecasters.base.Forecaster.windows_per_pass` windows, and cache each symbol's rows.

    Parameters
    ----------
    forecaster : Forecaster
        A loaded model whose windows do not depend on their request (``rows_independent``).
    config : ForecastConfig
    requests : list of (OHLCVData, numpy.ndarray)
        Each symbol's bars and ``[n_windows]`` forecast origins.
    horizon : int
    cache : SampleCache
    n_max : int
        Paths drawn per window (the largest ``num_samples`` of the space).

    Returns
    -------
    int
        Windows drawn (0 when the cache held them all).

    Raises
    ------
    ConfigError
        If ``config.context_length`` exceeds the model's maximum.
    ValueError
        If the forecaster's windows depend on their request.
    """
    if not forecaster.rows_independent(horizon):
        raise ValueError(f"{forecaster.family} windows depend on their request; they cannot be drawn together")
    todo = []
    for data, origins in requests:
        fields = inference_fields(forecaster, config, data, origins, horizon)
        missing = cache.missing(fields, origins, config.num_samples)
        if len(missing):
            todo.append((fields, missing, window_inputs(forecaster, config, data, missing)))
    if not todo:
        return 0
    inputs = {name: None if todo[0][2][name] is None else np.concatenate([t[2][name] for t in todo])
              for name in ("contexts", "timestamps_s", "ohlcv")}
    total = len(inputs["contexts"])
    per_pass = forecaster.windows_per_pass(config.context_length, horizon) or total
    batch = concatenate_batches([
        forecaster.forecast(**{k: None if v is None else v[start:start + per_pass] for k, v in inputs.items()},
                            horizon=horizon, num_samples=max(n_max, config.num_samples), seed=config.seed,
                            sampling=config.sampling)
        for start in range(0, total, per_pass)])
    offset = 0
    for fields, missing, _inputs in todo:
        cache.put(fields, missing, batch.windows(np.arange(offset, offset + len(missing))))
        offset += len(missing)
    return total


class SymbolBatcher:
    """Draws a config a study misses for the validation windows of every symbol of the run, in one forward pass.

    Parameters
    ----------
    jobs : list of StudyJob
        The studies this process runs; a model's symbols are those of its jobs with the same namespace (a
        backtest fold's studies batch together, never with another fold's).

    Attributes
    ----------
    drawn_windows : int
        Windows drawn together so far.
    """

    def __init__(self, jobs: list[StudyJob]):
        self._symbols: dict[tuple[str, str | None], dict[str, SymbolWindows]] = {}
        for job in jobs:
            if job.cache_dir is not None and job.use_cache:  # the rows reach other studies through the cache
                for windows in job.windows:
                    self._symbols.setdefault((job.model, job.namespace), {}).setdefault(windows.symbol, windows)
        self.drawn_windows = 0

    def shared(self, job: StudyJob, forecaster: Forecaster, config: ForecastConfig) -> bool:
        """Whether the run's other studies of ``job``'s model will ask for ``config``'s forecasts too: on a GPU, one
        of the few (context, inputs) combinations of a family whose forecasts depend on nothing else, each of which
        every study is expected to try."""
        if not (len(self._symbols.get((job.model, job.namespace), {})) > 1 and forecaster.batches_symbols()
                and forecaster.rows_independent(job.splits.spec.horizon)):
            return False
        inference_keys = getattr(space_of(job.model_family, job.objective), "inference_keys", None)  # a family's own space may lack it
        keys = inference_keys(job.context_ceiling) if inference_keys else None
        return (keys is not None and len(keys) <= job.target_trials()
                and (config.context_length, config.sampling) in keys)

    def before(self, job: StudyJob, forecaster: Forecaster, config: ForecastConfig, cache: SampleCache) -> None:
        """Draw ``config`` for every symbol of ``job``'s model at once when it is :meth:`shared` (a no-op when the
        cache already holds it). Batching only saves time: when the joint draw fails (out of memory, one
        symbol's bad bars), it is logged and each study draws its own symbol, as without batching.

        Raises
        ------
        StorageError
            If the cache cannot be written (a full disk): not a batching problem.
        """
        if not self.shared(job, forecaster, config):
            return
        symbols = self._symbols[(job.model, job.namespace)].values()
        try:
            self.drawn_windows += draw_for_symbols(forecaster, config,
                                                   [(w.data, w.splits.validation_origins) for w in symbols],
                                                   job.splits.spec.horizon, cache, n_max_samples(job.model_family))
        except StorageError:
            raise
        except (SweepError, ValueError, RuntimeError, MemoryError) as e:
            logger.warning("%s: drawing %s for %d symbols at once failed (%s: %s); drawing symbol by symbol",
                           job.name, config.to_dict(), len(symbols), type(e).__name__, e)
