"""The one interface every model family implements."""

from __future__ import annotations

import time
import zlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

__all__ = ["Forecaster", "QuantileForecaster", "SampleBatch", "QuantileBatch", "concatenate_batches", "block_seed",
           "window_keys",
           "sample_in_blocks", "default_memory_budget",
           "module_bytes"]

#: Memory the whole sweep process may use on a CPU (models, kept encodings, decoding batches, caches).
CPU_MEMORY_BUDGET_BYTES = 4 * 2**30
#: What no forecaster budget covers: the interpreter, torch and the other libraries (0.46 GiB measured after
#: importing them), allocator slack, Optuna's in-memory studies and the sample caches of a running sweep.
RUNTIME_BYTES = 2**30
#: Model families that may be loaded in one process at once (a sweep keeps Toto and Kronos loaded).
FAMILIES_PER_PROCESS = 2


@dataclass(frozen=True)
class SampleBatch:
    """Sample paths of a set of forecast origins.

    Attributes
    ----------
    samples : numpy.ndarray
        ``[n_windows, n_samples, horizon]`` in price units.
    block_seconds : numpy.ndarray
        ``[n_blocks]`` inference seconds of each block of ``samples_per_batch`` paths.
    samples_per_batch : int
        Paths decoded together per block; block ``j`` holds paths
        ``[j * samples_per_batch, (j + 1) * samples_per_batch)``.
    """

    samples: np.ndarray
    block_seconds: np.ndarray
    samples_per_batch: int

    def first(self, num_samples: int) -> "SampleBatch":
        """The first ``num_samples`` paths and the blocks that produced them.

        Raises
        ------
        ValueError
            If fewer paths are held.
        """
        if num_samples > self.samples.shape[1]:
            raise ValueError(f"asked for {num_samples} samples, only {self.samples.shape[1]} held")
        blocks = -(-num_samples // self.samples_per_batch)
        return SampleBatch(self.samples[:, :num_samples], self.block_seconds[:blocks], self.samples_per_batch)

    def windows(self, rows: np.ndarray, share: bool = True) -> "SampleBatch":
        """The paths of windows ``rows`` only; block seconds are scaled to their share of the windows,
        so :meth:`latency_s` stays the seconds per origin (``share=False``: kept whole, for a reordering)."""
        scale = len(rows) / self.samples.shape[0] if share else 1.0
        return SampleBatch(self.samples[rows], self.block_seconds * scale, self.samples_per_batch)

    def latency_s(self) -> float:
        """Inference seconds per forecast origin."""
        return float(self.block_seconds.sum() / self.samples.shape[0])

    def leading(self, horizon: int) -> "SampleBatch":
        """The first ``horizon`` steps of every path: the ``horizon``-step forecast of a family whose shorter
        horizons equal a direct draw (:func:`sweep.forecasters.registry.draws_once`). Seconds are kept whole."""
        return SampleBatch(self.samples[..., :horizon], self.block_seconds, self.samples_per_batch)

    @property
    def predictive(self):
        """The paths as a :class:`sweep.stats.predictive.Predictive`."""
        from ..stats.predictive import Predictive

        return Predictive(self.samples)


@dataclass(frozen=True)
class QuantileBatch:
    """Quantile forecasts of a set of forecast origins (families that predict quantiles in one pass).

    Attributes
    ----------
    quantiles : numpy.ndarray
        ``[n_windows, n_levels, horizon]`` in price units, as the model returns them (Toto 2.0 sorts
        them; Chronos' heads may cross, and are not rearranged, so they equal the package's output).
    levels : numpy.ndarray
        ``[n_levels]`` quantile levels in (0, 1), increasing.
    block_seconds : numpy.ndarray
        ``[n_chunks]`` inference seconds of each chunk of windows.
    point : numpy.ndarray or None
        ``[n_windows, horizon]`` prices: the point of a family whose point is not read from its quantiles
        (persistence: the last close, beside its empirical distribution); None: the config's aggregate of them.
    """

    quantiles: np.ndarray
    levels: np.ndarray
    block_seconds: np.ndarray
    point: np.ndarray | None = None

    def first(self, num_samples: int) -> "QuantileBatch":
        """Itself: a quantile forecast has no paths to count (the interface of :meth:`SampleBatch.first`)."""
        return self

    def windows(self, rows: np.ndarray, share: bool = True) -> "QuantileBatch":
        """The quantiles of windows ``rows`` only; seconds scaled to their share of the windows (see
        :meth:`SampleBatch.windows`)."""
        scale = len(rows) / self.quantiles.shape[0] if share else 1.0
        return QuantileBatch(self.quantiles[rows], self.levels, self.block_seconds * scale,
                             None if self.point is None else self.point[rows])

    def latency_s(self) -> float:
        """Inference seconds per forecast origin."""
        return float(self.block_seconds.sum() / self.quantiles.shape[0])

    def leading(self, horizon: int) -> "QuantileBatch":
        """The first ``horizon`` steps (see :meth:`SampleBatch.leading`)."""
        return QuantileBatch(self.quantiles[..., :horizon], self.levels, self.block_seconds,
                             None if self.point is None else self.point[:, :horizon])

    @property
    def predictive(self):
        """The quantiles as a :class:`sweep.stats.predictive.Predictive`."""
        from ..stats.predictive import Predictive

        return Predictive(self.quantiles, self.levels, self.point)


def concatenate_batches(parts: list) -> "SampleBatch | QuantileBatch":
    """The windows of ``parts`` (batches of one kind, equal path counts) one after another; inference seconds add
    up (block by block for paths, as one total for quantiles)."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    if isinstance(first, QuantileBatch):
        points = None if first.point is None else np.concatenate([p.point for p in parts])
        return QuantileBatch(np.concatenate([p.quantiles for p in parts]), first.levels,
                             np.array([sum(float(p.block_seconds.sum()) for p in parts)]), points)
    return SampleBatch(np.concatenate([p.samples for p in parts]), np.sum([p.block_seconds for p in parts], axis=0),
                       first.samples_per_batch)


def block_seed(seed: int, block: int, *more: int) -> int:
    """Independent 32-bit seed of sample block ``block`` under ``seed`` (numpy SeedSequence).

    ``more`` adds further indices, e.g. a window chunk, each giving another independent stream.
    """
    return int(np.random.SeedSequence([seed, block, *more]).generate_state(1)[0])


def window_keys(contexts: np.ndarray, timestamps_s: np.ndarray) -> list[int]:
    """A 32-bit key per window from its own bars (close and open times): the random stream of a window.

    Seeding each window's draws with ``block_seed(seed, block, key)`` makes its paths a function of
    the window alone, never of its row in a batch or of the other windows drawn with it, so a
    one-origin forecast (``sweep predict``) draws exactly the paths the batched evaluation drew.
    """
    return [zlib.crc32(np.ascontiguousarray(c, dtype=np.float64).tobytes()
                       + np.ascontiguousarray(t, dtype=np.int64).tobytes()) for c, t in zip(contexts, timestamps_s)]


def default_memory_budget(device: str, model_bytes: int = 0) -> int:
    """Bytes a forecaster's working memory may use: half the free GPU memory, or its share of the CPU process budget.

    On a CPU the process budget (:data:`CPU_MEMORY_BUDGET_BYTES`) less the runtime and the
    forecaster's own weights is split between the model families a process keeps loaded, so a
    sweep holding Toto and Kronos stays within it as a whole (at least 256 MiB each).
    """
    if device.startswith("cuda"):
        import torch

        free, _total = torch.cuda.mem_get_info()
        return free // 2
    share = (CPU_MEMORY_BUDGET_BYTES - RUNTIME_BYTES - model_bytes) // FAMILIES_PER_PROCESS
    return max(2**28, share)


def module_bytes(*modules) -> int:
    """Bytes of the parameters and buffers of torch ``modules``."""
    return sum(t.numel() * t.element_size() for m in modules for t in (*m.parameters(), *m.buffers()))


def sample_in_blocks(draw_block: Callable[[int], np.ndarray], num_samples: int, samples_per_batch: int) -> SampleBatch:
    """Draw ``num_samples`` paths as consecutive blocks of ``samples_per_batch`` paths.

    Block ``j`` depends only on ``j`` (its seed is :func:`block_seed`), never on
    ``num_samples``, so the first ``n`` paths of an ``N``-path run equal an
    ``n``-path run: the contract the sample cache relies on.

    Parameters
    ----------
    draw_block : callable
        ``draw_block(j) -> [n_windows, samples_per_batch, horizon]``.
    num_samples, samples_per_batch : int
    """
    blocks, seconds = [], []
    for j in range(-(-num_samples // samples_per_batch)):
        start = time.perf_counter()
        blocks.append(draw_block(j))
        seconds.append(time.perf_counter() - start)
    samples = np.concatenate(blocks, axis=1)[:, :num_samples]
    return SampleBatch(samples, np.asarray(seconds), samples_per_batch)


class Forecaster(ABC):
    """A loaded model that turns contexts into sample paths or quantiles.

    Forecasters never touch Optuna; studies never touch torch. A family joins by adding one
    module with a subclass and one entry in :data:`sweep.forecasters.registry.FAMILIES`.
    """

    family: str
    max_context_length: int
    #: Whether :meth:`forecast` needs the ``ohlcv`` bars besides the close.
    uses_ohlcv: bool = False
    #: ``"samples"`` (:class:`SampleBatch`) or ``"quantiles"`` (:class:`QuantileBatch`).
    output: str = "samples"
    #: Files every checkpoint folder of the family holds (those its loader reads); a folder given to its flag
    #: without one is refused before a run starts. Empty: the loader alone judges a folder.
    checkpoint_files: tuple[str, ...] = ()
    #: ``(file, key, value)`` that tells a folder holding the family's checkpoint from every other family's: the
    #: JSON ``file`` (of a ``.safetensors`` file, its header) holds ``key`` (a tuple: a nested key), equal to
    #: ``value`` unless that is None. None: the family's folders are not recognised
    #: (:func:`sweep.forecasters.checkpoint_folders.checkpoint_family_of`).
    checkpoint_signature: tuple[str, str | tuple[str, ...], Any] | None = None

    def rows_independent(self, horizon: int) -> bool:
        """Whether a window's forecast depends on its own bars only (up to float rounding), never on the other
        windows of its request: then the sample cache keeps one row per origin and draws only the origins it
        lacks. ``False`` (the default, safe for any family) caches each request's origins as a whole."""
        return False

    def batches_symbols(self) -> bool:
        """Whether many symbols' windows should go through one forward pass: on a GPU, where one symbol's 100
        windows leave the device mostly idle. On a CPU one symbol's pass is already compute-bound, and one pass
        over 10 symbols measured slower than 10 passes (0.87x Toto, 0.39x Chronos-2, ``benchmarks/symbol_batch.py``),
        so studies draw symbol by symbol there."""
        return str(getattr(self, "device", "cpu")).startswith("cuda")

    def windows_per_pass(self, context_length: int, horizon: int) -> int | None:
        """Most windows one :meth:`forecast` call should take when windows of many symbols are drawn together,
        from the memory budget; ``None``: any number (the family splits its own work, e.g. into groups)."""
        return None

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """Model id and revision or checkpoint hash: part of every cache key and provenance."""

    @classmethod
    def context_limit(cls, model: str | None = None, revision: str | None = None, **options: Any) -> int:
        """The longest context (bars) checkpoint ``model`` accepts, read without loading its weights; equals the
        loaded model's :attr:`max_context_length`. A fixed architecture returns its class attribute; families
        whose limit depends on the checkpoint read its config.

        Raises
        ------
        ModelLoadError
            If the checkpoint's config cannot be found or read.
        """
        return cls.max_context_length

    @classmethod
    def horizon_limit(cls, model: str | None = None, revision: str | None = None, **options: Any) -> int | None:
        """The longest horizon (bars) checkpoint ``model`` forecasts, read without loading its weights, as
        :meth:`context_limit` is; ``None`` (the default): any horizon (a family that rolls its forecast forward).

        Raises
        ------
        ModelLoadError
            If the checkpoint's config cannot be found or read.
        """
        return None

    @classmethod
    def from_identity(cls, identity: dict[str, Any]) -> "Forecaster":
        """Load the model an :meth:`identity` names (``model_id`` and ``revision``).

        Raises
        ------
        ModelLoadError
            If it cannot be loaded.
        """
        return cls(identity["model_id"], revision=identity.get("revision"))

    @abstractmethod
    def samples_per_batch(self, n_windows: int, context_length: int, horizon: int) -> int:
        """Paths decoded together, chosen from memory limits (a speed setting, never searched)."""

    def speed_settings(self, n_windows: int, context_length: int, horizon: int) -> dict[str, Any]:
        """Speed settings chosen automatically for this request, recorded with every result."""
        return {"samples_per_batch": self.samples_per_batch(n_windows, context_length, horizon)}

    @abstractmethod
    def forecast(self, contexts: np.ndarray, timestamps_s: np.ndarray, horizon: int, num_samples: int,
                 seed: int, sampling: dict[str, Any] | None = None, ohlcv: np.ndarray | None = None):
        """Forecast ``horizon`` bars after each context: sample paths, or quantiles for ``output == "quantiles"``.

        Parameters
        ----------
        contexts : numpy.ndarray
            ``[n_windows, context_length]`` close prices, oldest first.
        timestamps_s : numpy.ndarray
            ``[n_windows, context_length]`` bar open times, POSIX seconds.
        horizon : int
            Bars to forecast.
        num_samples : int
            Paths per window (ignored by quantile families).
        seed : int
            Sampling seed; equal seeds give equal paths.
        sampling : dict, optional
            Family-specific parameters of the config (Kronos' sampling, a quantile family's inputs).
        ohlcv : numpy.ndarray, optional
            ``[n_windows, context_length, 5]`` open, high, low, close, volume of the same
            bars, for families that read more than the close (``uses_ohlcv``).

        Returns
        -------
        SampleBatch or QuantileBatch
            ``samples`` ``[n_windows, num_samples, horizon]``, or ``quantiles`` ``[n_windows, n_levels, horizon]``,
            in price units.
        """


class QuantileForecaster(Forecaster):
    """A family that predicts a fixed grid of quantiles in one pass (no paths, no seed, no ``num_samples``).

    Subclasses implement :meth:`predict_chunk`; windows are forecast in chunks of
    :meth:`window_batch`, and a window's quantiles never depend on its chunk.
    """

    output = "quantiles"

    def rows_independent(self, horizon: int) -> bool:
        return True  # a window's quantiles never depend on its chunk (up to float32 rounding)

    def samples_per_batch(self, n_windows: int, context_length: int, horizon: int) -> int:
        return 1

    @abstractmethod
    def window_batch(self, n_windows: int, context_length: int, horizon: int) -> int:
        """Windows forecast together, chosen from memory limits (a speed setting, never searched)."""

    def windows_in_budget(self, n_windows: int, per_window_bytes: int) -> int:
        """As many of ``n_windows`` as half of ``memory_budget_bytes`` holds at ``per_window_bytes`` each (at least
        one): what :meth:`window_batch` returns once a family has estimated a window's working memory."""
        return int(max(1, min(n_windows, self.memory_budget_bytes // 2 // per_window_bytes)))

    def speed_settings(self, n_windows: int, context_length: int, horizon: int) -> dict[str, Any]:
        return {"window_batch": self.window_batch(n_windows, context_length, horizon), "device": self.device,
                "dtype": "float32"}

    @abstractmethod
    def predict_chunk(self, contexts: np.ndarray, ohlcv: np.ndarray | None, horizon: int,
                      params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """``(quantiles [n, n_levels, horizon], levels [n_levels])`` of ``n`` windows, price units."""

    def _needs_ohlcv(self, ohlcv: np.ndarray | None, inputs: str) -> np.ndarray:
        """``ohlcv``, or a ValueError when the config's ``inputs`` read more than the close and it is missing."""
        if ohlcv is None:
            raise ValueError(f"{self.family} with inputs {inputs!r} needs the ohlcv bars of each context")
        return ohlcv

    def forecast(self, contexts: np.ndarray, timestamps_s: np.ndarray, horizon: int, num_samples: int,
                 seed: int, sampling: dict[str, Any] | None = None, ohlcv: np.ndarray | None = None) -> QuantileBatch:
        """Quantiles ``[n_windows, n_levels, horizon]`` of every window; see :class:`Forecaster`.

        Raises
        ------
        ValueError
            If the config's inputs need ``ohlcv`` and it is missing.
        """
        chunk = self.window_batch(*contexts.shape, horizon)
        parts, seconds, levels = [], [], None
        for start in range(0, len(contexts), chunk):
            rows = slice(start, start + chunk)
            began = time.perf_counter()
            quantiles, levels = self.predict_chunk(contexts[rows], None if ohlcv is None else ohlcv[rows], horizon,
                                                   dict(sampling or {}))
            seconds.append(time.perf_counter() - began)
            parts.append(np.asarray(quantiles, dtype=np.float64))
        return QuantileBatch(np.concatenate(parts), np.asarray(levels, dtype=float), np.asarray(seconds))

