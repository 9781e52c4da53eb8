"""Promotion review: a candidate replaces ``best/<SYMBOL>.json`` only if it is better on identical test windows.

Both configs are evaluated on the test origins of today's data (the
candidate's window spec), their per-window pct-return errors are compared with
a paired test (:func:`sweep.stats.paired_test`), and every decision is written
to its own review file. A lock file serialises promoters, so two reviews never
interleave their read of the current best and their write of the new one.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from .cache import SampleCache
from .data import load_ohlcv, validate_symbol
from .ensemble import document_members, evaluate_document
from .errors import ConfigError, SweepError
from .evaluate import EvaluationResult
from .forecasters import Forecaster, forecaster_from_identity
from .stats import PairedTest, paired_test
from .store import best_path, candidate_path, ensemble_candidate_path, read_json, utc_now, write_json_atomic
from .windows import WindowSpec, make_splits

__all__ = ["PromoteSettings", "Review", "promote", "review_symbol", "LOCK_NAME"]

LOCK_NAME = ".promote.lock"
REVIEW_METRICS = ("pct_return_mae", "price_mae", "crps", "coverage_90", "direction_accuracy", "skill", "latency_s")


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
        Print the decisions; write no review and touch no best config.
    candidate : str
        ``"selected"`` (the run's per-symbol candidate) or ``"ensemble"``.
    data_dir, output_dir, runs_dir : Path
    lock_timeout_s : float
        How long to wait for another promoter to finish.
    seed : int
        Bootstrap seed.
    """

    run_id: str
    symbols: tuple[str, ...] | None = None
    alpha: float = 0.05
    dry_run: bool = False
    candidate: str = "selected"
    data_dir: Path = Path("trainingdata")
    output_dir: Path = Path("hyperparams")
    runs_dir: Path = Path("runs")
    lock_timeout_s: float = 600.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 0.5:
            raise ConfigError(f"--alpha must be in (0, 0.5), got {self.alpha}")
        if self.candidate not in ("selected", "ensemble"):
            raise ConfigError(f"--candidate {self.candidate!r} must be 'selected' or 'ensemble'")

    def candidate_file(self, symbol: str) -> Path:
        make = ensemble_candidate_path if self.candidate == "ensemble" else candidate_path
        return make(self.output_dir, self.run_id, symbol)

    def symbols_to_review(self) -> tuple[str, ...]:
        """``symbols``, or every candidate file of the run.

        Raises
        ------
        ConfigError
            If the run has no candidate.
        """
        if self.symbols:
            return tuple(validate_symbol(s) for s in self.symbols)
        folder = self.candidate_file("X").parent
        found = tuple(sorted(p.stem for p in folder.glob("*.json")))
        if not found:
            raise ConfigError(f"no {self.candidate} candidates in {folder}; run the sweep with --run-id "
                              f"{self.run_id}{' --ensemble lp' if self.candidate == 'ensemble' else ''} first")
        return found


@dataclass(frozen=True)
class Review:
    """One promotion decision.

    Attributes
    ----------
    promoted : bool
    reason : str
    candidate, incumbent : EvaluationResult or None
        Test metrics on today's windows (``incumbent`` is None for a first candidate).
    test : PairedTest or None
    path : Path or None
        The review file (None in a dry run).
    """

    symbol: str
    promoted: bool
    reason: str
    candidate: EvaluationResult
    incumbent: EvaluationResult | None
    test: PairedTest | None
    windows: dict[str, Any]
    path: Path | None = None


def _window_spec(document: dict[str, Any], source: Path) -> WindowSpec:
    try:
        return WindowSpec(**{f.name: document["windows"][f.name] for f in fields(WindowSpec)})
    except (KeyError, TypeError) as e:
        raise ConfigError(f"{source} has no complete 'windows' block ({e}); it was not written by a sweep") from e


def _run_data_settings(settings: PromoteSettings) -> tuple[str, str]:
    """Bar frequency and gap policy the run used (its run.json), or the defaults."""
    path = settings.runs_dir / settings.run_id / "run.json"
    stored = read_json(path, "run settings") if path.is_file() else {}
    return stored.get("freq", "1h"), stored.get("gap_policy", "error")


