"""Promotion review: a candidate replaces ``best/<SYMBOL>.json`` only if it is better on identical test windows.

Every review is on the objective the run declared (:mod:`sweep.objectives`). Its implicit incumbent is
persistence under ``pct_return_mae``; under a distribution objective, the reference the sweep chose on
validation (the better of the empirical random walk and GARCH defaults, recorded in the candidate's
``implicit_incumbent``). A candidate must beat the implicit incumbent *and* the current best (when one
exists), each by a paired test (:func:`sweep.stats.paired.paired_test`) of the per-window losses on the
test origins of today's data (the candidate's window spec). When a symbol has no best yet and the candidate
does not beat the implicit incumbent, that config is written as its best: under ``pct_return_mae`` the
persistence config, which tells the trading system "no model for this symbol".
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
from ..objectives import get_objective, objective_of_run
from ..storage.store import (best_path, candidate_path, ensemble_candidate_path, horizon_slot, read_json, slot_parts,
                             utc_now, write_json_atomic)
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
    objective : str or None
        ``--objective``: None (default) reviews on the run's declared objective; another one is refused.
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
    objective: str | None = None

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
        recorded = objective_of_run(selected)
        if self.objective not in (None, recorded):
            raise ConfigError(f"run {self.run_id!r} was swept on --objective {recorded}; reviewing its candidates on "
                              f"{self.objective} would choose the objective after seeing test results (another try "
                              f"at alpha). Drop --objective, or sweep again under a new --run-id with --objective "
                              f"{self.objective}")
        declared = (selected.get("selection") or {}).get("promotion_candidate", "selected")
        if self.candidate not in (None, declared):
            raise ConfigError(f"run {self.run_id!r} declared its {declared} candidate of {symbol} for promotion "
                              f"(sweep --promote-candidate); reviewing the {self.candidate} one too would be a second "
                              f"try at alpha {self.alpha} on the same test windows. Drop --candidate, or sweep again "
                              f"under a new --run-id with --promote-candidate {self.candidate}")
        return declared

    def symbols_to_review(self) -> tuple[str, ...]:
        """``symbols`` (each a symbol, or ``<SYMBOL>.h<H>`` for one horizon), or every candidate file of the run; a
        ConfigError says the run has no candidate."""
        if self.symbols:  # a symbol, or a symbol at a horizon: BTCUSD.h4
            return tuple(horizon_slot(validate_symbol(slot_parts(s)[0]), slot_parts(s)[1]) for s in self.symbols)
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
    data = _review_data(settings, slot_parts(symbol)[0], candidate, source)
    splits = make_splits(data.n_bars, spec, source=str(data.path))
    check_moving_closes(data, splits)  # today's test windows: persistence's error there divides the skill
    origins = splits.test_origins
    cache = review_cache(Path(settings.runs_dir) / settings.run_id, settings.dry_run)
    windows = {"test_origins": len(origins), "n_test_origins": len(origins), "test_stride": spec.test_stride,
               "origins_per_day": spec.test_origins_per_day(data.freq.total_seconds()),
               "first_test_origin_time": str(data.frame.index[origins[0]]),
               "last_test_origin_time": str(data.frame.index[origins[-1]]), "horizon": spec.horizon,
               "overlap": spec.overlap,  # test windows sharing a target bar: the paired tests count them
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


def decide(vs_persistence: PairedTest, vs_best: PairedTest | None, dry_run: bool = False,
           implicit: str = "persistence") -> tuple[str, str]:
    """The promotion rule: ``(outcome, reason)``.

    The candidate is promoted only if it beats persistence and, when a best exists, the best,
    each by :attr:`PairedTest.candidate_better`. Without a best, a candidate that does not beat
    persistence leaves persistence as the best (:data:`PERSISTENCE`).

    Parameters
    ----------
    vs_persistence, vs_best : PairedTest
        The candidate against the implicit incumbent and against the current best (``None`` without one).
    dry_run : bool
        ``promote --dry-run``: the reason says what *would* be written, since nothing is.
    implicit : str
        The implicit incumbent's name (``"persistence"``; ``"garch"`` or ``"random_walk"`` under ``quantile_loss``).

    Returns
    -------
    outcome, reason : str
        :data:`PROMOTED`, :data:`KEPT` or :data:`PERSISTENCE`; the verdicts, for the review and the console.
    """
    plain = implicit in ("persistence", "flat", "climatology")  # a benchmark, not a tuned family's default
    shown = implicit if plain else f"the {implicit} default"
    reasons = [f"candidate {_verdict(shown, vs_persistence)}"]
    if vs_best is not None:
        reasons.append(f"candidate {_verdict('the current best', vs_best)}")
    reason = "; ".join(reasons) + f" at level {vs_persistence.alpha}"
    if vs_persistence.candidate_better and (vs_best is None or vs_best.candidate_better):
        return PROMOTED, reason
    if vs_best is None:
        written = "would be written" if dry_run else "is written"
        if not plain:
            return PERSISTENCE, reason + f"; no tuned model for this symbol: the {implicit} default {written} as its best"
        return PERSISTENCE, reason + f"; no model for this symbol: the {implicit} config {written} as its best"
    return KEPT, reason


def persistence_document(symbol: str, candidate: dict[str, Any], review: Review, seed: int) -> dict[str, Any]:
    """The best config that says "no model for this symbol": persistence (or, under a distribution objective, the
    implicit incumbent the sweep chose on validation), with the review's evidence."""
    implicit = candidate.get("implicit_incumbent")
    if implicit is not None:
        model, config = implicit["model"], implicit["config"]
        validation, test = implicit["validation"], review.implicit_result.to_dict()
    else:
        model = PERSISTENCE_IDENTITY
        # under pnl the candidate's trading rule (fee, long-only) stays declared: persistence never trades, so flat
        config = ForecastConfig(model="naive", context_length=1, num_samples=1, aggregate="mean", seed=seed,
                                decision=dict(candidate.get("config", {}).get("decision", {}))).to_dict()
        validation = candidate.get("baseline", {}).get("validation")
        test = {**review.candidate.baseline, "n_windows": review.candidate.n_windows}
    return {"symbol": slot_parts(symbol)[0], "model": model, "config": config, "objective": review.objective,
            "validation": validation, "test": test,
            "windows": candidate["windows"],
            "provenance": {"written_because": review.reason, "rejected_candidate": {
                k: candidate.get(k) for k in ("model", "config")}, "created_at": utc_now(),
                **{k: v for k, v in (candidate.get("provenance") or {}).items() if k in ("freq", "gap_policy")}}}


