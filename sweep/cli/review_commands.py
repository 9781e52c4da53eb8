"""``python -m sweep promote`` and ``python -m sweep report``: review a run's candidates.

:func:`run_promotion` also serves the sweep's ``--promote``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

from rich.table import Table

from ..flags import EXIT_OK, RUN_DATA_DIR_HELP, add_data_flags, console, table_console, unique

__all__ = ["promote_command", "report_command", "run_promotion"]


def _promote_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sweep promote", description="Promote a run's candidates that beat "
                                "the current best on identical test windows (paired tests); write a review each.")
    p.add_argument("--run", required=True, help="the sweep's --run-id")
    p.add_argument("--symbols", nargs="+", default=None, help="default: every candidate of the run; BTCUSD.h4 names "
                   "one horizon's candidate of a --horizons run (BTCUSD alone: its 1-bar candidate)")
    p.add_argument("--alpha", type=float, default=0.05, help="level of the one-sided paired tests (default 0.05)")
    p.add_argument("--dry-run", action="store_true", help="print decisions; write nothing")
    p.add_argument("--candidate", choices=["selected", "ensemble"], default=None,
                   help="the candidate the sweep declared (default; see the sweep's --promote-candidate); naming the "
                        "other one is refused, since it would be a second try at alpha on the same test windows")
    p.add_argument("--objective", default=None,
                   help="default: the objective the run declared; naming another is refused (it would choose the "
                        "objective after seeing test results)")
    add_data_flags(p, of_a_run=True)
    p.add_argument("--output-dir", type=Path, default=Path("hyperparams"), help="root of candidates/, best/, reviews/")
    p.add_argument("--runs-dir", type=Path, default=Path("runs"))
    return p


def _report_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sweep report", description="Write report.md with plots for a run.")
    p.add_argument("--run", required=True, help="the sweep's --run-id")
    p.add_argument("--output-dir", type=Path, default=Path("hyperparams"),
                   help="the sweep's --output-dir (root of candidates/)")
    p.add_argument("--report-dir", type=Path, default=None, help="where report.md goes (default runs/<run>/report)")
    p.add_argument("--data-dir", type=Path, default=None, help=RUN_DATA_DIR_HELP)
    p.add_argument("--runs-dir", type=Path, default=Path("runs"))
    p.add_argument("--storage", default=None, help="the sweep's --storage URL, if it used one")
    return p


def run_promotion(settings, json_lines: bool = False) -> None:
    """Run the promotion review of ``settings`` (a :class:`sweep.review.promote.PromoteSettings`) and print its
    decisions: a table and a sentence per symbol, or one JSON line per symbol with ``json_lines``."""
    from ..review.promote import PERSISTENCE, promote
    from ..review.review_file import mde_percent, power_sentence

    reviews = promote(settings)
    if json_lines:
        for r in reviews:
            print(json.dumps({"symbol": r.symbol, "decision": r.outcome, "promoted": r.promoted, "reason": r.reason,
                              "review": str(r.path) if r.path else None,
                              "objective": r.objective, f"vs_{r.implicit}_p_value": r.persistence_test.dm_p_value,
                              "dm_p_value": r.test.dm_p_value if r.test else None}), flush=True)
        return
    table = Table(title=f"Promotion review of run {settings.run_id} (alpha {settings.alpha}"
                        f"{', dry run: nothing written' if settings.dry_run else ''})")
    loss = "mae" if not reviews or reviews[0].objective == "pct_return_mae" else reviews[0].objective
    implicit = {r.implicit for r in reviews}
    shown = implicit.pop() if len(implicit) == 1 else "implicit incumbent"
    for column in ("symbol", "decision", f"candidate test {loss}", shown, f"vs {shown} p", f"best test {loss}",
                   "vs best p", f"MDE vs {shown}", "review"):
        table.add_column(column)
    labels = {"promoted": "[green]promoted[/green]", "kept": "kept best", PERSISTENCE: "[yellow]persistence[/yellow]"}
    if settings.dry_run:  # nothing was written: say what would have been
        labels = {"promoted": "[green]would promote[/green]", "kept": "would keep best",
                  PERSISTENCE: "[yellow]would write persistence[/yellow]"}
    for r in reviews:
        t, tp = r.test, r.persistence_test
        power = r.persistence_power() or {}  # a persistence candidate: the sweep's power block, else none
        mde = mde_percent(power["mde_relative"]) if power.get("mde_relative") is not None else "-"
        label = labels[r.outcome] if r.implicit == "persistence" or r.outcome != PERSISTENCE else \
            labels[r.outcome].replace("persistence", f"the {r.implicit} default" if settings.dry_run
                                      else f"{r.implicit} default written")
        table.add_row(r.symbol, label, f"{r.candidate.loss:.6f}",
                      f"{r.implicit_loss:.6f}", f"{tp.dm_p_value:.4f}",
                      f"{r.incumbent.loss:.6f}" if r.incumbent else "-",
                      f"{t.dm_p_value:.4f}" if t else "-",
                      mde, str(r.path or "-"))
    table_console().print(table)
    for r in reviews:
        power = power_sentence(r.persistence_power())
        console.print(f"{r.symbol}: {r.outcome}: {r.reason}; vs {r.implicit}, {power}", highlight=False)


def promote_command(argv: Sequence[str]) -> int:
    args = _promote_parser().parse_args(argv)
    from ..review.promote import PromoteSettings

    named = unique(tuple(args.symbols), "--symbols") if args.symbols else None  # BTCUSD, or BTCUSD.h4 (one horizon)
    run_promotion(PromoteSettings(run_id=args.run, symbols=named,
                                  alpha=args.alpha, dry_run=args.dry_run, candidate=args.candidate,
                                  data_dir=args.data_dir, output_dir=args.output_dir, runs_dir=args.runs_dir,
                                  objective=args.objective))
    return EXIT_OK


def report_command(argv: Sequence[str]) -> int:
    args = _report_parser().parse_args(argv)
    from ..report.report import write_report

    report = write_report(args.run, data_dir=args.data_dir, output_dir=args.output_dir, runs_dir=args.runs_dir,
                          report_dir=args.report_dir, storage=args.storage)
    if report.studies:
        table = Table(title=f"Run {args.run}: studies")
        for column in ("study", "complete", "failed", f"best val {report.objective}", "Spearman(val, test)"):
            table.add_column(column, justify="right")
        for s in report.studies:
            table.add_row(s.name, str(s.n_complete), str(s.n_failed), f"{s.best_validation:.6f}",
                          f"{s.rank_correlation:.3f}")
        table_console().print(table)
    console.print(f"[green]wrote[/green] {report.path} ({sum(len(s.plots) for s in report.studies)} study plots, "
                  f"{len(report.candidates)} fan charts)")
    return EXIT_OK
