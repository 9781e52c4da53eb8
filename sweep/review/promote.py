"""Promotion review: a candidate replaces ``best/<SYMBOL>.json`` only if it is better on identical test windows.

Persistence is the implicit incumbent: a candidate must beat the last-close
forecast *and* the current best (when one exists), each by a paired test
(:func:`sweep.stats.paired.paired_test`) of the per-window pct-return errors on the
test origins of today's data (the candidate's window spec). When a symbol has
no best yet and the candidate does not beat persistence, the persistence config
is written as its best: the trading system is told "no model for this symbol".
Every review states the minimum detectable effect of its windows, so a "kept"
decision shows whether the test could have seen a 1 % or a 5 % improvement.
Every decision is written to its own review file. A lock file serialises
promoters, so two reviews never interleave their read of the current best and
their write of the new one.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..scoring.cache import SampleCache
from ..data.bars import OHLCVData, load_ohlcv, validate_symbol
from ..scoring.ensemble import document_members, evaluate_document, read_best
from ..errors import ConfigError, SweepError
from ..forecasters import Forecaster, document_loader, forecaster_from_identity
from ..forecasters.config import ForecastConfig
from ..stats.paired import PairedTest, paired_test
from .review_file import KEPT, PERSISTENCE, PROMOTED, Review, review_markdown, write_review
from ..data.run_data import DEFAULT_DATA_DIR, RecordedBars, run_bars, run_data_dir
from .promote_files import check_best_file, review_cache
from ..storage.store import best_path, candidate_path, ensemble_candidate_path, read_json, utc_now, write_json_atomic
from ..data.windows import WindowSpec, check_moving_closes, make_splits
from ..runs.settings import read_run_settings, validate_run_id

__all__ = ["PromoteSettings", "Review", "promote", "review_symbol", "decide", "persistence_document", "LOCK_NAME",
           "PROMOTED", "KEPT", "PERSISTENCE"]

LOCK_NAME = ".promote.lock"
#: ``model`` block of a persistence best config.
PERSISTENCE_IDENTITY = {"family": "naive", "model_id": "persistence"}


@dataclass(frozen=True)
class PromoteSettings:
    """What ``python -m sweep promote`` is run with.

    Attributes
    ----------
    run_id : str
        The sweep whose candidates are reviewed.
    symbols : tuple of str, optional
        Default: every candidate of the run.
    alpha : float
        Level of the one-sided paired tests.
    dry_run : bool
        Print the decisions; write nothing: no review, no best config, no lock file and no forecast cache entry.
    candidate : str or None
        ``"selected"`` (the run's per-symbol candidate) or ``"ensemble"``; None (default) reviews the one the
        sweep declared (``--promote-candidate``, recorded as ``selection.promotion_candidate``). Asking for the
        other is refused: the test windows give one try at alpha per symbol and run.
    data_dir : Path or None
        Where today's bars are; None (default): the folder the run read (:func:`sweep.data.run_data.run_data_dir`).
    output_dir, runs_dir : Path
    lock_timeout_s : float
        How long to wait for another promoter to finish.
    seed : int
        Bootstrap seed.
    """

    run_id: str
    symbols: tuple[str, ...] | None = None
    alpha: float = 0.05
    dry_run: bool = False
    candidate: str | None = None
    data_dir: Path | None = None
    output_dir: Path = Path("hyperparams")
    runs_dir: Path = Path("runs")
    lock_timeout_s: float = 600.0
    seed: int = 0

    def __post_init__(self) -> None:
        validate_run_id(self.run_id, "--run")
        if not 0 < self.alpha < 0.5:
            raise ConfigError(f"--alpha must be in (0, 0.5), got {self.alpha}")
        if self.candidate not in (None, "selected", "ensemble"):
            raise ConfigError(f"--candidate {self.candidate!r} must be 'selected' or 'ensemble'")

    def candidate_file(self, symbol: str, kind: str | None = None) -> Path:
        make = ensemble_candidate_path if (kind or self.candidate) == "ensemble" else candidate_path
        return make(self.output_dir, self.run_id, symbol)

    def declared_candidate(self, symbol: str) -> str:
        """The candidate the sweep declared for promotion, after checking ``candidate`` agrees with it.

        Runs from before the declaration existed declared the selected candidate.

        Raises
        ------
        ConfigError
            If the selected candidate is missing, or ``candidate`` names the other one.
        """
        selected = read_json(candidate_path(self.output_dir, self.run_id, symbol), "candidate")
        declared = (selected.get("selection") or {}).get("promotion_candidate", "selected")
        if self.candidate not in (None, declared):
            raise ConfigError(f"run {self.run_id!r} declared its {declared} candidate of {symbol} for promotion "
                              f"(sweep --promote-candidate); reviewing the {self.candidate} one too would be a second "
                              f"try at alpha {self.alpha} on the same test windows. Drop --candidate, or sweep again "
                              f"under a new --run-id with --promote-candidate {self.candidate}")
        return declared

    def symbols_to_review(self) -> tuple[str, ...]:
        """``symbols``, or every candidate file of the run.

        Raises
        ------
        ConfigError
            If the run has no candidate.
        """
        if self.symbols:
            return tuple(validate_symbol(s) for s in self.symbols)
        folder = self.candidate_file("X", "selected").parent
        found = tuple(sorted(p.stem for p in folder.glob("*.json")))
        if not found:
            raise ConfigError(f"no candidates in {folder}; run the sweep with --run-id {self.run_id} first")
        return found


def _window_spec(document: dict[str, Any], source: Path) -> WindowSpec:
    try:
        return WindowSpec.from_document(document["windows"])
    except (KeyError, TypeError) as e:
        raise ConfigError(f"{source} has no complete 'windows' block ({e}); it was not written by a sweep") from e


def _review_data(settings: PromoteSettings, symbol: str, candidate: dict[str, Any], source: Path) -> OHLCVData:
    """Today's bars of ``symbol`` from the folder the run read (its run.json, else the candidate's provenance)
    unless ``--data-dir`` is given, read as the run read them, after checking the run's bars are unchanged."""
    run_dir = Path(settings.runs_dir) / settings.run_id
    stored = read_run_settings(run_dir) if (run_dir / "run.json").exists() else {}  # a corrupt one is refused
    provenance = candidate.get("provenance") or {}
    swept = stored.get("data_dir") or (Path(provenance["data_path"]).parent if provenance.get("data_path") else None)
    record = run_dir / "run.json" if stored.get("data_dir") else source
    data = load_ohlcv(run_data_dir(settings.data_dir, swept, record), symbol, stored.get("freq", "1h"),
                      stored.get("gap_policy", "error"))
    if provenance.get("data_fingerprint"):  # candidates have recorded it since the first release
        run_bars(data, RecordedBars.from_provenance(provenance, symbol, source),
                 f"pass --data-dir with the folder run {settings.run_id!r} swept ({swept or DEFAULT_DATA_DIR}), or "
                 "sweep this data in a new run")
    return data


