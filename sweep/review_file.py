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
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import DiskFullError, SweepError, is_disk_full
from .stats import MDE_POWER, PairedTest
from .store import utc_now

if TYPE_CHECKING:  # only for annotations: promote imports this module
    from .promote import PromoteSettings, Review

__all__ = ["write_review", "review_markdown", "power_sentence", "REVIEW_METRICS"]

REVIEW_METRICS = ("pct_return_mae", "price_mae", "crps", "coverage_90", "direction_accuracy", "skill", "latency_s")
#: Decision labels of the review page, by outcome.
DECISION_LABELS = {"promoted": "PROMOTED", "kept": "KEPT CURRENT BEST", "persistence": "PERSISTENCE WRITTEN (no model)"}


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


def _metric_rows(review: Review) -> list[str]:
    rows = ["| metric | candidate | current best |", "|---|---:|---:|"]
    for key in REVIEW_METRICS:
        best = f"{review.incumbent.metrics[key]:.6g}" if review.incumbent else "-"
        rows.append(f"| {key} | {review.candidate.metrics[key]:.6g} | {best} |")
    rows.append(f"| persistence pct_return_mae | {review.candidate.baseline['pct_return_mae']:.6g} | same windows |")
    return rows


def power_sentence(t: PairedTest, reference_mae: float, origins_per_day: float,
                   stored: dict[str, Any] | None = None) -> str:
    """What the test could see, and what it would take: the MDE and the origins (days) a 5 % and 10 % gain need.

    Parameters
    ----------
    t : PairedTest
    reference_mae : float
        MAE of the other forecast (return units); gains are fractions of it.
    origins_per_day : float
        Test origins per day of bars at the test stride.
    stored : dict, optional
        The candidate's ``power_vs_persistence`` block (:func:`sweep.candidate.persistence_power`), said
        instead when the two forecasts are identical (persistence reviewed against itself).
    """
    if np.isfinite(t.mde):
        needed = t.origins_needed(reference_mae)
        mde_relative, n, effective_n, of = t.mde / reference_mae, t.n_windows, t.effective_n, ""
    elif stored and stored.get("mde_relative") is not None:
        needed, mde_relative = stored["origins_needed"], stored["mde_relative"]
        n, effective_n = stored["n_windows"], stored["effective_n"]
        of = f" for {stored['config_of']}'s config (the strongest other on validation; the sweep's test origins)"
    else:
        return "the two forecasts are identical on every test origin: there is no effect to detect"
    plan = "; ".join(f"a {gain} gain needs {k:,.0f} origins ({k / origins_per_day:,.0f} days)"
                     for gain, k in needed.items() if k is not None)
    return (f"this test could see a {100 * mde_relative:.1f}% gain with {100 * MDE_POWER:.0f}% power{of} "
            f"({n:,} origins, effective sample size {effective_n:,.0f}); {plan}")


def _test_lines(title: str, t: PairedTest, reference_mae: float, origins_per_day: float,
                stored: dict[str, Any] | None = None) -> list[str]:
    """A paired test's section, with the minimum detectable effect relative to the other's MAE."""
    return [f"## {title}", "",
            f"- windows: {t.n_windows}; mean differential: {t.mean_differential:+.6g}",
            f"- Diebold-Mariano (one-sided, Newey-West HAC with the Newey-West (1994) automatic lag, "
            f"{t.hac_max_lag}): statistic {t.dm_statistic:.4f}, p-value {t.dm_p_value:.4g}",
            f"- circular block bootstrap (Politis-White block length {t.block_length}) "
            f"{100 * (1 - 2 * t.alpha):.0f}% CI of the mean differential: [{t.ci_lower:.6g}, {t.ci_upper:.6g}]",
            f"- minimum detectable effect at {100 * MDE_POWER:.0f}% power: {t.mde:.3g} "
            f"({100 * t.mde / reference_mae:.2f}% of the other's MAE {reference_mae:.6g}); a smaller true "
            f"improvement is more likely missed than found on these windows",
            f"- power: {power_sentence(t, reference_mae, origins_per_day, stored)}",
            f"- rule: better when p < {t.alpha} and the CI upper bound < 0: "
            f"**{'yes' if t.candidate_better else 'no'}**", ""]


def review_markdown(review: Review, candidate: dict[str, Any], incumbent: dict[str, Any] | None, source: Path,
                    settings: PromoteSettings) -> str:
    """The review file: decision, windows, both metric sets, the paired tests and both configs."""
    lines = [f"# Promotion review: {review.symbol}", "",
             f"- decision: **{DECISION_LABELS[review.outcome]}** ({review.reason})",
             f"- reviewed at: {utc_now()}", f"- candidate: `{source}` (run {settings.run_id})",
             f"- test windows: {json.dumps(review.windows)}", "",
             "## Test metrics on identical windows", "", *_metric_rows(review), "",
             *_test_lines("Candidate vs persistence (loss = per-window pct-return error, candidate minus persistence)",
                          review.persistence_test, review.candidate.baseline["pct_return_mae"],
                          review.windows["origins_per_day"], candidate.get("power_vs_persistence"))]
    if review.test is not None:
        lines += _test_lines("Candidate vs current best (candidate minus current best)", review.test,
                             review.incumbent.metrics["pct_return_mae"], review.windows["origins_per_day"])
    lines += ["## Candidate", "", "```json", json.dumps({k: candidate[k] for k in ("model", "config")}, indent=2),
              "```", ""]
    if incumbent is not None:
        lines += ["## Current best", "", "```json", json.dumps({k: incumbent[k] for k in ("model", "config")},
                                                                indent=2), "```", ""]
    return "\n".join(lines)
