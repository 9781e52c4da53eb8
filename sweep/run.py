"""A whole sweep: data -> studies -> selection on validation -> test report -> candidate files."""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from . import __version__
from .cache import SampleCache
from .candidate import Scoring, candidate_document, ensemble_document, fit_ensemble, symbol_significance
from .config import MODEL_FAMILIES
from .data import OHLCVData, load_ohlcv, validate_symbol
from .ensemble import ENSEMBLE_METHODS
from .errors import ConfigError, TrialError
from .evaluate import EvaluationResult
from .execution import Executor, InProcessExecutor
from .finetune import finetune_checkpoints
from .forecasters.registry import DEFAULT_MODELS, FAMILIES, family_of
from .forecasters.base import Forecaster
from .kronos.card import DEFAULT_KRONOS_MODEL
from .overlap import warn_overlaps
from .run_lock import run_lock
from .study import OBJECTIVE, OBJECTIVE_SETS, Progress, StudyJob, StudyOutcome
from .warm_start import warm_starts
from .store import candidate_path, ensemble_candidate_path, git_commit, read_json, utc_now, write_json_atomic
from .windows import Splits, WindowSpec, make_splits

__all__ = ["SweepSettings", "SymbolResult", "run_sweep", "make_forecaster", "new_run_id", "check_run_settings",
           "forecaster_lookup", "provenance", "selection_settings", "study_job", "model_sources"]

logger = logging.getLogger(__name__)

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]+$")


def new_run_id() -> str:
    """A run id from the current UTC time, e.g. ``20261122T021500Z``."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


@dataclass(frozen=True)
class SweepSettings:
    """Everything a sweep is run with (the CLI flags).

    Attributes
    ----------
    symbols : tuple of str
    models : tuple of str
        Families to tune, from :data:`sweep.config.MODEL_FAMILIES`.
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
    toto_model : str
        Hugging Face id or checkpoint folder.
    kronos_model, kronos_tokenizer : str
        Kronos predictor (hub id, checkpoint folder or ``kronostraining`` output) and its
        tokenizer (``None``: the model card's, or the training output's).
    model_ids : dict
        ``{family: hub id or folder}`` of the other families with a checkpoint (``--toto2-model``,
        ``--chronos2-model``, ``--chronos-bolt-model``); a family not named loads its registry default.
    windows : WindowSpec
    freq, gap_policy : str
        See :func:`sweep.data.load_ohlcv`.
    use_cache : bool
        ``False`` re-runs inference in every trial.
    objectives : tuple of str
        ``("pct_return_mae",)``, or ``("pct_return_mae", "latency_s")`` for multi-objective studies.
    latency_budget_s : float or None
        With two objectives, the selected trial is the most accurate one whose
        validation latency (seconds per origin) is within this budget.
    ensemble : str or None
        ``"lp"`` or ``"greedy"``: also fit ensemble weights on validation and write an ensemble candidate.
    alpha : float
        Level of the candidates' paired tests and of the Model Confidence Set (``--alpha``).
    finetune : tuple of str
        Families to fine-tune on pre-validation bars first (``toto``, ``kronos``, ``chronos2``); each result is
        swept as the extra variant ``"<family>-ft"`` (see :mod:`sweep.finetune`).
    finetune_steps : int
    variants : dict
        ``{label: checkpoint folder}`` of fine-tuned variants (filled by :func:`run_sweep`).

    Raises
    ------
    ConfigError
        On an invalid symbol, model, run id, trial count, objective or ensemble method.
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
    toto_model: str = FAMILIES["toto"].default_model
    kronos_model: str = DEFAULT_KRONOS_MODEL
    kronos_tokenizer: str | None = None
    model_ids: dict[str, str] = field(default_factory=dict)
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

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ConfigError("no symbols given; pass e.g. --symbols BTCUSD ETHUSD")
        for symbol in self.symbols:
            validate_symbol(symbol)
        unknown = [m for m in self.models if m not in MODEL_FAMILIES]
        if unknown or not self.models:
            raise ConfigError(f"--models {list(self.models)}: unknown {unknown}; choose from {list(MODEL_FAMILIES)}")
        if self.n_trials < 1:
            raise ConfigError(f"--n-trials must be at least 1, got {self.n_trials}")
        if not RUN_ID_PATTERN.match(self.run_id) or self.run_id in (".", ".."):
            raise ConfigError(f"--run-id {self.run_id!r} is invalid: it names a folder, so it must match "
                              f"[A-Za-z0-9._-]+ (e.g. nightly-2026-11-22)")
        if tuple(self.objectives) not in OBJECTIVE_SETS:
            raise ConfigError(f"--objectives {list(self.objectives)} is not supported; use one of "
                              f"{[list(o) for o in OBJECTIVE_SETS]}")
        if self.latency_budget_s is not None and (len(self.objectives) < 2 or self.latency_budget_s <= 0):
            raise ConfigError(f"--latency-budget-s {self.latency_budget_s} needs a positive value and "
                              f"--objectives {OBJECTIVE} latency_s")
        trainable = [name for name, f in FAMILIES.items() if f.trainer]
        for family in self.finetune:
            if family not in trainable or family not in self.models:
                raise ConfigError(f"--finetune {family}: fine-tuning needs a family with a trainer ({trainable}) "
                                  f"that is also in --models {list(self.models)}")
        if not 0 < self.alpha < 0.5:
            raise ConfigError(f"--alpha must be in (0, 0.5), got {self.alpha}")
        if self.ensemble is not None and self.ensemble not in ENSEMBLE_METHODS:
            raise ConfigError(f"--ensemble {self.ensemble!r} is unknown; choose from {sorted(ENSEMBLE_METHODS)}")

    @property
    def run_dir(self) -> Path:
        return Path(self.runs_dir) / self.run_id

    def storage_url(self) -> str:
        return self.storage or str(self.run_dir / "optuna.journal")

    @property
    def study_namespace(self) -> str | None:
        """Run id as study-name prefix in shared ``--storage``; none in the run's own journal."""
        return self.run_id if self.storage else None

    @property
    def labels(self) -> tuple[str, ...]:
        """Every model a study is run for: the families, then the fine-tuned variants."""
        return (*self.models, *self.variants)


