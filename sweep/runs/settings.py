"""Sweep settings (the CLI flags), run ids, and the checks that let a run resume only with what it started with."""

from __future__ import annotations

import logging
import math
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..data.bars import OHLCVData, validate_symbol
from ..scoring.ensemble import ENSEMBLE_METHODS
from ..errors import ConfigError
from ..flags import unique
from ..forecasters.checkpoint_folders import check_horizon
from ..forecasters.registry import DEFAULT_MODELS, FAMILIES, family_of
from ..data.run_data import data_record
from ..storage.run_lock import run_lock
from .run_record import (RUN_ID_PATTERN, cache_folder, new_run_id, read_run_settings, recorded_in_storage,
                         run_settings_problem, settings_changes, validate_run_id)
from ..search.space import CONTEXT_LENGTHS
from ..storage.storage_url import check_storage, redacted
from ..storage.store import check_output_folder, utc_now, write_json_atomic
from ..objectives import DEFAULT_OBJECTIVE as OBJECTIVE, DEFAULT_FEE_BPS, LATENCY, OBJECTIVES, get_objective, trading_costs
from ..search.study_job import PER_SYMBOL, POOLED, SCOPES
from ..data.windows import WindowSpec
from ._select_rule import DEFAULT_RULE, DEFAULT_SELECT_ALPHA, checked_rules
from ._sources import check_checkpoint_flags, checkpoint_keys, checkpoint_sources, model_sources

__all__ = ["SweepSettings", "new_run_id", "validate_run_id", "unique", "claimed_run", "check_run_settings", "model_sources", "checkpoint_sources",
           "RUN_ID_PATTERN", "read_run_settings", "run_settings_document"]

