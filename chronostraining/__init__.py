"""``python -m chronostraining``: fine-tune Chronos-2 (or train ``--init scratch --preset tiny`` offline) on pre-validation closes."""
