"""A test-only model family, registered at run time by ``tests/forecasters/test_registered_family.py``.

It is the smallest real family: a random walk with drift whose step mean and volatility are estimated
from each window's own log returns. Its "checkpoint" is a folder holding ``config.json``
(``{"max_context": int, "volatility_scale": float}``), so it goes through the same flag, fingerprint
and context-limit paths as the built-in families, and nothing in ``sweep/`` names it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from sweep.forecasters import checkpoints
from sweep.errors import ModelLoadError
from sweep.forecasters.base import Forecaster, SampleBatch, block_seed, sample_in_blocks, window_keys
from sweep.forecasters.registry import Family, FamilyDefault

FLAG = "--drift-model"
#: Paths drawn per block.
SAMPLES_PER_BATCH = 16

#: The registry entry a test registers (:func:`sweep.forecasters.registry.register`).
DRIFT = Family("drift", "drift_family", "DriftForecaster", flag=FLAG, flag_help="drift config folder",
               num_samples=(16, 64),
               shorter_horizons="approximate",  # each path's normals are drawn for the whole horizon at once
               default=FamilyDefault("drift", context_length=256, num_samples=64, aggregate="median",
                                     source="test-only family: a 256-bar context, 64 paths, their median"))


def write_checkpoint(folder: Path, max_context: int = 1024, volatility_scale: float = 1.0) -> Path:
    """Write a drift "checkpoint" folder."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"max_context": max_context, "volatility_scale": volatility_scale}))
    return folder


class DriftForecaster(Forecaster):
    """Log-normal random walk with the window's own drift and volatility (scaled by the checkpoint's
    ``volatility_scale``); each window's paths depend on that window alone."""

    family = "drift"

    def __init__(self, model: str | None = None, revision: str | None = None):
        if model is None:
            raise ModelLoadError(f"the drift family has no default checkpoint; pass {FLAG} DIR")
        self.folder, self._identity = checkpoints.resolve_checkpoint(model, revision, FLAG, "owner/drift", "a test",
                                                                     ("config.json",))
        config = json.loads((self.folder / "config.json").read_text())
        self.max_context_length = int(config["max_context"])
        self.volatility_scale = float(config["volatility_scale"])

    @classmethod
    def context_limit(cls, model: str | None = None, revision: str | None = None, **options: Any) -> int:
        return int(checkpoints.checkpoint_config(model, revision, FLAG, "owner/drift", "a test")["max_context"])

    def identity(self) -> dict[str, Any]:
        return {"family": self.family, **self._identity}

    def samples_per_batch(self, n_windows: int, context_length: int, horizon: int) -> int:
        return SAMPLES_PER_BATCH

    def forecast(self, contexts: np.ndarray, timestamps_s: np.ndarray, horizon: int, num_samples: int,
                 seed: int, sampling: dict[str, Any] | None = None, ohlcv: np.ndarray | None = None) -> SampleBatch:
        log = np.log(contexts.astype(np.float64))
        steps = np.diff(log, axis=1)
        drift, volatility = steps.mean(axis=1), steps.std(axis=1) * self.volatility_scale
        keys = window_keys(contexts, timestamps_s)

        def draw(block: int) -> np.ndarray:
            noise = np.stack([np.random.default_rng(block_seed(seed, block, key)).standard_normal(
                (SAMPLES_PER_BATCH, horizon)) for key in keys])
            walk = np.cumsum(drift[:, None, None] + volatility[:, None, None] * noise, axis=2)
            return np.exp(log[:, -1, None, None] + walk)

        return sample_in_blocks(draw, num_samples, SAMPLES_PER_BATCH)