@dataclass
class SymbolResult:
    """The selected candidate of one symbol.

    Attributes
    ----------
    outcome : StudyOutcome
        Best trial of the model selected on validation pct_return_mae.
    test : EvaluationResult
        That config on the test origins (never used for selection).
    path : Path
        The candidate JSON written.
    outcomes : list
        Every study's outcome (or error) for this symbol.
    ensemble : dict or None
        The ensemble candidate document, when ``settings.ensemble`` is set.
    """

    symbol: str
    outcome: StudyOutcome
    test: EvaluationResult
    path: Path
    document: dict[str, Any]
    outcomes: list[StudyOutcome | TrialError]
    ensemble: dict[str, Any] | None = None


def make_forecaster(label: str, settings: SweepSettings) -> Forecaster:
    """Load the model ``label`` names: a family, or a fine-tuned variant in ``settings.variants``.

    Raises
    ------
    ModelLoadError
        If the model cannot be loaded.
    """
    family = FAMILIES[family_of(label)]
    if label == "kronos":
        return family.load(settings.kronos_model, tokenizer=settings.kronos_tokenizer)
    return family.load(_sources(settings).get(label))


def _sources(settings: SweepSettings) -> dict[str, str]:
    """Checkpoint of every family (its flag's, else its default) and every fine-tuned variant."""
    sources = {name: f.default_model for name, f in FAMILIES.items() if f.default_model}
    return sources | {**settings.model_ids, "toto": settings.toto_model, "kronos": settings.kronos_model,
                      **settings.variants}


def model_sources(settings: SweepSettings) -> dict[str, str]:
    """Checkpoint (hub id or folder) of each swept model label that has one."""
    sources = _sources(settings)
    return {label: sources[label] for label in settings.labels if label in sources}


def forecaster_lookup(settings: SweepSettings, outcomes: list[StudyOutcome | TrialError]) -> Callable[[str], Forecaster]:
    """Loaded model of a study label: the one a study already loaded in this process, else loaded once now
    (executors on other processes return no loaded model)."""
    loaded = {o.model: o.forecaster for o in outcomes if isinstance(o, StudyOutcome) and o.forecaster}

    def forecaster_of(label: str) -> Forecaster:
        if label not in loaded:
            loaded[label] = make_forecaster(label, settings)
        return loaded[label]

    return forecaster_of


