"""TimesFM 2.5 (Google, package ``timesfm``) behind the :class:`Forecaster` interface.

TimesFM 2.5 is a decoder-only transformer over 32-step input patches that predicts
128 steps per output patch: a point (the 0.5 quantile) and the quantiles 0.1 ... 0.9,
with an optional continuous quantile head for horizons up to 1,024 steps. It loads with
the package's ``TimesFM_2p5_200M_torch.from_pretrained`` and forecasts with the
package's own ``compile(ForecastConfig(...))`` and ``forecast``, so the quantiles are
the package's. The config's ``sampling`` holds the package's ``normalize_inputs``,
``force_flip_invariance`` and ``fix_quantile_crossing`` flags; the other flags stay at
the model card's quick start (``use_continuous_quantile_head=True``,
``infer_is_positive=True``). The model normalises each series by its own statistics and
attends within a series only, so a window's quantiles never depend on its chunk.

The package builds its module from a fixed definition (``TimesFM_2p5_200M_Definition``,
the published 200M shape). A checkpoint of another shape (a tiny test model) loads
through the same classes with the definition its weights imply: layer count and widths
are read from ``model.safetensors``, never from a format of our own.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from . import checkpoints
from ..errors import ConfigError, ModelLoadError
from .base import QuantileForecaster, default_memory_budget, module_bytes
from .registry import FAMILIES

__all__ = ["TimesFMForecaster", "model_class", "resized_definition", "definition_from_weights", "TIMESFM_FILES"]

FAMILY = FAMILIES["timesfm"]
INSTALL_HINT = "pip install 'sweep[timesfm]'"
#: What a TimesFM 2.5 checkpoint folder holds (``config.json`` only records ``from_pretrained``'s keyword arguments).
TIMESFM_FILES = ("model.safetensors",)
#: Context the package accepts with one output patch (``compile``: ``max_context + max_horizon <= 16384``, the
#: horizon rounded up to the 128-step output patch).
MAX_CONTEXT = 16384 - 128


def _base():
    """The package's ``timesfm_2p5_base`` module (its definition), or a ModelLoadError saying how to install it."""
    try:
        from timesfm.timesfm_2p5 import timesfm_2p5_base
    except ImportError as e:
        raise ModelLoadError(f"the timesfm family needs the timesfm package: {INSTALL_HINT}") from e
    return timesfm_2p5_base


def resized_definition(model_dims: int, num_layers: int, num_heads: int, hidden_dims: int | None = None,
                       point_hidden_dims: int | None = None, quantile_hidden_dims: int | None = None,
                       quantile_len: int | None = None):
    """The package's ``TimesFM_2p5_200M_Definition`` with other widths (every other field, e.g. the patch lengths
    and quantile levels, is the package's); ``None`` hidden widths equal ``model_dims``.

    Returns
    -------
    TimesFM_2p5_200M_Definition
        Equal to the package's own when the widths are its 200M ones (model_dims 1280, 20 layers, 16 heads).

    Raises
    ------
    ModelLoadError
        If ``timesfm`` is not installed.
    """
    from timesfm import configs

    base = _base().TimesFM_2p5_200M_Definition()
    hidden = hidden_dims or model_dims
    quantile_len = quantile_len or base.output_quantile_len
    levels = len(base.quantiles) + 1
    transformer = dataclasses.replace(base.stacked_transformers.transformer, model_dims=model_dims,
                                      hidden_dims=hidden, num_heads=num_heads)
    return dataclasses.replace(
        base, output_quantile_len=quantile_len,
        tokenizer=dataclasses.replace(base.tokenizer, hidden_dims=model_dims, output_dims=model_dims),
        stacked_transformers=configs.StackedTransformersConfig(num_layers=num_layers, transformer=transformer),
        output_projection_point=dataclasses.replace(base.output_projection_point, input_dims=model_dims,
                                                    hidden_dims=point_hidden_dims or model_dims),
        output_projection_quantiles=dataclasses.replace(
            base.output_projection_quantiles, input_dims=model_dims, hidden_dims=quantile_hidden_dims or model_dims,
            output_dims=quantile_len * levels))