logger = logging.getLogger(__name__)
#: Largest --seed: NumPy takes seeds below 2**32, and studies add the number of trials already run.
MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class SweepSettings:
    """Everything a sweep is run with (the CLI flags).

    Attributes
    ----------
    symbols : tuple of str
    models : tuple of str
        Families to tune, from :data:`sweep.forecasters.registry.FAMILIES`.
    n_trials : int
        Completed trials per study.
    data_dir, output_dir, runs_dir : Path
        ``<SYMBOL>.csv`` files; ``hyperparams/``; run folders (journal + sample cache).
    run_id : str
        Reusing a run id resumes that run.
    storage : str or None
        Optuna storage URL; ``None`` = journal file ``<runs_dir>/<run_id>/optuna.journal``.
    seed : int
    timeout_s : float or None
        Wall-clock limit per study.
    model_ids : dict
        ``{family: hub id or folder}`` of every family with a checkpoint flag (``--toto-model``,
        ``--kronos-model``, ``--chronos2-model``, ...); a family not named loads its registry default.
    model_options : dict
        ``{family: {option: hub id or folder}}`` of the further checkpoints a family's loader takes
        (``{"kronos": {"tokenizer": ...}}`` from ``--kronos-tokenizer``; none: the model card's, or the
        training output's).
    windows : WindowSpec
    freq, gap_policy : str
        See :func:`sweep.data.bars.load_ohlcv`.
    use_cache : bool
        ``False`` re-runs inference in every trial.
    objectives : tuple of str
        ``(objective,)``, or ``(objective, "latency_s")`` for multi-objective studies; ``objective`` is one of
        :data:`sweep.objectives.OBJECTIVES` (``--objective``, default ``pct_return_mae``).
    latency_budget_s : float or None
        With two objectives, the selected trial is the most accurate one whose
        validation latency (seconds per origin) is within this budget.
    ensemble : str or None
        ``"lp"`` or ``"greedy"``: also fit ensemble weights on validation and write an ensemble candidate.
    alpha : float
        Level of the candidates' paired tests and of the Model Confidence Set (``--alpha``).
    promote_candidate : str
        The one candidate per symbol the promotion review may test (``--promote-candidate``):
        ``"selected"`` or ``"ensemble"``. Declared before any test result is seen, so reviewing
        both on the same test windows (two tries at alpha) is impossible.
    finetune : tuple of str
        Families to fine-tune on pre-validation bars first (``toto``, ``kronos``, ``chronos2``); each result is
        swept as the extra variant ``"<family>-ft"`` (see :mod:`sweep.runs._finetune`).
    finetune_steps : int
    variants : dict
        ``{label: checkpoint folder}`` of fine-tuned variants (filled by :func:`run_sweep`).
    cache_dir : Path or None
        The forecast cache (``--cache-dir``; None: ``<run_dir>/cache``); runs may share one (see the CLI help).
    selection : tuple of str
        Selection scopes (``--selection``): ``"per-symbol"`` (one study per symbol and model) or ``"pooled"``
        (one study per model over every symbol; see :mod:`sweep.runs._selection`). A sweep takes one; a backtest
        may compare both.
    select : tuple of str
        Selection rules (``--select``; :mod:`sweep.runs._select_rule`): ``"best"`` or ``"significant"`` (the family
        default unless the SPA against it rejects at ``select_alpha``). A sweep takes one; a backtest may compare both.
    select_alpha : float
        Level of that SPA (``--select-alpha``, default 0.10).
    fee_bps, long_only : float, bool
        The ``pnl`` rule's fee per side in bps (``--fee-bps``) and ``--long-only`` (:mod:`sweep.objectives.trading`).
    horizons : tuple of int
        ``--horizons``: every horizon (bars) the run tunes, increasing, the longest equal to ``windows.horizon``, for
        which the origins are laid out; empty: the one ``windows.horizon`` (see :attr:`run_horizons`). Each
        (symbol, horizon) gets its own selection, candidate and review from the same trials.

    Raises
    ------
    ConfigError
        On an invalid symbol, model, run id, trial count, objective, ensemble method, storage URL, output
        folder, or a ``max_context_length`` below the shortest context of the search grid. A symbol or
        model named twice is kept once, with a warning.
    """

    symbols: tuple[str, ...]
    models: tuple[str, ...] = DEFAULT_MODELS
    n_trials: int = 100
    data_dir: Path = Path("trainingdata")
    output_dir: Path = Path("hyperparams")
    runs_dir: Path = Path("runs")
    run_id: str = field(default_factory=new_run_id)
    storage: str | None = None
    seed: int = 0
    timeout_s: float | None = None
    model_ids: dict[str, str] = field(default_factory=dict)
    model_options: dict[str, dict[str, str]] = field(default_factory=dict)
    windows: WindowSpec = field(default_factory=WindowSpec)
    freq: str = "1h"
    gap_policy: str = "error"
    use_cache: bool = True
    objectives: tuple[str, ...] = (OBJECTIVE,)
    latency_budget_s: float | None = None
    ensemble: str | None = None
    finetune: tuple[str, ...] = ()
    finetune_steps: int = 300
    variants: dict[str, str] = field(default_factory=dict)
    alpha: float = 0.05
    promote_candidate: str = "selected"
    selection: tuple[str, ...] = (PER_SYMBOL,)
    cache_dir: Path | None = None
    select: tuple[str, ...] = (DEFAULT_RULE,)
    select_alpha: float = DEFAULT_SELECT_ALPHA
    fee_bps: float = DEFAULT_FEE_BPS
    long_only: bool = False
    horizons: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ConfigError("no symbols given; pass e.g. --symbols BTCUSD ETHUSD")
        for symbol in self.symbols:
            validate_symbol(symbol)
        object.__setattr__(self, "symbols", unique(self.symbols, "--symbols"))
        object.__setattr__(self, "models", unique(self.models, "--models"))
        unknown = [m for m in self.models if m not in FAMILIES]
        if unknown or not self.models:
            raise ConfigError(f"--models {list(self.models)}: unknown {unknown}; choose from {list(FAMILIES)}")
        if self.n_trials < 1:
            raise ConfigError(f"--n-trials must be at least 1, got {self.n_trials}")
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"--seed must be an integer from 0 to {MAX_SEED} (NumPy and Optuna seeds, offset by "
                              f"the trials already run), got {self.seed}")
        if self.timeout_s is not None and not self.timeout_s > 0:
            raise ConfigError(f"--timeout must be a positive number of seconds per study, got {self.timeout_s}")
        if self.finetune_steps < 1:
            raise ConfigError(f"--finetune-steps must be at least 1, got {self.finetune_steps}")
        validate_run_id(self.run_id)
        if not self.objectives or self.objectives[0] not in OBJECTIVES or tuple(self.objectives[1:]) not in (
                (), (LATENCY,)):  # the registry is read now: an objective registered after import counts
            raise ConfigError(f"--objectives {list(self.objectives)} is not supported; use an objective of "
                              f"{list(OBJECTIVES)}, alone or followed by {LATENCY}")
        if (needed := get_objective(self.objective).min_context_length) > self.windows.max_context_length:
            raise ConfigError(f"--objective {self.objective}'s benchmark reads {needed} bars before each origin; raise "
                              f"--max-context-length {self.windows.max_context_length} to at least {needed}")
        budget = self.latency_budget_s
        if budget is not None and (len(self.objectives) < 2 or not 0 < budget < math.inf):
            raise ConfigError(f"--latency-budget-s {self.latency_budget_s} needs a positive finite value and "
                              f"--objectives {self.objective} latency_s")
        trainable = [name for name, f in FAMILIES.items() if f.trainer]
        for family in self.finetune:
            if family not in trainable or family not in self.models:
                raise ConfigError(f"--finetune {family}: fine-tuning needs a family with a trainer ({trainable}) "
                                  f"that is also in --models {list(self.models)}")
        if not 0 < self.alpha < 0.5:
            raise ConfigError(f"--alpha must be in (0, 0.5), got {self.alpha}")
        if self.ensemble is not None and self.ensemble not in ENSEMBLE_METHODS:
            raise ConfigError(f"--ensemble {self.ensemble!r} is unknown; choose from {sorted(ENSEMBLE_METHODS)}")
        scopes = (self.selection,) if isinstance(self.selection, str) else tuple(self.selection)
        object.__setattr__(self, "selection", unique(scopes, "--selection"))
        if not self.selection or set(self.selection) - set(SCOPES):
            raise ConfigError(f"--selection {list(self.selection)}: choose from {list(SCOPES)}")
        object.__setattr__(self, "select", checked_rules(self.select, self.select_alpha))
        self.fixed_decision  # checks --fee-bps and --long-only against the objective
        self._check_horizons()
        self._check_places()
        if self.promote_candidate not in ("selected", "ensemble") or (
                self.promote_candidate == "ensemble" and self.ensemble is None):
            raise ConfigError(f"--promote-candidate {self.promote_candidate!r} must be 'selected', or 'ensemble' "
                              f"together with --ensemble lp|greedy")

    def _check_horizons(self) -> None:
        horizons = tuple(sorted(unique(tuple(self.horizons), "--horizons")))
        if self.horizons and (horizons[0] < 1 or horizons[-1] != self.windows.horizon):
            raise ConfigError(f"--horizons {' '.join(map(str, self.horizons))}: every horizon must be a positive "
                              f"number of bars, and the longest is the --horizon the windows are laid out for "
                              f"({self.windows.horizon}); pass --horizons alone")
        if len(horizons) > 1 and (POOLED in self.selection or self.ensemble or self.finetune):
            raise ConfigError(f"--horizons {' '.join(map(str, horizons))} tunes each horizon per symbol from one "
                              f"study; drop --selection pooled, --ensemble and --finetune, or run one --horizon")
        object.__setattr__(self, "horizons", horizons if len(horizons) > 1 else ())

    def _check_places(self) -> None:
        """Storage, output folders and the context ceiling: what would otherwise fail late or silently."""
        check_storage(self.storage)
        check_output_folder(self.output_dir, "--output-dir")
        check_output_folder(self.runs_dir, "--runs-dir")
        check_checkpoint_flags(self)
        if set(self.models) - {"naive"} and self.windows.max_context_length < CONTEXT_LENGTHS[0]:
            raise ConfigError(f"--max-context-length {self.windows.max_context_length} is below the shortest "
                              f"context the search tries ({CONTEXT_LENGTHS[0]} bars); pass at least "
                              f"{CONTEXT_LENGTHS[0]}, or sweep only --models naive")

    @property
    def objective(self) -> str:  # the accuracy objective (sweep.objectives): the first of objectives
        return self.objectives[0]

    @property
    def fixed_decision(self) -> dict[str, Any]:  # the pnl trading rule's --fee-bps and --long-only, else empty
        return trading_costs(self.objective, self.fee_bps, self.long_only, self.selection, self.ensemble, self.windows)

    @property
    def run_horizons(self) -> tuple[int, ...]:  # every horizon tuned, increasing; the last is the layout's
        return self.horizons or (self.windows.horizon,)

    @property
    def run_dir(self) -> Path:
        return Path(self.runs_dir) / self.run_id

    @property
    def cache_folder(self) -> Path:
        return cache_folder(self.run_dir, {"cache_dir": self.cache_dir and str(self.cache_dir)})

    def storage_url(self) -> str:
        return self.storage or str(self.run_dir / "optuna.journal")

    @property
    def study_namespace(self) -> str | None:
        """Run id as study-name prefix in shared ``--storage``; none in the run's own journal."""
        return self.run_id if self.storage else None

    @property
    def scope(self) -> str:  # the selection scope of a sweep (the first of ``selection``)
        return self.selection[0]

    @property
    def rule(self) -> str:  # the selection rule of a sweep (the first of ``select``)
        return self.select[0]

    @property
    def pool(self) -> list[str] | None:
        """The symbols a pooled study scores (sorted), or None when no scope pools them."""
        return sorted(self.symbols) if POOLED in self.selection else None

    @property
    def labels(self) -> tuple[str, ...]:
        """Every model a study is run for: the families, then the fine-tuned variants."""
        return (*self.models, *self.variants)


