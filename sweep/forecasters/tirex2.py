"""TiRex-2 (NX-AI, package ``tirex-2``, import ``tirex2``) behind the :class:`Forecaster` interface.

TiRex-2 is a stack of bidirectional mLSTM / sLSTM blocks over 32-step patches that
predicts the quantiles 0.1 ... 0.9 of up to ``future_len`` steps in one pass. It loads
with the package's ``tirex2.load_model`` and forecasts with the package's own
``ForecastModel.forecast``, so the quantiles are the package's. Every call left-pads
(or cuts) the history to the model's ``context_len`` with missing values, so every
context length costs the same. The config's ``sampling`` holds the package's test-time
augmentations ``tta_sign_flip`` and ``tta_diff``, passed on every call (the
checkpoint's ``config.json`` only sets what a call without them uses). A univariate
window is one series, scaled by its own statistics, so its quantiles never depend on
its chunk.

On a CPU the package runs pure-PyTorch kernels (mLSTM ``native``, sLSTM ``vanilla``),
but ``tirex-2`` 0.4.0 wraps its residual blocks in ``torch.compile``, and torch's
inductor builds them with a C++ compiler on the first forecast. The forecaster runs
that first forecast when it loads, so a machine without a compiler (or, on CUDA,
without the ``nvcc`` FlashRNN builds its sLSTM kernel with) is refused at load with
:data:`COMPILER_HINT` instead of failing a trial.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import checkpoints
from ..errors import ConfigError, ModelLoadError
from .base import QuantileForecaster, default_memory_budget, module_bytes
from .registry import FAMILIES

__all__ = ["TiRex2Forecaster", "TIREX2_FILES", "COMPILER_HINT"]

FAMILY = FAMILIES["tirex2"]
INSTALL_HINT = "pip install 'sweep[tirex2]'"
#: What a TiRex-2 checkpoint folder holds (``tirex2.load_model``'s current format).
TIREX2_FILES = ("config.json", "model.safetensors")
#: Why the first forecast can fail on a machine that installed the package, and the fix.
COMPILER_HINT = {
    "cpu": "tirex-2 wraps its residual blocks in torch.compile, and on a CPU torch's inductor builds them with a C++ "
           "compiler at the first forecast: install one (Debian/Ubuntu: apt install g++; or set CXX to a working "
           "compiler) and load again",
    "cuda": "on CUDA, tirex-2's FlashRNN builds its sLSTM kernel with nvcc at the first forecast: install a CUDA "
            "toolkit whose major version matches torch.version.cuda, put nvcc on PATH (or set CUDA_HOME), and load "
            "again; or hide the GPU (CUDA_VISIBLE_DEVICES=) to run on the CPU",
}
#: Float32 values a window keeps alive per patch token and embedding unit in one forward pass (the blocks' gates,
#: recurrent states and the 9-level output head): 512 windows of the 82.5M default shape in one CPU pass peaked
#: 1.5 GiB above the loaded model (over 3 MiB per window); 48 counts 7.0 MiB per window, twice that.
ACTIVATIONS_PER_UNIT = 48


def _is_build_failure(error: Exception) -> bool:
    """Whether ``error`` is torch failing to compile (inductor, dynamo) or to build an extension (cpp_extension)."""
    text = f"{type(error).__module__}.{type(error).__name__}: {error}"
    return any(mark in text for mark in ("torch._inductor", "torch._dynamo", "Cxx", "compiler", "nvcc",
                                         "building extension"))


def _config_length(model: str | None, revision: str | None, key: str) -> int:
    """Integer ``key`` of checkpoint ``model``'s ``config.json``, read without loading weights.

    Raises
    ------
    ModelLoadError
        If the file cannot be found or read, or lacks ``key``.
    """
    config = checkpoints.checkpoint_config(model or FAMILY.default_model, revision, FAMILY.flag, FAMILY.default_model,
                                           "tirex2's checkpoint format")
    try:
        return int(config[key])
    except (KeyError, TypeError, ValueError) as e:
        raise ModelLoadError(f"{FAMILY.flag} {model!r}: its config.json has no {key}; it is not a TiRex-2 "
                             "checkpoint") from e


class TiRex2Forecaster(QuantileForecaster):
    """TiRex-2 quantile forecasts of the close for a batch of origins.

    Parameters
    ----------
    model : str
        Hub id (default ``NX-AI/TiRex-2``) or a folder holding :data:`TIREX2_FILES` (``--tirex2-model``).
    revision : str, optional
        Hub revision.
    device : str, optional
        ``"cuda"`` when available, else ``"cpu"``.
    memory_budget_bytes : int, optional
        Working memory for a chunk of windows (default: see :func:`sweep.forecasters.base.default_memory_budget`).

    Raises
    ------
    ModelLoadError
        If ``tirex-2`` is not installed, the checkpoint cannot be found, downloaded or loaded, or its first
        forecast cannot be compiled on this machine (:data:`COMPILER_HINT`).
    """

    family = "tirex2"
    checkpoint_files = TIREX2_FILES
    checkpoint_signature = ("config.json", "stack_config", None)  # its block recipe

    def __init__(self, model: str | None = None, revision: str | None = None, device: str | None = None,
                 memory_budget_bytes: int | None = None):
        import torch

        try:
            import tirex2
        except ImportError as e:
            raise ModelLoadError(f"the tirex2 family needs the tirex-2 package: {INSTALL_HINT}") from e
        model = model or FAMILY.default_model
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        folder, found = checkpoints.resolve_checkpoint(model, revision, FAMILY.flag, FAMILY.default_model,
                                                       "tirex2's checkpoint format", TIREX2_FILES)
        precision = torch.get_float32_matmul_precision()
        try:
            self.model = tirex2.load_model(str(folder), device=self.device)
        except Exception as e:  # a foreign or damaged checkpoint: name the flag and the folder
            raise ModelLoadError(f"{FAMILY.flag} {model!r}: {folder} is not a loadable TiRex-2 checkpoint "
                                 f"({type(e).__name__}: {e})") from e
        finally:  # a config.json's matmul_precision would change every other family's float32 products
            torch.set_float32_matmul_precision(precision)
        self.max_context_length, self.future_len = int(self.model.context_len), int(self.model.future_len)
        self.patch_size, self.embedding_dim = int(self.model.input_patch_size), int(self.model.embedding_dim)
        self.levels = np.round(self.model.quantiles.cpu().double().numpy(), 6)  # float32 noise rounded off
        self._identity = {"family": self.family, **checkpoints.package_identity(found, folder, TIREX2_FILES,
                                                                                 "tirex-2")}
        self.memory_budget_bytes = memory_budget_bytes or default_memory_budget(self.device,
                                                                                module_bytes(self.model.model))
        self._first_forecasts(model)

    def _first_forecasts(self, model: str) -> None:
        """Compile the package's graphs now: one window (torch specialises a batch of one) and two (a batch size
        torch then treats as dynamic), so trials time inference, not compilation.

        Raises
        ------
        ModelLoadError
            If compiling fails (:data:`COMPILER_HINT`).
        """
        contexts = np.tile(np.linspace(1.0, 2.0, 4 * self.patch_size), (2, 1))
        try:
            for n in (1, 2):
                self.predict_chunk(contexts[:n], None, 1, {})
        except Exception as e:
            hint = COMPILER_HINT["cuda" if self.device.startswith("cuda") else "cpu"] if _is_build_failure(e) else \
                "see the error above"
            cause = next((line.strip() for line in str(e).splitlines() if line.strip()), "no message")
            raise ModelLoadError(f"{FAMILY.flag} {model!r}: TiRex-2 loaded but its first forecast failed on "
                                 f"{self.device} ({type(e).__name__}: {cause}); {hint}") from e

    def identity(self) -> dict[str, Any]:
        """Model id (and hub revision), the ``tirex-2`` version and ``checkpoint_files`` (SHA-256 of
        :data:`TIREX2_FILES`, also for a download)."""
        return dict(self._identity)

    @classmethod
    def context_limit(cls, model: str | None = None, revision: str | None = None, **options: Any) -> int:
        """``context_len`` of the checkpoint's ``config.json`` (the history every call is padded or cut to)."""
        return _config_length(model, revision, "context_len")

    @classmethod
    def horizon_limit(cls, model: str | None = None, revision: str | None = None, **options: Any) -> int:
        """``future_len`` of the checkpoint's ``config.json``: the most steps one pass predicts
        (:meth:`predict_chunk` refuses more; the package would cut them with a warning)."""
        return _config_length(model, revision, "future_len")

    def window_batch(self, n_windows: int, context_length: int, horizon: int) -> int:
        """Windows per ``forecast`` call: as many as half the memory budget holds. Every window runs the full
        ``context_len + future_len`` steps whatever its context, so the context length does not matter."""
        tokens = (self.max_context_length + self.future_len) // self.patch_size + 1
        per_window = 4 * ACTIVATIONS_PER_UNIT * tokens * self.embedding_dim
        return self.windows_in_budget(n_windows, per_window)

    def predict_chunk(self, contexts: np.ndarray, ohlcv: np.ndarray | None, horizon: int,
                      params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """Close quantiles ``[n, 9, horizon]`` of ``n`` windows through ``ForecastModel.forecast`` with the config's
        ``tta_sign_flip`` and ``tta_diff``.

        Raises
        ------
        ConfigError
            If ``horizon`` exceeds the checkpoint's ``future_len`` (the package would cut it with a warning).
        """
        import torch
        from tirex2 import TimeseriesType

        if horizon > self.future_len:
            raise ConfigError(f"TiRex-2 forecasts at most future_len={self.future_len} steps; --horizon {horizon} "
                              "is longer")
        series = [TimeseriesType(target=torch.as_tensor(c[None], dtype=torch.float32), past_covariates=None,
                                 future_covariates=None) for c in contexts]
        flags = {key: FAMILY.choice(params, key) for key in FAMILY.choices}
        forecasts = self.model.forecast(series, prediction_length=horizon, output_type="numpy",
                                        batch_size=len(series), **flags)  # each [1 variate, 9 levels, horizon]
        return np.stack([f[0] for f in forecasts]).astype(np.float64), self.levels
