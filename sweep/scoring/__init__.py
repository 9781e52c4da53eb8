"""Scoring configs on windows: inference once per key and origin, on disk (:mod:`.cache`), one config on a set of
origins with persistence beside it (:mod:`.evaluate`), and ensembles fitted on validation and best-file checks
(:mod:`.ensemble`)."""

from .cache import SampleCache
from .ensemble import (ENSEMBLE_METHODS, Member, document_forecast, document_members, ensemble_result,
                       evaluate_document, fit_weights, member_entries, member_forecast, read_best)
from .evaluate import (EvaluationResult, evaluate, inference_fields, persistence_errors, persistence_metrics,
                       window_inputs)

__all__ = ["SampleCache", "ENSEMBLE_METHODS", "Member", "document_forecast", "document_members", "ensemble_result",
           "evaluate_document", "fit_weights", "member_entries", "member_forecast", "read_best", "EvaluationResult",
           "evaluate", "inference_fields", "persistence_errors", "persistence_metrics", "window_inputs"]
