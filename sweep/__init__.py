"""sweep: tune inference settings of time-series foundation models per trading symbol."""

from ._version import __version__
from .aggregate import aggregate, parse_aggregation
from .cache import SampleCache
from .config import ForecastConfig
from .data import OHLCVData, load_ohlcv
from .errors import ConfigError, DataValidationError, ModelLoadError, SweepError, TrialError
from .evaluate import EvaluationResult, evaluate
from .predict import Forecast, Predictor, load_predictor
from .promote import PromoteSettings, promote
from .report import write_report
from .run import run_sweep
from .settings import SweepSettings
from .windows import Splits, WindowSpec, make_splits

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
