"""One forward pass for many symbols against one per symbol, on this machine's CPU.

For each family, one config is drawn at the 100 validation origins of N symbols (the shipped
series, repeated with a suffix beyond 4: the same bars, so the same work per symbol), either
symbol by symbol (``draw_samples``, what a study without batching does) or for all symbols at
once (``sweep.search._symbol_batch.draw_for_symbols``). Both draw into a fresh in-memory cache, so every
window is inferred (the fastest of 3 runs is kept); the rows are checked equal. Kronos is also timed encoding only (its
``encode_windows`` over fixed groups), the part batching across symbols could share.

    python benchmarks/symbol_batch.py [--symbols 2 10 30] [--shapes tiny|published]
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

from checkpoints import random_checkpoints  # benchmarks/, on the path when run as a script

from sweep.scoring.cache import SampleCache
from sweep.forecasters.config import ForecastConfig
from sweep.data.bars import COLUMNS, load_ohlcv
from sweep.scoring.evaluate import draw_samples
from sweep.forecasters.presets import save_random_checkpoint
from sweep.forecasters.registry import FAMILIES
from sweep.search.space import n_max_samples
from sweep.search._symbol_batch import draw_for_symbols
from sweep.data.windows import WindowSpec, gather_contexts, make_splits

#: Presets of each family: the demo's tiny models, or the published checkpoints' shapes (Toto-Open-Base-1.0,
#: Kronos-small, amazon/chronos-2), random weights either way.
SHAPES = {"tiny": ("tiny", "tiny", "tiny"), "published": ("base", "small", "default")}
CONFIGS = {"toto": {}, "kronos": {"temperature": 1.0, "top_k": 0, "top_p": 0.9, "clip": 5.0},
           "chronos2": {"inputs": "close"}}


def requests(data_dir: Path, n: int, spec: WindowSpec) -> list:
    shipped = sorted(p.name.split(".")[0] for p in data_dir.glob("*.csv.gz"))
    loaded = {s: load_ohlcv(data_dir, s) for s in shipped}
    return [(loaded[shipped[i % len(shipped)]], make_splits(loaded[shipped[i % len(shipped)]].n_bars,
                                                             spec).validation_origins) for i in range(n)]


def timed(function, repeats: int = 3) -> tuple[float, object]:
    """The fastest of ``repeats`` runs of ``function`` (seconds) and its result."""
    best, result = np.inf, None
    for _ in range(repeats):
        began = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - began)
    return best, result


def per_symbol_and_batched(forecaster, config: ForecastConfig, reqs: list) -> tuple[float, float]:
    n_max = n_max_samples(config.model)
    alone_s, alone = timed(lambda: [draw_samples(forecaster, config, d, o, 1, SampleCache(), n_max)[0]
                                    for d, o in reqs])
    caches = []
    batched_s, _ = timed(lambda: draw_for_symbols(forecaster, config, reqs, 1, caches.append(SampleCache()) or
                                                  caches[-1], n_max))
    cache = caches[-1]
    for (data, origins), own in zip(reqs, alone):
        served = draw_samples(forecaster, config, data, origins, 1, cache, n_max)[0]
        assert np.allclose(served.predictive.values, own.predictive.values, rtol=0, atol=1e-5 * data.close.max())
    return alone_s, batched_s


def kronos_encoding(forecaster, config: ForecastConfig, reqs: list) -> tuple[float, float]:
    """Seconds to encode every symbol's windows one symbol at a time, and all symbols' windows together."""
    def inputs(data, origins):
        ohlcv = gather_contexts(data.frame[list(COLUMNS)].to_numpy(np.float64), origins, config.context_length)
        return ohlcv, gather_contexts(data.timestamps_s, origins, config.context_length)

    parts = [inputs(d, o) for d, o in reqs]
    chunk = forecaster.window_batch(len(parts[0][0]), config.context_length, 1)
    encode = lambda ohlcv, stamps: list(forecaster._encode_chunks(ohlcv, stamps, 1, 5.0, chunk))  # noqa: E731
    alone_s, _ = timed(lambda: [encode(*p) for p in parts])
    batched_s, _ = timed(lambda: encode(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])))
    return alone_s, batched_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("trainingdata"))
    parser.add_argument("--symbols", type=int, nargs="+", default=[2, 10, 30])
    parser.add_argument("--shapes", choices=sorted(SHAPES), default="tiny")
    parser.add_argument("--context-length", type=int, default=512)
    args = parser.parse_args()
    spec = WindowSpec(max_context_length=args.context_length)
    with tempfile.TemporaryDirectory() as tmp:
        toto_preset, kronos_preset, chronos2_preset = SHAPES[args.shapes]
        toto, kronos = random_checkpoints(Path(tmp), toto_preset, kronos_preset)
        chronos2 = save_random_checkpoint("chronos2", chronos2_preset, Path(tmp) / "c2")
        loaded = {"toto": FAMILIES["toto"].load(toto), "kronos": FAMILIES["kronos"].load(kronos),
                  "chronos2": FAMILIES["chronos2"].load(str(chronos2))}
        table = Table(title=f"one config on 100 validation origins per symbol, context {args.context_length}, "
                            f"{args.shapes} shapes, {torch.get_num_threads()} threads, "
                            f"{platform.processor() or platform.machine()}")
        for column in ("family", "symbols", "per symbol s", "batched s", "per symbol / batched"):
            table.add_column(column, justify="right")
        for n in args.symbols:
            reqs = requests(args.data_dir, n, spec)
            for family, sampling in CONFIGS.items():
                forecaster = loaded[family]
                num_samples = n_max_samples(family)
                config = ForecastConfig(family, args.context_length, num_samples, "median", sampling=sampling)
                alone, batched = per_symbol_and_batched(forecaster, config, reqs)
                table.add_row(family, str(n), f"{alone:.2f}", f"{batched:.2f}", f"{alone / batched:.2f}x")
                if family == "kronos":
                    alone, batched = kronos_encoding(forecaster, config, reqs)
                    table.add_row("kronos encoding", str(n), f"{alone:.2f}", f"{batched:.2f}",
                                  f"{alone / batched:.2f}x")
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
