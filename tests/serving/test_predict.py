"""Serving the promoted config: parity with evaluation at every test origin, for every kind of config."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from sweep.scoring.cache import SampleCache
from sweep.cli import main
from sweep.data.bars import load_ohlcv, symbol_path
from sweep.scoring.ensemble import document_forecast, evaluate_document
from sweep.errors import ConfigError, ModelLoadError
from sweep.forecasters import forecaster_from_identity
from sweep.forecasters.kronos.forecaster import KronosForecaster
from sweep.forecasters.toto import TotoForecaster
from sweep.serving.predict import QUANTILE_LEVELS, Predictor, load_predictor
from sweep.data.windows import WindowSpec, make_splits

from conftest import PROMOTION

WINDOWS = ["--val-windows", "8", "--test-windows", "8", "--stride", "24", "--max-context-length", "128"]
SPEC = WindowSpec(val_windows=8, test_windows=8, stride=24, max_context_length=128)


@pytest.fixture(scope="module")
def sweep_run(shared_data, tiny_toto_dir, tiny_kronos_dir, tmp_path_factory):
    """A real sweep of Toto, Kronos and persistence on BTCUSD with an LP ensemble."""
    root = tmp_path_factory.mktemp("predict")
    assert main(["--symbols", "BTCUSD", "--n-trials", "3", "--data-dir", str(shared_data), "--toto-model",
                 str(tiny_toto_dir), "--kronos-model", str(tiny_kronos_dir), "--runs-dir", str(root / "runs"),
                 "--output-dir", str(root / "hp"), "--run-id", "p1", "--ensemble", "lp", *WINDOWS]) == 0
    return root


def _documents(root, tiny_toto_dir, tiny_kronos_dir):
    candidate = json.loads((root / "hp/candidates/p1/BTCUSD.json").read_text())
    ensemble = json.loads((root / "hp/candidates/p1/ensemble/BTCUSD.json").read_text())
    windows = candidate["windows"]
    toto = {"symbol": "BTCUSD", "model": TotoForecaster(str(tiny_toto_dir)).identity(), "windows": windows,
            "config": {"model": "toto", "context_length": 128, "num_samples": 64, "aggregate": "trimmed_mean_0.1"}}
    kronos = {"symbol": "BTCUSD", "model": KronosForecaster(str(tiny_kronos_dir)).identity(), "windows": windows,
              "config": {"model": "kronos", "context_length": 64, "num_samples": 16, "aggregate": "median",
                         "sampling": {"temperature": 0.85, "top_k": 20, "top_p": 1.0, "clip": 3.0}}}
    naive = {"symbol": "BTCUSD", "model": {"family": "naive", "model_id": "persistence"}, "windows": windows,
             "config": {"model": "naive", "context_length": 1, "num_samples": 1, "aggregate": "mean"}}
    return {"toto": toto, "kronos": kronos, "ensemble": ensemble, "persistence": naive, "candidate": candidate}


@pytest.mark.parametrize("kind", ["toto", "kronos", "ensemble", "persistence", "candidate"])
def test_when_served_at_each_test_origin_then_the_point_is_exactly_what_evaluation_scored(
        kind, sweep_run, shared_data, tiny_toto_dir, tiny_kronos_dir, tmp_path):
    document = _documents(sweep_run, tiny_toto_dir, tiny_kronos_dir)[kind]
    data = load_ohlcv(shared_data, "BTCUSD")
    origins = make_splits(data.n_bars, SPEC).test_origins
    if kind == "kronos":  # a lone Kronos origin computes a whole padded group: every 4th keeps the test short
        origins = origins[::4]
    scored = document_forecast(document, data, origins, 1, SampleCache(), forecaster_from_identity)
    predictor = Predictor(document, tmp_path / "best.json")
    served = np.stack([predictor.predict(data, at=data.frame.index[o]).point for o in origins])
    np.testing.assert_array_equal(served, scored.point)
    # and the served points give exactly the test MAE evaluation reports (the sweep's own, for real candidates)
    last, truth = data.close[origins - 1], data.close[origins]
    mae = np.mean(np.abs(served[:, 0] / last - truth / last))
    assert mae == pytest.approx(evaluate_document(document, data, origins, 1, SampleCache(),
                                                  forecaster_from_identity).metrics["pct_return_mae"], abs=1e-15)
    if kind in ("ensemble", "candidate"):
        assert mae == pytest.approx(document["test"]["pct_return_mae"], abs=1e-15)


def test_when_the_latest_bars_are_served_then_the_forecast_uses_only_them_and_reports_quantiles(
        sweep_run, shared_data, tiny_toto_dir, tiny_kronos_dir, tmp_path):
    document = _documents(sweep_run, tiny_toto_dir, tiny_kronos_dir)["toto"]
    data = load_ohlcv(shared_data, "BTCUSD")
    predictor = Predictor(document, tmp_path / "best.json")
    latest = predictor.predict(data)
    assert latest.times == [str(data.frame.index[-1] + pd.Timedelta("1h"))]
    assert latest.last_close == data.close[-1]
    levels = np.array([latest.quantiles[q][0] for q in QUANTILE_LEVELS])
    assert list(latest.quantiles) == list(QUANTILE_LEVELS) and np.all(np.diff(levels) >= 0)
    assert latest.point_return[0] == pytest.approx(latest.point[0] / data.close[-1] - 1)
    # a frame in the CSV's columns gives the same forecast; bars after the origin are never read
    frame = pd.read_csv(symbol_path(shared_data, "BTCUSD"))
    at = data.frame.index[-49]  # the bar right after the last one the frame keeps
    cut = predictor.predict(frame.iloc[:-49], at=None)
    assert cut.times[0] == str(at) and np.array_equal(cut.point, predictor.predict(data, at=at).point)
    with pytest.raises(ConfigError, match="--at must be the open time of a bar"):
        predictor.predict(data, at="1999-01-01")


def test_when_the_checkpoint_changed_since_promotion_then_the_predictor_refuses_it(tiny_toto_dir, tmp_path):
    changed = tmp_path / "toto"
    shutil.copytree(tiny_toto_dir, changed)
    document = {"symbol": "BTCUSD", "model": TotoForecaster(str(changed)).identity(), "windows": {"horizon": 1},
                "config": {"model": "toto", "context_length": 64, "num_samples": 16, "aggregate": "median"},
                "promotion": PROMOTION}
    (tmp_path / "hp/best").mkdir(parents=True)
    (tmp_path / "hp/best/BTCUSD.json").write_text(json.dumps(document))
    assert load_predictor("BTCUSD", tmp_path / "hp").horizon == 1
    weights = changed / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)  # retrained or replaced since
    with pytest.raises(ModelLoadError, match="changed since it was recorded"):
        load_predictor("BTCUSD", tmp_path / "hp")
    with pytest.raises(ConfigError, match="no promoted config"):
        load_predictor("ETHUSD", tmp_path / "hp")


def test_when_predict_runs_from_the_cli_then_it_prints_the_promoted_forecast(sweep_run, shared_data, capsys):
    hp = sweep_run / "hp"
    assert main(["promote", "--run", "p1", "--data-dir", str(shared_data), "--runs-dir", str(sweep_run / "runs"),
                 "--output-dir", str(hp)]) == 0
    capsys.readouterr()
    assert main(["predict", "--symbol", "BTCUSD", "--data-dir", str(shared_data), "--output-dir", str(hp),
                 "--json"]) == 0
    forecast = json.loads(capsys.readouterr().out)
    best = json.loads((hp / "best/BTCUSD.json").read_text())
    assert forecast["model"] == best["model"] and forecast["config"] == best["config"]
    assert set(forecast["quantiles"]) == {"0.05", "0.25", "0.5", "0.75", "0.95"}
    assert forecast["origin_time"] == "2024-04-18 04:00:00+00:00"


#: 120 hourly test origins (5 days of 24 bars, every bar).
HOURLY = WindowSpec(val_windows=8, test_windows=5, stride=24, max_context_length=128)


@pytest.mark.parametrize("context_length, sampling", [(64, {"top_k": 1}), (128, {"temperature": 0.85, "clip": 3.0})],
                         ids=["greedy", "sampled"])
def test_when_each_of_120_hourly_test_origins_is_served_alone_then_kronos_gives_the_batched_forecast_bit_for_bit(
        context_length, sampling, shared_data, tiny_kronos_dir, tmp_path):
    # greedy decoding gives every path of a window one token pair; decoding only a window's distinct
    # pairs then ran a 1-row matrix product alone and a many-row one in the batch, whose float32
    # rounding differs: 1 of these 120 points differed (89 with prices de-normalised in float64)
    document = {"symbol": "BTCUSD", "model": KronosForecaster(str(tiny_kronos_dir)).identity(),
                "windows": {"horizon": 1}, "config": {"model": "kronos", "context_length": context_length,
                                                      "num_samples": 16, "aggregate": "median", "sampling": sampling}}
    data = load_ohlcv(shared_data, "BTCUSD")
    origins = make_splits(data.n_bars, HOURLY).test_origins
    assert len(origins) == 120 and np.all(np.diff(origins) == 1)
    scored = document_forecast(document, data, origins, 1, SampleCache(), forecaster_from_identity)
    predictor = Predictor(document, tmp_path / "best.json")
    served = [predictor.forecast_origins(data, [o]) for o in origins]
    assert np.array_equal(np.concatenate([s.point for s in served]), scored.point)
    assert np.array_equal(np.concatenate([s.predictive.values for s in served]), scored.predictive.values)
