"""Model adapters behind one interface; torch loads only inside the adapters that need it."""

from .base import Forecaster, SampleBatch
from .naive import PersistenceForecaster

__all__ = ["Forecaster", "SampleBatch", "PersistenceForecaster"]
