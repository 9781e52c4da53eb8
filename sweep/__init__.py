"""sweep: tune inference settings of time-series foundation models per trading symbol."""

from ._version import __version__
from .stats.aggregate import aggregate, parse_aggregation
from .scoring.cache import SampleCache
from .forecasters.config import ForecastConfig
from .data.bars import OHLCVData, load_ohlcv
from .errors import ConfigError, DataValidationError, ModelLoadError, SweepError, TrialError
from .scoring.evaluate import EvaluationResult, evaluate
from .serving.predict import Forecast, Predictor, load_predictor
from .review.promote import PromoteSettings, promote
from .report.report import write_report
from .runs.run import run_sweep
from .runs.settings import SweepSettings
from .data.windows import Splits, WindowSpec, make_splits

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
