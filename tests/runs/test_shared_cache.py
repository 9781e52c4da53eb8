"""A forecast cache shared between runs (``--cache-dir``): a run on another objective draws nothing again."""

import json
from pathlib import Path

import numpy as np

from sweep.cli import main

WINDOWS = ["--val-windows", "8", "--test-windows", "2", "--stride", "24", "--n-trials", "1"]


def _draws(cache: Path) -> dict[str, str]:
    """``{file: model family}`` of every draw in ``cache``."""
    families = {}
    for path in cache.rglob("*.npz"):
        with np.load(path) as f:
            families[str(path)] = json.loads(str(f["key_fields"]))["model"]["family"]
    return families


def test_when_a_second_run_on_another_objective_shares_the_cache_then_no_toto_forecast_is_drawn_again(
        shared_data, tiny_toto_dir, tmp_path):
    common = ["--symbols", "BTCUSD", "--data-dir", str(shared_data), "--toto-model", str(tiny_toto_dir),
              "--runs-dir", str(tmp_path / "runs"), "--output-dir", str(tmp_path / "hp"),
              "--cache-dir", str(tmp_path / "cache"), *WINDOWS]
    assert main([*common, "--models", "toto", "--run-id", "mae"]) == 0
    before = _draws(tmp_path / "cache")
    assert set(before.values()) == {"toto"}
    assert main([*common, "--models", "toto", "--objective", "quantile_loss", "--run-id", "quantiles"]) == 0
    after = _draws(tmp_path / "cache")
    new = {path: family for path, family in after.items() if path not in before}
    assert "toto" not in new.values(), "toto's forecasts were drawn again for the new objective"
    assert set(new.values()) == {"naive", "garch"}  # the objective's references, never drawn before
    assert not (tmp_path / "runs" / "quantiles" / "cache").exists()
    recorded = json.loads((tmp_path / "runs" / "quantiles" / "run.json").read_text())
    assert recorded["cache_dir"] == str(tmp_path / "cache") and recorded["objective"] == "quantile_loss"
    candidate = json.loads((tmp_path / "hp" / "candidates" / "quantiles" / "BTCUSD.json").read_text())
    assert candidate["objective"] == "quantile_loss" and candidate["model"]["family"] == "toto"