def review_symbol(settings: PromoteSettings, symbol: str,
                  load: Callable[[dict[str, Any]], Forecaster] = forecaster_from_identity) -> Review:
    """Review the candidate of ``symbol`` against its current best; promote it if it wins.

    Raises
    ------
    ConfigError
        If a file is missing or malformed, or a config does not fit today's data.
    ModelLoadError
        If a model cannot be loaded.
    SweepError
        If another promoter holds the lock longer than ``lock_timeout_s``.
    """
    from filelock import FileLock, Timeout

    source = settings.candidate_file(symbol)
    candidate = read_json(source, "candidate")
    document_members(candidate)  # validate before waiting for the lock
    spec = _window_spec(candidate, source)
    freq, gap_policy = _run_data_settings(settings)
    data = load_ohlcv(settings.data_dir, symbol, freq, gap_policy)
    splits = make_splits(data.n_bars, spec, source=str(data.path))
    origins = splits.test_origins
    cache = SampleCache(settings.runs_dir / settings.run_id / "cache")
    windows = {"test_origins": len(origins), "first_test_origin_time": str(data.frame.index[origins[0]]),
               "last_test_origin_time": str(data.frame.index[origins[-1]]), "horizon": spec.horizon,
               "data_fingerprint": data.fingerprint, "data_range": data.date_range()}
    lock_path = Path(settings.output_dir) / LOCK_NAME
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(lock_path), timeout=settings.lock_timeout_s):
            review, incumbent = _decide(settings, symbol, candidate, data, origins, spec.horizon, cache, load, windows)
            return _record(settings, review, candidate, incumbent, source)
    except Timeout as e:
        raise SweepError(f"another promoter has held {lock_path} for over {settings.lock_timeout_s:.0f} s; "
                         f"wait for it, or delete the file if no promoter is running") from e


def _decide(settings: PromoteSettings, symbol: str, candidate: dict[str, Any], data, origins, horizon: int,
            cache: SampleCache, load, windows: dict[str, Any]) -> tuple[Review, dict[str, Any] | None]:
    """Evaluate both configs and apply the rule; returns the review and the current best document."""
    candidate_result = evaluate_document(candidate, data, origins, horizon, cache, load)
    best_file = best_path(settings.output_dir, symbol)
    if not best_file.is_file():
        return Review(symbol, True, f"first candidate for {symbol}: no current best", candidate_result, None, None,
                      windows), None
    incumbent = read_json(best_file, "best config")
    incumbent_result = evaluate_document(incumbent, data, origins, horizon, cache, load)
    test = paired_test(candidate_result.window_errors, incumbent_result.window_errors, settings.alpha, settings.seed)
    if test.candidate_better:
        reason = (f"candidate better at level {settings.alpha}: DM p = {test.dm_p_value:.4g}, "
                  f"bootstrap CI upper bound {test.ci_upper:.3g} < 0")
    else:
        reason = (f"not promoted: no significant improvement at level {settings.alpha} "
                  f"(mean differential {test.mean_differential:+.3g}, DM p = {test.dm_p_value:.4g}, "
                  f"CI [{test.ci_lower:.3g}, {test.ci_upper:.3g}])")
    return Review(symbol, test.candidate_better, reason, candidate_result, incumbent_result, test, windows), incumbent


def _record(settings: PromoteSettings, review: Review, candidate: dict[str, Any], incumbent: dict[str, Any] | None,
            source: Path) -> Review:
    """Write the review file, then (when promoted) the new best config; nothing in a dry run.

    The review goes first, so a crash in between leaves a recorded decision and the
    old best in place; rerunning the review repeats it.
    """
    if settings.dry_run:
        return review
    path = write_review(Path(settings.output_dir) / "reviews", review.symbol,
                        review_markdown(review, candidate, incumbent, source, settings))
    if review.promoted:
        promoted = {**candidate, "promotion": {"review": str(path), "reviewed_at": utc_now(), "alpha": settings.alpha,
                                               "candidate_file": str(source), "test_on_review": review.windows,
                                               "test_metrics_on_review": review.candidate.to_dict()}}
        write_json_atomic(best_path(settings.output_dir, review.symbol), promoted)
    return Review(**{**review.__dict__, "path": path})


