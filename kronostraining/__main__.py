"""``python -m kronostraining``: fine-tune Kronos, or train ``--init scratch --preset tiny`` offline.

Exit codes: 0 ok, 2 invalid input or config, 1 failure.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from sweep.errors import ConfigError
from sweep.forecasters.kronos.card import (DEFAULT_KRONOS_MODEL, DEFAULT_KRONOS_TOKENIZER, DEFAULT_MAX_CONTEXT,
                                           MODEL_CARD, TRAINED_METADATA)
from sweep.training import training_main, training_parser
from sweep.flags import positive_float, positive_int

from .dataset import fit_bars
from .train import PRESETS, train_kronos


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = training_parser("python -m kronostraining", __doc__.split("\n")[0],
                        "folder for tokenizer/, predictor/ and kronos.json (load it with --kronos-model DIR)",
                        DEFAULT_KRONOS_MODEL, list(PRESETS), kind="kronos")
    p.add_argument("--init-tokenizer", default=None,
                   help="tokenizer (folder or hub id) beside a fine-tuned --init; not with --init scratch "
                        "(default: the model card's, or the kronostraining folder's)")
    p.add_argument("--train-tokenizer", action=argparse.BooleanOptionalAction, default=None,
                   help="also train the tokenizer (default: only from scratch)")
    p.add_argument("--context-length", type=positive_int, default=256, help="bars per training input")
    p.add_argument("--max-context", type=positive_int, default=None,
                   help="max context recorded for the sweep (default 512 from scratch, else the init's)")
    p.add_argument("--tokenizer-steps", type=positive_int, default=None, help="tokenizer steps (default: --steps)")
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--lr", type=positive_float, default=None, help="peak learning rate (default 1e-3 scratch, else 2e-4/4e-5)")
    return p.parse_args(argv)


def check_tokenizer(init: str, init_tokenizer: str | None) -> None:
    """Refuse fine-tuning from a predictor whose tokenizer is unknown, before any data is loaded.

    A kronostraining output (``kronos.json``) brings its tokenizer, a published predictor its model
    card's; any other predictor (a folder, another hub id) needs ``--init-tokenizer``.

    Raises
    ------
    ConfigError
        Naming ``--init``, its value and the fix.
    """
    trained = (Path(init).expanduser() / TRAINED_METADATA).is_file()
    if init == "scratch" or init_tokenizer or init in MODEL_CARD or trained:
        return
    raise ConfigError(f"--init {init} has no known tokenizer: it is neither a kronostraining checkpoint (with "
                      f"{TRAINED_METADATA}) nor a published predictor ({', '.join(MODEL_CARD)}); pass "
                      f"--init-tokenizer, a tokenizer folder or hub id (e.g. {DEFAULT_KRONOS_TOKENIZER})")


def check_flags(args: argparse.Namespace) -> None:
    """Refuse flags that contradict each other, before any data is loaded.

    ``--no-train-tokenizer`` from scratch, ``--context-length`` above ``--max-context`` (from scratch:
    default :data:`DEFAULT_MAX_CONTEXT`), and ``--tokenizer-steps`` when the tokenizer is not trained
    (fine-tuning without ``--train-tokenizer``).
    The tokenizer of ``--init`` is checked by :func:`check_tokenizer`.

    Raises
    ------
    ConfigError
        Naming the flags, their values and the fix.
    """
    scratch = args.init == "scratch"
    if scratch and args.train_tokenizer is False:
        raise ConfigError("--init scratch needs the tokenizer trained too; drop --no-train-tokenizer")
    if args.max_context is not None and args.context_length > args.max_context:
        raise ConfigError(f"--context-length {args.context_length} exceeds --max-context {args.max_context}; lower "
                          f"--context-length or raise --max-context")
    if scratch and args.max_context is None and args.context_length > DEFAULT_MAX_CONTEXT:
        raise ConfigError(f"--context-length {args.context_length} exceeds {DEFAULT_MAX_CONTEXT}, the max context of "
                          f"--init scratch; lower --context-length or pass --max-context {args.context_length}")
    if args.tokenizer_steps is not None and not scratch and not args.train_tokenizer:
        raise ConfigError(f"--tokenizer-steps {args.tokenizer_steps} has no effect: fine-tuning keeps the tokenizer of "
                          f"--init unless --train-tokenizer is given; add --train-tokenizer or drop --tokenizer-steps")
    check_tokenizer(args.init, args.init_tokenizer)


def train(args: argparse.Namespace, _spec, datasets: list, metadata: dict[str, Any]) -> str:
    series = [fit_bars(data, splits) for data, splits in datasets]
    result = train_kronos(series, args.output, init=args.init, init_tokenizer=args.init_tokenizer,
                          preset=args.preset, train_tokenizer=args.train_tokenizer, context_length=args.context_length,
                          max_context=args.max_context, steps=args.steps, tokenizer_steps=args.tokenizer_steps,
                          batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                          metadata=metadata)
    return f"{result.output} (losses {result.losses})"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m kronostraining``; returns the exit code."""
    return training_main(argv, parse_args, train, before=check_flags)


if __name__ == "__main__":
    sys.exit(main())
