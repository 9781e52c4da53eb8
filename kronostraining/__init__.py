"""``python -m kronostraining``: train or fine-tune the Kronos tokenizer and predictor on pre-validation bars."""

from sweep.forecasters.kronos.card import TRAINED_METADATA
from sweep.training import JobTrainer

from .dataset import fit_bars
from .train import train_kronos

__all__ = ["TRAINER"]

#: ``--finetune kronos`` (:class:`sweep.training.Trainer`): :func:`train_kronos` with its defaults.
TRAINER = JobTrainer(TRAINED_METADATA, fit_bars, train_kronos)
