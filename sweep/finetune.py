"""``--finetune``: fine-tune the base checkpoint first, then sweep the result as an extra model variant.

The fine-tuning job (``tototraining``) trains on the bars before each symbol's
first validation origin only, so the variant's validation and test scores stay
honest. It runs as a Ray task with the sweep's ``--executor ray`` (one CPU, the
worker GPU fraction) and in this process otherwise. A checkpoint that a
previous attempt of the same run already wrote is reused, so a rerun does not
train again.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .data import OHLCVData
from .execution import Executor
from .windows import Splits

__all__ = ["FINETUNED_TOTO", "VARIANT_FAMILIES", "family_of", "finetune_checkpoints", "train_variant"]

logger = logging.getLogger(__name__)

#: Label of the fine-tuned Toto variant in studies and outputs (family "toto").
FINETUNED_TOTO = "toto-ft"
#: Model family of each variant label.
VARIANT_FAMILIES = {FINETUNED_TOTO: "toto"}


def family_of(label: str) -> str:
    """Model family of a study's model label (``"toto-ft"`` -> ``"toto"``; families map to themselves)."""
    return VARIANT_FAMILIES.get(label, label)


def train_variant(datasets: list[OHLCVData], splits: list[Splits], output: str, init: str, steps: int,
                  seed: int) -> str:
    """Fine-tune ``init`` on every symbol's pre-validation bars; returns the checkpoint folder.

    Raises
    ------
    ModelLoadError
        If ``init`` cannot be loaded.
    ConfigError
        If there are too few pre-validation bars.
    """
    from tototraining.dataset import fit_series
    from tototraining.train import train_toto

    series = [fit_series(data, split) for data, split in zip(datasets, splits)]
    metadata = {"datasets": {d.symbol: {"data_fingerprint": d.fingerprint,
                                        "first_validation_origin_time": str(d.frame.index[s.first_validation_origin])}
                             for d, s in zip(datasets, splits)}}
    return str(train_toto(series, output, init=init, steps=steps, seed=seed, metadata=metadata).output)


def finetune_checkpoints(run_dir: Path, datasets: dict[str, OHLCVData], splits: dict[str, Splits], init: str,
                         steps: int, seed: int, executor: Executor) -> dict[str, str]:
    """Fine-tuned checkpoints of this run, training them unless an earlier attempt did.

    Parameters
    ----------
    run_dir : Path
        Checkpoints go to ``<run_dir>/finetune/<label>``.
    datasets, splits : dict
        Per symbol.
    init : str
        The base checkpoint (``--toto-model``).
    steps, seed : int
    executor : Executor
        Runs the training (:meth:`Executor.run_task`): a Ray task, or this process.

    Returns
    -------
    dict
        ``{label: checkpoint folder}``.
    """
    output = run_dir / "finetune" / FINETUNED_TOTO
    if (output / "model.safetensors").is_file() and (output / "training.json").is_file():
        logger.info("reusing the fine-tuned checkpoint %s", output)
        return {FINETUNED_TOTO: str(output.resolve())}
    symbols = sorted(datasets)
    arguments: tuple[Any, ...] = ([datasets[s] for s in symbols], [splits[s] for s in symbols], str(output), init,
                                  steps, seed)
    path = str(Path(executor.run_task(train_variant, *arguments)).resolve())
    logger.info("fine-tuned %s -> %s", init, path)
    return {FINETUNED_TOTO: path}