def run_settings_document(settings: SweepSettings, datasets: dict[str, OHLCVData],
                          folds: int | None = None) -> dict[str, Any]:
    """What a run's studies depend on: written to ``run.json`` and recorded on every study the run creates.

    ``datasets`` is ``{symbol: OHLCVData}`` of the run (their fingerprints); ``folds`` the walk-forward fold count of
    a backtest run (None for a sweep). Returns a JSON-serialisable dict; its ``storage`` is the ``--storage`` value
    with its password redacted (None: the run's own journal).
    """
    return {"folds": folds, "windows": asdict(settings.windows), "seed": settings.seed, "freq": settings.freq,
            "gap_policy": settings.gap_policy, **checkpoint_keys(settings),
            "model_ids": model_sources(settings), "objective": settings.objective,
            "objectives": list(settings.objectives), "cache_dir": settings.cache_dir and str(settings.cache_dir),
            "finetune": list(settings.finetune), "variants": settings.variants,
            "storage": None if settings.storage is None else redacted(settings.storage),
            "promote_candidate": settings.promote_candidate, "ensemble": settings.ensemble,
            "selection": list(settings.selection), "pool": settings.pool, "select": list(settings.select),
            "select_alpha": settings.select_alpha, **settings.fixed_decision,
            **({"horizons": list(settings.horizons)} if settings.horizons else {}),
            "data": {s: d.fingerprint for s, d in datasets.items()}, **data_record(settings.data_dir, datasets),
            "run_id": settings.run_id}


