"""How a sweep's cost grows from 2 to 100 symbols, on the journal file, PostgreSQL and Ray with 2 workers.

The universe: the series shipped in ``trainingdata/`` and synthetic ones built from them. Symbol
``i`` beyond the shipped ones takes shipped series ``i mod 4``, resamples its hourly log returns in
blocks of 24 bars (a moving-block bootstrap, seed ``i``) and rebases them to the series' first close;
each bar's open, high and low keep their ratio to that bar's close, and its volume and time are kept.
Every symbol then has the shipped series' length, calendar and intrabar shape, and its own path.

Each run sweeps random tiny Toto and Kronos checkpoints and persistence (``--n-trials`` per study) on
every symbol, in a fresh run folder, and prints: the wall time; the seconds spent inside the
forecasters' ``forecast`` calls (every process, Ray workers included) and the rest (driver, TPE,
storage, JSON and candidate writes; with Ray, its 2 workers' seconds, ``2 x wall``, less the
inference they ran in parallel); that rest per completed trial; and the journal's size and the
time to open it (reading every study, as a resume does). The last line gives the overhead per trial
at the largest universe over the smallest, per storage (target: at most 1.5).

    eval "$(scripts/postgres-for-tests start)"   # for the PostgreSQL rows (skipped without it)
    python benchmarks/nightly_scale.py [--sizes 2 10 50 100] [--storages journal postgres ray]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import torch
from rich.console import Console
from rich.table import Table

from checkpoints import random_checkpoints  # benchmarks/, on the path when run as a script

from sweep.runs.run import run_sweep
from sweep.runs.settings import SweepSettings
from sweep.search.study import make_storage
from sweep.data.windows import WindowSpec

TIMINGS_ENV = "SWEEP_BENCH_TIMINGS"
RAY_WORKERS = 2
#: Installed in every process of a run (Ray workers import it from ``sitecustomize``): appends the seconds of
#: each forecast call to ``<folder>/<pid>.txt``. Nested calls (a subclass calling its parent) count once.
TIMER = textwrap.dedent('''
    import os, threading, time

    def install_forecast_timer(folder):
        from sweep.forecasters.kronos import KronosForecaster
        from sweep.forecasters.naive import PersistenceForecaster
        from sweep.forecasters.toto import TotoForecaster

        depth = threading.local()
        path = os.path.join(folder, f"{os.getpid()}.txt")

        def wrap(forecast):
            def timed(self, *args, **kwargs):
                if getattr(depth, "n", 0):
                    return forecast(self, *args, **kwargs)
                depth.n, began = 1, time.perf_counter()
                try:
                    return forecast(self, *args, **kwargs)
                finally:
                    depth.n = 0
                    with open(path, "a") as f:
                        f.write(f"{time.perf_counter() - began}\\n")
            return timed

        for cls in (TotoForecaster, KronosForecaster, PersistenceForecaster):
            cls.forecast = wrap(cls.forecast)

    if os.environ.get("SWEEP_BENCH_TIMINGS"):
        install_forecast_timer(os.environ["SWEEP_BENCH_TIMINGS"])
''')


def synthetic(frame: pd.DataFrame, seed: int, block: int = 24) -> pd.DataFrame:
    """``frame`` with its log returns resampled in blocks of ``block`` bars, rebased to its first close."""
    close = frame["close"].to_numpy(float)
    returns = np.diff(np.log(close))
    starts = np.random.default_rng(seed).integers(0, len(returns) - block, len(returns) // block + 1)
    resampled = np.concatenate([np.arange(s, s + block) for s in starts])[:len(returns)]
    new_close = close[0] * np.exp(np.concatenate([[0.0], np.cumsum(returns[resampled])]))
    out = frame.copy()
    for column in ("open", "high", "low", "close"):
        out[column] = frame[column].to_numpy(float) * (new_close / close)
    return out


def build_universe(source: Path, folder: Path, n: int) -> list[str]:
    """``n`` symbols in ``folder``: the shipped ones first, then synthetic ``SYN<i>USD`` (see the module docstring)."""
    folder.mkdir(parents=True, exist_ok=True)
    shipped = sorted(p.name.split(".")[0] for p in source.glob("*.csv.gz"))
    frames = {s: pd.read_csv(source / f"{s}.csv.gz") for s in shipped}
    symbols = []
    for i in range(n):
        base = shipped[i % len(shipped)]
        name = base if i < len(shipped) else f"SYN{i:03d}USD"
        if not (folder / f"{name}.csv.gz").exists():
            frame = frames[base] if i < len(shipped) else synthetic(frames[base], seed=i)
            frame.to_csv(folder / f"{name}.csv.gz", index=False)
        symbols.append(name)
    return symbols


def journal_open_s(path: Path) -> float:
    """Seconds to open a journal afresh and read every study's trials (what a resume's first read pays)."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    began = time.perf_counter()
    storage = JournalStorage(JournalFileBackend(str(path)))  # not make_storage: it keeps storages open
    for study in storage.get_all_studies():
        storage.get_all_trials(study._study_id, deepcopy=False)
    return time.perf_counter() - began


