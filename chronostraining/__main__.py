"""``python -m chronostraining``: fine-tune Chronos-2, or train ``--init scratch --preset tiny`` offline.

Exit codes: 0 ok, 2 invalid input or config, 1 failure.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from sweep.cli import EXIT_OK, add_data_flags, add_folds_flag, add_window_flags, console, exit_code_of, setup_logging
from sweep.cli import load_training_data
from sweep.forecasters.presets import PRESETS
from tototraining.dataset import fit_series

from .train import train_chronos2


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m chronostraining", description=__doc__.split("\n")[0])
    p.add_argument("--symbols", nargs="+", required=True)
    add_data_flags(p)
    add_window_flags(p)
    add_folds_flag(p, "train only on bars before the oldest fold's first validation origin")
    p.add_argument("--output", type=Path, required=True, help="checkpoint folder (loadable with --chronos2-model DIR)")
    p.add_argument("--init", default="amazon/chronos-2", help="'scratch', a Hugging Face id or a folder")
    p.add_argument("--preset", default="tiny", choices=sorted(PRESETS["chronos2"]),
                   help="architecture for --init scratch")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=None, help="default 1e-6 fine-tuning (the pipeline's), 1e-3 scratch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    spec, datasets, metadata = load_training_data(args)
    series = [fit_series(data, splits) for data, splits in datasets]
    result = train_chronos2(series, args.output, init=args.init, preset=args.preset,
                            context_length=spec.max_context_length, horizon=spec.horizon, steps=args.steps,
                            batch_size=args.batch_size, lr=args.lr, seed=args.seed, metadata=metadata)
    console.print(f"[green]wrote[/green] {result.output} after {result.steps} steps")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m chronostraining``; returns the exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    setup_logging(args.verbose)
    return exit_code_of(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