def definition_from_weights(weights: Path):
    """The definition ``weights`` (a TimesFM 2.5 ``model.safetensors``) was saved from, read from tensor shapes only.

    Raises
    ------
    KeyError, ValueError
        If a tensor of the package's layout is missing (not a TimesFM 2.5 checkpoint).
    safetensors.SafetensorError, OSError
        If the file cannot be read.
    """
    from safetensors import safe_open

    with safe_open(str(weights), "pt") as f:
        shape = {k: f.get_slice(k).get_shape() for k in f.keys()}
    levels = len(_base().TimesFM_2p5_200M_Definition().quantiles) + 1
    layers = 1 + max(int(k.split(".")[1]) for k in shape if k.startswith("stacked_xf."))
    model_dims = shape["tokenizer.output_layer.weight"][0]
    definition = resized_definition(
        model_dims, layers, model_dims // shape["stacked_xf.0.attn.query_ln.scale"][0],
        hidden_dims=shape["stacked_xf.0.ff0.weight"][0],
        point_hidden_dims=shape["output_projection_point.hidden_layer.weight"][0],
        quantile_hidden_dims=shape["output_projection_quantiles.hidden_layer.weight"][0],
        quantile_len=shape["output_projection_quantiles.output_layer.weight"][0] // levels)
    return definition


def model_class(definition):
    """The package's ``TimesFM_2p5_200M_torch``, or for another shape a subclass whose module is the package's
    ``TimesFM_2p5_200M_torch_module`` built from ``definition`` (loading, ``compile`` and ``forecast`` unchanged)."""
    from timesfm.timesfm_2p5 import timesfm_2p5_torch as package

    if definition == _base().TimesFM_2p5_200M_Definition():
        return package.TimesFM_2p5_200M_torch
    module = type("TimesFM_2p5_module", (package.TimesFM_2p5_200M_torch_module,), {"config": definition})

    class ResizedTimesFM(package.TimesFM_2p5_200M_torch):
        def __init__(self, torch_compile: bool = True, config: dict | None = None, **kwargs: Any):
            self.model, self.torch_compile = module(), torch_compile
            if config is not None:
                self._hub_mixin_config = config

    return ResizedTimesFM


class TimesFMForecaster(QuantileForecaster):
    """TimesFM 2.5 quantile forecasts of the close for a batch of origins.

    Parameters
    ----------
    model : str
        Hub id (default ``google/timesfm-2.5-200m-pytorch``) or a folder holding ``model.safetensors`` as
        ``save_pretrained`` writes it (``--timesfm-model``).
    revision : str, optional
        Hub revision.
    device : str, optional
        Accepted for the interface; the package's module picks ``cuda:0`` when available, else the CPU.
    memory_budget_bytes : int, optional
        Working memory for a chunk of windows (default: see :func:`sweep.forecasters.base.default_memory_budget`).

    Raises
    ------
    ModelLoadError
        If ``timesfm`` is not installed, or the checkpoint cannot be found, downloaded or loaded.
    """

    family = "timesfm"
    max_context_length = MAX_CONTEXT
    checkpoint_files = TIMESFM_FILES
    checkpoint_signature = ("model.safetensors", "stacked_xf.0.ff0.weight", None)  # its config.json names no shape

    def __init__(self, model: str | None = None, revision: str | None = None, device: str | None = None,
                 memory_budget_bytes: int | None = None):
        model = model or FAMILY.default_model
        _base()  # the package is installed
        folder, found = checkpoints.resolve_checkpoint(model, revision, FAMILY.flag, FAMILY.default_model,
                                                       "TimesFM_2p5_200M_torch.save_pretrained", TIMESFM_FILES)
        try:
            definition = definition_from_weights(folder / "model.safetensors")
            # torch.compile off: on a CPU it compiles again for every context length (a speed setting only);
            # an absolute folder: the package also asks the hub for a repo named like a relative one
            self.model = model_class(definition).from_pretrained(str(folder.resolve()), torch_compile=False)
        except Exception as e:  # a foreign, truncated or damaged checkpoint: name the flag and the folder
            raise ModelLoadError(f"{FAMILY.flag} {model!r}: {folder} is not a loadable TimesFM 2.5 checkpoint "
                                 f"({type(e).__name__}: {e})") from e
        self.definition, self.device = definition, str(self.model.model.device)
        self.levels = np.asarray(definition.quantiles, dtype=float)
        self._identity = {"family": self.family,
                          **checkpoints.package_identity(found, folder, TIMESFM_FILES, "timesfm")}
        self.memory_budget_bytes = memory_budget_bytes or default_memory_budget(self.device,
                                                                                module_bytes(self.model.model))

    @classmethod
    def horizon_limit(cls, model: str | None = None, revision: str | None = None, **options: Any) -> int:
        """``output_quantile_len`` of the checkpoint's definition (1,024 for the published 200M shape), the longest
        horizon its continuous quantile head forecasts (:meth:`forecast_config`): read from the tensor shapes in
        a folder's ``model.safetensors`` header; a hub id is taken to be of the package's own definition, so no
        weights are downloaded for it.

        Raises
        ------
        ModelLoadError
            If ``timesfm`` is not installed, or the folder's weights are not TimesFM 2.5's.
        """
        model = model or FAMILY.default_model
        base = _base().TimesFM_2p5_200M_Definition()
        if not Path(model).expanduser().is_dir():
            return base.output_quantile_len
        try:
            return definition_from_weights(Path(model).expanduser() / "model.safetensors").output_quantile_len
        except Exception as e:  # a missing, foreign or damaged file: name the flag and the folder
            raise ModelLoadError(f"{FAMILY.flag} {model!r}: its model.safetensors is not a TimesFM 2.5 checkpoint's "
                                 f"({type(e).__name__}: {e})") from e

    def identity(self) -> dict[str, Any]:
        """Model id (and hub revision), the ``timesfm`` version and ``checkpoint_files`` (SHA-256 of
        ``model.safetensors``, also for a download)."""
        return dict(self._identity)

    def window_batch(self, n_windows: int, context_length: int, horizon: int) -> int:
        """Windows per ``forecast`` call: as many as half the memory budget holds. Per input patch a window keeps
        the layers' key-value cache and the point and quantile heads' outputs (float32), twice with flip
        invariance: 37 MB per window at context 2048 for the 200M shape, where 128 windows in one CPU pass
        measured over 17 MiB each."""
        d = self.definition
        patches = -(-context_length // d.input_patch_len) + 4 * (-(-horizon // d.output_patch_len))
        width = d.stacked_transformers.transformer
        per_patch = (2 * d.stacked_transformers.num_layers * width.model_dims + 4 * width.hidden_dims
                     + d.output_projection_point.output_dims + d.output_projection_quantiles.output_dims)
        per_window = 2 * 4 * patches * per_patch
        return self.windows_in_budget(n_windows, per_window)

    def speed_settings(self, n_windows: int, context_length: int, horizon: int) -> dict[str, Any]:
        return {**super().speed_settings(n_windows, context_length, horizon), "torch_compile": False}

    def forecast_config(self, context_length: int, horizon: int, n_windows: int, params: dict[str, Any]):
        """The package's ``ForecastConfig`` of a chunk: the config's three flags, the quick start's others.

        Raises
        ------
        ConfigError
            If the context and the horizon (rounded up to the 128-step output patch) exceed the package's 16,384,
            or the horizon passes the continuous quantile head's ``output_quantile_len`` (1,024).
        """
        from timesfm import ForecastConfig

        if horizon > self.definition.output_quantile_len:
            raise ConfigError(f"TimesFM 2.5's continuous quantile head forecasts at most "
                              f"{self.definition.output_quantile_len} steps; --horizon {horizon} is longer")
        padded_horizon = -(-horizon // self.definition.output_patch_len) * self.definition.output_patch_len
        if context_length + padded_horizon > self.definition.context_limit:
            raise ConfigError(f"TimesFM 2.5 context_length {context_length} plus the horizon rounded up to "
                              f"{padded_horizon} exceeds the package's limit {self.definition.context_limit}; "
                              "use a shorter --max-context-length")
        flags = {key: FAMILY.choice(params, key) for key in FAMILY.choices}
        # the package multiplies the per-core batch by the GPU count (padding with dummy series) and runs on cuda:0
        per_core = -(-n_windows // self.model.model.device_count)
        return ForecastConfig(max_context=context_length, max_horizon=horizon, per_core_batch_size=per_core,
                              use_continuous_quantile_head=True, infer_is_positive=True, **flags)

    def predict_chunk(self, contexts: np.ndarray, ohlcv: np.ndarray | None, horizon: int,
                      params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """Close quantiles ``[n, 9, horizon]`` of ``n`` windows through the package's ``compile`` and ``forecast``
        (its output ``[n, horizon, 10]`` is the mean head, then the levels 0.1 ... 0.9)."""
        import torch

        self.model.compile(self.forecast_config(contexts.shape[1], horizon, len(contexts), params))
        with torch.inference_mode():
            _point, quantiles = self.model.forecast(horizon, [np.asarray(c, dtype=np.float32) for c in contexts])
        return np.moveaxis(np.asarray(quantiles[:, :, 1:], dtype=np.float64), 2, 1), self.levels
