"""The review file of a promotion decision: a Markdown page per review, never overwritten.

It states the decision, the test metrics of both configs on identical windows, each paired
test with its minimum detectable effect, and what the test could have seen: a "kept" decision
from a test that could see a 4 % gain differs from one that could not see 15 %.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from dataclasses import dataclass
from typing import Any

from ..errors import DiskFullError, SweepError, is_disk_full
from ..scoring.evaluate import EvaluationResult
from ..objectives.targets import seed_targets
from ..stats.paired import MDE_POWER, PairedTest, relative_to
from ..storage.store import utc_now

__all__ = ["Review", "PROMOTED", "KEPT", "PERSISTENCE", "write_review", "review_markdown", "power_sentence",
           "decision_label",
           "mde_percent", "REVIEW_METRICS"]

#: Review outcomes: the candidate replaced the best; the best (or nothing) was kept; persistence was written.
PROMOTED, KEPT, PERSISTENCE = "promoted", "kept", "persistence"

REVIEW_METRICS = ("pct_return_mae", "price_mae", "crps", "coverage_90", "direction_accuracy", "skill", "latency_s")
#: Decision labels of the review page, by outcome.
DECISION_LABELS = {PROMOTED: "PROMOTED", KEPT: "KEPT CURRENT BEST", PERSISTENCE: "PERSISTENCE WRITTEN (no model)"}


@dataclass(frozen=True)
class Review:
    """One promotion decision.

    Attributes
    ----------
    outcome : str
        :data:`PROMOTED`, :data:`KEPT` or :data:`PERSISTENCE` (no best existed and the candidate
        did not beat persistence, so the persistence config was written).
    reason : str
    candidate, incumbent : EvaluationResult or None
        Test metrics on today's windows (``incumbent`` is None when the symbol has no best).
    test : PairedTest or None
        Candidate vs the current best (None without one).
    persistence_test : PairedTest
        Candidate vs the objective's implicit incumbent (persistence under ``pct_return_mae``).
    path : Path or None
        The review file (None in a dry run).
    stored_power : dict or None
        The candidate's ``power_vs_persistence`` block (a persistence candidate's power, from the sweep).
    implicit : str
        Name of the implicit incumbent: ``"persistence"``, or the reference a distribution objective chose on
        validation (``"random_walk"``, ``"garch"``).
    implicit_result : EvaluationResult or None
        Its test metrics; None when it is the objective's benchmark (read from ``candidate.baseline``).
    """

    symbol: str
    outcome: str
    reason: str
    candidate: EvaluationResult
    incumbent: EvaluationResult | None
    test: PairedTest | None
    persistence_test: PairedTest
    windows: dict[str, Any]
    path: Path | None = None
    stored_power: dict[str, Any] | None = None
    implicit: str = "persistence"
    implicit_result: EvaluationResult | None = None

    @property
    def objective(self) -> str:
        return self.candidate.objective

    @property
    def implicit_loss(self) -> float:
        """The implicit incumbent's loss on the review's windows."""
        return self.implicit_result.loss if self.implicit_result is not None else self.candidate.baseline_loss

    def persistence_power(self) -> dict[str, Any] | None:
        """The power block of the test against the implicit incumbent, or the stored one when the candidate is it."""
        own = self.persistence_test.to_dict(self.implicit_loss, self.windows["origins_per_day"])
        return own if own.get("mde_relative") is not None or own.get("mde") else self.stored_power

    @property
    def promoted(self) -> bool:
        """Whether the candidate became the best."""
        return self.outcome == PROMOTED


def write_review(folder: Path, symbol: str, text: str) -> Path:
    """Write ``<folder>/<UTC timestamp>-<SYMBOL>.md`` atomically, never replacing an existing review.

    A name already taken (two reviews in one second) gets a ``-2``, ``-3`` ... suffix.
    """
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".review.", suffix=".tmp")
    except OSError as e:
        if is_disk_full(e):
            raise DiskFullError.at(folder, e) from e
        raise
    try:
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            if is_disk_full(e):
                raise DiskFullError.at(folder, e) from e
            raise
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


def decision_label(review: Review) -> str:
    """The decision as the review page titles it."""
    if review.outcome == PERSISTENCE and review.implicit != "persistence":
        return f"{review.implicit.upper()} DEFAULT WRITTEN (no tuned model)"
    return DECISION_LABELS[review.outcome]


def _metric_rows(review: Review) -> list[str]:
    rows = ["| metric | candidate | current best |", "|---|---:|---:|"]
    keys = dict.fromkeys((review.objective, *REVIEW_METRICS))
    for key in keys:
        best = f"{review.incumbent.metrics[key]:.6g}" if review.incumbent else "-"
        rows.append(f"| {key} | {review.candidate.metrics[key]:.6g} | {best} |")
    rows.append(f"| {review.implicit} {review.objective} | {review.implicit_loss:.6g} | same windows |")
    return rows


def mde_percent(relative: float) -> str:
    """An MDE relative to the other's MAE as a table cell: ``"4.1%"``, or ``"over 100%"``.

    Losses are non-negative, so no forecast gains more than 100 % of another's MAE; above it, the number
    would read as a (huge) gain the windows could see, while they can see none.
    """
    return "over 100%" if relative > 1 else f"{100 * relative:.1f}%"


def _mde_clause(relative: float) -> str:
    """What an MDE relative to the other's MAE means, in words; above 100 % that no gain is detectable."""
    if relative > 1:
        return (f"this test cannot detect any gain with {100 * MDE_POWER:.0f}% power: its MDE is more than the "
                f"loss itself ({100 * relative:,.0f}% of the other's MAE, where a perfect forecast gains 100%)")
    return f"this test could see a {100 * relative:.1f}% gain with {100 * MDE_POWER:.0f}% power"


