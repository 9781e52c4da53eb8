"""Forecast cache: model inference once per (model, data, context, sampling params, seed) and forecast origin.

A window's paths depend on its own bars only (every family seeds a window's random stream from
them and computes it in shapes that do not depend on its batch; see
:func:`sweep.forecasters.base.window_keys`), so the cache keeps *rows*: one per forecast origin.
A request draws only the origins no earlier request drew, and is served from the rows of every
earlier draw: a walk-forward backtest's folds, a study's validation and a candidate's test
origins, and a pooled study's symbols all share what they have in common, and nothing more is
drawn than some request needed.

Forecasters also draw paths in seed-determined blocks, so the first ``n`` of ``N`` paths equal
an ``n``-path run with the same seed. A miss therefore draws ``n_max`` paths once, and every
trial that differs only in ``num_samples`` or ``aggregate`` is served from them. Each draw is
kept as ``<root>/<key>/<origins digest>-<paths>.npz`` (written atomically, never rewritten), so
resumed studies, later steps and other processes sharing the folder (Ray actors on one node) reuse
it without overwriting each other's rows. Quantile forecasts (:class:`QuantileBatch`) are cached
the same way; they have no paths to count.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import DiskFullError, is_disk_full
from ..forecasters.base import QuantileBatch, SampleBatch, concatenate_batches

__all__ = ["SampleCache", "cache_key", "origins_digest"]

logger = logging.getLogger(__name__)

Batch = SampleBatch | QuantileBatch


def cache_key(fields: dict[str, Any]) -> str:
    """SHA-256 (hex, first 32 chars) of the canonical JSON of ``fields``."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def origins_digest(origins: np.ndarray) -> str:
    """Short digest of an origin array, for file names and cache keys."""
    return hashlib.sha256(np.asarray(origins, dtype=np.int64).tobytes()).hexdigest()[:16]


def _paths_held(batch: Batch) -> float:
    """Paths per window a drawn batch holds (any count for quantiles)."""
    return np.inf if isinstance(batch, QuantileBatch) else batch.samples.shape[1]


@dataclass(frozen=True)
class _Draw:
    """One inference: ``origins`` (``[n]``, sorted, unique) and their forecasts, row ``i`` for ``origins[i]``."""

    origins: np.ndarray
    batch: Batch


class _Rows:
    """Every draw of one cache key, and which draw serves each origin (the one holding the most paths)."""

    def __init__(self) -> None:
        self.draws: list[_Draw] = []
        self.names: set[str] = set()
        self._best: dict[int, tuple[int, int]] = {}  # origin -> (draw index, row)

    def add(self, name: str, draw: _Draw) -> None:
        self.names.add(name)
        self.draws.append(draw)
        index, paths = len(self.draws) - 1, _paths_held(draw.batch)
        for row, origin in enumerate(draw.origins.tolist()):
            held = self._best.get(origin)
            if held is None or _paths_held(self.draws[held[0]].batch) < paths:
                self._best[origin] = (index, row)

    def missing(self, origins: np.ndarray, num_samples: int) -> np.ndarray:
        """The origins no draw holds with at least ``num_samples`` paths."""
        def held(origin: int) -> bool:
            at = self._best.get(origin)
            return at is not None and _paths_held(self.draws[at[0]].batch) >= num_samples
        return np.array([o for o in origins.tolist() if not held(o)], dtype=np.int64)

    def serve(self, origins: np.ndarray, num_samples: int) -> Batch:
        """The first ``num_samples`` paths of ``origins``, in their order, each row with its share of the seconds
        of the draw it came from."""
        located = [self._best[o] for o in origins.tolist()]
        parts = []
        for index in sorted({i for i, _ in located}):
            positions = [p for p, (i, _) in enumerate(located) if i == index]
            rows = np.array([located[p][1] for p in positions])
            parts.append((positions, self.draws[index].batch.first(num_samples).windows(rows)))
        order = np.argsort(np.concatenate([positions for positions, _ in parts]), kind="stable")
        return concatenate_batches([part for _, part in parts]).windows(order, share=False)


