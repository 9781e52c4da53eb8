"""``--finetune FAMILY ...``: fine-tune base checkpoints first, then sweep each result as an extra model variant.

Each named family's training job (``tototraining``, ``kronostraining``,
``chronostraining``) trains on the bars before each symbol's first validation origin only, so the variant's
validation and test scores stay honest. Jobs run as Ray tasks with the sweep's
``--executor ray`` (one CPU, the worker GPU fraction) and in this process
otherwise. A checkpoint that a previous attempt of the same run already wrote is
reused, so a rerun does not train again. The variants are labelled
``<family>-ft`` (:data:`sweep.forecasters.registry.VARIANTS`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .data import OHLCVData
from .execution import Executor
from .forecasters.registry import FAMILIES, family_of, variant_label
from .kronos.card import TRAINED_METADATA as KRONOS_METADATA
from .overlap import TRAINING_METADATA
from .windows import Splits

__all__ = ["FINETUNED_TOTO", "TRAINED_MARKERS", "family_of", "finetune_checkpoints", "train_variant"]

logger = logging.getLogger(__name__)

#: Label of the fine-tuned Toto variant in studies and outputs (family "toto").
FINETUNED_TOTO = variant_label("toto")
#: The file each trainer writes last: its presence means the checkpoint is complete.
TRAINED_MARKERS = {"toto": TRAINING_METADATA, "kronos": KRONOS_METADATA, "chronos2": TRAINING_METADATA}


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
    metadata = _provenance(datasets, splits)
    if family == "toto":
        from tototraining.dataset import fit_series
        from tototraining.train import train_toto

        series = [fit_series(data, split) for data, split in zip(datasets, splits)]
        return str(train_toto(series, output, init=init, steps=steps, seed=seed, metadata=metadata).output)
    if family == "kronos":
        from kronostraining.dataset import fit_bars
        from kronostraining.train import train_kronos

        bars = [fit_bars(data, split) for data, split in zip(datasets, splits)]
        return str(train_kronos(bars, output, init=init, steps=steps, seed=seed, metadata=metadata).output)
    if family == "chronos2":
        from chronostraining.train import train_chronos2
        from tototraining.dataset import fit_series

        series = [fit_series(data, split) for data, split in zip(datasets, splits)]
        spec = splits[0].spec
        return str(train_chronos2(series, output, init=init, context_length=spec.max_context_length,
                                  horizon=spec.horizon, steps=steps, seed=seed, metadata=metadata).output)
    from .errors import ConfigError

    raise ConfigError(f"--finetune {family}: the project has no trainer for it; fine-tune "
                      f"{[n for n, f in FAMILIES.items() if f.trainer]}")


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
        if (output / TRAINED_MARKERS[family]).is_file():
            logger.info("reusing the fine-tuned checkpoint %s", output)
            variants[label] = str(output.resolve())
            continue
        arguments: tuple[Any, ...] = (family, [datasets[s] for s in symbols], [splits[s] for s in symbols],
                                      str(output), init, steps, seed)
        variants[label] = str(Path(executor.run_task(train_variant, *arguments)).resolve())
        logger.info("fine-tuned %s -> %s", init, variants[label])
    return variants
