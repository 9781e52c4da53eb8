"""``python -m chronostraining``: Chronos-2 trained offline through the package's own fit API."""

import json

import numpy as np
import pandas as pd
import pytest

from chronostraining.__main__ import main
from sweep.forecasters.checkpoint_output import checkpoint_kind_of
from sweep.data.bars import load_ohlcv
from sweep.forecasters.chronos import Chronos2Forecaster
from sweep.forecasters.overlap import training_limits
from sweep.data.windows import WindowSpec, walk_forward_splits

FLAGS = ["--val-windows", "20", "--test-windows", "20", "--max-context-length", "256"]


def test_when_trained_from_scratch_for_k_folds_then_it_saw_only_bars_before_the_oldest_fold(shared_data, tmp_path):
    out = tmp_path / "c2"
    assert main(["--symbols", "BTCUSD", "ETHUSD", "--data-dir", str(shared_data), "--output", str(out), "--init",
                 "scratch", "--preset", "tiny", "--steps", "3", "--folds", "2", *FLAGS]) == 0
    meta = json.loads((out / "training.json").read_text())
    assert meta["steps"] == 3 and meta["init"] == "scratch" and meta["context_length"] == 256
    assert checkpoint_kind_of(out) == "chronos2"  # what --overwrite may replace
    data = load_ohlcv(shared_data, "BTCUSD")
    oldest = walk_forward_splits(data.n_bars, WindowSpec(val_windows=20, test_windows=20, max_context_length=256), 2)[0]
    first_val = data.frame.index[oldest.first_validation_origin]
    assert pd.Timestamp(meta["series"]["BTCUSD"]["last_bar"]) < first_val
    assert training_limits(str(out))["trained_until"] == meta["trained_until"]
    forecaster = Chronos2Forecaster(str(out))
    batch = forecaster.forecast(data.close[None, :256], data.timestamps_s[None, :256], 1, 1, 0)
    assert np.isfinite(batch.quantiles).all() and not list(tmp_path.glob(".c2.*"))  # work and staging folders gone


def test_when_the_init_is_not_chronos2_then_the_error_names_the_flag(shared_data, tiny_quantile_dirs, tmp_path,
                                                                     capsys):
    assert main(["--symbols", "BTCUSD", "--data-dir", str(shared_data), "--output", str(tmp_path / "x"), "--init",
                 str(tiny_quantile_dirs["chronos-bolt"]), *FLAGS]) == 1
    err = capsys.readouterr().err
    assert "ChronosBoltPipeline" in err and not (tmp_path / "x").exists()
    assert f"--init '{tiny_quantile_dirs['chronos-bolt']}'" in err and "--chronos2-model" not in err  # its own flag


@pytest.mark.parametrize("preset", ["huge"])
def test_when_the_preset_is_unknown_then_exit_2(preset, shared_data, tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["--symbols", "BTCUSD", "--data-dir", str(shared_data), "--output", str(tmp_path / "x"), "--init",
              "scratch", "--preset", preset, *FLAGS])
    assert e.value.code == 2
