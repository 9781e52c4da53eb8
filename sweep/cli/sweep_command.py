"""``python -m sweep --symbols ...``: the sweep's flags, its run with progress, and its results table.

:func:`sweep_parser` and :func:`sweep_settings` also serve the backtest (:mod:`sweep.cli.backtest_command`);
:func:`verdict` is the plain sentence under each selected candidate.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable, Sequence

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..flags import (EXIT_FAILURE, EXIT_OK, add_data_flags, add_family_flags, add_window_flags, console,
                     family_model_ids, family_options, positive_int, table_console, window_spec_from_args)
from ..errors import ConfigError
from ..forecasters.registry import DEFAULT_MODELS, FAMILIES
from ..objectives import DEFAULT_FEE_BPS, DEFAULT_OBJECTIVE, LATENCY, OBJECTIVES, get_objective, objective_of_run
from ..search.progress_views import JsonLinesProgress, RichStudyProgress
from ..search.study_job import PER_SYMBOL, SCOPES
from .review_commands import run_promotion

__all__ = ["sweep_command", "sweep_parser", "sweep_settings", "with_progress", "verdict", "config_summary",
           "p_value"]


def sweep_parser(scopes: int = 1) -> argparse.ArgumentParser:
    """The sweep's flags; ``scopes`` > 1 lets ``--selection`` and ``--select`` name several scopes and rules (the
    backtest compares them)."""
    from ..runs import DEFAULT_RULE, DEFAULT_SELECT_ALPHA, RULES

    p = argparse.ArgumentParser(prog="python -m sweep", description="Tune forecasting models per symbol with Optuna. "
                                "Other commands: 'data validate', 'data download', 'evaluate', 'promote', 'report', "
                                "'backtest', 'export', 'predict' (see --help of each).")
    p.add_argument("--symbols", nargs="+", required=True, help="symbols, e.g. BTCUSD ETHUSD")
    p.add_argument("--models", nargs="+", default=None, choices=tuple(FAMILIES),
                   help=f"model families to tune (default: {' '.join(DEFAULT_MODELS)}, and each objective's own "
                        f"references: garch under quantile_loss)")
    p.add_argument("--objective", choices=tuple(OBJECTIVES), default=None,
                   help="what configs are tuned, selected, compared and promoted on, declared once per run: "
                        + "; ".join(f"{o.name}: {o.summary}" for o in OBJECTIVES.values())
                        + f" (default {DEFAULT_OBJECTIVE})")
    p.add_argument("--n-trials", type=int, default=100, help="completed trials per (symbol, model) study")
    p.add_argument("--selection", nargs="+" if scopes > 1 else None, choices=SCOPES, default=PER_SYMBOL,
                   help="per-symbol: one study per (symbol, model), each symbol selects its own config (default); "
                        "pooled: one study per model over every symbol, scored by the mean over symbols of "
                        "validation MAE / persistence MAE, one config for all"
                        + ("; the backtest runs each scope named and compares them" if scopes > 1 else ""))
    p.add_argument("--select", nargs="+" if scopes > 1 else None, choices=RULES, default=DEFAULT_RULE,
                   help="which trial is kept, declared at sweep time: significant keeps the family default unless "
                        "the SPA of the trials against it rejects on validation at --select-alpha; best keeps the "
                        f"lowest validation loss (default {DEFAULT_RULE})"
                        + ("; the backtest runs each rule named and compares them" if scopes > 1 else ""))
    p.add_argument("--select-alpha", type=float, default=DEFAULT_SELECT_ALPHA,
                   help=f"level of that SPA (default {DEFAULT_SELECT_ALPHA})")
    p.add_argument("--fee-bps", type=float, default=DEFAULT_FEE_BPS,
                   help=f"--objective pnl: fee per side in basis points, paid on every change of position (default "
                        f"{DEFAULT_FEE_BPS:g}: Binance's base-tier spot taker fee)")
    p.add_argument("--long-only", action="store_true", help="--objective pnl: go long or stay flat, never short")
    add_data_flags(p)
    add_window_flags(p)
    p.add_argument("--horizons", nargs="+", type=positive_int, default=None, metavar="H",
                   help="tune several horizons (bars) in one run, e.g. 1 4 24: every forecast is drawn once at the "
                        "longest and each shorter horizon is scored from the same draw (a family whose shorter "
                        "horizons only approximate a direct draw draws each); each (symbol, horizon) gets its own "
                        "selected config, candidate and review, named <SYMBOL>.h<H> beyond 1 bar. Replaces --horizon")
    p.add_argument("--output-dir", type=Path, default=Path("hyperparams"), help="root of candidates/ and best/")
    p.add_argument("--runs-dir", type=Path, default=Path("runs"), help="run folders (study journal, sample cache)")
    p.add_argument("--run-id", default=None, help="reuse to resume a run (default: a new UTC timestamp)")
    p.add_argument("--storage", default=None, help="Optuna RDB URL, e.g. postgresql://... (default: journal file)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=None, help="seconds per study")
    add_family_flags(p, with_defaults=True)
    p.add_argument("--no-cache", action="store_true", help="re-run inference in every trial (benchmarks)")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="the forecast cache (default runs/<RUN_ID>/cache); runs may share one, since its keys hold "
                        "everything a draw depends on: a run on another --objective over the same data and models "
                        "draws nothing again")
    p.add_argument("--objectives", nargs="+", default=None, choices=(*OBJECTIVES, LATENCY),
                   help="the objective, or the objective and latency_s for multi-objective studies "
                        "(e.g. quantile_loss latency_s)")
    p.add_argument("--latency-budget-s", type=float, default=None,
                   help="with two objectives: pick the most accurate trial within this many seconds per origin")
    p.add_argument("--ensemble", choices=["lp", "greedy"], default=None,
                   help="also fit ensemble weights across the tuned models on validation")
    p.add_argument("--promote", action="store_true", help="run the promotion review of the candidates afterwards")
    p.add_argument("--promote-candidate", choices=["selected", "ensemble"], default="selected",
                   help="the one candidate per symbol the promotion review may test (default selected; ensemble "
                        "needs --ensemble), declared before any test result is seen")
    trainable = [name for name, f in FAMILIES.items() if f.trainer]
    p.add_argument("--finetune", nargs="*", choices=trainable, default=None, metavar="FAMILY",
                   help=f"fine-tune these families' checkpoints ({' '.join(trainable)}; none named: toto) on "
                        f"pre-validation bars first; sweep each as the extra variant <family>-ft")
    p.add_argument("--finetune-steps", type=int, default=300, help="fine-tuning steps (default 300)")
    p.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="local: studies one after another in this process; ray: Ray actors as Optuna workers")
    p.add_argument("--ray-address", default=None, help="'auto' or a cluster address (default: a local Ray instance)")
    p.add_argument("--workers", type=int, default=2, help="Ray actors (Optuna workers), one CPU each")
    p.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPU fraction per Ray actor")
    p.add_argument("--log-format", choices=["text", "json"], default="text",
                   help="json: one JSON object per finished trial on stdout, no progress bars")
    p.add_argument("--alpha", type=float, default=0.05,
                   help="level of the paired tests, the Model Confidence Set and the promotion review (default 0.05)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def config_summary(config: dict[str, Any]) -> str:
    """A config in one short line for a table: its context, samples, aggregate and sampling."""
    if config.get("model") == "naive":
        lookback = config.get("context_length", 1) - 1
        return f"random walk of {lookback} returns" if lookback > 0 else "persistence"
    keys = ("context_length", "num_samples", "aggregate")
    return " ".join([f"{k}={config[k]}" for k in keys if k in config]
                    + [f"{k}={v}" for k, v in config.get("sampling", {}).items()])


def p_value(value: float | None) -> str:
    """A p-value for a table, ``-`` where there is none."""
    return "-" if value is None else f"{value:.3f}"


def _loss_label(objective: str) -> str:
    return "mae" if objective == DEFAULT_OBJECTIVE else objective


def _print_sweep_table(results) -> None:
    table = Table(title="Selected candidates (selection on validation; test never used for selection)")
    objective = get_objective(results[0].test.objective if results else DEFAULT_OBJECTIVE)
    loss, references = _loss_label(objective.name), [*objective.references][1:]
    columns = ("symbol", "model", "config", f"val {loss}", f"test {loss}", f"test {objective.benchmark}", "test skill",
               f"vs {objective.benchmark} p", *(f"vs {name} p" for name in references), "vs default p",
               "SPA p (all trials)", "latency_s/origin")
    for column in columns:
        table.add_column(column, justify="left" if column in ("symbol", "model", "config") else "right")
    for r in results:
        v, t, doc = r.outcome.validation, r.test.metrics, r.document
        spa = doc["selection"].get("spa") or {}
        compared = [p_value(doc["comparisons"][name]["p_value"]) for name in (objective.benchmark, *references)]
        table.add_row(r.slot, r.outcome.model, config_summary(r.outcome.config.to_dict()),
                      f"{v[objective.name]:.5f}", f"{t[objective.name]:.5f}",
                      f"{t[objective.benchmark_key]:.5f}", f"{t['skill']:+.3f}", *compared,
                      p_value(doc["comparisons"]["default"]["p_value"]), p_value(spa.get("p_value")),
                      f"{t['latency_s']:.4f}")
    table_console().print(table)
    pooled = results[0].document["selection"].get("pooled") if results else None
    if pooled:
        key = "relative_mae" if objective.name == DEFAULT_OBJECTIVE else f"relative_{objective.name}"
        console.print(f"pooled selection over {' '.join(pooled['symbols'])}: one config for every symbol, "
                      f"{pooled['study_name']} trial {pooled['trial_number']}, validation {key} "
                      f"{pooled[f'validation_{key}']:.4f} (mean over symbols of {_loss_label(objective.name)} / "
                      f"{objective.benchmark} {_loss_label(objective.name)}; {objective.benchmark} = 1)",
                      highlight=False)
    for r in results:
        console.print(f"{r.slot}: {verdict(r.document)}", highlight=False)
        console.print(f"[green]wrote[/green] {r.path}")


def verdict(document: dict[str, Any], alpha: float | None = None) -> str:
    """One plain sentence: did tuning beat persistence and the default out of sample, and does the search hold up?"""
    comparisons, spa = document["comparisons"], document["selection"].get("spa")
    objective = get_objective(objective_of_run(document))
    bench = objective.benchmark
    alpha = alpha or comparisons[bench]["alpha"]
    beats = {name: c["significant"] for name, c in comparisons.items()}
    references = [name for name in objective.references if name != bench]
    beaten = [name for name in references if beats[name]]
    shown = bench.replace("_", " ")
    rule = document["selection"].get("rule") or {}
    if rule.get("rule") == "significant" and rule.get("kept_default"):
        spa_vs = rule.get("spa_vs_default")
        text = ("kept the family default: " + (rule["reason"] if spa_vs is None else
                f"the SPA of {spa_vs['n_models']} trials against it does not reject (p {spa_vs['p_value']:.3f})"))
        text += (f"; it beats {shown} on test windows" if beats[bench] else
                 f"; it does not beat {shown} on test windows (mean diff {comparisons[bench]['mean_diff']:+.2e}, "
                 f"p {p_value(comparisons[bench]['p_value'])})")
    elif beats[bench] and beats["default"]:
        text = f"the tuned config beats {shown} and the untuned default on test windows"
    elif beats[bench]:
        text = f"the tuned config beats {shown} on test windows but not the untuned default: tuning did not help"
    else:
        text = (f"the tuned config does not beat {shown} on test windows "
                f"(mean diff {comparisons[bench]['mean_diff']:+.2e}, p {p_value(comparisons[bench]['p_value'])})"
                + (": no model is better than the last close here" if bench == "persistence" else ""))
    for name in references:
        text += f"; it {'beats' if name in beaten else 'does not beat'} the {name} default " \
                f"(mean diff {comparisons[name]['mean_diff']:+.2e}, p {p_value(comparisons[name]['p_value'])})"
    from ..review.review_file import power_sentence

    text += f"; vs {shown}, {power_sentence(document.get(objective.power_key) or comparisons[bench])}"
    if spa is not None:
        text += (f"; SPA over {spa['n_models']} trials: p {spa['p_value']:.3f}"
                 + (" (the best validation score is explainable by luck)" if spa["p_value"] >= alpha else ""))
    return text + _trading_clause(document.get("trading"))


def _trading_clause(trading: dict[str, Any] | None) -> str:
    """What the selected rule earned after fees against buy-and-hold, its Deflated Sharpe Ratio and the seeds'
    targets met (a trading objective's candidate); empty otherwise."""
    if not trading:
        return ""
    text = ""
    if "buy_and_hold" in trading["test"]:
        own, hold = trading["test"]["selected"], trading["test"]["buy_and_hold"]
        text += (f"; after fees it summed {100 * own['total_return']:+.1f}% (Sharpe {own['sharpe']:+.2f}) against "
                 f"buy-and-hold's {100 * hold['total_return']:+.1f}% (Sharpe {hold['sharpe']:+.2f}); Deflated Sharpe "
                 f"Ratio {trading['deflated_sharpe']['dsr']:.3f} over {trading['deflated_sharpe']['n_trials']} trials")
    met = [name for name, target in trading["targets"].items() if target["met"]]
    return text + f"; the seeds' targets met: {', '.join(met) if met else 'none'} of {', '.join(trading['targets'])}"


def _horizons(args: argparse.Namespace) -> tuple[int, ...]:
    """``--horizons``, after setting ``--horizon`` (the windows' layout) to the longest of them.

    Raises
    ------
    ConfigError
        If ``--horizon`` was also given with another value.
    """
    if not args.horizons:
        return ()
    longest = max(args.horizons)
    if args.horizon not in (1, longest):
        raise ConfigError(f"--horizon {args.horizon} and --horizons {' '.join(map(str, args.horizons))} disagree: "
                          f"pass --horizons alone (the windows are laid out for its longest, {longest})")
    args.horizon = longest
    return tuple(args.horizons)


def sweep_settings(args: argparse.Namespace):
    """The :class:`sweep.runs.settings.SweepSettings` of the sweep's (or the backtest's) parsed flags."""
    from ..runs.settings import SweepSettings, new_run_id

    horizons = _horizons(args)
    return SweepSettings(
        symbols=tuple(args.symbols), models=models_from_args(args), n_trials=args.n_trials,
        data_dir=args.data_dir, output_dir=args.output_dir, runs_dir=args.runs_dir,
        run_id=args.run_id or new_run_id(), storage=args.storage, seed=args.seed, timeout_s=args.timeout,
        model_ids=family_model_ids(args), model_options=family_options(args), windows=window_spec_from_args(args),
        freq=args.freq, gap_policy=args.gap_policy,
        use_cache=not args.no_cache, objectives=objectives_from_args(args), latency_budget_s=args.latency_budget_s,
        ensemble=args.ensemble, promote_candidate=args.promote_candidate,
        finetune=_finetune_families(args.finetune), finetune_steps=args.finetune_steps,
        alpha=args.alpha, cache_dir=args.cache_dir, selection=_listed(args.selection), select=_listed(args.select),
        select_alpha=args.select_alpha, fee_bps=args.fee_bps, long_only=args.long_only, horizons=horizons)


def _listed(value: str | list[str]) -> tuple[str, ...]:
    """A flag that takes one value in a sweep and several in the backtest, as a tuple."""
    return (value,) if isinstance(value, str) else tuple(value)


def objectives_from_args(args: argparse.Namespace) -> tuple[str, ...]:
    """``--objectives``, or ``(--objective,)``; the default objective when neither is given.

    Raises
    ------
    ConfigError
        If ``--objective`` and the first of ``--objectives`` disagree.
    """
    if args.objectives is None:
        return (args.objective or DEFAULT_OBJECTIVE,)
    if args.objective is not None and args.objectives[0] != args.objective:
        raise ConfigError(f"--objective {args.objective} and --objectives {' '.join(args.objectives)} disagree; the "
                          f"first of --objectives is the objective: drop one of the flags")
    return tuple(args.objectives)


def models_from_args(args: argparse.Namespace) -> tuple[str, ...]:
    """``--models``, or the default families and the objective's own references (GARCH under quantile_loss)."""
    if args.models is not None:
        return tuple(args.models)
    return tuple(dict.fromkeys((*DEFAULT_MODELS, *get_objective(objectives_from_args(args)[0]).default_models)))


def _finetune_families(named: list[str] | None) -> tuple[str, ...]:
    """``--finetune`` alone fine-tunes Toto (its meaning before other families had trainers)."""
    if named is None:
        return ()
    return tuple(dict.fromkeys(named or ["toto"]))


def with_progress(args: argparse.Namespace, settings, work: Callable[..., Any]) -> Any:
    """Run ``work(settings, executor, progress=...)`` on the chosen executor, with rich bars or JSON lines."""
    console.print(f"run [bold]{settings.run_id}[/bold] (resume with --run-id {settings.run_id})")
    executor = None
    if args.executor == "ray":
        from ..search.ray_executor import RayExecutor

        executor = RayExecutor(args.ray_address, args.workers, args.gpus_per_worker, run_label=settings.run_id)
    if args.log_format == "json":
        return work(executor, progress=JsonLinesProgress())
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("best val {task.fields[best]}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        return work(executor, progress=RichStudyProgress(progress, settings.objective))


def sweep_command(argv: Sequence[str]) -> int:
    args = sweep_parser().parse_args(argv)
    from ..runs.run import run_sweep

    settings = sweep_settings(args)
    results = with_progress(args, settings, lambda executor, progress: run_sweep(settings, executor, progress))
    if args.log_format == "json":
        for r in results:
            print(json.dumps({"symbol": r.symbol, "horizon": r.horizon, "candidate": str(r.path),
                              "model": r.outcome.model,
                              "selection": r.document["selection"]["scope"],
                              "objective": r.test.objective,
                              f"validation_{r.test.objective}": r.outcome.validation[r.test.objective],
                              f"test_{r.test.objective}": r.test.loss,
                              "spa_p_value": (r.document["selection"].get("spa") or {}).get("p_value"),
                              **{f"vs_{name}": c for name, c in r.document["comparisons"].items()}}), flush=True)
    else:
        _print_sweep_table(results)
    if args.promote and results:
        from ..review.promote import PromoteSettings

        run_promotion(PromoteSettings(run_id=settings.run_id, symbols=tuple(r.slot for r in results),
                                      alpha=args.alpha, data_dir=args.data_dir, output_dir=args.output_dir,
                                      runs_dir=args.runs_dir),
                      json_lines=args.log_format == "json")
    return EXIT_OK if len(results) == len(settings.symbols) * len(settings.run_horizons) else EXIT_FAILURE
