"""Wall time of a sweep on 1 vs 2 Ray workers, and the executor's per-trial overhead.

2 symbols x 40 trials of a random Toto with the sample cache off (every trial runs
inference), on real data. Prints, per setting: wall time (including actor start-up
and model loading), steady-state time (first trial start to last trial end, from the
study storage), the 2-vs-1 ratios (target: at most 0.65), and the per-trial
overhead of the Ray executor against running the same objective inline on one
thread (what a one-CPU actor gets).

    python benchmarks/ray_scaling.py
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from functools import partial
from pathlib import Path

import optuna
import ray
import torch
from optuna.trial import TrialState
from rich.console import Console
from rich.table import Table

from sweep.data.bars import load_ohlcv
from sweep.search.execution import InProcessExecutor
from sweep.forecasters.toto import TotoForecaster
from sweep.search.ray_executor import RayExecutor
from sweep.search.study import StudyJob, make_storage
from sweep.data.windows import WindowSpec, make_splits
from tototraining.train import PRESETS, build_scratch, save_checkpoint


def make_jobs(args, model: str, storage: Path) -> list[StudyJob]:
    spec = WindowSpec(max_context_length=args.max_context_length)
    jobs = []
    for symbol in args.symbols:
        data = load_ohlcv(args.data_dir, symbol)
        jobs.append(StudyJob(symbol=symbol, model="toto", data=data, splits=make_splits(data.n_bars, spec),
                             make_forecaster=partial(TotoForecaster, model), n_trials=args.n_trials,
                             storage=str(storage), seed=0, use_cache=False,
                             context_ceiling=min(TotoForecaster.context_limit(model), spec.max_context_length)))
    return jobs


def steady_state_s(jobs: list[StudyJob]) -> tuple[float, float, int]:
    """Seconds from the first trial start to the last trial end, summed trial seconds, and trials."""
    trials = [t for job in jobs for t in optuna.load_study(study_name=job.name, storage=make_storage(job.storage))
              .get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    span = max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)
    return span.total_seconds(), sum(t.duration.total_seconds() for t in trials), len(trials)


def timed(executor, jobs: list[StudyJob]) -> dict[str, float]:
    start = time.perf_counter()
    executor.run(jobs)
    wall = time.perf_counter() - start
    span, busy, n = steady_state_s(jobs)
    return {"wall_s": wall, "steady_s": span, "trial_s": busy / n, "n": n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("trainingdata"))
    parser.add_argument("--symbols", nargs="+", default=["BTCUSD", "ETHUSD"])
    parser.add_argument("--n-trials", type=int, default=40)
    parser.add_argument("--max-context-length", type=int, default=512)
    parser.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    args = parser.parse_args()

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        model = str(save_checkpoint(*build_scratch(args.preset), Path(tmp) / "toto"))
        torch.set_num_threads(1)  # like a one-CPU actor, so the difference is the executor's own cost
        rows["inline (no Ray)"] = timed(InProcessExecutor(), make_jobs(args, model, Path(tmp) / "inline.journal"))
        for workers in (1, 2):
            jobs = make_jobs(args, model, Path(tmp) / f"ray{workers}.journal")
            rows[f"Ray, {workers} worker{'s' * (workers > 1)}"] = timed(RayExecutor(workers=workers), jobs)
    ray.shutdown()

    table = Table(title=f"{len(args.symbols)} symbols x {args.n_trials} trials, {args.preset} Toto, cache off, "
                        f"{platform.machine()}, 2 CPUs")
    for column in ("executor", "trials", "wall s", "steady-state s", "trials/s (steady)"):
        table.add_column(column, justify="right")
    for name, r in rows.items():
        table.add_row(name, str(r["n"]), f"{r['wall_s']:.1f}", f"{r['steady_s']:.1f}", f"{r['n'] / r['steady_s']:.2f}")
    console = Console(width=140)
    console.print(table)
    one, two, inline = rows["Ray, 1 worker"], rows["Ray, 2 workers"], rows["inline (no Ray)"]
    console.print(f"2 vs 1 workers: wall ratio {two['wall_s'] / one['wall_s']:.2f}, steady-state ratio "
                  f"{two['steady_s'] / one['steady_s']:.2f} (target <= 0.65)")
    overhead = one["steady_s"] / one["n"] - inline["steady_s"] / inline["n"]
    console.print(f"per-trial overhead of the Ray executor vs inline: {1000 * overhead:.1f} ms "
                  f"(inline, 1 thread: {1000 * inline['steady_s'] / inline['n']:.1f} ms per trial)")


if __name__ == "__main__":
    main()
