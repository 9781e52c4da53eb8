"""Fine-tune Toto (or train a tiny one from scratch) on bars before the first validation origin."""

from sweep.forecasters.overlap import TRAINING_METADATA
from sweep.training import JobTrainer

from .dataset import fit_series
from .train import PRESETS, TrainResult, build_scratch, save_checkpoint, train_toto

__all__ = ["PRESETS", "TRAINER", "TrainResult", "build_scratch", "save_checkpoint", "train_toto"]

#: ``--finetune toto`` (:class:`sweep.training.Trainer`): :func:`train_toto` with its defaults.
TRAINER = JobTrainer(TRAINING_METADATA, fit_series, train_toto)
