import json

import numpy as np
import pandas as pd

from sweep.forecasters.checkpoint_output import checkpoint_kind_of
from sweep.data.bars import load_ohlcv
from sweep.forecasters.toto import TotoForecaster
from sweep.data.windows import WindowSpec, make_splits
from tototraining.__main__ import main


def test_when_trained_from_scratch_then_the_checkpoint_loads_and_saw_only_pre_validation_bars(shared_data, tmp_path):
    out = tmp_path / "ckpt"
    out.mkdir()  # an empty folder is written into without --overwrite
    flags = ["--val-windows", "20", "--test-windows", "20", "--max-context-length", "256"]
    code = main(["--symbols", "BTCUSD", "--data-dir", str(shared_data), "--output", str(out), "--init", "scratch",
                 "--preset", "tiny", "--steps", "4", "--batch-size", "4", "--context-length", "128", *flags])
    assert code == 0
    meta = json.loads((out / "training.json").read_text())
    assert meta["steps"] == 4 and meta["train_loss"] is not None and meta["val_loss"] is not None
    assert checkpoint_kind_of(out) == "toto"  # what --overwrite may replace
    data = load_ohlcv(shared_data, "BTCUSD")
    splits = make_splits(data.n_bars, WindowSpec(val_windows=20, test_windows=20, max_context_length=256))
    first_val = data.frame.index[splits.first_validation_origin]
    assert pd.Timestamp(meta["data"][0]["last_bar"]) < first_val
    assert meta["data"][0]["bars"] == splits.first_validation_origin
    forecaster = TotoForecaster(str(out))
    contexts = data.close[None, :128]
    stamps = data.timestamps_s[None, :128]
    assert np.isfinite(forecaster.forecast(contexts, stamps, 1, 2, seed=0).samples).all()


def test_when_the_init_checkpoint_is_a_folder_then_it_is_fine_tuned(shared_data, tiny_toto_dir, tmp_path):
    out = tmp_path / "tuned"
    code = main(["--symbols", "ETHUSD", "--data-dir", str(shared_data), "--output", str(out), "--init",
                 str(tiny_toto_dir), "--steps", "2", "--batch-size", "2", "--context-length", "64",
                 "--val-windows", "10", "--test-windows", "10", "--max-context-length", "128"])
    assert code == 0
    assert json.loads((out / "training.json").read_text())["init"] == str(tiny_toto_dir)
    assert (out / "config.json").read_text() == (tiny_toto_dir / "config.json").read_text()


def test_when_trained_for_k_folds_then_it_stops_before_the_oldest_fold_and_records_it(shared_data, tiny_toto_dir,
                                                                                       tmp_path):
    from sweep.forecasters.overlap import training_limits
    from sweep.data.windows import walk_forward_splits

    flags = ["--val-windows", "10", "--test-windows", "10", "--stride", "24", "--max-context-length", "128"]
    out = tmp_path / "folds"
    code = main(["--symbols", "BTCUSD", "--data-dir", str(shared_data), "--output", str(out), "--init",
                 str(tiny_toto_dir), "--steps", "2", "--batch-size", "2", "--context-length", "64", "--folds", "3",
                 *flags])
    assert code == 0
    meta = json.loads((out / "training.json").read_text())
    data = load_ohlcv(shared_data, "BTCUSD")
    oldest = walk_forward_splits(data.n_bars, WindowSpec(val_windows=10, test_windows=10, max_context_length=128), 3)[0]
    assert pd.Timestamp(meta["trained_until"]) == data.frame.index[oldest.first_validation_origin - 1]
    assert meta["windows"]["folds"] == 3 and meta["pretraining_cutoff"] is None  # tiny_toto_dir has no pretraining
    assert training_limits(str(out)) == {"pretraining_cutoff": None, "trained_until": meta["trained_until"]}
