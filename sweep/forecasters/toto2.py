"""Toto 2.0 (Datadog, package ``toto-2``, import ``toto2``) behind the :class:`Forecaster` interface.

Toto 2.0 predicts the quantiles at levels 0.1 ... 0.9 of every future step in one
forward pass (``decode_block_size=None``, the setting of its leaderboard results).
It reads either the close alone or the five OHLCV columns as variates of one
series (``sampling["inputs"]``); the close's quantiles are returned. Windows are
forecast in chunks, and a window's quantiles do not depend on its chunk (the
model attends across the variates of one series only).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import checkpoints
from ..errors import ConfigError, ModelLoadError
from .base import QuantileForecaster, default_memory_budget, module_bytes
from .registry import FAMILIES

__all__ = ["Toto2Forecaster", "DEFAULT_TOTO2_MODEL", "TOTO2_MAX_CONTEXT"]

DEFAULT_TOTO2_MODEL, FLAG = FAMILIES["toto2"].default_model, FAMILIES["toto2"].flag
#: Longest context the sweep offers Toto 2.0. Its rotary time embedding sets no hard limit; this is the longest
#: context of the search grid (and of Toto 1.0's training).
TOTO2_MAX_CONTEXT = 4096
#: Position of the close among the OHLCV variates.
CLOSE_VARIATE = 3
INSTALL_HINT = ("pip install --no-deps --ignore-requires-python toto-2==2.0.0 dd-unit-scaling==0.1.0 "
                "&& pip install 'sweep[toto2]'")


class Toto2Forecaster(QuantileForecaster):
    """Toto 2.0 quantile forecasts for a batch of origins.

    Parameters
    ----------
    model : str
        Hub id (default ``Datadog/Toto-2.0-22m``; every size of the family loads) or a folder
        written by ``Toto2Model.save_pretrained`` (``--toto2-model``).
    revision : str, optional
        Hub revision.
    device : str, optional
        ``"cuda"`` when available, else ``"cpu"``.
    memory_budget_bytes : int, optional
        Working memory for a chunk of windows (default: see
        :func:`sweep.forecasters.base.default_memory_budget`).

    Raises
    ------
    ModelLoadError
        If ``toto-2`` is not installed, or the checkpoint cannot be found, downloaded or loaded.
    """

    family = "toto2"
    uses_ohlcv = True
    max_context_length = TOTO2_MAX_CONTEXT
    checkpoint_files = checkpoints.CHECKPOINT_FILES
    checkpoint_signature = ("config.json", "residual_attn_ratio", None)  # a field of Toto2ModelConfig alone

    def __init__(self, model: str = DEFAULT_TOTO2_MODEL, revision: str | None = None, device: str | None = None,
                 memory_budget_bytes: int | None = None):
        import torch

        try:
            from toto2 import Toto2Model
        except ImportError as e:
            raise ModelLoadError(f"the toto2 family needs the toto-2 package: {INSTALL_HINT}") from e
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        folder, self._identity = checkpoints.resolve_checkpoint(model, revision, FLAG, DEFAULT_TOTO2_MODEL,
                                                                "Toto2Model.save_pretrained")
        try:
            self.model = Toto2Model.from_pretrained(str(folder), map_location=self.device).to(self.device).eval()
        except Exception as e:  # a foreign or damaged checkpoint: name the flag and the folder
            raise ModelLoadError(f"{FLAG} {model!r}: {folder} is not a loadable Toto 2.0 checkpoint "
                                 f"({type(e).__name__}: {e})") from e
        self.patch_size = int(self.model.config.patch_size)
        self.levels = np.asarray(self.model.output_head.knots, dtype=float)
        self.memory_budget_bytes = memory_budget_bytes or default_memory_budget(self.device, module_bytes(self.model))

    def identity(self) -> dict[str, Any]:
        return {"family": self.family, **self._identity}

    def window_batch(self, n_windows: int, context_length: int, horizon: int) -> int:
        """Windows per forward pass: as many as half the memory budget holds (five variates each, float32)."""
        c = self.model.config
        tokens = 5 * (-(-(context_length + horizon) // self.patch_size) + 1)
        per_window = 4 * tokens * (4 * c.d_model + c.d_ff) * 3
        return self.windows_in_budget(n_windows, per_window)

    def speed_settings(self, n_windows: int, context_length: int, horizon: int) -> dict[str, Any]:
        return {**super().speed_settings(n_windows, context_length, horizon), "decode_block_size": None}

    def predict_chunk(self, contexts: np.ndarray, ohlcv: np.ndarray | None, horizon: int,
                      params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """Close quantiles ``[n, 9, horizon]`` of ``n`` windows through ``Toto2Model.forecast``.

        Raises
        ------
        ConfigError
            If the context length is not a multiple of the checkpoint's patch size.
        """
        import torch

        context_length = contexts.shape[1]
        if context_length % self.patch_size:
            raise ConfigError(f"Toto 2.0 context_length {context_length} must be a multiple of the checkpoint's "
                              f"patch size {self.patch_size}")
        by_ohlcv = params.get("inputs", "close") == "ohlcv"
        values = np.moveaxis(self._needs_ohlcv(ohlcv, "ohlcv"), 2, 1) if by_ohlcv else contexts[:, None, :]
        target = torch.as_tensor(np.ascontiguousarray(values), dtype=torch.float32, device=self.device)
        inputs = {"target": target, "target_mask": torch.ones_like(target, dtype=torch.bool),
                  "series_ids": torch.zeros(target.shape[:2], dtype=torch.long, device=self.device)}
        with torch.inference_mode():
            quantiles = self.model.forecast(inputs, horizon, decode_block_size=None, has_missing_values=False)
        close = quantiles[:, :, CLOSE_VARIATE if by_ohlcv else 0, :]  # [levels, n, horizon]
        return close.permute(1, 0, 2).double().cpu().numpy(), self.levels
