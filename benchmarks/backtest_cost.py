"""Wall time of a K-fold walk-forward backtest against one sweep, on the same models and flags.

Both run the default models (Toto, Kronos, persistence) on real data with random
tiny checkpoints built on the spot (or the folders given), in fresh run folders
so nothing is cached between them. The sample cache keeps one row per forecast
origin, so each fold draws only the origins it needs and no origin twice: the
backtest should cost about K sweeps (target: at most 1.2 K).

    python benchmarks/backtest_cost.py [--folds 3] [--n-trials 30]
"""

from __future__ import annotations

import argparse
import logging
import platform
import tempfile
import time
from pathlib import Path

import optuna
import torch
from rich.console import Console
from rich.table import Table

from checkpoints import random_checkpoints  # benchmarks/, on the path when run as a script

from sweep.runs.backtest import BacktestSettings, run_backtest
from sweep.runs.run import run_sweep
from sweep.runs.settings import SweepSettings
from sweep.data.windows import WindowSpec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("trainingdata"))
    parser.add_argument("--symbols", nargs="+", default=["BTCUSD"])
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--n-trials", type=int, default=30)
    parser.add_argument("--models", nargs="+", default=["toto", "kronos", "naive"])
    parser.add_argument("--max-context-length", type=int, default=512)
    parser.add_argument("--toto-model", default=None, help="checkpoint folder (default: a random tiny Toto)")
    parser.add_argument("--kronos-model", default=None, help="checkpoint folder (default: a random tiny Kronos)")
    args = parser.parse_args()
    logging.getLogger("lightning").setLevel(logging.WARNING)
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        toto, kronos = random_checkpoints(root / "ckpt", "tiny", "tiny")
        settings = SweepSettings(symbols=tuple(args.symbols), models=tuple(args.models), n_trials=args.n_trials,
                                 data_dir=args.data_dir,
                                 output_dir=root / "hp", runs_dir=root / "runs", run_id="sweep",
                                 model_ids={"toto": args.toto_model or toto, "kronos": args.kronos_model or kronos},
                                 windows=WindowSpec(max_context_length=args.max_context_length))
        start = time.perf_counter()
        run_sweep(settings)
        sweep_s = time.perf_counter() - start
        backtest = BacktestSettings(SweepSettings(**{**settings.__dict__, "run_id": "backtest"}), folds=args.folds)
        start = time.perf_counter()
        document = run_backtest(backtest)
        backtest_s = time.perf_counter() - start

    spec = settings.windows
    table = Table(title=f"{', '.join(args.symbols)}: {' + '.join(args.models)}, {args.n_trials} trials per study, "
                        f"{spec.val_windows} validation / {spec.test_windows} test origins, context <= "
                        f"{args.max_context_length}, random tiny checkpoints, {torch.get_num_threads()} threads, "
                        f"{platform.processor() or platform.machine()}")
    for column in ("run", "studies", "wall s"):
        table.add_column(column, justify="right")
    n_models = len(settings.labels) * len(args.symbols)
    table.add_row("one sweep", str(n_models), f"{sweep_s:.1f}")
    table.add_row(f"{args.folds}-fold backtest", str(n_models * args.folds), f"{backtest_s:.1f}")
    console = Console(width=180)
    console.print(table)
    drawn = document["inference"]["scoring_cache"]["drawn_origins"]
    console.print(f"backtest / sweep: {backtest_s / sweep_s:.2f}x for {args.folds} folds (sample cache rows per "
                  f"origin; the backtest's scoring drew {drawn} origins beyond its studies' rows)")


if __name__ == "__main__":
    main()