def _decide(settings: PromoteSettings, symbol: str, candidate: dict[str, Any], data, origins, horizon: int,
            cache: SampleCache, load, windows: dict[str, Any], source: Path) -> tuple[Review, dict[str, Any] | None]:
    """Evaluate both configs and apply :func:`decide`; returns the review and the current best document."""
    objective = objective_of_run(candidate)
    candidate_result = evaluate_document(candidate, data, origins, horizon, cache, document_loader(source, load=load),
                                         objective)
    implicit, implicit_result = _implicit_incumbent(candidate, data, origins, horizon, cache, load, source, objective)
    implicit_losses = candidate_result.baseline_window_errors if implicit_result is None else \
        implicit_result.window_errors
    vs_persistence = paired_test(candidate_result.window_errors, implicit_losses, settings.alpha, settings.seed,
                                 overlap=windows["overlap"])
    best_file = best_path(settings.output_dir, symbol)
    incumbent = read_best(best_file) if best_file.is_file() else None
    incumbent_result = vs_best = None
    if incumbent is not None:
        decision = get_objective(objective).judged_decision(  # pnl: the incumbent's rule at the candidate's fee
            (incumbent.get("config") or {}).get("decision"), (candidate.get("config") or {}).get("decision") or {})
        incumbent_result = evaluate_document(incumbent, data, origins, horizon, cache,
                                             document_loader(best_file, load=load), objective, decision)
        vs_best = paired_test(candidate_result.window_errors, incumbent_result.window_errors, settings.alpha,
                              settings.seed, overlap=windows["overlap"])
    outcome, reason = decide(vs_persistence, vs_best, settings.dry_run, implicit)
    return Review(symbol, outcome, reason, candidate_result, incumbent_result, vs_best, vs_persistence,
                  windows, stored_power=candidate.get(get_objective(objective).power_key), implicit=implicit,
                  implicit_result=implicit_result), incumbent


def _implicit_incumbent(candidate: dict[str, Any], data, origins, horizon: int, cache: SampleCache, load,
                        source: Path, objective: str):
    """``(name, test result or None)`` of the candidate's implicit incumbent: persistence (its losses are the
    candidate's baseline), or the reference recorded in ``implicit_incumbent``, scored on today's windows."""
    implicit = candidate.get("implicit_incumbent")
    if implicit is None:  # the objective's benchmark: persistence, or flat under pnl
        return get_objective(objective).benchmark, None
    document = {"symbol": candidate.get("symbol"), "model": implicit["model"], "config": implicit["config"],
                "windows": candidate.get("windows")}  # drawn at the run's longest horizon, as the sweep drew it
    return implicit["comparison"], evaluate_document(document, data, origins, horizon, cache,
                                                     document_loader(source, load=load), objective)


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
                 "objective": review.objective,
                 f"vs_{review.implicit}": review.persistence_test.to_dict(review.implicit_loss,
                                                                         review.windows["origins_per_day"]),
                 "vs_best": review.test.to_dict(review.incumbent.loss,
                                                review.windows["origins_per_day"]) if review.test else None,
                 get_objective(review.objective).power_key: review.stored_power}
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