@contextmanager
def claimed_run(settings: SweepSettings, datasets: dict[str, OHLCVData], folds: int | None = None) -> Iterator[None]:
    """Hold the run's driver lock after :func:`check_run_settings` passed (sweep and backtest alike).

    Refuses a ``--horizon`` past a swept family's limit first (read from its checkpoint's config), then warns
    about windows with little power. A run folder that does not exist yet (a shared ``--storage`` used from
    another ``--runs-dir``) is checked against the run's studies before the lock creates it, so a refusal leaves
    no folder; the storage is read once.

    Raises
    ------
    ConfigError
        If the horizon is past a family's limit (:func:`sweep.forecasters.checkpoint_folders.check_horizon`), the
        run records other settings, or another driver holds the run (:func:`sweep.storage.run_lock.run_lock`).
    ModelLoadError
        If a checkpoint's config cannot be found or read.
    """
    for label, source in model_sources(settings).items():
        check_horizon(family_of(label), settings.windows.horizon, source, **settings.model_options.get(label, {}))
    for warning in settings.windows.power_warnings():
        logger.warning(warning)
    seen = None if settings.run_dir.exists() else check_run_settings(settings, datasets, folds, write=False)
    with run_lock(settings.run_dir, check=lambda: check_run_settings(settings, datasets, folds, recorded=seen)):
        yield