def review_symbol(settings: PromoteSettings, symbol: str,
                  load: Callable[[dict[str, Any]], Forecaster] | None = None) -> Review:
    """Review the candidate of ``symbol`` against its current best; promote it if it wins.

    ``load`` loads a ``model`` block (default: :func:`sweep.forecasters.forecaster_from_identity` resolving
    relative checkpoint paths against ``settings.output_dir``); its errors name the candidate or best file.

    Raises
    ------
    ConfigError
        If a file is missing or malformed, or a config does not fit today's data.
    ModelLoadError
        If a model cannot be loaded, or its checkpoint is gone or changed since it was recorded (checked before
        the lock is taken).
    SweepError
        If another promoter holds the lock longer than ``lock_timeout_s``.
    """
    from filelock import FileLock, Timeout

    load = _once(load or _loader(settings))
    source = settings.candidate_file(symbol, settings.declared_candidate(symbol))
    candidate = read_json(source, "candidate")
    document_members(candidate)  # validate before waiting for the lock
    check_best_file(best_path(settings.output_dir, symbol))  # a broken incumbent is refused before any evaluation
    _preload(settings, symbol, load)
    spec = _window_spec(candidate, source)
    data = _review_data(settings, symbol, candidate, source)
    splits = make_splits(data.n_bars, spec, source=str(data.path))
    check_moving_closes(data, splits)  # today's test windows: persistence's error there divides the skill
    origins = splits.test_origins
    cache = review_cache(Path(settings.runs_dir) / settings.run_id, settings.dry_run)
    windows = {"test_origins": len(origins), "n_test_origins": len(origins), "test_stride": spec.test_stride,
               "origins_per_day": spec.test_origins_per_day(data.freq.total_seconds()),
               "first_test_origin_time": str(data.frame.index[origins[0]]),
               "last_test_origin_time": str(data.frame.index[origins[-1]]), "horizon": spec.horizon,
               "data_fingerprint": data.fingerprint, "data_range": data.date_range()}
    lock_path = Path(settings.output_dir) / LOCK_NAME
    if not settings.dry_run:  # a dry run writes nothing, so it reads without the lock (and creates no lock file)
        lock_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with nullcontext() if settings.dry_run else FileLock(str(lock_path), timeout=settings.lock_timeout_s):
            review, incumbent = _decide(settings, symbol, candidate, data, origins, spec.horizon, cache, load, windows,
                                        source)
            return _record(settings, review, candidate, incumbent, source)
    except Timeout as e:
        raise SweepError(f"another promoter has held {lock_path} for over {settings.lock_timeout_s:.0f} s; "
                         f"wait for it, or delete the file if no promoter is running") from e


