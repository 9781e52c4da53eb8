"""Shared fixtures: synthetic CSVs, the real shared data, and a tiny real-architecture Toto checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "trainingdata"


def synthetic_frame(n_bars: int = 600, seed: int = 0, start: str = "2024-01-01") -> pd.DataFrame:
    """A valid hourly OHLCV random walk."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n_bars)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.005, n_bars))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.005, n_bars))
    stamps = pd.date_range(start, periods=n_bars, freq="1h", tz="UTC")
    return pd.DataFrame({"timestamp": stamps.astype(str), "open": open_, "high": high, "low": low,
                         "close": close, "volume": rng.uniform(1, 10, n_bars)})


def write_csv(folder: Path, symbol: str, frame: pd.DataFrame) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{symbol}.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A folder with a valid synthetic ``TEST.csv`` of 600 hourly bars."""
    folder = tmp_path / "data"
    write_csv(folder, "TEST", synthetic_frame())
    return folder


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "BTCUSD.csv").is_file():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_toto_dir(tmp_path_factory) -> Path:
    """A randomly initialised tiny Toto saved as config.json + model.safetensors."""
    from tototraining.train import build_scratch, save_checkpoint

    module, config = build_scratch("tiny", seed=0)
    return save_checkpoint(module, config, tmp_path_factory.mktemp("ckpt") / "toto-tiny")
