"""``python -m chronostraining``: fine-tune Chronos-2, or train ``--init scratch --preset tiny`` offline.

Exit codes: 0 ok, 2 invalid input or config, 1 failure.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Sequence

from sweep.forecasters.presets import PRESETS
from sweep.training import fit_window, training_main, training_parser
from sweep.flags import positive_float, positive_int
from sweep.data.windows import WindowSpec

from .train import train_chronos2, window_options


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = training_parser("python -m chronostraining", __doc__.split("\n")[0],
                        "checkpoint folder (loadable with --chronos2-model DIR)", "amazon/chronos-2",
                        list(PRESETS["chronos2"]), kind="chronos2")
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--lr", type=positive_float, default=None, help="default 1e-6 fine-tuning (the pipeline's), 1e-3 scratch")
    return p.parse_args(argv)


def train(args: argparse.Namespace, spec: WindowSpec, datasets: list, metadata: dict[str, Any]) -> str:
    series = [fit_window(data, splits) for data, splits in datasets]
    result = train_chronos2(series, args.output, init=args.init, preset=args.preset, steps=args.steps,
                            batch_size=args.batch_size, lr=args.lr, seed=args.seed, metadata=metadata,
                            **window_options(spec))
    return f"{result.output} after {result.steps} steps"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m chronostraining``; returns the exit code."""
    return training_main(argv, parse_args, train)


if __name__ == "__main__":
    sys.exit(main())
