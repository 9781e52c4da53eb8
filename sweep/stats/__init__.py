"""The statistics: point and probabilistic metrics (:mod:`.metrics`), point forecasts from samples (:mod:`.aggregate`),
the distribution of a batch (:mod:`.predictive`), paired tests, power and origins needed (:mod:`.paired`), the SPA
test and Model Confidence Set over trials (:mod:`.significance`) and the calibration test of quantile forecasts
(:mod:`.calibration`), with the long-run variance and the stationary bootstrap they rest on (private)."""

from .aggregate import aggregate, parse_aggregation, parse_quantile_aggregation
from .calibration import CalibrationTest, calibration_test, coverage_band, level_hits
from .metrics import pct_return_errors, point_metrics
from .paired import (MDE_POWER, MIN_PERIOD_ORIGINS, PairedTest, block_bootstrap_ci, mde_for_origins,
                     minimum_detectable_effect, paired_test)
from .predictive import Predictive
from .significance import TrialLosses, selection_significance

__all__ = ["aggregate", "parse_aggregation", "parse_quantile_aggregation", "CalibrationTest", "calibration_test",
           "coverage_band", "level_hits", "pct_return_errors", "point_metrics",
           "MDE_POWER", "MIN_PERIOD_ORIGINS", "PairedTest", "block_bootstrap_ci", "mde_for_origins",
           "minimum_detectable_effect", "paired_test", "Predictive", "TrialLosses", "selection_significance"]
