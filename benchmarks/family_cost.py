"""Inference seconds per 100 forecast origins for every model family, at its default checkpoint's shape.

Random weights of each family's default shape (Toto-Open-Base-1.0, Kronos-small, Toto-2.0-22m,
amazon/chronos-2, amazon/chronos-bolt-base, google/timesfm-2.5-200m-pytorch, NX-AI/TiRex-2; see
:mod:`sweep.forecasters.presets`), or the real
weights a family's package ships (Fracast-0), forecast 100 real BTCUSD origins, horizon 1, as a
study's cache miss draws them: sample families draw the study's ``n_max`` paths (Toto 256, Kronos
128, at the family default's sampling), quantile families run one pass. The table gives the seconds
at context 512 and 2048 for every combination of the family's choices (``inputs``, ``weights``, TimesFM's
and TiRex-2's flags), and
the study's inference: the sum over every inference key of the default search space
(``--max-context-length 2048``: each context length of the grid, times each combination of choices),
which a 100-trial study pays about once. That sum decides whether a family's study costs no more than
Toto's (``DEFAULT_MODELS``).

    python benchmarks/family_cost.py [--families timesfm tirex2]
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
from sweep.data.bars import COLUMNS, load_ohlcv
from sweep.forecasters.presets import PRESETS, parameter_count, save_random_checkpoint
from sweep.forecasters.registry import FAMILIES
from sweep.search.space import context_choices, n_max_samples
from sweep.data.windows import WindowSpec, gather_contexts

SHOWN_CONTEXTS = (512, 2048)


def checkpoints(folder: Path, families: list[str]) -> dict[str, str]:
    """A random checkpoint of each family's default shape, or the default model of a family without presets."""
    paths = dict(zip(("toto", "kronos"), random_checkpoints(folder, "base", "small"))) \
        if {"toto", "kronos"} & set(families) else {}
    for name in families:
        family = FAMILIES[name]
        if family.output == "quantiles":
            paths[name] = str(save_random_checkpoint(name, "default", folder / name)) if name in PRESETS \
                else family.default_model
    return {name: paths[name] for name in families if name in paths}


def parameters(path: str) -> int:
    folder = Path(path)
    parts = [folder] if (folder / "model.safetensors").is_file() else [folder / "tokenizer", folder / "predictor"]
    return sum(parameter_count(p) for p in parts)


def size(parameters: int) -> str:
    return f"{parameters / 1e6:.0f}M" if parameters >= 1e6 else f"{parameters / 1e3:.0f}k"


def seconds_per_100(forecaster, data, origins: np.ndarray, context_length: int, sampling: dict) -> float:
    """Seconds of one cache-miss inference over ``origins`` with ``sampling``, scaled to 100 origins."""
    contexts = gather_contexts(data.close, origins, context_length)
    stamps = gather_contexts(data.timestamps_s, origins, context_length)
    ohlcv = gather_contexts(data.frame[list(COLUMNS)].to_numpy(np.float64), origins, context_length)
    began = time.perf_counter()
    forecaster.forecast(contexts, stamps, 1, n_max_samples(forecaster.family), 0, sampling, ohlcv)
    return (time.perf_counter() - began) * 100 / len(origins)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("trainingdata"))
    parser.add_argument("--symbol", default="BTCUSD")
    parser.add_argument("--origins", type=int, default=100)
    parser.add_argument("--families", nargs="+", choices=[n for n in FAMILIES if n != "naive"],
                        default=[n for n in FAMILIES if n != "naive"])
    args = parser.parse_args()
    data = load_ohlcv(args.data_dir, args.symbol)
    origins = np.arange(data.n_bars - args.origins, data.n_bars)
    max_context = WindowSpec().max_context_length
    table = Table(title=f"Inference seconds per 100 origins, horizon 1 ({platform.machine()}, "
                        f"{torch.get_num_threads()} threads, random weights of the default shapes)")
    for column in ("family", "parameters", "choices", *(f"ctx {c}" for c in SHOWN_CONTEXTS), "inference keys",
                   "study inference s"):
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in checkpoints(Path(tmp), args.families).items():
            forecaster = FAMILIES[name].load(path)
            path = str(getattr(forecaster, "folder", path))  # where a package's own weights lie
            contexts = context_choices(min(max_context, forecaster.max_context_length))
            study_seconds, keys = 0.0, 0
            for choices in FAMILIES[name].choice_grid():
                sampling = choices or dict(FAMILIES[name].default.sampling)
                seconds = {c: seconds_per_100(forecaster, data, origins, c, sampling) for c in contexts}
                study_seconds, keys = study_seconds + sum(seconds.values()), keys + len(seconds)
                shown = " ".join(f"{k}={v}" if isinstance(v, bool) else str(v) for k, v in choices.items())
                table.add_row(name, size(parameters(path)), shown or "close",
                              *(f"{seconds[c]:.2f}" if c in seconds else "n/a" for c in SHOWN_CONTEXTS), "", "")
            table.add_row("", "", "[b]study[/b]", "", "", str(keys), f"[b]{study_seconds:.1f}[/b]")
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
