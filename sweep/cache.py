"""Forecast cache: model inference once per (model, data, windows, context, sampling params, seed).

Forecasters draw sample paths in seed-determined blocks, so the first ``n`` of
``N`` paths equal an ``n``-path run with the same seed. The cache therefore
draws ``n_max`` paths once and serves every trial that differs only in
``num_samples`` or ``aggregate`` from that one inference. Entries persist as
``<root>/<key>.npz`` (written atomically) so resumed studies and later steps
reuse them. Quantile forecasts (:class:`QuantileBatch`) are cached the same way;
they have no paths to count, so every trial with the same key reuses them whole.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import DiskFullError, is_disk_full
from .forecasters.base import QuantileBatch, SampleBatch

__all__ = ["SampleCache", "cache_key"]

logger = logging.getLogger(__name__)


def cache_key(fields: dict[str, Any]) -> str:
    """SHA-256 (hex, first 32 chars) of the canonical JSON of ``fields``."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def origins_digest(origins: np.ndarray) -> str:
    """Short digest of an origin array, for cache keys."""
    return hashlib.sha256(np.asarray(origins, dtype=np.int64).tobytes()).hexdigest()[:16]


class SampleCache:
    """Memory and (optionally) disk cache of :class:`SampleBatch` and :class:`QuantileBatch` objects.

    Parameters
    ----------
    root : str or Path, optional
        Folder for ``.npz`` entries; ``None`` keeps entries in memory only.
    enabled : bool
        ``False`` re-runs inference on every call (for benchmarks).
    """

    def __init__(self, root: str | Path | None = None, enabled: bool = True):
        self.root = Path(root) if root is not None else None
        self.enabled = enabled
        self._memory: dict[str, SampleBatch | QuantileBatch] = {}
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path | None:
        return None if self.root is None else self.root / f"{key}.npz"

    def _load(self, key: str) -> SampleBatch | QuantileBatch | None:
        if key in self._memory:
            return self._memory[key]
        path = self._path(key)
        if path is None or not path.is_file():
            return None
        try:
            with np.load(path) as f:
                batch = QuantileBatch(f["quantiles"], f["levels"], f["block_seconds"]) if "quantiles" in f.files \
                    else SampleBatch(f["samples"], f["block_seconds"], int(f["samples_per_batch"]))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:  # torn or foreign: recompute
            logger.warning("cache entry %s is unreadable (%s: %s); recomputing it", path, type(e).__name__, e)
            return None
        self._memory[key] = batch
        return batch

    def _store(self, key: str, fields: dict[str, Any], batch: SampleBatch | QuantileBatch) -> None:
        self._memory[key] = batch
        path = self._path(key)
        if path is None:
            return
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{key}.", suffix=".npz")
            arrays = {"quantiles": batch.quantiles, "levels": batch.levels} if isinstance(batch, QuantileBatch) \
                else {"samples": batch.samples, "samples_per_batch": batch.samples_per_batch}
            with os.fdopen(fd, "wb") as f:
                np.savez(f, block_seconds=batch.block_seconds, **arrays,
                         key_fields=json.dumps(fields, sort_keys=True, default=str))
            os.replace(tmp, path)
        except BaseException as e:
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
            if is_disk_full(e):
                raise DiskFullError.at(path, e) from e
            raise

    def get(self, fields: dict[str, Any], num_samples: int, n_max: int,
            draw: Callable[[int], SampleBatch | QuantileBatch]) -> SampleBatch | QuantileBatch:
        """The first ``num_samples`` paths for ``fields``, drawing ``max(n_max, num_samples)`` on a miss.

        Parameters
        ----------
        fields : dict
            Everything the paths depend on except their count: model identity,
            data fingerprint, origins, context_length, horizon, sampling
            parameters, seed and speed settings that change the random stream.
        num_samples : int
            Paths wanted.
        n_max : int
            Paths to draw on a miss (the largest ``num_samples`` of the search space).
        draw : callable
            ``draw(n) -> SampleBatch`` with ``n`` paths (or a :class:`QuantileBatch`); called at most once per call.

        Returns
        -------
        SampleBatch or QuantileBatch
            ``[n_windows, num_samples, horizon]`` samples, or the quantiles.
        """
        if not self.enabled:
            self.misses += 1
            return draw(num_samples)
        key = cache_key(fields)
        cached = self._load(key)
        if cached is not None and cached.holds(num_samples):
            self.hits += 1
            return cached.first(num_samples)
        self.misses += 1
        batch = draw(max(n_max, num_samples))
        self._store(key, fields, batch)
        return batch.first(num_samples)