def run_once(args, symbols: list[str], storage_kind: str, checkpoints: tuple[str, str], root: Path,
             timings: Path) -> dict[str, float]:
    """One sweep of ``symbols`` on ``storage_kind``; its row of the table."""
    from sweep.search.ray_executor import RayExecutor

    run_id = f"{storage_kind}-{len(symbols)}-{uuid.uuid4().hex[:6]}"
    storage = os.environ.get("SWEEP_TEST_POSTGRES_URL") if storage_kind == "postgres" else None
    settings = SweepSettings(
        symbols=tuple(symbols), models=("toto", "kronos", "naive"), n_trials=args.n_trials, data_dir=args.universe,
        model_ids={"toto": checkpoints[0], "kronos": checkpoints[1]}, runs_dir=root / "runs",
        output_dir=root / "hp", run_id=run_id, storage=storage,
        windows=WindowSpec(val_windows=args.val_windows, test_windows=args.test_windows, stride=24,
                           max_context_length=args.max_context_length))
    for old in timings.glob("*.txt"):
        old.unlink()
    workers = RAY_WORKERS if storage_kind == "ray" else 1
    executor = RayExecutor(workers=workers) if storage_kind == "ray" else None
    began = time.perf_counter()
    run_sweep(settings, executor)
    wall = time.perf_counter() - began
    inference = sum(float(line) for p in timings.glob("*.txt") for line in p.read_text().split())
    opened = make_storage(settings.storage_url())
    trials = sum(len(opened.get_all_trials(s._study_id, deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
                 for s in opened.get_all_studies() if storage is None or s.study_name.startswith(f"{run_id}/"))
    journal = settings.run_dir / "optuna.journal"
    rest = wall * workers - inference  # worker-seconds not spent in forecast calls (Ray's workers run in parallel)
    row = {"n": len(symbols), "wall": wall, "inference": inference, "rest": rest, "trials": trials,
           "overhead_ms": 1000 * rest / trials,
           "journal_bytes": journal.stat().st_size if journal.exists() else None,
           "open_s": journal_open_s(journal) if journal.exists() else None}
    shutil.rmtree(settings.run_dir, ignore_errors=True)
    return row


def table_of(kind: str, rows: list[dict[str, float]], args) -> Table:
    table = Table(title=f"{kind}: toto + kronos + naive (random tiny), {args.n_trials} trials per study, "
                        f"{args.val_windows} validation origins, contexts <= {args.max_context_length}, "
                        f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    rest = f"rest s ({RAY_WORKERS} x wall - inference)" if kind == "ray" else "rest s"
    for column in ("symbols", "trials", "wall s", "inference s", rest, "overhead / trial ms", "journal bytes",
                   "open s"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(str(r["n"]), str(r["trials"]), f"{r['wall']:.1f}", f"{r['inference']:.1f}", f"{r['rest']:.1f}",
                      f"{r['overhead_ms']:.1f}", "-" if r["journal_bytes"] is None else f"{r['journal_bytes']:,}",
                      "-" if r["open_s"] is None else f"{r['open_s']:.2f}")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("trainingdata"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 10, 50, 100])
    parser.add_argument("--storages", nargs="+", default=["journal", "postgres", "ray"],
                        choices=["journal", "postgres", "ray"])
    parser.add_argument("--n-trials", type=int, default=20)
    parser.add_argument("--val-windows", type=int, default=100)
    parser.add_argument("--test-windows", type=int, default=5, help="test days (24 origins each at hourly bars)")
    parser.add_argument("--max-context-length", type=int, default=64,
                        help="64: one context, so the cost measured is the per-trial work, not the context grid")
    args = parser.parse_args()
    logging.getLogger("sweep").setLevel(logging.WARNING)
    logging.getLogger("lightning").setLevel(logging.WARNING)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storages = [s for s in args.storages if s != "postgres" or os.environ.get("SWEEP_TEST_POSTGRES_URL")]
    console = Console(width=200)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        args.universe = root / "universe"
        symbols = build_universe(args.data_dir, args.universe, max(args.sizes))
        checkpoints = random_checkpoints(root / "ckpt", "tiny", "tiny")
        timings, hook = root / "timings", root / "hook"
        timings.mkdir()
        hook.mkdir()
        (hook / "forecast_timer.py").write_text(TIMER)
        (hook / "sitecustomize.py").write_text("import forecast_timer\n")  # Ray workers start with it on their path
        os.environ[TIMINGS_ENV] = str(timings)
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")]))
        sys.path.insert(0, str(hook))
        import forecast_timer  # noqa: F401  (times the driver's own forecast calls)

        if "ray" in storages:
            import ray

            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        ratios = {}
        for kind in storages:
            rows = [run_once(args, symbols[:n], kind, checkpoints, root, timings) for n in sorted(args.sizes)]
            console.print(table_of(kind, rows, args))
            ratios[kind] = rows[-1]["overhead_ms"] / rows[0]["overhead_ms"]
    sizes = sorted(args.sizes)
    print(f"overhead per trial, {sizes[-1]} vs {sizes[0]} symbols: "
          + " ".join(f"{kind} {ratio:.2f}" for kind, ratio in ratios.items()))


if __name__ == "__main__":
    main()
