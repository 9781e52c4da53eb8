"""sweep: tune inference settings of time-series foundation models per trading symbol.

The public API, re-exported from the packages that own it (``docs/architecture.md`` lists them and what each owns):
``data``, ``stats``, ``storage``, ``forecasters``, ``flags``, ``training``, ``scoring``, ``search``, ``runs``,
``review``, ``report``, ``serving`` and ``cli``.
"""

from ._version import __version__
from .data import OHLCVData, Splits, WindowSpec, load_ohlcv, make_splits
from .errors import ConfigError, DataValidationError, ModelLoadError, SweepError, TrialError
from .forecasters import ForecastConfig
from .report import write_report
from .review import PromoteSettings, promote
from .runs import SweepSettings, run_sweep
from .scoring import EvaluationResult, SampleCache, evaluate
from .serving import Forecast, Predictor, load_predictor
from .stats import aggregate, parse_aggregation

__all__ = [
    "__version__",
    "aggregate",
    "parse_aggregation",
    "SampleCache",
    "ForecastConfig",
    "OHLCVData",
    "load_ohlcv",
    "SweepError",
    "DataValidationError",
    "ConfigError",
    "ModelLoadError",
    "TrialError",
    "EvaluationResult",
    "evaluate",
    "load_predictor",
    "Predictor",
    "Forecast",
    "SweepSettings",
    "run_sweep",
    "PromoteSettings",
    "promote",
    "write_report",
    "Splits",
    "WindowSpec",
    "make_splits",
]