def _days(days: float) -> str:
    return "under a day" if days < 1 else f"{days:,.0f} day" + ("s" if round(days) != 1 else "")


def power_sentence(power: dict[str, Any] | None) -> str:
    """What a paired test could see, and what it would take, in one clause.

    Parameters
    ----------
    power : dict or None
        A comparison's JSON (:meth:`sweep.stats.paired.PairedTest.to_dict` with the reference MAE and origins per
        day: ``mde_relative``, ``n_windows``, ``effective_n``, ``origins_needed``, ``days_needed``), or a
        persistence candidate's ``power_vs_persistence`` block (:func:`sweep.runs._candidate.persistence_power`,
        which adds ``config_of``).

    Returns
    -------
    str
        The MDE at 80 % power relative to the other's MAE (above 100 %: that no gain is detectable), the
        origins, the effective sample size, and the origins (days) a 5 % and a 10 % gain need; or that the
        forecasts are identical.
    """
    if not power or (power.get("mde_relative") is None and not power.get("mde")):
        return "the two forecasts are identical on every test origin: there is no effect to detect"
    over = " over every horizon" if power.get("chosen_over_horizons") else ""
    of = f" for {power['config_of']}'s config (the strongest other on validation{over})" if "config_of" in power else ""
    effective = "" if power.get("effective_n") is None else f", effective sample size {power['effective_n']:,.0f}"
    if power.get("mde_relative") is None:  # the other's loss is 0 (flat's PnL): no scale for a relative gain
        return (f"this test could see a difference of {power['mde']:.3g} per origin in the objective's units with "
                f"{100 * MDE_POWER:.0f}% power{of} ({power['n_windows']:,} origins{effective})")
    days = power.get("days_needed") or {}
    plan = "; ".join(f"a {gain} gain needs {n:,.0f} origins" + (f" ({_days(days[gain])})" if gain in days else "")
                     for gain, n in (power.get("origins_needed") or {}).items() if n is not None)
    return f"{_mde_clause(power['mde_relative'])}{of} ({power['n_windows']:,} origins{effective}); {plan}"


