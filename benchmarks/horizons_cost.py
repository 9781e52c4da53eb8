"""What tuning several horizons in one run costs: ``--horizons 1 4 24`` against ``--horizon 24`` alone and against
three separate runs (``--horizon 1``, ``--horizon 4``, ``--horizon 24``), on this machine, in one invocation.

Each run is a fresh sweep (its own run id, runs folder, output folder and forecast cache), so nothing is shared
between them but the machine; they run one after another. The multi-horizon run draws every forecast once at 24
bars (for the families whose shorter horizons equal a direct draw; ``sweep.forecasters.registry.draws_once``) and
scores 1, 4 and 24 bars from it, so its extra cost over the 24-bar run is scoring, two more selections and the
candidates and reviews' test windows.

Run: ``python benchmarks/horizons_cost.py`` (defaults: BTCUSD, fracast and naive, 10 trials, 30 test days);
``--help`` for the flags. Prints one line per run and the ratios; README "Several horizons in one run" quotes them.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed_sweep(horizon_flags: list[str], args: argparse.Namespace, where: Path) -> float:
    """Wall seconds of one fresh ``python -m sweep`` run with ``horizon_flags``; raises if it fails."""
    command = [sys.executable, "-m", "sweep", "--symbols", *args.symbols, "--models", *args.models,
               "--n-trials", str(args.n_trials), "--test-windows", str(args.test_windows),
               "--data-dir", str(ROOT / "trainingdata"), "--runs-dir", str(where / "runs"),
               "--output-dir", str(where / "hyperparams"), "--log-format", "json", *horizon_flags]
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=where, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--symbols", nargs="+", default=["BTCUSD"])
    parser.add_argument("--models", nargs="+", default=["fracast", "naive"])
    parser.add_argument("--n-trials", type=int, default=10)
    parser.add_argument("--test-windows", type=int, default=30)
    parser.add_argument("--horizons", nargs="+", type=int, default=[1, 4, 24])
    args = parser.parse_args()
    longest = max(args.horizons)
    runs = {"--horizons " + " ".join(map(str, args.horizons)): ["--horizons", *map(str, args.horizons)],
            **{f"--horizon {h}": ["--horizon", str(h)] for h in args.horizons}}
    seconds = {}
    for name, flags in runs.items():
        with tempfile.TemporaryDirectory() as folder:
            seconds[name] = timed_sweep(flags, args, Path(folder))
        print(f"{name:>24}: {seconds[name]:7.1f} s", flush=True)
    together = seconds[next(iter(runs))]
    alone = seconds[f"--horizon {longest}"]
    separate = sum(seconds[f"--horizon {h}"] for h in args.horizons)
    print(f"all horizons in one run / the {longest}-bar run alone: {together / alone:.2f}x (target <= 1.3x)")
    print(f"all horizons in one run / {len(args.horizons)} separate runs: {together / separate:.2f}x "
          f"({separate:.1f} s)")


if __name__ == "__main__":
    main()