def write_review(folder: Path, symbol: str, text: str) -> Path:
    """Write ``<folder>/<UTC timestamp>-<SYMBOL>.md`` atomically, never replacing an existing review.

    A name already taken (two reviews in one second) gets a ``-2``, ``-3`` ... suffix.
    """
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".review.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        for attempt in range(1, 1000):
            path = folder / f"{stamp}-{symbol}{'' if attempt == 1 else f'-{attempt}'}.md"
            try:
                os.link(tmp, path)  # fails if the name exists: no review is ever overwritten
                return path
            except FileExistsError:
                continue
        raise SweepError(f"could not find a free review file name in {folder} for {stamp}-{symbol}")
    finally:
        Path(tmp).unlink(missing_ok=True)


def _metric_rows(review: Review) -> list[str]:
    rows = ["| metric | candidate | current best |", "|---|---:|---:|"]
    for key in REVIEW_METRICS:
        best = f"{review.incumbent.metrics[key]:.6g}" if review.incumbent else "-"
        rows.append(f"| {key} | {review.candidate.metrics[key]:.6g} | {best} |")
    rows.append(f"| persistence pct_return_mae | {review.candidate.baseline['pct_return_mae']:.6g} | same windows |")
    return rows


def review_markdown(review: Review, candidate: dict[str, Any], incumbent: dict[str, Any] | None, source: Path,
                    settings: PromoteSettings) -> str:
    """The review file: decision, windows, both metric sets, the paired test and both configs."""
    lines = [f"# Promotion review: {review.symbol}", "",
             f"- decision: **{'PROMOTED' if review.promoted else 'KEPT CURRENT BEST'}** ({review.reason})",
             f"- reviewed at: {utc_now()}", f"- candidate: `{source}` (run {settings.run_id})",
             f"- test windows: {json.dumps(review.windows)}", "",
             "## Test metrics on identical windows", "", *_metric_rows(review), ""]
    if review.test is not None:
        t = review.test
        lines += ["## Paired test (loss = per-window pct-return error, candidate minus current best)", "",
                  f"- windows: {t.n_windows}; mean differential: {t.mean_differential:+.6g}",
                  f"- Diebold-Mariano (one-sided, Newey-West HAC, max lag {t.hac_max_lag}): "
                  f"statistic {t.dm_statistic:.4f}, p-value {t.dm_p_value:.4g}",
                  f"- circular block bootstrap (block length {t.block_length}) {100 * (1 - 2 * t.alpha):.0f}% CI "
                  f"of the mean differential: [{t.ci_lower:.6g}, {t.ci_upper:.6g}]",
                  f"- rule: promote when p < {t.alpha} and the CI upper bound < 0", ""]
    lines += ["## Candidate", "", "```json", json.dumps({k: candidate[k] for k in ("model", "config")}, indent=2),
              "```", ""]
    if incumbent is not None:
        lines += ["## Current best", "", "```json", json.dumps({k: incumbent[k] for k in ("model", "config")},
                                                                indent=2), "```", ""]
    return "\n".join(lines)


def promote(settings: PromoteSettings,
            load: Callable[[dict[str, Any]], Forecaster] = forecaster_from_identity) -> list[Review]:
    """Review every requested candidate of ``settings.run_id``; see :func:`review_symbol`.

    Each model is loaded once for all symbols.
    """
    loaded: dict[str, Forecaster] = {}

    def load_once(identity: dict[str, Any]) -> Forecaster:
        key = json.dumps(identity, sort_keys=True)
        if key not in loaded:
            loaded[key] = load(identity)
        return loaded[key]

    return [review_symbol(settings, symbol, load_once) for symbol in settings.symbols_to_review()]