def check_run_settings(settings: SweepSettings, datasets: dict[str, OHLCVData], folds: int | None = None) -> None:
    """Record what a run's studies depend on; refuse to resume a run with different values.

    ``folds`` is the walk-forward fold count of a backtest run (None for a sweep).

    Raises
    ------
    ConfigError
        If the run folder records other windows, seed, data, models, objectives or folds.
    """
    path = settings.run_dir / "run.json"
    current = {"folds": folds, "windows": asdict(settings.windows), "seed": settings.seed, "freq": settings.freq,
               "gap_policy": settings.gap_policy, "toto_model": settings.toto_model,
               "kronos_model": settings.kronos_model, "kronos_tokenizer": settings.kronos_tokenizer,
               "model_ids": model_sources(settings), "objectives": list(settings.objectives),
               "finetune": list(settings.finetune), "variants": settings.variants,
               "data": {s: d.fingerprint for s, d in datasets.items()}}
    if path.is_file():
        # runs recorded before a key existed default to today's value for it
        stored = {"objectives": [OBJECTIVE], "finetune": False, "kronos_model": settings.kronos_model,
                  "kronos_tokenizer": settings.kronos_tokenizer, "folds": None, "model_ids": {},
                  **read_json(path, "run settings")}
        if isinstance(stored["finetune"], bool):  # runs recorded when --finetune meant Toto only
            stored["finetune"] = ["toto"] if stored["finetune"] else []
        changed = [k for k in ("folds", "windows", "seed", "freq", "gap_policy", "toto_model", "kronos_model",
                               "kronos_tokenizer", "objectives", "finetune")
                   if stored.get(k) != current[k]]
        changed += [f"the checkpoint of {label}" for label, source in current["model_ids"].items()
                    if stored["model_ids"].get(label, source) != source]
        changed += [f"data of {s}" for s, fp in current["data"].items()
                    if stored.get("data", {}).get(s, fp) != fp]
        if changed:
            raise ConfigError(f"run {settings.run_id!r} in {settings.run_dir} was started with different "
                              f"{', '.join(changed)}; resuming would mix incomparable trials. Rerun with the "
                              f"original flags and data, or start a new run with a new --run-id")
        current["data"] = {**stored.get("data", {}), **current["data"]}
    write_json_atomic(path, {**current, "run_id": settings.run_id, "updated_at": utc_now()})


def provenance(settings: SweepSettings, data: OHLCVData) -> dict[str, Any]:
    return {
        "sweep_version": __version__,
        "git_commit": git_commit(),
        "data_path": str(data.path),
        "data_fingerprint": data.fingerprint,
        "data_range": data.date_range(),
        "data_rows": data.n_bars,
        "run_id": settings.run_id,
        "storage": settings.storage_url() if settings.storage is None else "<external>",
        "seed": settings.seed,
        "created_at": utc_now(),
    }


def selection_settings(settings: SweepSettings) -> dict[str, Any]:
    return {"objective": "validation pct_return_mae", "objectives": list(settings.objectives),
            "latency_budget_s": settings.latency_budget_s}


def study_job(settings: SweepSettings, data: OHLCVData, splits: Splits, label: str, **overrides: Any) -> StudyJob:
    """The study of model ``label`` on ``data`` under ``settings``; ``overrides`` replace job fields
    (a backtest fold's namespace, warm start and origin universe)."""
    fields = dict(symbol=data.symbol, model=label, family=family_of(label), data=data, splits=splits,
                  make_forecaster=lambda: make_forecaster(label, settings), n_trials=settings.n_trials,
                  storage=settings.storage_url(), seed=settings.seed, cache_dir=str(settings.run_dir / "cache"),
                  use_cache=settings.use_cache, timeout_s=settings.timeout_s, objectives=settings.objectives,
                  latency_budget_s=settings.latency_budget_s, namespace=settings.study_namespace)
    return StudyJob(**{**fields, **overrides})


