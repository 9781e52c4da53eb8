"""Exception hierarchy of sweep.

Every error a user can cause derives from :class:`SweepError`; the CLI maps
:class:`DataValidationError` and :class:`ConfigError` to exit code 2 and any
other :class:`SweepError` to exit code 1.
"""

from __future__ import annotations

__all__ = ["SweepError", "DataValidationError", "ConfigError", "ModelLoadError", "TrialError"]


class SweepError(Exception):
    """Base class of every error raised on purpose by sweep."""


class DataValidationError(SweepError):
    """An OHLCV file or the requested windows violate a data rule (file, row, value, fix)."""


class ConfigError(SweepError):
    """A flag, a config file or a search-space value is invalid."""


class ModelLoadError(SweepError):
    """A model checkpoint could not be found, downloaded or loaded."""


class TrialError(SweepError):
    """One Optuna trial failed; the study records it as FAIL and continues."""