def check_run_settings(settings: SweepSettings, datasets: dict[str, OHLCVData], folds: int | None = None,
                       write: bool = True,
                       recorded: list[tuple[str, dict[str, Any] | None]] | None = None
                       ) -> list[tuple[str, dict[str, Any] | None]]:
    """Record what a run's studies depend on; refuse to resume a run with different values.

    The record is ``<run_dir>/run.json``; without it (another ``--runs-dir`` on a shared ``--storage``, or a
    deleted file) the run settings recorded on the run's studies in its storage, read once. Studies recorded
    before they carried settings, and keys a document lacks, are accepted.

    Parameters
    ----------
    settings : SweepSettings
    datasets : dict
        ``{symbol: OHLCVData}``.
    folds : int, optional
        The walk-forward fold count of a backtest run (None for a sweep).
    write : bool
        Write ``run.json``; ``False`` only checks (before the run folder exists).
    recorded : list, optional
        The studies' records an earlier call returned; used instead of reading the storage again.

    Returns
    -------
    list
        The studies' ``(name, settings)`` records read from the storage (empty when ``run.json`` was used).

    Raises
    ------
    ConfigError
        If ``run.json`` or a study records other windows, seed, data, models, objectives, folds, storage,
        promotion candidate, ensemble, selection scopes or pooled symbols (naming each with its recorded and given value), or ``run.json`` is
        corrupt (:func:`read_run_settings`).
    StorageError
        If the storage cannot be read.
    """
    path = settings.run_dir / "run.json"
    current = run_settings_document(settings, datasets, folds)
    from_storage = not path.is_file()
    if from_storage:
        records = (recorded_in_storage(settings.storage_url(), settings.study_namespace, settings.run_dir)
                   if recorded is None else recorded)
    else:
        records = [(str(path), read_run_settings(settings.run_dir))]
    data, spans = {}, {}
    for name, stored in records:
        if stored is None:  # a study recorded before studies carried their run's settings
            continue
        where = (f"(no {path}; study {name!r} in {redacted(settings.storage_url())} records its settings)"
                 if from_storage else f"in {settings.run_dir}")
        problem = run_settings_problem(stored)
        if problem:
            raise ConfigError(f"the run settings recorded on study {name!r} in {redacted(settings.storage_url())} "
                              f"{problem}; start a new run with a new --run-id")
        if from_storage:  # a study found in this storage: whatever the URL's spelling, it is the same storage
            stored = {**stored, "storage": current["storage"]}
        changed = settings_changes(stored, current)
        if changed:
            raise ConfigError(f"run {settings.run_id!r} {where} was started with different {'; '.join(changed)}; "
                              f"resuming would mix incomparable trials. Rerun with the original flags and data, or "
                              f"start a new run with a new --run-id")
        data.update(stored["data"])
        spans.update(stored.get("data_spans") or {})
    if write:  # symbols of earlier invocations keep their fingerprints and spans
        write_json_atomic(path, {**current, "data": {**data, **current["data"]},
                                 "data_spans": {**spans, **current["data_spans"]}, "updated_at": utc_now()})
    return records if from_storage else []