def _jobs(settings: SweepSettings, datasets: dict[str, OHLCVData], splits: dict[str, Splits]) -> list[StudyJob]:
    return [study_job(settings, datasets[symbol], splits[symbol], label,
                      warm_start=warm_starts(settings, symbol, label))
            for symbol in settings.symbols for label in settings.labels]


def run_sweep(settings: SweepSettings, executor: Executor | None = None,
              progress: Progress | None = None) -> list[SymbolResult]:
    """Run the sweep and write one candidate per symbol.

    Per symbol, the model whose best trial has the lowest validation
    ``pct_return_mae`` is selected; only that config is then evaluated on the
    test origins, and the result is written to
    ``<output_dir>/candidates/<run_id>/<SYMBOL>.json``.

    Returns
    -------
    list of SymbolResult
        One per symbol that has at least one completed study.

    Raises
    ------
    DataValidationError, ConfigError
        On invalid data or settings, before any model is loaded.
    ModelLoadError
        If a model cannot be loaded.
    ConfigError
        Also when another driver is running the same run id (:func:`sweep.run_lock.run_lock`).
    DiskFullError, StorageError
        If the run folder, ``hyperparams/`` or the study storage fails; rerunning resumes.
    """
    datasets = {s: load_ohlcv(settings.data_dir, s, settings.freq, settings.gap_policy) for s in settings.symbols}
    splits = {s: make_splits(d.n_bars, settings.windows, source=str(d.path)) for s, d in datasets.items()}
    with run_lock(settings.run_dir):
        return _sweep(settings, datasets, splits, executor, progress)


def _sweep(settings: SweepSettings, datasets: dict[str, OHLCVData], splits: dict[str, Splits],
           executor: Executor | None, progress: Progress | None) -> list[SymbolResult]:
    check_run_settings(settings, datasets)
    warn_overlaps(model_sources(settings), datasets, splits)
    executor = executor or InProcessExecutor()
    if settings.finetune:
        bases = model_sources(settings)
        variants = finetune_checkpoints(settings.run_dir, datasets, splits,
                                        {family: bases[family] for family in settings.finetune},
                                        settings.finetune_steps, settings.seed, executor)
        settings = replace(settings, variants=variants)
        check_run_settings(settings, datasets)  # records the variants for resumes and reports
    jobs = _jobs(settings, datasets, splits)
    outcomes = executor.run(jobs, progress)
    forecaster_of = forecaster_lookup(settings, outcomes)
    results = []
    for symbol in settings.symbols:
        mine = [o for o, job in zip(outcomes, jobs) if job.symbol == symbol]
        done = [o for o in mine if isinstance(o, StudyOutcome)]
        if not done:
            logger.error("%s: no study has a usable trial (errors above); no candidate written", symbol)
            continue
        scoring = Scoring(datasets[symbol], splits[symbol], SampleCache(settings.run_dir / "cache",
                                                                        enabled=settings.use_cache),
                          forecaster_of, settings.alpha, settings.seed)
        results.append(_write_candidates(settings, scoring, mine, done))
    return results


def _write_candidates(settings: SweepSettings, scoring: Scoring, mine: list[StudyOutcome | TrialError],
                      done: list[StudyOutcome]) -> SymbolResult:
    """Select on validation, score on test, write the candidate (and the ensemble candidate)."""
    symbol = scoring.data.symbol
    best = min(done, key=lambda o: o.validation["pct_return_mae"])
    test = scoring.evaluate(best.model, best.config, "test")
    significance = symbol_significance(scoring, done)
    recorded = provenance(settings, scoring.data)
    document = candidate_document(scoring, best, test, mine, significance, recorded, selection_settings(settings))
    path = write_json_atomic(candidate_path(settings.output_dir, settings.run_id, symbol), document)
    ensemble = None
    if settings.ensemble:
        ensemble = ensemble_document(scoring, fit_ensemble(scoring, settings.ensemble, done), done, significance,
                                     recorded)
        write_json_atomic(ensemble_candidate_path(settings.output_dir, settings.run_id, symbol), ensemble)
    return SymbolResult(symbol, best, test, path, document, mine, ensemble)
