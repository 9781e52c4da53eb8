"""``python -m kronostraining``: fine-tune Kronos, or train ``--init scratch --preset tiny`` offline.

Exit codes: 0 ok, 2 invalid input or config, 1 failure.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from sweep.cli import EXIT_OK, console, load_training_data, run_job, training_parser
from sweep.kronos.card import DEFAULT_KRONOS_MODEL
from sweep.training_flags import positive_float, positive_int

from .dataset import fit_bars
from .train import PRESETS, train_kronos


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = training_parser("python -m kronostraining", __doc__.split("\n")[0],
                        "folder for tokenizer/, predictor/ and kronos.json (load it with --kronos-model DIR)",
                        DEFAULT_KRONOS_MODEL, list(PRESETS), kind="kronos")
    p.add_argument("--init-tokenizer", default=None, help="tokenizer to fine-tune from (default: the model card's)")
    p.add_argument("--train-tokenizer", action=argparse.BooleanOptionalAction, default=None,
                   help="also train the tokenizer (default: only from scratch)")
    p.add_argument("--context-length", type=positive_int, default=256, help="bars per training input")
    p.add_argument("--max-context", type=positive_int, default=None,
                   help="max context recorded for the sweep (default 512 from scratch, else the init's)")
    p.add_argument("--tokenizer-steps", type=positive_int, default=None, help="tokenizer steps (default: --steps)")
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--lr", type=positive_float, default=None, help="peak learning rate (default 1e-3 scratch, else 2e-4/4e-5)")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    _spec, datasets, metadata = load_training_data(args)
    series = [fit_bars(data, splits) for data, splits in datasets]
    result = train_kronos(series, args.output, init=args.init, init_tokenizer=args.init_tokenizer,
                          preset=args.preset, train_tokenizer=args.train_tokenizer, context_length=args.context_length,
                          max_context=args.max_context, steps=args.steps, tokenizer_steps=args.tokenizer_steps,
                          batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                          metadata=metadata)
    console.print(f"[green]wrote[/green] {result.output} (losses {result.losses})")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m kronostraining``; returns the exit code."""
    return run_job(parse_args(sys.argv[1:] if argv is None else argv), run)


if __name__ == "__main__":
    sys.exit(main())
