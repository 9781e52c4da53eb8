"""Chronos-2 and Chronos-Bolt (Amazon, package ``chronos-forecasting``) behind the :class:`Forecaster` interface.

Both predict a fixed grid of quantiles in one pass. They load with
``BaseChronosPipeline.from_pretrained`` and forecast with the pipeline's own
``predict``: Chronos-Bolt takes ``[n, context]`` closes and returns
``[n, 9, horizon]``; Chronos-2 takes the close, alone or with volume, high and
low as past covariates, and returns its configured levels. Chronos-2's
``cross_learning`` stays off, so a window's forecast never depends on the other
windows of its batch. Neither has a horizon limit: past the checkpoint's own
prediction length both pipelines roll their forecast forward (``predict``'s
``limit_prediction_length=False``, with a warning).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import checkpoints
from ..errors import ModelLoadError
from .base import QuantileForecaster, default_memory_budget, module_bytes
from .registry import FAMILIES

__all__ = ["Chronos2Forecaster", "ChronosBoltForecaster"]

INSTALL_HINT = "pip install 'sweep[chronos]'"
#: OHLCV columns Chronos-2 reads as past covariates with ``inputs="covariates"`` (index in open, high, low, close, volume).
COVARIATES = {"high": 1, "low": 2, "volume": 4}


class _ChronosForecaster(QuantileForecaster):
    """Shared loading of a ``chronos-forecasting`` pipeline; subclasses name the pipeline class and predict."""

    pipeline_class: str
    checkpoint_files = checkpoints.CHECKPOINT_FILES

    def __init__(self, model: str | None = None, revision: str | None = None, device: str | None = None,
                 memory_budget_bytes: int | None = None):
        import torch

        try:
            from chronos import BaseChronosPipeline
        except ImportError as e:
            raise ModelLoadError(f"the {self.family} family needs chronos-forecasting: {INSTALL_HINT}") from e
        family = FAMILIES[self.family]
        model = model or family.default_model
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        folder, self._identity = checkpoints.resolve_checkpoint(model, revision, family.flag, family.default_model,
                                                                "the pipeline's save_pretrained")
        try:
            self.pipeline = BaseChronosPipeline.from_pretrained(str(folder))
        except Exception as e:  # not a Chronos config, damaged weights: name the flag and the folder
            raise ModelLoadError(f"{family.flag} {model!r}: {folder} is not a loadable Chronos checkpoint "
                                 f"({type(e).__name__}: {e})") from e
        if type(self.pipeline).__name__ != self.pipeline_class:
            raise ModelLoadError(f"{family.flag} {model!r} holds a {type(self.pipeline).__name__} checkpoint, not "
                                 f"{self.pipeline_class}; pass it to the flag of its own family")
        self.pipeline.model.to(self.device).eval()
        self.max_context_length = int(self.pipeline.model_context_length)
        self.levels = np.asarray(self.pipeline.quantiles, dtype=float)
        self.memory_budget_bytes = memory_budget_bytes or default_memory_budget(
            self.device, module_bytes(self.pipeline.model))

    def identity(self) -> dict[str, Any]:
        return {"family": self.family, **self._identity}

    @classmethod
    def context_limit(cls, model: str | None = None, revision: str | None = None, **options: Any) -> int:
        """``chronos_config.context_length`` of the checkpoint's ``config.json`` (the pipelines'
        ``model_context_length``)."""
        family = FAMILIES[cls.family]
        config = checkpoints.checkpoint_config(model or family.default_model, revision, family.flag,
                                               family.default_model, "the pipeline's save_pretrained")
        try:
            return int(config["chronos_config"]["context_length"])
        except (KeyError, TypeError, ValueError) as e:
            raise ModelLoadError(f"{family.flag} {model!r}: its config.json has no chronos_config.context_length; "
                                 "it is not a Chronos checkpoint") from e

    def window_batch(self, n_windows: int, context_length: int, horizon: int) -> int:
        """Windows per forward pass: as many as half the memory budget holds (float32 activations)."""
        c = self.pipeline.model.config
        tokens = 4 * (context_length // 16 + horizon // 16 + 2)  # up to three covariates beside the target
        per_window = 4 * tokens * (4 * c.d_model + c.d_ff) * 3
        return self.windows_in_budget(n_windows, per_window)


class Chronos2Forecaster(_ChronosForecaster):
    """Chronos-2 quantile forecasts (``--chronos2-model``, default ``amazon/chronos-2``).

    ``sampling["inputs"]``: ``"close"`` (a univariate target) or ``"covariates"`` (the close as target,
    with high, low and volume as past covariates).

    Raises
    ------
    ModelLoadError
        If chronos-forecasting is missing or the checkpoint cannot be loaded or is not Chronos-2.
    """

    family = "chronos2"
    uses_ohlcv = True
    pipeline_class = "Chronos2Pipeline"
    checkpoint_signature = ("config.json", "chronos_pipeline_class", pipeline_class)

    def predict_chunk(self, contexts: np.ndarray, ohlcv: np.ndarray | None, horizon: int,
                      params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """Close quantiles ``[n, n_levels, horizon]`` through ``Chronos2Pipeline.predict``."""
        import torch

        if params.get("inputs", "close") == "covariates":
            ohlcv = self._needs_ohlcv(ohlcv, "covariates")
            inputs = [{"target": close, "past_covariates": {name: bars[:, column] for name, column in COVARIATES.items()}}
                      for close, bars in zip(contexts, ohlcv)]
        else:
            inputs = torch.as_tensor(contexts[:, None, :], dtype=torch.float32)
        with torch.inference_mode():
            predictions = self.pipeline.predict(inputs, prediction_length=horizon, context_length=contexts.shape[1],
                                                batch_size=len(contexts) * (1 + len(COVARIATES)),
                                                cross_learning=False)
        return torch.stack([p[0] for p in predictions]).double().numpy(), self.levels


class ChronosBoltForecaster(_ChronosForecaster):
    """Chronos-Bolt quantile forecasts of the close (``--chronos-bolt-model``, default ``amazon/chronos-bolt-base``).

    Raises
    ------
    ModelLoadError
        If chronos-forecasting is missing or the checkpoint cannot be loaded or is not Chronos-Bolt.
    """

    family = "chronos-bolt"
    pipeline_class = "ChronosBoltPipeline"
    checkpoint_signature = ("config.json", "chronos_pipeline_class", pipeline_class)

    def predict_chunk(self, contexts: np.ndarray, ohlcv: np.ndarray | None, horizon: int,
                      params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """Close quantiles ``[n, 9, horizon]`` through ``ChronosBoltPipeline.predict``."""
        import torch

        with torch.inference_mode():
            predictions = self.pipeline.predict(torch.as_tensor(contexts, dtype=torch.float32),
                                                prediction_length=horizon)
        return predictions.double().numpy(), self.levels
