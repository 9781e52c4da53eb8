"""``python -m chronostraining``: fine-tune Chronos-2 (or train ``--init scratch --preset tiny`` offline) on pre-validation closes."""

from sweep.forecasters.overlap import TRAINING_METADATA
from sweep.training import JobTrainer, fit_window

from .train import train_chronos2, window_options

__all__ = ["TRAINER"]

#: ``--finetune chronos2`` (:class:`sweep.training.Trainer`): :func:`train_chronos2` with its defaults, the context
#: and horizon of the sweep's windows.
TRAINER = JobTrainer(TRAINING_METADATA, fit_window, train_chronos2, window_options)
