"""Persistence baseline: every path repeats the last close."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Forecaster, SampleBatch, sample_in_blocks

__all__ = ["PersistenceForecaster"]


class PersistenceForecaster(Forecaster):
    """Forecasts the last close of the context for every future bar (random walk without drift).

    Its samples are all equal, so every aggregation returns the last close and
    CRPS equals the absolute return error.
    """

    family = "naive"
    max_context_length = 1

    def identity(self) -> dict[str, Any]:
        return {"family": self.family, "model_id": "persistence"}

    @classmethod
    def from_identity(cls, identity: dict[str, Any]) -> "PersistenceForecaster":
        return cls()

    def samples_per_batch(self, n_windows: int, context_length: int, horizon: int) -> int:
        return 1

    def rows_independent(self, horizon: int) -> bool:
        return True

    def forecast(self, contexts: np.ndarray, timestamps_s: np.ndarray, horizon: int, num_samples: int,
                 seed: int, sampling: dict[str, Any] | None = None, ohlcv: np.ndarray | None = None) -> SampleBatch:
        last = contexts[:, -1].astype(np.float64)
        path = np.repeat(last[:, None, None], horizon, axis=2)
        return sample_in_blocks(lambda _block: path, num_samples, 1)
