"""Inference seconds per 100 forecast origins for every model family, at its default checkpoint's shape.

Random weights of each family's default shape (Toto-Open-Base-1.0, Kronos-small, Toto-2.0-22m,
amazon/chronos-2, amazon/chronos-bolt-base; see :mod:`sweep.forecasters.presets`) forecast 100
real BTCUSD origins, horizon 1, at context 512 and 2048 (where the model takes it), as a study's
cache miss draws them: sample families draw the study's ``n_max`` paths (Toto 256, Kronos 128),
quantile families run one pass. A study pays this once per distinct inference key (context length
x inputs choice), so the last columns multiply by the number of keys of its search space: the
measure of whether a family's study costs no more than Toto's (``DEFAULT_MODELS``).

    python benchmarks/family_cost.py
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from checkpoints import random_checkpoints
from sweep.config import ForecastConfig
from sweep.data import COLUMNS, load_ohlcv
from sweep.forecasters.presets import parameter_count, save_random_checkpoint
from sweep.forecasters.registry import FAMILIES
from sweep.space import FAMILY_DEFAULTS, context_choices, n_max_samples
from sweep.windows import gather_contexts

CONTEXTS = (512, 2048)


def load_all(folder: Path) -> dict[str, object]:
    """Every family's forecaster on random weights of its default shape."""
    toto, kronos = random_checkpoints(folder, "base", "small")
    paths = {"toto": toto, "kronos": kronos}
    for name, family in FAMILIES.items():
        if family.output == "quantiles":
            paths[name] = str(save_random_checkpoint(name, "default", folder / name))
    forecasters = {name: FAMILIES[name].load(path) for name, path in paths.items()}
    print("parameters: " + ", ".join(f"{n} {parameter_count_of(p) / 1e6:.0f}M" for n, p in paths.items()))
    return forecasters


def parameter_count_of(path: str) -> int:
    folder = Path(path)
    files = [folder] if (folder / "model.safetensors").is_file() else [folder / "tokenizer", folder / "predictor"]
    return sum(parameter_count(f) for f in files)


def seconds_per_100(forecaster, data, origins: np.ndarray, context_length: int) -> float:
    """Seconds of one cache-miss inference over ``origins``, scaled to 100 origins."""
    family = forecaster.family
    default = FAMILY_DEFAULTS[family]
    config = ForecastConfig(family, context_length, 1 if forecaster.output == "quantiles" else default.num_samples,
                            default.aggregate, sampling=dict(default.sampling))
    contexts = gather_contexts(data.close, origins, context_length)
    stamps = gather_contexts(data.timestamps_s, origins, context_length)
    ohlcv = gather_contexts(data.frame[list(COLUMNS)].to_numpy(np.float64), origins, context_length)
    began = time.perf_counter()
    forecaster.forecast(contexts, stamps, 1, n_max_samples(family), 0, config.sampling, ohlcv)
    return (time.perf_counter() - began) * 100 / len(origins)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("trainingdata"))
    parser.add_argument("--symbol", default="BTCUSD")
    parser.add_argument("--origins", type=int, default=100)
    args = parser.parse_args()
    data = load_ohlcv(args.data_dir, args.symbol)
    origins = np.arange(data.n_bars - args.origins, data.n_bars)
    table = Table(title=f"Inference seconds per 100 origins, horizon 1 ({platform.processor() or platform.machine()}, "
                        f"{torch.get_num_threads()} threads, random weights of the default shapes)")
    for column in ("family", "output", *(f"ctx {c}" for c in CONTEXTS), "inference keys (ctx <= 4096)",
                   *(f"study at ctx {c}" for c in CONTEXTS)):
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory() as tmp:
        for name, forecaster in load_all(Path(tmp)).items():
            if name == "naive":
                continue
            keys = len(context_choices(min(4096, forecaster.max_context_length))) * max(1, len(FAMILIES[name].inputs))
            seconds = [seconds_per_100(forecaster, data, origins, c) if c <= forecaster.max_context_length else None
                       for c in CONTEXTS]
            table.add_row(name, forecaster.output, *(f"{s:.2f}" if s is not None else "n/a" for s in seconds), str(keys),
                          *(f"{s * keys:.1f}" if s is not None else "n/a" for s in seconds))
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
