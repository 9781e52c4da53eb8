"""What every training job (``tototraining``, ``kronostraining``, ``chronostraining``) shares: the pre-validation
training window, presets and seeding, the parser, data loading, error handling and the ``Trainer`` protocol
``--finetune`` calls."""

from ._jobs import (training_parser, run_job, load_training_data, FitWindow, fit_window, fit_spans, check_preset,
                    seeded_preset, training_main, Trainer, JobTrainer)

__all__ = ["training_parser", "run_job", "load_training_data", "FitWindow", "fit_window", "fit_spans", "check_preset",
           "seeded_preset", "training_main", "Trainer", "JobTrainer"]
