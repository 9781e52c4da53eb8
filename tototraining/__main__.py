"""``python -m tototraining``: fine-tune Toto, or train ``--init scratch --preset tiny`` offline.

Exit codes: 0 ok, 2 invalid input or config, 1 failure.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, Sequence

from sweep.training import training_main, training_parser
from sweep.flags import positive_float, positive_int

from .dataset import fit_series
from .train import PRESETS, train_toto


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = training_parser("python -m tototraining", __doc__.split("\n")[0],
                        "checkpoint folder (loadable with --toto-model DIR)", "Datadog/Toto-Open-Base-1.0",
                        list(PRESETS), kind="toto")
    p.add_argument("--context-length", type=positive_int, default=512, help="bars per training input")
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--lr", type=positive_float, default=1e-3)
    return p.parse_args(argv)


def train(args: argparse.Namespace, _spec, datasets: list, metadata: dict[str, Any]) -> str:
    series = [fit_series(data, splits) for data, splits in datasets]
    result = train_toto(series, args.output, init=args.init, preset=args.preset, context_length=args.context_length,
                        steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                        metadata=metadata)
    return (f"{result.output} after {result.steps} steps "
            f"(train loss {result.train_loss}, validation loss {result.val_loss})")


def quiet_lightning(args: argparse.Namespace) -> None:
    logging.getLogger("lightning").setLevel(logging.INFO if args.verbose else logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m tototraining``; returns the exit code."""
    return training_main(argv, parse_args, train, before=quiet_lightning)


if __name__ == "__main__":
    sys.exit(main())
