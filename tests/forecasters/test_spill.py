"""The disk store of evicted encodings: exact round trip, byte budget, least recently used out first."""

import numpy as np
import torch

from sweep.forecasters._spill import DiskLRU


def test_when_values_are_kept_then_they_come_back_exactly_and_the_oldest_leaves_first():
    store = DiskLRU(budget_bytes=19_000)  # three of these ~5.9 kB files fit, four do not
    values = {k: torch.randn(1024, generator=torch.Generator().manual_seed(k)) for k in range(4)}
    for k in range(3):
        store.put(("key", k), {"tensor": values[k], "array": np.arange(k + 1)})
    store.get(("key", 0))  # now the most recent
    store.put(("key", 3), {"tensor": values[3], "array": np.arange(4)})
    assert ("key", 1) not in store and all(("key", k) in store for k in (0, 2, 3))
    back = store.get(("key", 0))
    assert torch.equal(back["tensor"], values[0]) and back["array"].tolist() == [0]
