"""``python -m tototraining``: fine-tune Toto, or train ``--init scratch --preset tiny`` offline.

Exit codes: 0 ok, 2 invalid input or config, 1 failure.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

from sweep.cli import EXIT_OK, add_data_flags, add_window_flags, console, exit_code_of, setup_logging
from sweep.cli import add_folds_flag, load_training_data

from .dataset import fit_series
from .train import PRESETS, train_toto


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tototraining", description=__doc__.split("\n")[0])
    p.add_argument("--symbols", nargs="+", required=True)
    add_data_flags(p)
    add_window_flags(p)
    add_folds_flag(p, "train only on bars before the oldest fold's first validation origin")
    p.add_argument("--output", type=Path, required=True, help="checkpoint folder (loadable with --toto-model DIR)")
    p.add_argument("--init", default="Datadog/Toto-Open-Base-1.0", help="'scratch', a Hugging Face id or a folder")
    p.add_argument("--preset", default="tiny", choices=sorted(PRESETS), help="architecture for --init scratch")
    p.add_argument("--context-length", type=int, default=512, help="bars per training input")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    _spec, datasets, metadata = load_training_data(args)
    series = [fit_series(data, splits) for data, splits in datasets]
    result = train_toto(series, args.output, init=args.init, preset=args.preset, context_length=args.context_length,
                        steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                        metadata=metadata)
    console.print(f"[green]wrote[/green] {result.output} after {result.steps} steps "
                  f"(train loss {result.train_loss}, validation loss {result.val_loss})")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m tototraining``; returns the exit code."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    setup_logging(args.verbose)
    logging.getLogger("lightning").setLevel(logging.WARNING if not args.verbose else logging.INFO)
    return exit_code_of(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