def _verdict(name: str, test: PairedTest) -> str:
    if test.candidate_better:
        return f"beats {name} (DM p = {test.dm_p_value:.4g}, CI upper bound {test.ci_upper:.3g} < 0)"
    return (f"does not beat {name} (mean differential {test.mean_differential:+.3g}, DM p = {test.dm_p_value:.4g}, "
            f"CI [{test.ci_lower:.3g}, {test.ci_upper:.3g}])")


def decide(vs_persistence: PairedTest, vs_best: PairedTest | None, dry_run: bool = False) -> tuple[str, str]:
    """The promotion rule: ``(outcome, reason)``.

    The candidate is promoted only if it beats persistence and, when a best exists, the best,
    each by :attr:`PairedTest.candidate_better`. Without a best, a candidate that does not beat
    persistence leaves persistence as the best (:data:`PERSISTENCE`).

    Parameters
    ----------
    vs_persistence, vs_best : PairedTest
        The candidate against persistence and against the current best (``None`` without one).
    dry_run : bool
        ``promote --dry-run``: the reason says what *would* be written, since nothing is.

    Returns
    -------
    outcome, reason : str
        :data:`PROMOTED`, :data:`KEPT` or :data:`PERSISTENCE`; the verdicts, for the review and the console.
    """
    reasons = [f"candidate {_verdict('persistence', vs_persistence)}"]
    if vs_best is not None:
        reasons.append(f"candidate {_verdict('the current best', vs_best)}")
    reason = "; ".join(reasons) + f" at level {vs_persistence.alpha}"
    if vs_persistence.candidate_better and (vs_best is None or vs_best.candidate_better):
        return PROMOTED, reason
    if vs_best is None:
        written = "would be written" if dry_run else "is written"
        return PERSISTENCE, reason + f"; no model for this symbol: the persistence config {written} as its best"
    return KEPT, reason


def persistence_document(symbol: str, candidate: dict[str, Any], review: Review, seed: int) -> dict[str, Any]:
    """The best config that says "no model for this symbol": persistence, with the review's evidence."""
    config = ForecastConfig(model="naive", context_length=1, num_samples=1, aggregate="mean", seed=seed)
    return {"symbol": symbol, "model": PERSISTENCE_IDENTITY, "config": config.to_dict(),
            "validation": candidate.get("baseline", {}).get("validation"),
            "test": {**review.candidate.baseline, "n_windows": review.candidate.n_windows},
            "windows": candidate["windows"],
            "provenance": {"written_because": review.reason, "rejected_candidate": {
                k: candidate.get(k) for k in ("model", "config")}, "created_at": utc_now(),
                **{k: v for k, v in (candidate.get("provenance") or {}).items() if k in ("freq", "gap_policy")}}}


def _decide(settings: PromoteSettings, symbol: str, candidate: dict[str, Any], data, origins, horizon: int,
            cache: SampleCache, load, windows: dict[str, Any], source: Path) -> tuple[Review, dict[str, Any] | None]:
    """Evaluate both configs and apply :func:`decide`; returns the review and the current best document."""
    candidate_result = evaluate_document(candidate, data, origins, horizon, cache, document_loader(source, load=load))
    vs_persistence = paired_test(candidate_result.window_errors, candidate_result.baseline_window_errors,
                                 settings.alpha, settings.seed)
    best_file = best_path(settings.output_dir, symbol)
    incumbent = read_best(best_file) if best_file.is_file() else None
    incumbent_result = vs_best = None
    if incumbent is not None:
        incumbent_result = evaluate_document(incumbent, data, origins, horizon, cache,
                                             document_loader(best_file, load=load))
        vs_best = paired_test(candidate_result.window_errors, incumbent_result.window_errors, settings.alpha,
                              settings.seed)
    outcome, reason = decide(vs_persistence, vs_best, settings.dry_run)
    return Review(symbol, outcome, reason, candidate_result, incumbent_result, vs_best, vs_persistence,
                  windows, stored_power=candidate.get("power_vs_persistence")), incumbent


