"""Kronos sample paths per second: our KV-cached sampler vs the reference predictor.

Builds Kronos-small-shaped random weights (NeoQuasar/Kronos-small with
Kronos-Tokenizer-base, their config.json) with the reference classes of
kronos-finance, loads the same files into ours, and draws paths for real BTCUSD
windows (context 512, horizon 24, 8 windows x 4 samples by default) with both:
the reference ``KronosPredictor.predict_batch`` (which re-runs the whole window
for every token and returns the mean path) and :mod:`sweep.forecasters.kronos.sampler`.
Prints paths/s for both and their ratio (target: at least 10x), and what a second
draw with other sampling parameters costs once the context is encoded.

    python benchmarks/kronos_sampling.py
    # what one Kronos trial's inference costs in a default sweep (cache miss):
    python benchmarks/kronos_sampling.py --windows 100 --samples 128 --horizon 1 --skip-reference
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from rich.console import Console
from rich.table import Table

from kronostraining.train import PRESETS
from sweep.data.bars import COLUMNS, load_ohlcv
from sweep.forecasters.kronos.checkpoint import load_kronos
from sweep.forecasters.kronos.sampler import Sampling, decode_close, draw_tokens, encode_windows


def reference_pair(preset: str, folder: Path):
    """Random reference tokenizer + predictor of ``preset``'s shape, saved with ``save_pretrained``."""
    from kronos_finance._vendor.kronos_model import Kronos, KronosTokenizer

    torch.manual_seed(0)
    tokenizer, model = KronosTokenizer(**PRESETS[preset]["tokenizer"]), Kronos(**PRESETS[preset]["predictor"])
    tokenizer.save_pretrained(folder / "tokenizer")
    model.save_pretrained(folder / "predictor")
    return tokenizer.eval(), model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("trainingdata"))
    parser.add_argument("--symbol", default="BTCUSD")
    parser.add_argument("--preset", default="small", choices=sorted(PRESETS))
    parser.add_argument("--windows", type=int, default=8)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--context-length", type=int, default=512)
    parser.add_argument("--horizon", type=int, default=24)
    parser.add_argument("--max-context", type=int, default=512)
    parser.add_argument("--skip-reference", action="store_true", help="time only our sampler")
    args = parser.parse_args()

    data = load_ohlcv(args.data_dir, args.symbol)
    ends = data.n_bars - args.horizon - 24 * np.arange(args.windows)[::-1]  # one origin a day, as the sweep's stride
    ohlcv = np.stack([data.frame[list(COLUMNS)].to_numpy()[e - args.context_length:e] for e in ends])
    stamps = np.stack([data.timestamps_s[e - args.context_length:e] for e in ends])
    sampling = Sampling(temperature=1.0, top_k=0, top_p=0.9)
    n_paths = args.windows * args.samples
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ref_tokenizer, ref_model = reference_pair(args.preset, Path(tmp))
        ours = load_kronos(str(Path(tmp) / "predictor"), str(Path(tmp) / "tokenizer"), max_context=args.max_context)

    start = time.perf_counter()
    windows = encode_windows(ours.model, ours.tokenizer, ohlcv, stamps, args.horizon, sampling.clip, args.max_context)
    s1, s2 = draw_tokens(ours.model, windows, args.samples, args.horizon, sampling, torch.Generator().manual_seed(0))
    paths = decode_close(ours.tokenizer, windows, s1, s2)
    ours_s = time.perf_counter() - start
    assert paths.shape == (args.windows, args.samples, args.horizon) and np.isfinite(paths).all()
    rows.append(("sweep.forecasters.kronos (KV cache, shared context)", ours_s, n_paths / ours_s))
    # a trial that changes only temperature or filtering reuses the encoded context (KronosForecaster keeps it)
    start = time.perf_counter()
    other = Sampling(temperature=0.7, top_k=20)
    s1, s2 = draw_tokens(ours.model, windows, args.samples, args.horizon, other, torch.Generator().manual_seed(1))
    decode_close(ours.tokenizer, windows, s1, s2)
    reuse_s = time.perf_counter() - start
    rows.append(("sweep.forecasters.kronos, other temperature/filter (context reused)", reuse_s, n_paths / reuse_s))

    if not args.skip_reference:
        from kronos_finance._vendor.kronos_model import KronosPredictor

        predictor = KronosPredictor(ref_model, ref_tokenizer, device="cpu", max_context=args.max_context, clip=5)
        frames = [pd.DataFrame(w, columns=list(COLUMNS)) for w in ohlcv]
        times = [pd.Series(pd.to_datetime(s, unit="s", utc=True)) for s in stamps]
        step = pd.Timedelta(seconds=int(np.median(np.diff(stamps[0]))))
        future = [pd.Series(t.iloc[-1] + step * np.arange(1, args.horizon + 1)) for t in times]
        start = time.perf_counter()
        predictor.predict_batch(frames, times, future, pred_len=args.horizon, T=sampling.temperature,
                                top_k=sampling.top_k, top_p=sampling.top_p, sample_count=args.samples, verbose=False)
        ref_s = time.perf_counter() - start
        rows.append(("reference KronosPredictor.predict_batch", ref_s, n_paths / ref_s))

    params = sum(p.numel() for p in ours.model.parameters()) / 1e6
    table = Table(title=f"Kronos-{args.preset}-shaped random weights ({params:.1f}M-parameter predictor), "
                        f"context {args.context_length}, horizon {args.horizon}, {args.windows} windows x "
                        f"{args.samples} samples, {args.symbol}")
    for column in ("sampler", "seconds", "paths/s"):
        table.add_column(column, justify="left" if column == "sampler" else "right")
    for name, seconds, rate in rows:
        table.add_row(name, f"{seconds:.2f}", f"{rate:.2f}")
    console = Console()
    console.print(table)
    if not args.skip_reference:
        console.print(f"speed-up: {rows[0][2] / rows[-1][2]:.1f}x (target >= 10x)")
    console.print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")


if __name__ == "__main__":
    main()
