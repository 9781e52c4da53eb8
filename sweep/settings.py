"""Sweep settings (the CLI flags), run ids, and the checks that let a run resume only with what it started with."""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .checkpoints import is_hub_id
from .config import MODEL_FAMILIES
from .data import OHLCVData, validate_symbol
from .ensemble import ENSEMBLE_METHODS
from .errors import ConfigError
from .forecasters.registry import DEFAULT_MODELS, FAMILIES
from .kronos.card import DEFAULT_KRONOS_MODEL
from .space import CONTEXT_LENGTHS
from .storage_url import check_storage
from .store import check_output_folder, read_json, utc_now, write_json_atomic
from .study import OBJECTIVE, OBJECTIVE_SETS
from .windows import WindowSpec

__all__ = ["SweepSettings", "new_run_id", "validate_run_id", "unique", "check_run_settings", "model_sources", "checkpoint_sources",
           "RUN_ID_PATTERN"]

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]+$")
logger = logging.getLogger(__name__)


def validate_run_id(run_id: str, flag: str = "--run-id") -> str:
    """Return ``run_id`` if it is safe as a folder name (no path separators, not ``.`` or ``..``).

    Raises
    ------
    ConfigError
        If it does not match ``[A-Za-z0-9._-]+``.
    """
    if not RUN_ID_PATTERN.match(run_id) or run_id in (".", ".."):
        raise ConfigError(f"{flag} {run_id!r} is invalid: it names a folder, so it must match [A-Za-z0-9._-]+ "
                          f"(e.g. nightly-2026-11-22)")
    return run_id


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
    promote_candidate : str
        The one candidate per symbol the promotion review may test (``--promote-candidate``):
        ``"selected"`` or ``"ensemble"``. Declared before any test result is seen, so reviewing
        both on the same test windows (two tries at alpha) is impossible.
    finetune : tuple of str
        Families to fine-tune on pre-validation bars first (``toto``, ``kronos``, ``chronos2``); each result is
        swept as the extra variant ``"<family>-ft"`` (see :mod:`sweep.finetune`).
    finetune_steps : int
    variants : dict
        ``{label: checkpoint folder}`` of fine-tuned variants (filled by :func:`run_sweep`).

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
    promote_candidate: str = "selected"

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ConfigError("no symbols given; pass e.g. --symbols BTCUSD ETHUSD")
        for symbol in self.symbols:
            validate_symbol(symbol)
        object.__setattr__(self, "symbols", unique(self.symbols, "--symbols"))
        object.__setattr__(self, "models", unique(self.models, "--models"))
        unknown = [m for m in self.models if m not in MODEL_FAMILIES]
        if unknown or not self.models:
            raise ConfigError(f"--models {list(self.models)}: unknown {unknown}; choose from {list(MODEL_FAMILIES)}")
        if self.n_trials < 1:
            raise ConfigError(f"--n-trials must be at least 1, got {self.n_trials}")
        if self.seed < 0:
            raise ConfigError(f"--seed must be a non-negative integer (NumPy and Optuna seeds), got {self.seed}")
        if self.timeout_s is not None and not self.timeout_s > 0:
            raise ConfigError(f"--timeout must be a positive number of seconds per study, got {self.timeout_s}")
        if self.finetune_steps < 1:
            raise ConfigError(f"--finetune-steps must be at least 1, got {self.finetune_steps}")
        validate_run_id(self.run_id)
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
        self._check_places()
        if self.promote_candidate not in ("selected", "ensemble") or (
                self.promote_candidate == "ensemble" and self.ensemble is None):
            raise ConfigError(f"--promote-candidate {self.promote_candidate!r} must be 'selected', or 'ensemble' "
                              f"together with --ensemble lp|greedy")

    def _check_places(self) -> None:
        """Storage, output folders and the context ceiling: what would otherwise fail late or silently."""
        check_storage(self.storage)
        check_output_folder(self.output_dir, "--output-dir")
        check_output_folder(self.runs_dir, "--runs-dir")
        self._check_checkpoint_flags()
        if set(self.models) - {"naive"} and self.windows.max_context_length < CONTEXT_LENGTHS[0]:
            raise ConfigError(f"--max-context-length {self.windows.max_context_length} is below the shortest "
                              f"context the search tries ({CONTEXT_LENGTHS[0]} bars); pass at least "
                              f"{CONTEXT_LENGTHS[0]}, or sweep only --models naive")

    def _check_checkpoint_flags(self) -> None:
        """Each swept family's checkpoint is a folder, a hub id or bundled weights: a typo fails now, not after
        the run folder is made (whether the folder holds a loadable checkpoint is the loader's to say)."""
        named = [(FAMILIES[label].flag, source) for label, source in checkpoint_sources(self).items()
                 if label in self.models]
        if "kronos" in self.models and self.kronos_tokenizer:
            named.append(("--kronos-tokenizer", self.kronos_tokenizer))
        for flag, source in named:
            if source.startswith("bundled:") or is_hub_id(source) or Path(source).expanduser().is_dir():
                continue
            raise ConfigError(f"{flag} {source!r} is neither an existing checkpoint folder nor a Hugging Face id "
                              f"(owner/name); pass the folder a training job wrote, or a hub id")

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


def unique(values: tuple[str, ...], flag: str) -> tuple[str, ...]:
    """``values`` in order with repeats dropped; a warning names the repeats (a symbol run twice would
    write its candidate twice and count its studies twice in the run)."""
    kept = tuple(dict.fromkeys(values))
    if len(kept) < len(values):
        repeated = sorted({v for v in values if values.count(v) > 1})
        logger.warning("%s names %s more than once; each runs once", flag, ", ".join(repeated))
    return kept


def checkpoint_sources(settings: SweepSettings) -> dict[str, str]:
    """Checkpoint (hub id or folder) of every family (its flag's, else its default) and every fine-tuned variant."""
    sources = {name: f.default_model for name, f in FAMILIES.items() if f.default_model}
    return sources | {**settings.model_ids, "toto": settings.toto_model, "kronos": settings.kronos_model,
                      **settings.variants}


def model_sources(settings: SweepSettings) -> dict[str, str]:
    """Checkpoint (hub id or folder) of each swept model label that has one."""
    sources = checkpoint_sources(settings)
    return {label: sources[label] for label in settings.labels if label in sources}


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
        stored["windows"] = asdict(WindowSpec.from_document(stored["windows"]))  # before test_stride: every stride
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
