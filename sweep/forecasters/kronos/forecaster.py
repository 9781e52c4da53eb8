"""Kronos behind the :class:`Forecaster` interface, through the project's own KV-cached sampler.

Kronos reads whole bars (open, high, low, close, volume, amount), so it asks for
``ohlcv``. Windows are encoded in groups of ``window_batch`` and each group's
context is shared by all its sample paths, and by later calls with other
temperatures or filters while it fits the memory budget; paths are drawn in blocks of
``samples_per_batch`` with one seeded ``torch.Generator`` per (block, window), keyed by the
window's own bars, so the first ``n`` paths never depend on how many more were drawn, and a
window's paths never depend on the other windows of its batch.

Neither do its numbers. A float32 matrix product's rounding depends on its shape: MKL computes
a row of ``x @ W`` differently when ``x`` has 1 row than when it has more, and at Kronos-small's
widths when it has up to 15 (width 512) or 128 (width 1024) rows than when it has more. So every
group has the same shape whatever the number of windows: ``window_batch`` does not depend on it,
and the last (or only) group is padded with copies of its last window. A window then goes
through products of the same shapes whether it is forecast alone or among 2,400, and its
rounding is the same (on the same machine and torch thread count). cuBLAS picks its kernels by
shape too: on an H200, 9 of 12 Kronos-small windows forecast alone differed from their batched
forecast with budget-sized chunks, none with fixed groups.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from typing import Any

import numpy as np

from ..checkpoints import CHECKPOINT_FILES
from ..config import check_kronos_sampling
from .card import DEFAULT_KRONOS_MODEL
from ..base import Forecaster, SampleBatch, block_seed, default_memory_budget, module_bytes, window_keys
from .._spill import DiskLRU

__all__ = ["KronosForecaster", "DEFAULT_KRONOS_MODEL", "parse_sampling"]
#: Upper bound of samples_per_batch; a power of two dividing every num_samples of the Kronos space.
MAX_SAMPLES_PER_BATCH = 32
#: A group holds the windows whose activations fill GROUP_BYTES, at most MAX_WINDOW_GROUP, per
#: device type. On a CPU: enough rows per call to amortise Python's per-call overhead (tiny
#: models), few enough that a one-origin forecast, which computes a whole padded group, stays
#: cheap (Kronos-small at context 512: 4 windows). A GPU runs a group in parallel: on an H200,
#: groups of 128 Kronos-small windows drew 2,400 origins faster than the old budget-sized chunks.
GROUP_BYTES = {"cpu": 96 * 2**20, "cuda": 16 * 2**30}
MAX_WINDOW_GROUP = {"cpu": 64, "cuda": 128}
#: Group sizes divide 100, so 100 validation windows and 2,400 test origins (the defaults, and any
#: multiple of 100) fill their groups and compute no padding.
GROUP_SIZES = (100, 50, 25, 20, 10, 5, 4, 2, 1)


def parse_sampling(sampling: dict[str, Any] | None):
    """A :class:`sweep.forecasters.kronos.sampler.Sampling` from a config's ``sampling`` dict (defaults: upstream's T=1, no filter, clip 5).

    Raises
    ------
    ConfigError
        See :func:`sweep.forecasters.config.check_kronos_sampling`.
    """
    from .sampler import Sampling

    check_kronos_sampling(sampling or {})  # unknown keys first: Sampling(**) would raise a TypeError
    return Sampling(**(sampling or {}))


class KronosForecaster(Forecaster):
    """Kronos sample paths for a batch of origins.

    Parameters
    ----------
    model : str
        Hub id (default ``NeoQuasar/Kronos-small``) or folder (``--kronos-model``).
    tokenizer : str, optional
        Hub id or folder (``--kronos-tokenizer``); default from the model card or the trained folder.
    revision : str, optional
        Hub revision of the predictor.
    max_context : int, optional
        See :func:`sweep.forecasters.kronos.checkpoint.load_kronos`.
    device : str, optional
        ``"cuda"`` when available, else ``"cpu"``.
    memory_budget_bytes : int, optional
        Working memory of this forecaster: kept encodings get half, the encoding chunk and the
        decoding batch a quarter each (default: half the free GPU memory, or its share of the 4 GiB
        CPU process budget, see :func:`sweep.forecasters.base.default_memory_budget`).

    Raises
    ------
    ModelLoadError
        See :func:`sweep.forecasters.kronos.checkpoint.load_kronos`.
    """

    family = "kronos"
    uses_ohlcv = True
    #: A predictor (or tokenizer) folder; a kronostraining output is told by its own files
    #: (:func:`sweep.forecasters.checkpoint_output.checkpoint_kind_of`).
    checkpoint_files = CHECKPOINT_FILES
    checkpoint_signature = ("config.json", "s1_bits", None)  # the width of the tokens only Kronos draws

    def rows_independent(self, horizon: int) -> bool:
        return True  # per-window streams, fixed group shapes (module docstring)

    def __init__(self, model: str | None = None, tokenizer: str | None = None, revision: str | None = None,
                 max_context: int | None = None, device: str | None = None, memory_budget_bytes: int | None = None):
        import torch

        from .checkpoint import load_kronos

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.checkpoint = load_kronos(model or DEFAULT_KRONOS_MODEL, tokenizer, revision, max_context, self.device)
        self.max_context_length = self.checkpoint.max_context
        self.memory_budget_bytes = memory_budget_bytes or default_memory_budget(
            self.device, module_bytes(self.checkpoint.model, self.checkpoint.tokenizer))
        self._encodings: OrderedDict[tuple, list] = OrderedDict()
        self._spilled = DiskLRU(prefix="sweep-kronos-encodings-")  # evicted encodings, read back instead of re-encoded

    def identity(self) -> dict[str, Any]:
        return {"family": self.family, **self.checkpoint.identity}

    @classmethod
    def context_limit(cls, model: str | None = None, revision: str | None = None, **options: Any) -> int:
        from .card import kronos_context_limit

        return kronos_context_limit(model or DEFAULT_KRONOS_MODEL)

    @classmethod
    def horizon_limit(cls, model: str | None = None, revision: str | None = None, **options: Any) -> int:
        """Its context limit: the predictor attends over at most ``max_context`` tokens, and a path's every bar is
        one (:func:`sweep.forecasters.kronos.sampler.encode_windows` refuses a longer horizon)."""
        return cls.context_limit(model, revision, **options)

    @classmethod
    def from_identity(cls, identity: dict[str, Any]) -> "KronosForecaster":
        return cls(identity["model_id"], identity.get("tokenizer_id"), revision=identity.get("revision"),
                   max_context=identity.get("max_context"))

    def _bytes_per_window(self, context_length: int, horizon: int, kept: bool = False) -> int:
        """Cache and activations of one window's context, float32 (predictor, its cross layer, tokenizer decoder).

        ``kept``: only what an encoding keeps after encoding; with a one-bar horizon the predictor's
        per-layer caches are dropped (see :func:`sweep.forecasters.kronos.sampler.encode_windows`).
        """
        model, codec = self.checkpoint.model.config, self.checkpoint.tokenizer
        layers = 0 if kept and horizon == 1 else model["n_layers"]
        width = 2 * model["d_model"] * (layers + 1) + (0 if kept else model["ff_dim"])
        decoder = 2 * codec.embed.out_features * len(codec.decoder)
        return 4 * (context_length + horizon) * (width + decoder)

    def window_batch(self, n_windows: int, context_length: int, horizon: int) -> int:
        """Windows encoded and drawn together: the largest of :data:`GROUP_SIZES` within the limits.

        The limits are :data:`GROUP_BYTES` and :data:`MAX_WINDOW_GROUP` of the device type and a
        quarter of the memory budget. Independent of ``n_windows`` (kept for the
        :class:`Forecaster` interface): forecasts are drawn in groups of exactly this many
        windows, padded, so a window's arithmetic never depends on how many windows share its
        forecast (see the module docstring).
        """
        kind = "cuda" if self.device.startswith("cuda") else "cpu"
        fit = min(GROUP_BYTES[kind], self.memory_budget_bytes // 4) // self._bytes_per_window(context_length, horizon)
        return next(size for size in GROUP_SIZES if size <= max(1, min(MAX_WINDOW_GROUP[kind], fit)))

    def samples_per_batch(self, n_windows: int, context_length: int, horizon: int) -> int:
        """Largest power of two <= 32 whose paths (own caches, attention scores) fit a quarter of the budget.

        Like :meth:`window_batch`, independent of ``n_windows``: the block size shapes a window's
        random streams.
        """
        model = self.checkpoint.model.config
        windows = self.window_batch(n_windows, context_length, horizon)
        per_path = 4 * horizon * (2 * model["d_model"] * (model["n_layers"] + 1)
                                  + 3 * model["n_heads"] * (context_length + horizon))
        rows = self.memory_budget_bytes // 4 // max(1, per_path * windows)
        spb = 1
        while spb * 2 <= min(rows, MAX_SAMPLES_PER_BATCH):
            spb *= 2
        return spb

    def speed_settings(self, n_windows: int, context_length: int, horizon: int) -> dict[str, Any]:
        return {**super().speed_settings(n_windows, context_length, horizon), "device": self.device,
                "dtype": "float32", "window_batch": self.window_batch(n_windows, context_length, horizon),
                "decoder": "kv-cache-per-window-streams-fixed-groups"}  # in every cache key: how paths are computed

    def forecast(self, contexts: np.ndarray, timestamps_s: np.ndarray, horizon: int, num_samples: int,
                 seed: int, sampling: dict[str, Any] | None = None, ohlcv: np.ndarray | None = None) -> SampleBatch:
        """Draw ``[n_windows, num_samples, horizon]`` close paths (quote currency); see :class:`Forecaster`.

        Raises
        ------
        ValueError
            If ``ohlcv`` is missing or the context exceeds the model's max context.
        ConfigError
            If ``sampling`` is invalid (see :func:`parse_sampling`).
        """
        import torch

        from .sampler import decode_close, draw_tokens

        if ohlcv is None:
            raise ValueError("Kronos needs the ohlcv bars of each context, not only the close")
        params = parse_sampling(sampling)
        n_windows, context_length = contexts.shape
        spb = self.samples_per_batch(n_windows, context_length, horizon)
        n_blocks = -(-num_samples // spb)
        paths = np.empty((n_windows, n_blocks * spb, horizon))
        block_seconds = np.zeros(n_blocks)
        ckpt = self.checkpoint
        keys = window_keys(contexts, timestamps_s)
        for padded, windows, encode_seconds in self._encoded(ohlcv, timestamps_s, horizon, params.clip):
            # every block needs the encoded context; its first cost counts even when reused, so
            # latency_s is what a standalone forecast costs
            block_seconds[0] += encode_seconds
            rows = slice(padded[0], padded[-1] + 1)  # the group's own windows; the padding repeats the last
            for j in range(n_blocks):
                began = time.perf_counter()
                # one stream per window: its paths do not depend on the batch it is drawn in
                generators = [torch.Generator(self.device).manual_seed(block_seed(seed, j, keys[w])) for w in padded]
                s1, s2 = draw_tokens(ckpt.model, windows, spb, horizon, params, generators)
                closes = decode_close(ckpt.tokenizer, windows, s1, s2)
                paths[rows, j * spb:(j + 1) * spb] = closes[:rows.stop - rows.start]
                block_seconds[j] += time.perf_counter() - began
        return SampleBatch(paths[:, :num_samples], block_seconds, spb)

    def _encoded(self, ohlcv: np.ndarray, timestamps_s: np.ndarray, horizon: int, clip: float):
        """``(padded, EncodedWindows, seconds)`` per group of ``window_batch`` windows.

        ``padded`` holds the group's rows, the last one repeated to fill a short group.

        The encoded context depends on the bars, ``horizon`` and ``clip`` only, not on
        temperature or filtering, so trials that differ only in those reuse it: the
        most recent encodings are kept while they fit the memory budget, and those evicted
        are kept on local disk (:class:`sweep.forecasters._spill.DiskLRU`) and read back
        instead of encoded again. Encodings that do not fit are streamed, one group in
        memory at a time.
        """
        n_windows, context_length = timestamps_s.shape
        chunk = self.window_batch(n_windows, context_length, horizon)
        key = (hashlib.sha256(ohlcv.tobytes() + timestamps_s.tobytes()).hexdigest(), ohlcv.shape, horizon, clip, chunk)
        if key in self._encodings:
            self._encodings.move_to_end(key)
            return self._encodings[key]
        # kept encodings get half the budget; the other half is the encoding group and the decoding batch
        keep = self.memory_budget_bytes // 2 // max(1, self._bytes_per_window(context_length, horizon, kept=True)
                                                    * -(-n_windows // chunk) * chunk)
        if keep < 1:  # streamed, never kept (so never spilled either)
            return self._encode_chunks(ohlcv, timestamps_s, horizon, clip, chunk)
        while len(self._encodings) >= keep:  # make room first, so old and new never coexist in memory
            self._spilled.put(*self._encodings.popitem(last=False))
        self._encodings[key] = self._spilled.get(key) if key in self._spilled else \
            list(self._encode_chunks(ohlcv, timestamps_s, horizon, clip, chunk))
        return self._encodings[key]

    def _encode_chunks(self, ohlcv: np.ndarray, timestamps_s: np.ndarray, horizon: int, clip: float, chunk: int):
        """Encode groups of exactly ``chunk`` windows, the last one padded with copies of its last window."""
        from .sampler import encode_windows

        ckpt = self.checkpoint
        n_windows = len(timestamps_s)
        for start in range(0, n_windows, chunk):
            group = np.arange(start, min(start + chunk, n_windows))
            padded = np.concatenate([group, np.full(chunk - len(group), group[-1])])
            began = time.perf_counter()
            windows = encode_windows(ckpt.model, ckpt.tokenizer, ohlcv[padded], timestamps_s[padded], horizon, clip,
                                     ckpt.max_context, self.device)
            yield padded, windows, time.perf_counter() - began
