"""Fracast-0 (package ``fracast``) behind the :class:`Forecaster` interface.

Fracast-0 is an 85,001-parameter convolutional model that predicts the quantiles
0.1 ... 0.9 of the next 48 steps in one pass from up to 2,048 observations. Its
package ships the pretrained weights twice, full precision (``fp32``,
``model.safetensors``) and int8 per-channel (``w8``, ``model.int8.safetensors``
with ``w8_manifest.json``, dequantized to float32 when loaded); which one a
config uses is its ``sampling["weights"]``. Both load with the package's own
``FracastModel.from_pretrained`` and forecast with its ``forecast_batch``, so
the quantiles are the package's. The model scales each window by its own
minimum and range and left-pads shorter contexts to 2,048 masked steps, so a
window's quantiles never depend on the other windows of its chunk, and every
context length costs the same.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from . import checkpoints
from ..errors import ModelLoadError
from .overlap import training_limits
from .base import QuantileForecaster, default_memory_budget, module_bytes
from .registry import FAMILIES, FRACAST_BUNDLED, FRACAST_HUB_ID

__all__ = ["FracastForecaster", "RELEASE_FILES", "WEIGHT_FILES"]

FAMILY = FAMILIES["fracast"]
INSTALL_HINT = "pip install 'sweep[fracast]'"
#: Files of a Fracast release folder, as ``FracastModel.from_pretrained`` reads (and downloads) them.
RELEASE_FILES = ("config.json", "model.safetensors", "model.int8.safetensors", "w8_manifest.json")
#: The files each ``weights`` choice loads besides ``config.json`` (fracast.inference.load_fracast).
WEIGHT_FILES = {"fp32": ("model.safetensors",), "w8": ("model.int8.safetensors", "w8_manifest.json")}
#: Float32 copies of a ``[d_model, W]`` activation alive at once per window: fracast 0.1.0's release config
#: (d_model 64, W 2048) peaks at 6.5 MiB per window on a CPU (13 copies), rounded up.
ACTIVATIONS_PER_WINDOW = 16
#: Largest block glibc's malloc serves again from freed memory (its top mmap threshold, ``DEFAULT_MMAP_THRESHOLD_MAX``
#: on 64-bit Linux); a larger one is a fresh ``mmap`` whose every page the kernel zeroes on first touch.
MMAP_THRESHOLD_MAX_BYTES = 32 * 2**20


class FracastForecaster(QuantileForecaster):
    """Fracast-0 quantile forecasts of the close for a batch of origins.

    Parameters
    ----------
    model : str
        :data:`~sweep.forecasters.registry.FRACAST_BUNDLED` (default: the weights shipped in the
        installed ``fracast`` package, no download), a hub id (``ztxtech/fracast-0``) or a release
        folder holding :data:`RELEASE_FILES` (``--fracast-model``).
    revision : str, optional
        Hub revision.
    device : str, optional
        ``"cuda"`` when available, else ``"cpu"``.
    memory_budget_bytes : int, optional
        Working memory for a chunk of windows (default: see
        :func:`sweep.forecasters.base.default_memory_budget`).

    Attributes
    ----------
    folder : Path
        The release folder loaded (the package's ``fracast/weights`` for the bundled weights).
    models : dict
        ``{weights: fracast.FracastModel}`` for every ``weights`` choice, loaded once.

    Raises
    ------
    ModelLoadError
        If ``fracast`` is not installed, or the weights cannot be found, downloaded or loaded.
    """

    family = "fracast"
    checkpoint_files = RELEASE_FILES
    checkpoint_signature = ("config.json", ("model", "family"), "fracast")

    def __init__(self, model: str = FRACAST_BUNDLED, revision: str | None = None, device: str | None = None,
                 memory_budget_bytes: int | None = None):
        import torch

        try:
            from fracast import FracastModel
        except ImportError as e:
            raise ModelLoadError(f"the fracast family needs the fracast package: {INSTALL_HINT}") from e
        model = model or FRACAST_BUNDLED
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if model == FRACAST_BUNDLED:
            source, self.folder, found = None, Path(str(resources.files("fracast.weights"))), {"model_id": model}
        else:
            self.folder, found = checkpoints.resolve_checkpoint(model, revision, FAMILY.flag, FRACAST_HUB_ID,
                                                                "a Fracast release", RELEASE_FILES)
            source = str(self.folder)
        try:
            self.models = {weights: FracastModel.from_pretrained(source, weights=weights, device=self.device)
                           for weights in FAMILY.choices["weights"]}
        except Exception as e:  # a foreign or damaged release: name the flag and the folder
            raise ModelLoadError(f"{FAMILY.flag} {model!r}: {self.folder} is not a loadable Fracast release "
                                 f"({type(e).__name__}: {e})") from e
        first = next(iter(self.models.values()))
        self.max_context_length = first.context_length
        self.levels = np.asarray(first.quantiles, dtype=float)
        self.d_model = int(json.loads((self.folder / "config.json").read_text())["model"]["d_model"])
        self._identity = {"family": self.family, **checkpoints.package_identity(found, self.folder, RELEASE_FILES,
                                                                                 "fracast"),
                          "pretraining_cutoff": training_limits(model)["pretraining_cutoff"] or "unknown"}
        self.memory_budget_bytes = memory_budget_bytes or default_memory_budget(
            self.device, sum(module_bytes(m.core, m.head) for m in self.models.values()))

    @classmethod
    def context_limit(cls, model: str | None = None, revision: str | None = None, **options: Any) -> int:
        """``model.W`` of the release's ``config.json`` (``FracastModel.context_length``)."""
        model = model or FRACAST_BUNDLED
        if model == FRACAST_BUNDLED:
            config = json.loads((resources.files("fracast.weights") / "config.json").read_text())
        else:
            config = checkpoints.checkpoint_config(model, revision, FAMILY.flag, FRACAST_HUB_ID, "a Fracast release")
        try:
            return int(config["model"]["W"])
        except (KeyError, TypeError, ValueError) as e:
            raise ModelLoadError(f"{FAMILY.flag} {model!r}: its config.json has no model.W; it is not a Fracast "
                                 "release") from e

    def identity(self) -> dict[str, Any]:
        """Model id (and hub revision), the package version, ``checkpoint_files``: the SHA-256 of every release
        file (:data:`RELEASE_FILES`: ``config.json``, ``model.safetensors`` for ``fp32``, ``model.int8.safetensors``
        and ``w8_manifest.json`` for ``w8``), also for the bundled and downloaded weights, so
        :func:`sweep.forecasters.forecaster_from_identity` refuses any of them changed (another ``fracast``
        version installed, a folder replaced), and the pretraining cutoff (``"unknown"``: fracast documents none)."""
        return dict(self._identity)

    def window_batch(self, n_windows: int, context_length: int, horizon: int) -> int:
        """Windows per ``forecast_batch`` call: as many as half the memory budget holds, and on a CPU no more than
        keep a ``[windows, d_model, W]`` float32 activation at half of :data:`MMAP_THRESHOLD_MAX_BYTES` (32 windows
        for the release config), so that freed activations are reused: 95 windows per call (the budget's choice
        on the 2-core machine) spent 21 s of 35 s of CPU on 400 windows zeroing fresh pages, 32 spent 2-5 s, with
        bit-identical quantiles. Every window runs the full 2,048-step stream whatever its context, so the context
        length does not matter."""
        per_window = 4 * ACTIVATIONS_PER_WINDOW * self.d_model * self.max_context_length
        windows = self.windows_in_budget(n_windows, per_window)
        if self.device == "cpu":
            activation = 4 * self.d_model * self.max_context_length  # bytes per window
            windows = min(windows, max(1, MMAP_THRESHOLD_MAX_BYTES // 2 // activation))
        return windows

    def predict_chunk(self, contexts: np.ndarray, ohlcv: np.ndarray | None, horizon: int,
                      params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """Close quantiles ``[n, 9, horizon]`` of ``n`` windows through ``FracastModel.forecast_batch``
        with the config's ``weights``; horizons beyond 48 steps roll forward as the package does."""
        model = self.models[FAMILY.choice(params, "weights")]
        quantiles = model.forecast_batch(contexts, horizon=horizon)  # [n, horizon, levels]
        return np.moveaxis(np.asarray(quantiles, dtype=np.float64), 2, 1), self.levels
