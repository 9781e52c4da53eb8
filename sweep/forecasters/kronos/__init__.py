"""The project's own Kronos (shiyu-coder/Kronos, arXiv:2508.02739), loading the published checkpoints unchanged.

Modules (import them directly; only :mod:`.card` is free of torch):

- :mod:`.card` — published checkpoints, their tokenizers and max contexts;
- :mod:`.forecaster` — the family's adapter, :class:`KronosForecaster` (``sweep.forecasters.kronos`` is the module
  the registry names: the class is read from this package on first use, so ``import`` of the package stays light);
- :mod:`._layers`, :mod:`.tokenizer`, :mod:`.model` — the networks;
- :mod:`.checkpoint` — loading and saving ``config.json`` + ``model.safetensors``;
- :mod:`.sampler` — the batched KV-cached sampler and how it deviates from upstream.
"""

from __future__ import annotations

from typing import Any

__all__ = ["KronosForecaster"]


def __getattr__(name: str) -> Any:
    if name == "KronosForecaster":
        from .forecaster import KronosForecaster

        return KronosForecaster
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
