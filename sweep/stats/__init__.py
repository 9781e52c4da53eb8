"""The statistics: point and probabilistic metrics (:mod:`.metrics`), point forecasts from samples (:mod:`.aggregate`),
the distribution of a batch (:mod:`.predictive`), paired tests, power and origins needed (:mod:`.paired`), the SPA
test and Model Confidence Set over trials (:mod:`.significance`), the calibration test of quantile forecasts
(:mod:`.calibration`) and the statistics of trading objectives: direction tests, Sharpe ratios deflated for the search,
drawdown (:mod:`.trading`), with the long-run variance and the stationary bootstrap they rest on (private)."""

from .aggregate import aggregate, parse_aggregation, parse_quantile_aggregation
from .calibration import CalibrationTest, calibration_test, coverage_band, level_hits
from .metrics import pct_return_errors, point_metrics
from .paired import (MDE_POWER, MIN_PERIOD_ORIGINS, PairedTest, block_bootstrap_ci, mde_for_origins,
                     minimum_detectable_effect, paired_test)
from .predictive import Predictive
from .significance import TrialLosses, selection_significance
from .trading import (DSRResult, PTResult, accuracy_interval, accuracy_target, deflated_sharpe_ratio, max_drawdown,
                      pesaran_timmermann, probabilistic_sharpe_ratio, sharpe_ratio, trading_summary)

__all__ = ["aggregate", "parse_aggregation", "parse_quantile_aggregation", "CalibrationTest", "calibration_test",
           "coverage_band", "level_hits", "pct_return_errors", "point_metrics",
           "MDE_POWER", "MIN_PERIOD_ORIGINS", "PairedTest", "block_bootstrap_ci", "mde_for_origins",
           "minimum_detectable_effect", "paired_test", "Predictive", "TrialLosses", "selection_significance",
           "DSRResult", "PTResult", "accuracy_interval", "accuracy_target", "deflated_sharpe_ratio", "max_drawdown",
           "pesaran_timmermann", "probabilistic_sharpe_ratio", "sharpe_ratio", "trading_summary"]
