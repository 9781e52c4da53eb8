"""Toto (Datadog, package ``toto-ts``) behind the :class:`Forecaster` interface.

Toto is fed the close series as one variate. Every origin of a request is
decoded in one batch.

Toto forecasts one patch (``patch_size`` bars) per forward pass, and every path
of a window starts from the same context. When the horizon fits in one patch
(the default horizon of 1 bar always does), the context is therefore encoded
once and all paths are drawn from that one next-patch distribution: the same
distribution toto-ts' decoder samples each chain from, at the cost of one
forward pass instead of one per ``samples_per_batch`` paths. Longer horizons
feed sampled patches back, so they are decoded by toto-ts' KV-cached
``TotoForecaster``, ``samples_per_batch`` chains at a time.
"""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import checkpoints
from ..errors import ModelLoadError
from .base import (Forecaster, SampleBatch, block_seed, default_memory_budget, module_bytes, sample_in_blocks,
                   window_keys)
from .registry import FAMILIES

__all__ = ["TotoForecaster", "load_toto", "DEFAULT_TOTO_MODEL", "TOTO_MAX_CONTEXT"]

logger = logging.getLogger(__name__)

DEFAULT_TOTO_MODEL = FAMILIES["toto"].default_model
#: Longest context Toto-Open-Base-1.0 was trained with (model card: 4096 steps).
TOTO_MAX_CONTEXT = 4096
#: Upper bound of samples_per_batch; a power of two that divides every num_samples
#: choice of the search space, so one block size serves every trial.
MAX_SAMPLES_PER_BATCH = 16
INSTALL_HINT = "pip install --no-deps toto-ts==0.2.0 && pip install 'sweep[toto]'"


def resolve_checkpoint(model: str, revision: str | None = None) -> tuple[Path, dict[str, Any]]:
    """A Toto checkpoint folder (see :func:`sweep.forecasters.checkpoints.resolve_checkpoint`)."""
    return checkpoints.resolve_checkpoint(model, revision, "--toto-model", DEFAULT_TOTO_MODEL,
                                          "'python -m tototraining'")


def seed_device(device: str, seed: int) -> None:
    """Seed the generator that samples on ``device``.

    On CPU only torch's default generator is seeded, which is what ``torch.manual_seed`` does to it
    (the same stream); ``torch.manual_seed`` would also seed every accelerator backend, and where
    none is present each call records a stack trace (about 80 us), paid once per window and path
    block.
    """
    import torch

    if device.startswith("cuda"):
        torch.manual_seed(seed)
    else:
        torch.default_generator.manual_seed(seed)


@contextmanager
def block_rng(device: str, seed: int, block: int):
    """Seed torch with :func:`block_seed` for one sample block, leaving the global RNG state untouched."""
    import torch

    with torch.random.fork_rng(devices=[device] if device.startswith("cuda") else []):
        seed_device(device, block_seed(seed, block))
        yield


def load_toto(model: str = DEFAULT_TOTO_MODEL, revision: str | None = None, device: str = "cpu"):
    """Load a Toto checkpoint.

    Parameters
    ----------
    model : str
        A Hugging Face id (default ``Datadog/Toto-Open-Base-1.0``) or a local folder with
        ``config.json`` and ``model.safetensors``.
    revision : str, optional
        Hub revision (branch, tag or commit).
    device : str
        torch device.

    Returns
    -------
    module : toto.model.toto.Toto
        In eval mode on ``device``.
    identity : dict
        See :func:`resolve_checkpoint`.

    Raises
    ------
    ModelLoadError
        If toto-ts is not installed, the checkpoint cannot be found, or its weights do not fit its config.
    """
    try:
        from toto.model.toto import Toto
    except ImportError as e:
        raise ModelLoadError(f"Toto needs the toto-ts package ({e}); install it with: {INSTALL_HINT}") from e
    folder, identity = resolve_checkpoint(model, revision)
    try:
        module = Toto.load_from_checkpoint(str(folder), map_location=device)
    except (RuntimeError, TypeError, KeyError, ValueError, json.JSONDecodeError) as e:
        raise ModelLoadError(f"--toto-model {model!r}: {folder} is not a loadable Toto checkpoint ({e})") from e
    module.eval()
    return module, identity