def _record(settings: PromoteSettings, review: Review, candidate: dict[str, Any], incumbent: dict[str, Any] | None,
            source: Path) -> Review:
    """Write the review file, then (when promoted, or persistence is due) the new best config; nothing in a dry run.

    The review goes first, so a crash in between leaves a recorded decision and the
    old best in place; rerunning the review repeats it.
    """
    if settings.dry_run:
        return review
    path = write_review(Path(settings.output_dir) / "reviews", review.symbol,
                        review_markdown(review, candidate, incumbent, source, settings.run_id))
    promotion = {"review": str(path), "reviewed_at": utc_now(), "alpha": settings.alpha, "decision": review.outcome,
                 "candidate_file": str(source), "test_on_review": review.windows,
                 "vs_persistence": review.persistence_test.to_dict(review.candidate.baseline["pct_return_mae"],
                                                                   review.windows["origins_per_day"]),
                 "vs_best": review.test.to_dict(review.incumbent.metrics["pct_return_mae"],
                                                review.windows["origins_per_day"]) if review.test else None,
                 "power_vs_persistence": review.stored_power}
    if review.outcome == PROMOTED:
        promoted = {**candidate, "promotion": {**promotion, "test_metrics_on_review": review.candidate.to_dict()}}
        write_json_atomic(best_path(settings.output_dir, review.symbol), promoted)
    elif review.outcome == PERSISTENCE:
        document = persistence_document(review.symbol, candidate, review, settings.seed)
        write_json_atomic(best_path(settings.output_dir, review.symbol), {**document, "promotion": promotion})
    return Review(**{**review.__dict__, "path": path})


def _loader(settings: PromoteSettings) -> Callable[[dict[str, Any]], Forecaster]:
    """:func:`forecaster_from_identity` resolving relative checkpoint paths against the hyperparams folder."""
    return lambda identity: forecaster_from_identity(identity, settings.output_dir)


def _once(load: Callable[[dict[str, Any]], Forecaster]) -> Callable[[dict[str, Any]], Forecaster]:
    """``load``, loading each ``model`` block once."""
    loaded: dict[str, Forecaster] = {}

    def load_once(identity: dict[str, Any]) -> Forecaster:
        key = json.dumps(identity, sort_keys=True)
        if key not in loaded:
            loaded[key] = load(identity)
        return loaded[key]

    return load_once


def _preload(settings: PromoteSettings, symbol: str, load: Callable[[dict[str, Any]], Forecaster]) -> None:
    """Load every model the candidate and the current best of ``symbol`` name, before the lock and any write, so a
    checkpoint that is gone or changed since it was recorded is refused (naming the file) with nothing written.

    Raises
    ------
    ModelLoadError
        See :func:`sweep.forecasters.forecaster_from_identity`.
    """
    source, best = settings.candidate_file(symbol, settings.declared_candidate(symbol)), best_path(
        settings.output_dir, symbol)
    documents = [(source, read_json(source, "candidate")), *([(best, read_best(best))] if best.is_file() else [])]
    for path, document in documents:
        named = document_loader(path, load=load)
        for _label, identity, _config, weight in document_members(document):
            if weight > 0:
                named(identity)


def promote(settings: PromoteSettings,
            load: Callable[[dict[str, Any]], Forecaster] | None = None) -> list[Review]:
    """Review every requested candidate of ``settings.run_id``; see :func:`review_symbol`.

    Each model is loaded once for all symbols. Every symbol's current best is checked
    (:func:`sweep.scoring.ensemble.read_best`) before the first review, so a broken one changes nothing.
    """
    load_once = _once(load or _loader(settings))
    symbols = settings.symbols_to_review()
    for symbol in symbols:  # every incumbent is checked before any review is written
        check_best_file(best_path(settings.output_dir, symbol))
    for symbol in symbols:  # and every model loads, unchanged, before any review is written
        _preload(settings, symbol, load_once)
    return [review_symbol(settings, symbol, load_once) for symbol in symbols]
