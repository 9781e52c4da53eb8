"""The default main job at real model sizes: wall time per study and peak resident memory.

Runs ``python -m sweep --symbols BTCUSD ETHUSD --n-trials 100`` (default windows, models and
max context) in a child process, on Toto-Open-Base-1.0-shaped and Kronos-small-shaped random
checkpoints built on the spot (the hub is not needed), and prints the wall time of every study
(first trial start to last trial end, from the journal), the whole run's wall time and the
child's peak RSS. The time after the last trial is the scoring of the test origins (selected
config, family default, persistence) and the candidates; ``--test-stride 24`` scores one test
origin a day (100), the default ``1`` every hour (2,400).

    python benchmarks/main_job.py [--n-trials 100] [--symbols BTCUSD ETHUSD] [--test-stride 1]
"""

from __future__ import annotations

import argparse
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
from rich.console import Console
from rich.table import Table

from checkpoints import random_checkpoints  # benchmarks/, on the path when run as a script

REPO = Path(__file__).resolve().parents[1]


def study_walls(journal: Path) -> tuple[dict[str, tuple[int, float]], float]:
    """``{study: (completed trials, seconds from the first trial's start to the last one's end)}`` and the
    last trial's end (POSIX seconds)."""
    from sweep.search.study import make_storage

    storage = make_storage(journal)
    out, last_end = {}, 0.0
    for name in optuna.get_all_study_names(storage):
        trials = [t for t in optuna.load_study(study_name=name, storage=storage).trials if t.datetime_complete]
        if trials:
            end = max(t.datetime_complete for t in trials)
            out[name] = (len(trials), (end - min(t.datetime_start for t in trials)).total_seconds())
            last_end = max(last_end, end.timestamp())
    return out, last_end


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--symbols", nargs="+", default=["BTCUSD", "ETHUSD"])
    parser.add_argument("--n-trials", type=int, default=100)
    parser.add_argument("--data-dir", type=Path, default=REPO / "trainingdata")
    parser.add_argument("--test-stride", type=int, default=1, help="bars between test origins (default 1)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        toto, kronos = random_checkpoints(root / "ckpt", "base", "small")
        command = [sys.executable, "-m", "sweep", "--symbols", *args.symbols, "--n-trials", str(args.n_trials),
                   "--data-dir", str(args.data_dir), "--toto-model", toto, "--kronos-model", kronos,
                   "--runs-dir", str(root / "runs"), "--output-dir", str(root / "hp"), "--run-id", "main",
                   "--test-stride", str(args.test_stride), "--log-format", "json"]
        start = time.perf_counter()
        done = subprocess.run(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - start
        finished = time.time()
        peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # ru_maxrss is KiB on Linux
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"the main job failed with exit code {done.returncode}")
        walls, last_trial_end = study_walls(root / "runs" / "main" / "optuna.journal")

    table = Table(title=f"python -m sweep --symbols {' '.join(args.symbols)} --n-trials {args.n_trials} "
                        f"--test-stride {args.test_stride} "
                        f"(Toto-Open-Base-1.0 and Kronos-small shapes, random weights), "
                        f"{platform.processor() or platform.machine()}")
    for column in ("study", "completed trials", "wall s"):
        table.add_column(column, justify="right")
    for name, (n, seconds) in sorted(walls.items()):
        table.add_row(name, str(n), f"{seconds:.1f}")
    console = Console(width=160)
    console.print(table)
    console.print(f"whole job: {wall:.1f} s ({wall / 60:.1f} min); after the last trial (test scoring and "
                  f"candidates): {finished - last_trial_end:.1f} s; peak RSS {peak_gib:.2f} GiB "
                  f"(targets: <= 10 min, <= 4 GiB)")


if __name__ == "__main__":
    main()