class TotoForecaster(Forecaster):
    """Toto sample paths for a batch of origins.

    Parameters
    ----------
    model : str
        Hugging Face id or local checkpoint folder (``--toto-model``).
    revision : str, optional
        Hub revision.
    device : str, optional
        ``"cuda"`` when available, else ``"cpu"`` by default.
    memory_budget_bytes : int, optional
        Working memory of this forecaster; default half the free GPU memory, or its share of the
        4 GiB CPU process budget (see :func:`sweep.forecasters.base.default_memory_budget`).

    Raises
    ------
    ModelLoadError
        See :func:`load_toto`.
    """

    family = "toto"
    max_context_length = TOTO_MAX_CONTEXT
    checkpoint_files = checkpoints.CHECKPOINT_FILES
    checkpoint_signature = ("config.json", "scaler_cls", None)  # a constructor argument of Toto's alone

    def __init__(self, model: str = DEFAULT_TOTO_MODEL, revision: str | None = None, device: str | None = None,
                 memory_budget_bytes: int | None = None):
        import torch

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.module, self._identity = load_toto(model, revision, self.device)
        self.backbone = self.module.model
        self.memory_budget_bytes = memory_budget_bytes or default_memory_budget(self.device,
                                                                                module_bytes(self.module))

    def identity(self) -> dict[str, Any]:
        return {"family": self.family, **self._identity}

    def samples_per_batch(self, n_windows: int, context_length: int, horizon: int) -> int:
        """Largest power of two <= 16 whose decoding batch fits the memory budget.

        The estimate counts the KV cache and about 16 activations of width
        ``embed_dim`` per patch and layer, in float32. A one-patch horizon decodes nothing: each
        window's paths are drawn from its own next-patch distribution, ``spb`` at a time, whatever
        the batch, so it always takes 16. The block size shapes the random stream, so a window's
        paths then never depend on how many windows are forecast with it (serving one origin gives
        the numbers evaluation scored on 2,400), and fewer blocks mean fewer sampling calls.
        """
        if self._fits_one_patch(horizon):
            return MAX_SAMPLES_PER_BATCH
        rows = max(1, self.memory_budget_bytes // (self._bytes_per_row(context_length, horizon) * n_windows))
        spb = 1
        while spb * 2 <= min(rows, MAX_SAMPLES_PER_BATCH):
            spb *= 2
        return spb

    def _bytes_per_row(self, context_length: int, horizon: int) -> int:
        """The KV cache and about 16 activations of width ``embed_dim`` per patch and layer, in float32."""
        patches = -(-(context_length + horizon) // self.backbone.patch_embed.patch_size) + 1
        return 4 * patches * self.backbone.embed_dim * (2 * len(self.backbone.transformer.layers) + 16)

    def windows_per_pass(self, context_length: int, horizon: int) -> int:
        """Windows whose backbone pass fits the memory budget (the estimate of :meth:`samples_per_batch`)."""
        return max(1, self.memory_budget_bytes // self._bytes_per_row(context_length, horizon))

    def _fits_one_patch(self, horizon: int) -> bool:
        return horizon <= self.backbone.patch_embed.patch_size

    def rows_independent(self, horizon: int) -> bool:
        """One patch: each window is sampled from its own stream. Longer horizons decode through toto-ts, whose
        chains share one generator across the batch."""
        return self._fits_one_patch(horizon)

    def speed_settings(self, n_windows: int, context_length: int, horizon: int) -> dict[str, Any]:
        # the decoder name is part of every cache key: "per-window" streams changed the paths a seed gives
        decoder = "shared-context-per-window" if self._fits_one_patch(horizon) else "toto-ts-kv-cache"
        return {**super().speed_settings(n_windows, context_length, horizon), "device": self.device,
                "dtype": "float32", "decoder": decoder}

    def forecast(self, contexts: np.ndarray, timestamps_s: np.ndarray, horizon: int, num_samples: int,
                 seed: int, sampling: dict[str, Any] | None = None, ohlcv: np.ndarray | None = None) -> SampleBatch:
        import torch
        from toto.data.util.dataset import MaskedTimeseries

        n_windows, context_length = contexts.shape
        spb = self.samples_per_batch(n_windows, context_length, horizon)
        series = torch.as_tensor(contexts, dtype=torch.float32, device=self.device)[:, None, :]
        stamps = torch.as_tensor(timestamps_s, dtype=torch.int64, device=self.device)[:, None, :]
        interval = stamps[:, :, -1] - stamps[:, :, -2] if context_length > 1 else torch.full_like(stamps[:, :, 0], 3600)
        inputs = MaskedTimeseries(series=series, padding_mask=torch.ones_like(series, dtype=torch.bool),
                                  id_mask=torch.zeros_like(series, dtype=torch.int),
                                  timestamp_seconds=stamps, time_interval_seconds=interval)
        if self._fits_one_patch(horizon):
            draw_block = self._shared_context_blocks(inputs, horizon, spb, seed, window_keys(contexts, timestamps_s))
        else:
            draw_block = self._decoded_blocks(inputs, horizon, spb, seed)
        with torch.inference_mode():
            return sample_in_blocks(draw_block, num_samples, spb)

    def encode_next_steps(self, inputs, horizon: int):
        """One backbone pass over every context: what :meth:`window_distribution` needs.

        Parameters
        ----------
        inputs : toto.data.util.dataset.MaskedTimeseries
            Series ``[n_windows, 1, context_length]``.
        horizon : int
            At most ``patch_size``.

        Returns
        -------
        tuple
            ``(features, loc, scale)``: the backbone output of the first ``horizon`` positions of
            the last input patch, ``[n_windows, 1, horizon, embed_dim]``, and the causal scaler's
            statistics up to them.
        """
        from toto.data.util.dataset import pad_array, pad_id_mask

        stride = self.backbone.patch_embed.stride
        series = pad_array(inputs.series, stride)
        flattened, loc, scale = self.backbone.backbone(
            series, pad_array(inputs.padding_mask, stride), pad_id_mask(inputs.id_mask, stride),
            kv_cache=None, scaling_prefix_length=series.shape[-1])
        # The head maps each position of the last input patch to the step one patch ahead;
        # only the first `horizon` of them are needed, with their (causal) scaler statistics.
        end = series.shape[-1] - self.backbone.patch_embed.patch_size + horizon
        return flattened[:, :, end - horizon:end], loc[..., :end], scale[..., :end]

    def window_distribution(self, encoded, rows: slice):
        """Toto's predictive distribution of the next ``horizon`` bars for the windows ``rows``.

        Batch shape ``[n_rows, 1, horizon]``, in price units: the first ``horizon`` steps of the
        next-patch distribution toto-ts' ``generate_samples`` draws every chain from.
        """
        from toto.inference.forecaster import TotoForecaster as TotoDecoder

        features, loc, scale = encoded
        base = self.backbone.output_distribution(features[rows])
        return TotoDecoder.create_affine_transformed(base, loc[rows], scale[rows])

    def next_steps_distribution(self, inputs, horizon: int):
        """The distribution of :meth:`window_distribution` for every window of ``inputs`` at once."""
        return self.window_distribution(self.encode_next_steps(inputs, horizon), slice(None))

    def _shared_context_blocks(self, inputs, horizon: int, spb: int, seed: int,
                               keys: list[int]) -> Callable[[int], np.ndarray]:
        import torch
        from toto.data.util.dataset import replace_extreme_values

        windows = []  # encoded on the first block, so its time counts in that block's latency

        def draw_block(block: int) -> np.ndarray:
            if not windows:
                encoded = self.encode_next_steps(inputs, horizon)
                windows.extend(self.window_distribution(encoded, slice(row, row + 1)) for row in range(len(keys)))
            paths = []
            with torch.random.fork_rng(devices=[self.device] if self.device.startswith("cuda") else []):
                for distribution, key in zip(windows, keys):  # each window its own stream, whatever the batch
                    seed_device(self.device, block_seed(seed, block, key))
                    paths.append(replace_extreme_values(distribution.sample((spb,)))[:, 0, 0])
            # [windows][samples, horizon] -> [windows, samples, horizon]
            return torch.stack(paths).double().cpu().numpy()

        return draw_block

    def _decoded_blocks(self, inputs, horizon: int, spb: int, seed: int) -> Callable[[int], np.ndarray]:
        from toto.inference.forecaster import TotoForecaster as TotoDecoder

        decoder = TotoDecoder(self.backbone)

        def draw_block(block: int) -> np.ndarray:
            with block_rng(self.device, seed, block):
                forecast = decoder.forecast(inputs, prediction_length=horizon, num_samples=spb,
                                            samples_per_batch=spb, use_kv_cache=True)
            # toto: [batch, variate, horizon, samples] -> [windows, samples, horizon]
            return forecast.samples[:, 0].permute(0, 2, 1).double().cpu().numpy()

        return draw_block
