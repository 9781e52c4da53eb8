"""Trials per second of a Toto study with and without the sample cache.

Runs the same seeded 100-trial study on real BTCUSD data twice, once with the
sample cache and once re-running inference in every trial, and prints trials/s
for both and their ratio (target: at least 20x).

    python benchmarks/sweep_throughput.py
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from sweep.data.bars import load_ohlcv
from sweep.forecasters.toto import TotoForecaster
from sweep.search.study import StudyJob, run_study
from sweep.data.windows import WindowSpec, make_splits
from tototraining.train import PRESETS, build_scratch, save_checkpoint


def timed_study(job: StudyJob, forecaster: TotoForecaster) -> tuple[float, float]:
    start = time.perf_counter()
    outcome = run_study(job, forecaster=forecaster)
    return time.perf_counter() - start, outcome.validation["pct_return_mae"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("trainingdata"))
    parser.add_argument("--symbol", default="BTCUSD")
    parser.add_argument("--n-trials", type=int, default=100)
    parser.add_argument("--max-context-length", type=int, default=512)
    parser.add_argument("--preset", default="tiny", choices=sorted(PRESETS),
                        help="architecture of the random checkpoint (base = the shape of Toto-Open-Base-1.0)")
    parser.add_argument("--toto-model", default=None, help="checkpoint folder (default: a random --preset Toto)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        model = args.toto_model or str(save_checkpoint(*build_scratch(args.preset), Path(tmp) / "toto"))
        data = load_ohlcv(args.data_dir, args.symbol)
        spec = WindowSpec(max_context_length=args.max_context_length)
        splits = make_splits(data.n_bars, spec)
        forecaster = TotoForecaster(model)
        rows = []
        for use_cache in (True, False):
            job = StudyJob(symbol=args.symbol, model="toto", data=data, splits=splits, make_forecaster=lambda: forecaster,
                           n_trials=args.n_trials, storage=str(Path(tmp) / f"cache-{use_cache}.journal"), seed=0,
                           cache_dir=None, use_cache=use_cache,
                           context_ceiling=min(forecaster.max_context_length, spec.max_context_length))
            seconds, best = timed_study(job, forecaster)
            rows.append(("sample cache" if use_cache else "inference every trial", seconds, args.n_trials / seconds, best))

    table = Table(title=f"{args.n_trials}-trial Toto study on {args.symbol}: {spec.val_windows} validation origins, "
                        f"context <= {args.max_context_length}, {args.toto_model or args.preset + ' Toto'}, "
                        f"{torch.get_num_threads()} threads, "
                        f"{platform.processor() or platform.machine()}")
    for column in ("mode", "wall s", "trials/s", "best val pct_return_mae"):
        table.add_column(column, justify="right")
    for mode, seconds, rate, best in rows:
        table.add_row(mode, f"{seconds:.1f}", f"{rate:.2f}", f"{best:.6f}")
    console = Console(width=160)
    console.print(table)
    console.print(f"speed-up of the cache: {rows[0][2] / rows[1][2]:.1f}x (target >= 20x); identical best value: "
                  f"{rows[0][3] == rows[1][3]}")


if __name__ == "__main__":
    main()
