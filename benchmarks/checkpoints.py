"""Random checkpoints of real architectures for the benchmarks (no hub access needed)."""

from __future__ import annotations

import json
from pathlib import Path


def random_checkpoints(folder: Path, toto_preset: str, kronos_preset: str) -> tuple[str, str]:
    """A random Toto (``tototraining`` preset) and Kronos (``kronostraining`` preset) saved under ``folder``.

    ``base``/``small`` are the shapes of Toto-Open-Base-1.0 and Kronos-small; ``tiny`` is the demo's.
    """
    from kronostraining.train import build_scratch as build_kronos
    from sweep.forecasters.kronos.checkpoint import save_module
    from tototraining.train import build_scratch as build_toto, save_checkpoint

    toto = save_checkpoint(*build_toto(toto_preset, seed=0), folder / "toto")
    tokenizer, model = build_kronos(kronos_preset, seed=0)
    save_module(tokenizer, folder / "kronos" / "tokenizer")
    save_module(model, folder / "kronos" / "predictor")
    (folder / "kronos" / "kronos.json").write_text(json.dumps({"max_context": 512}))
    return str(toto), str(folder / "kronos")
