"""Objects evicted from memory, kept on local disk for reuse: a least-recently-used store in a private temp folder.

Kronos keeps encoded contexts in memory while they fit its budget; the ones it
evicts come here, so a trial that returns to an earlier (context length, clip)
reads its encoding back (about a second) instead of encoding again (about 21 s
for 100 Kronos-small contexts of 512 bars on a CPU). Files are written with
``torch.save`` and read back exactly, so a path drawn from a reloaded encoding
equals one drawn from a fresh encoding. The folder is deleted with the store.
"""

from __future__ import annotations

import itertools
import logging
import shutil
import tempfile
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import Any, Hashable

__all__ = ["DiskLRU", "DEFAULT_SPILL_BYTES"]

logger = logging.getLogger(__name__)

#: Disk a store may fill (8 GiB: a dozen Kronos-small encodings of 100 contexts of 512 bars), at most a quarter
#: of the free space of the temp folder.
DEFAULT_SPILL_BYTES = 8 * 2**30


class DiskLRU:
    """A byte-bounded store of torch-serialisable objects on local disk, least recently used out first.

    Parameters
    ----------
    budget_bytes : int, optional
        Most bytes kept; default :data:`DEFAULT_SPILL_BYTES`, at most a quarter of the free space.
    prefix : str
        Name prefix of the private temp folder.
    """

    def __init__(self, budget_bytes: int | None = None, prefix: str = "sweep-spill-"):
        self.prefix = prefix
        self.budget_bytes = budget_bytes
        self._folder: Path | None = None
        self._entries: OrderedDict[Hashable, tuple[Path, int]] = OrderedDict()
        self._names = itertools.count()

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def _dir(self) -> Path:
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix=self.prefix))
            weakref.finalize(self, shutil.rmtree, str(self._folder), True)
            if self.budget_bytes is None:
                self.budget_bytes = min(DEFAULT_SPILL_BYTES, shutil.disk_usage(self._folder).free // 4)
        return self._folder

    def put(self, key: Hashable, value: Any) -> None:
        """Keep ``value`` under ``key`` (no-op if held), dropping the least recently used beyond the budget.

        A full disk drops the value with a warning: this is a cache, never the only copy.
        """
        import torch

        if key in self._entries:
            self._entries.move_to_end(key)
            return
        path = self._dir() / f"{next(self._names)}.pt"
        try:
            torch.save(value, path)
        except OSError as e:
            path.unlink(missing_ok=True)
            logger.warning("could not keep an evicted encoding on disk (%s); it will be recomputed if needed", e)
            return
        self._entries[key] = (path, path.stat().st_size)
        while sum(size for _, size in self._entries.values()) > self.budget_bytes:
            _, (old, _size) = self._entries.popitem(last=False)
            old.unlink(missing_ok=True)

    def get(self, key: Hashable) -> Any:
        """The value kept under ``key``, read back exactly.

        Raises
        ------
        KeyError
            If it is not held.
        """
        import torch

        path, _size = self._entries[key]
        self._entries.move_to_end(key)
        return torch.load(path, weights_only=False)  # our own file in our private folder