class SampleCache:
    """Memory and (optionally) disk cache of :class:`SampleBatch` and :class:`QuantileBatch` rows, one per origin.

    Parameters
    ----------
    root : str or Path, optional
        Folder of the cached draws; ``None`` keeps them in memory only.
    enabled : bool
        ``False`` re-runs inference on every call (for benchmarks).

    Attributes
    ----------
    hits, misses : int
        Requests served whole from earlier draws, and requests that drew (some of) their origins.
    drawn_origins : int
        Origins drawn by this cache's misses (a request that finds some rows draws only the others).
    """

    def __init__(self, root: str | Path | None = None, enabled: bool = True):
        self.root = Path(root) if root is not None else None
        self.enabled = enabled
        self._memory: dict[str, _Rows] = {}
        self.hits = 0
        self.misses = 0
        self.drawn_origins = 0

    def get(self, fields: dict[str, Any], origins: np.ndarray, num_samples: int, n_max: int,
            draw: Callable[[np.ndarray, int], Batch]) -> Batch:
        """The first ``num_samples`` paths at ``origins``, drawing ``max(n_max, num_samples)`` for the origins missing.

        Parameters
        ----------
        fields : dict
            Everything a window's paths depend on except its origin and their count: model
            identity, data fingerprint, context_length, horizon, sampling parameters, seed and
            speed settings that change the random stream.
        origins : numpy.ndarray
            ``[n_windows]`` bar indices of the forecast origins wanted, in the order wanted.
        num_samples : int
            Paths wanted per window.
        n_max : int
            Paths to draw on a miss (the largest ``num_samples`` of the search space).
        draw : callable
            ``draw(origins, n) -> SampleBatch`` (or a :class:`QuantileBatch`) of ``n`` paths at the sorted,
            unique ``origins`` given; called at most once per call.

        Returns
        -------
        SampleBatch or QuantileBatch
            ``[n_windows, num_samples, horizon]`` samples, or the quantiles, row ``i`` for ``origins[i]``;
            ``latency_s()`` is the inference seconds per origin of the draws that produced them.

        Raises
        ------
        DiskFullError
            If the disk fills while a draw is written.
        """
        origins = np.asarray(origins, dtype=np.int64)
        if not self.enabled:  # drawn as an enabled miss would be (sorted, unique), served in the order asked
            self.misses += 1
            drawn = np.unique(origins)
            self.drawn_origins += len(drawn)
            batch = draw(drawn, num_samples)
            return batch if np.array_equal(drawn, origins) else batch.windows(np.searchsorted(drawn, origins))
        missing = self.missing(fields, origins, num_samples)
        if len(missing):
            self.misses += 1
            self.put(fields, missing, draw(missing, max(n_max, num_samples)))
        else:
            self.hits += 1
        return self._rows(cache_key(fields)).serve(origins, num_samples)

    def missing(self, fields: dict[str, Any], origins: np.ndarray, num_samples: int) -> np.ndarray:
        """The sorted, unique ``origins`` no draw under ``fields`` holds with at least ``num_samples`` paths
        (all of them when the cache is disabled)."""
        origins = np.asarray(origins, dtype=np.int64)
        if not self.enabled:
            return np.unique(origins)
        key = cache_key(fields)
        rows = self._rows(key)
        if len(rows.missing(origins, num_samples)):
            self._read_new_draws(key, rows)  # another process may have drawn them since
        return np.unique(rows.missing(origins, num_samples))

    def put(self, fields: dict[str, Any], origins: np.ndarray, batch: Batch) -> None:
        """Keep ``batch``, drawn at the sorted, unique ``origins`` (row ``i`` for ``origins[i]``), under ``fields``
        (in memory, and on disk for other processes and later steps). Does nothing when the cache is disabled.

        Raises
        ------
        DiskFullError
            If the disk fills while it is written.
        """
        if not self.enabled:
            return
        origins = np.asarray(origins, dtype=np.int64)
        self.drawn_origins += len(origins)
        draw, key = _Draw(origins, batch), cache_key(fields)
        rows = self._rows(key)  # read what is on disk before this draw joins it
        paths = _paths_held(batch)
        name = f"{origins_digest(origins)}-{'q' if paths == np.inf else int(paths)}.npz"
        folder = self._folder(key)
        if folder is not None:
            _write_draw(folder / name, fields, draw)
        rows.add(name, draw)

    def _rows(self, key: str) -> _Rows:
        if key not in self._memory:
            self._memory[key] = _Rows()
            self._read_new_draws(key, self._memory[key])
        return self._memory[key]

    def _folder(self, key: str) -> Path | None:
        return None if self.root is None else self.root / key

    def _read_new_draws(self, key: str, rows: _Rows) -> None:
        folder = self._folder(key)
        if folder is None or not folder.is_dir():
            return
        for path in sorted(folder.glob("*.npz")):
            if path.name not in rows.names and not path.name.startswith("."):  # another writer's temp file
                draw = _read_draw(path)
                if draw is not None:
                    rows.add(path.name, draw)


def _read_draw(path: Path) -> _Draw | None:
    """A draw written by :func:`_write_draw`, or None (with a warning) when the file is torn or foreign."""
    try:
        with np.load(path) as f:
            batch = QuantileBatch(f["quantiles"], f["levels"], f["block_seconds"],
                                  f["point"] if "point" in f.files else None) if "quantiles" in f.files \
                else SampleBatch(f["samples"], f["block_seconds"], int(f["samples_per_batch"]))
            return _Draw(f["origins"].astype(np.int64), batch)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:  # recomputed by the next miss
        logger.warning("cache entry %s is unreadable (%s: %s); recomputing it", path, type(e).__name__, e)
        return None


def _write_draw(path: Path, fields: dict[str, Any], draw: _Draw) -> None:
    """Write ``draw`` to ``path`` atomically (a temp file renamed), with the key fields it was drawn under."""
    batch, tmp = draw.batch, None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".npz")
        arrays = {"quantiles": batch.quantiles, "levels": batch.levels} if isinstance(batch, QuantileBatch) \
            else {"samples": batch.samples, "samples_per_batch": batch.samples_per_batch}
        if getattr(batch, "point", None) is not None:
            arrays["point"] = batch.point
        with os.fdopen(fd, "wb") as f:
            np.savez(f, origins=draw.origins, block_seconds=batch.block_seconds, **arrays,
                     key_fields=json.dumps(fields, sort_keys=True, default=str))
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if is_disk_full(e):
            raise DiskFullError.at(path, e) from e
        raise
