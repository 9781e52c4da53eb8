"""``--finetune FAMILY ...``: fine-tune base checkpoints first, then sweep each result as an extra model variant.

Each named family's training package (the registry's ``Family.trainer``, whose ``TRAINER`` is a
:class:`sweep.training.Trainer`) trains on the bars before each symbol's first validation origin only, so the
variant's validation and test scores stay honest. Jobs run as Ray tasks with the sweep's
``--executor ray`` (one CPU, the worker GPU fraction) and in this process
otherwise. A checkpoint that a previous attempt of the same run already wrote is
reused, so a rerun does not train again. The variants are labelled
``<family>-ft`` (:data:`sweep.forecasters.registry.VARIANTS`).
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

from ..data.bars import OHLCVData
from ..errors import ConfigError
from ..search.execution import Executor
from ..forecasters.registry import FAMILIES, family_of, variant_label
from ..training import Trainer
from ..data.windows import Splits

__all__ = ["family_of", "finetune_checkpoints", "train_variant", "trainer_of"]

logger = logging.getLogger(__name__)


def trainer_of(family: str) -> Trainer:
    """The ``TRAINER`` of ``family``'s training package (the registry's ``Family.trainer``).

    Raises
    ------
    ConfigError
        If the family has no trainer.
    """
    package = FAMILIES[family].trainer if family in FAMILIES else None
    if not package:
        raise ConfigError(f"--finetune {family}: the project has no trainer for it; fine-tune "
                          f"{[n for n, f in FAMILIES.items() if f.trainer]}")
    return importlib.import_module(package).TRAINER


def _provenance(datasets: list[OHLCVData], splits: list[Splits]) -> dict[str, Any]:
    return {"datasets": {d.symbol: {"data_fingerprint": d.fingerprint,
                                    "first_validation_origin_time": str(d.frame.index[s.first_validation_origin])}
                         for d, s in zip(datasets, splits)}}


def train_variant(family: str, datasets: list[OHLCVData], splits: list[Splits], output: str, init: str, steps: int,
                  seed: int) -> str:
    """Fine-tune ``family``'s checkpoint ``init`` on every symbol's pre-validation bars; returns the folder.

    Raises
    ------
    ModelLoadError
        If ``init`` cannot be loaded.
    ConfigError
        If there are too few pre-validation bars, or the family has no trainer.
    """
    return trainer_of(family).fit(datasets, splits, output, init, steps, seed, _provenance(datasets, splits))


def finetune_checkpoints(run_dir: Path, datasets: dict[str, OHLCVData], splits: dict[str, Splits],
                         inits: dict[str, str], steps: int, seed: int, executor: Executor) -> dict[str, str]:
    """Fine-tuned checkpoints of this run, training those an earlier attempt did not finish.

    Parameters
    ----------
    run_dir : Path
        Checkpoints go to ``<run_dir>/finetune/<label>``.
    datasets, splits : dict
        Per symbol.
    inits : dict
        ``{family: base checkpoint}`` of each family to fine-tune (``--toto-model``, ``--kronos-model``,
        ``--chronos2-model``).
    steps, seed : int
    executor : Executor
        Runs each training (:meth:`Executor.run_task`): a Ray task, or this process.

    Returns
    -------
    dict
        ``{label: checkpoint folder}``, e.g. ``{"toto-ft": ..., "kronos-ft": ...}``.
    """
    symbols = sorted(datasets)
    variants = {}
    for family, init in inits.items():
        label = variant_label(family)
        output = run_dir / "finetune" / label
        if (output / trainer_of(family).marker).is_file():
            logger.info("reusing the fine-tuned checkpoint %s", output)
            variants[label] = str(output.resolve())
            continue
        arguments: tuple[Any, ...] = (family, [datasets[s] for s in symbols], [splits[s] for s in symbols],
                                      str(output), init, steps, seed)
        variants[label] = str(Path(executor.run_task(train_variant, *arguments)).resolve())
        logger.info("fine-tuned %s -> %s", init, variants[label])
    return variants
