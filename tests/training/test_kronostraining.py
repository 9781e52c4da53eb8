"""python -m kronostraining on the real data: from scratch, then fine-tuning its output."""

import json

import numpy as np
import pandas as pd

from kronostraining.__main__ import main
from sweep.forecasters.checkpoint_output import checkpoint_kind_of
from sweep.data.bars import load_ohlcv
from sweep.forecasters.kronos.forecaster import KronosForecaster
from sweep.data.windows import WindowSpec, make_splits

FLAGS = ["--val-windows", "20", "--test-windows", "20", "--max-context-length", "256"]


def test_when_trained_from_scratch_then_it_loads_and_saw_only_pre_validation_bars(shared_data, tmp_path):
    out = tmp_path / "kronos"
    code = main(["--symbols", "BTCUSD", "ETHUSD", "--data-dir", str(shared_data), "--output", str(out), "--init",
                 "scratch", "--preset", "tiny", "--steps", "4", "--batch-size", "4", "--context-length", "64", *FLAGS])
    assert code == 0
    meta = json.loads((out / "kronos.json").read_text())
    assert meta["trained_tokenizer"] is True and meta["max_context"] == 512
    assert checkpoint_kind_of(out) == "kronos"  # what --overwrite may replace
    for part in ("tokenizer", "predictor"):
        assert meta["losses"][part]["train_loss"] is not None and meta["losses"][part]["val_loss"] is not None
    data = load_ohlcv(shared_data, "BTCUSD")
    splits = make_splits(data.n_bars, WindowSpec(val_windows=20, test_windows=20, max_context_length=256))
    assert pd.Timestamp(meta["symbols"]["BTCUSD"]["last_bar"]) < data.frame.index[splits.first_validation_origin]
    assert meta["symbols"]["BTCUSD"]["bars"] == splits.first_validation_origin

    forecaster = KronosForecaster(str(out))
    assert forecaster.identity()["tokenizer_id"] == str((out / "tokenizer").resolve())
    assert forecaster.identity()["model_id"] == str(out.resolve())  # the folder as a whole, kronos.json included
    assert set(forecaster.identity()["checkpoint_files"]) == {"kronos.json", "predictor/config.json",
                                                              "predictor/model.safetensors"}
    ohlcv = data.frame[["open", "high", "low", "close", "volume"]].to_numpy()[None, :64]
    paths = forecaster.forecast(ohlcv[..., 3], data.timestamps_s[None, :64], 2, 4, seed=0, ohlcv=ohlcv).samples
    assert paths.shape == (1, 4, 2) and np.isfinite(paths).all()


def test_when_fine_tuned_from_a_folder_then_the_tokenizer_is_kept_unless_asked(shared_data, tiny_kronos_dir, tmp_path):
    out = tmp_path / "tuned"
    code = main(["--symbols", "ETHUSD", "--data-dir", str(shared_data), "--output", str(out), "--init",
                 str(tiny_kronos_dir), "--steps", "2", "--batch-size", "2", "--context-length", "32", *FLAGS])
    assert code == 0
    meta = json.loads((out / "kronos.json").read_text())
    assert meta["init"] == str(tiny_kronos_dir) and meta["trained_tokenizer"] is False
    assert meta["losses"]["tokenizer"]["train_loss"] is None
    same = (out / "tokenizer/model.safetensors").read_bytes() == (tiny_kronos_dir / "tokenizer/model.safetensors").read_bytes()
    changed = (out / "predictor/model.safetensors").read_bytes() != (tiny_kronos_dir / "predictor/model.safetensors").read_bytes()
    assert same and changed


def test_when_scratch_is_asked_without_the_tokenizer_then_exit_2(shared_data, tmp_path, capsys):
    code = main(["--symbols", "BTCUSD", "--data-dir", str(shared_data), "--output", str(tmp_path / "x"), "--init",
                 "scratch", "--no-train-tokenizer", "--steps", "1", *FLAGS])
    assert code == 2 and "--no-train-tokenizer" in capsys.readouterr().err