def _test_lines(title: str, t: PairedTest, reference_mae: float, power: dict[str, Any] | None) -> list[str]:
    """A paired test's section, with the minimum detectable effect relative to the other's MAE and ``power``
    (:func:`power_sentence`)."""
    relative = relative_to(t.mde, reference_mae)
    scale = (f"{mde_percent(relative)} of the other's MAE {reference_mae:.6g}" if relative is not None else
             f"in the objective's units: the other's loss {reference_mae:.6g} is no scale for a relative effect")
    return [f"## {title}", "",
            f"- windows: {t.n_windows}; mean differential: {t.mean_differential:+.6g}",
            f"- Diebold-Mariano (one-sided, equal-weighted cosine long-run variance, Student t with {t.df} degrees "
            f"of freedom): statistic {t.dm_statistic:.4f}, p-value {t.dm_p_value:.4g}",
            f"- circular block bootstrap (Politis-White block length {t.block_length}) "
            f"{100 * (1 - 2 * t.alpha):.0f}% CI of the mean differential: [{t.ci_lower:.6g}, {t.ci_upper:.6g}]",
            f"- minimum detectable effect at {100 * MDE_POWER:.0f}% power: {t.mde:.3g} "
            f"({scale}); a smaller true "
            f"improvement is more likely missed than found on these windows",
            f"- power: {power_sentence(power)}",
            f"- rule: better when p < {t.alpha} and the CI upper bound < 0: "
            f"**{'yes' if t.candidate_better else 'no'}**", ""]


def _implicit_title(review: Review) -> str:
    if review.objective == "pct_return_mae":
        return "Candidate vs persistence (loss = per-window pct-return error, candidate minus persistence)"
    if review.implicit == "flat":
        return "Candidate vs flat (loss = minus the per-window PnL after fees, candidate minus flat)"
    if review.implicit == "climatology":
        return "Candidate vs climatology (loss = per-window Brier score of the probability of up, candidate minus it)"
    return (f"Candidate vs the {review.implicit} default, the implicit incumbent chosen on validation (loss = "
            f"per-window {review.objective}, candidate minus {review.implicit})")


def _target_lines(review: Review) -> list[str]:
    """The seeds' three targets (:mod:`sweep.objectives.targets`) on the review's windows, under a trading
    objective; nothing under the others."""
    records = review.candidate.window_records
    if not records:
        return []
    targets = seed_targets(records, review.windows["origins_per_day"] * 365.25)
    return ["## The seeds' targets", "", *[f"- {t['target']}: **{t['verdict']}**" for t in targets.values()], ""]


def review_markdown(review: Review, candidate: dict[str, Any], incumbent: dict[str, Any] | None, source: Path,
                    run_id: str) -> str:
    """The review file: decision, windows, both metric sets, the paired tests and both configs."""
    lines = [f"# Promotion review: {review.symbol}", "",
             f"- decision: **{decision_label(review)}** ({review.reason})", f"- objective: {review.objective}",
             f"- reviewed at: {utc_now()}", f"- candidate: `{source}` (run {run_id})",
             f"- test windows: {json.dumps(review.windows)}", "",
             "## Test metrics on identical windows", "", *_metric_rows(review), "",
             *_test_lines(_implicit_title(review), review.persistence_test, review.implicit_loss,
                          review.persistence_power())]
    lines += _target_lines(review)
    if review.test is not None:
        best_mae = review.incumbent.metrics[review.objective]
        lines += _test_lines("Candidate vs current best (candidate minus current best)", review.test, best_mae,
                             review.test.to_dict(best_mae, review.windows["origins_per_day"]))
    lines += ["## Candidate", "", "```json", json.dumps({k: candidate[k] for k in ("model", "config")}, indent=2),
              "```", ""]
    if incumbent is not None:
        lines += ["## Current best", "", "```json", json.dumps({k: incumbent[k] for k in ("model", "config")},
                                                                indent=2), "```", ""]
    return "\n".join(lines)
