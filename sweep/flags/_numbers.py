"""argparse types of the training jobs' number flags: a value out of range is refused while parsing.

argparse prints ``argument --steps: ... got 0`` and exits with code 2 before any data is loaded.
"""

from __future__ import annotations

import argparse
import math
from typing import Callable

__all__ = ["positive_int", "positive_float", "seed", "MAX_SEED"]

#: Largest ``--seed``: every generator a job seeds (numpy, torch, Lightning, Python's) takes it, and ``seed + 1``.
MAX_SEED = 2**31 - 1


def _positive(text: str, cast: Callable[[str], float], what: str) -> float:
    """``text`` as ``cast`` gives it, if finite and above 0; else an ``ArgumentTypeError`` naming it and ``what``."""
    try:
        value = cast(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"got {text}; it must be {what}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (``--steps``, ``--batch-size``, ``--context-length``, ``--folds``).

    Raises
    ------
    argparse.ArgumentTypeError
        If ``text`` is not an integer, or is below 1 (the message names the value and the fix).
    """
    return int(_positive(text, int, "a whole number >= 1"))


def positive_float(text: str) -> float:
    """A finite number > 0 (``--lr``).

    Raises
    ------
    argparse.ArgumentTypeError
        If ``text`` is not a number, or is not finite and above 0 (the message names the value and the fix).
    """
    return _positive(text, float, "a finite number > 0, e.g. 1e-4")


def seed(text: str) -> int:
    """A random seed, 0 <= seed <= :data:`MAX_SEED` (``--seed``).

    Raises
    ------
    argparse.ArgumentTypeError
        If ``text`` is not an integer or is out of that range (the message names the value and the range).
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; pass a seed from 0 to {MAX_SEED}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"got {text}; a seed must be from 0 to {MAX_SEED} (2**31 - 1)")
    return value
