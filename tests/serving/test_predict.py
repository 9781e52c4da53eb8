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
from sweep.forecasters.registry import FAMILIES
from sweep.forecasters.toto import TotoForecaster
from sweep.serving.predict import (LEGACY_LEVELS, QUANTILE_LEVELS, SCORED_LEVELS, Predictor, _served_levels,
                                   load_predictor)
from sweep.stats import metrics
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


def _served_quantiles(forecasts, levels) -> np.ndarray:
    """``[n_origins, len(levels), horizon]`` served price quantiles, as ``Predictive.quantiles`` lays them out."""
    return np.stack([np.stack([f.quantiles[level] for level in levels]) for f in forecasts])


@pytest.mark.parametrize("kind", ["toto", "kronos", "ensemble", "persistence", "candidate"])
def test_when_served_at_each_test_origin_then_the_point_and_quantiles_are_exactly_what_evaluation_scored(
        kind, sweep_run, shared_data, tiny_toto_dir, tiny_kronos_dir, tmp_path):
    document = _documents(sweep_run, tiny_toto_dir, tiny_kronos_dir)[kind]
    data = load_ohlcv(shared_data, "BTCUSD")
    origins = make_splits(data.n_bars, SPEC).test_origins
    if kind == "kronos":  # a lone Kronos origin computes a whole padded group: every 4th keeps the test short
        origins = origins[::4]
    scored = document_forecast(document, data, origins, 1, SampleCache(), forecaster_from_identity)
    predictor = Predictor(document, tmp_path / "best.json")
    forecasts = [predictor.predict(data, at=data.frame.index[o]) for o in origins]
    served = np.stack([f.point for f in forecasts])
    np.testing.assert_array_equal(served, scored.point)
    # the nine levels quantile_loss scores, and every served level, read from the distribution evaluation scored
    np.testing.assert_array_equal(_served_quantiles(forecasts, metrics.QUANTILE_LEVELS),
                                  scored.predictive.quantiles(metrics.QUANTILE_LEVELS))
    np.testing.assert_array_equal(_served_quantiles(forecasts, QUANTILE_LEVELS),
                                  scored.predictive.quantiles(QUANTILE_LEVELS))
    # and the served points give exactly the test MAE evaluation reports (the sweep's own, for real candidates)
    last, truth = data.close[origins - 1], data.close[origins]
    mae = np.mean(np.abs(served[:, 0] / last - truth / last))
    assert mae == pytest.approx(evaluate_document(document, data, origins, 1, SampleCache(),
                                                  forecaster_from_identity).metrics["pct_return_mae"], abs=1e-15)
    if kind in ("ensemble", "candidate"):
        assert mae == pytest.approx(document["test"]["pct_return_mae"], abs=1e-15)


def test_when_a_quantile_family_is_served_at_each_test_origin_then_its_quantiles_are_what_evaluation_scored(
        sweep_run, shared_data, tiny_quantile_dirs, tmp_path):
    # Chronos-Bolt predicts 0.1 ... 0.9 only: the served 0.05 and 0.95 are its 0.1 and 0.9, held flat
    identity = FAMILIES["chronos-bolt"].load(str(tiny_quantile_dirs["chronos-bolt"])).identity()
    windows = json.loads((sweep_run / "hp/candidates/p1/BTCUSD.json").read_text())["windows"]
    document = {"symbol": "BTCUSD", "model": identity, "windows": windows,
                "config": {"model": "chronos-bolt", "context_length": 128, "num_samples": 1, "aggregate": "median"}}
    data = load_ohlcv(shared_data, "BTCUSD")
    # every 4th of the 192 hourly test origins, so every test day: each is served and evaluated alone, one forward
    # pass each, through the same code at every origin (Toto, the ensemble and persistence above are served at all)
    origins = make_splits(data.n_bars, SPEC).test_origins[::4]
    scored = document_forecast(document, data, origins, 1, SampleCache(), forecaster_from_identity)
    predictor = Predictor(document, tmp_path / "best.json")
    forecasts = [predictor.predict(data, at=data.frame.index[o]) for o in origins]
    served = _served_quantiles(forecasts, metrics.QUANTILE_LEVELS)
    # a quantile model's float32 matrix products round by batch size: the batched scores agree to 1e-5 of the
    # price (tests/forecasters/test_families.py), and evaluation of the origin alone agrees exactly
    np.testing.assert_allclose(served, scored.predictive.quantiles(metrics.QUANTILE_LEVELS), rtol=0,
                               atol=1e-5 * data.close[origins - 1].max())
    model = forecaster_from_identity(identity)  # loaded once, as the predictor loads its model once
    alone = np.concatenate([document_forecast(document, data, np.array([o]), 1, SampleCache(),
                                              lambda _identity: model).predictive.quantiles(metrics.QUANTILE_LEVELS)
                            for o in origins])
    np.testing.assert_array_equal(served, alone)
    assert all(np.array_equal(f.quantiles[0.05], f.quantiles[0.1]) for f in forecasts)
    assert all(np.array_equal(f.quantiles[0.95], f.quantiles[0.9]) for f in forecasts)


def test_when_levels_are_served_then_they_are_the_scored_and_the_legacy_levels_each_once_in_order():
    assert SCORED_LEVELS == metrics.QUANTILE_LEVELS and LEGACY_LEVELS == (0.05, 0.25, 0.5, 0.75, 0.95)
    assert QUANTILE_LEVELS == (0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 0.95)
    # a legacy level that differs from a scored one by float rounding is the scored one, served once
    assert _served_levels((0.1, 0.30000000000000004), (0.05, 0.3)) == (0.05, 0.1, 0.30000000000000004)


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
    assert list(latest.quantile_returns) == list(QUANTILE_LEVELS) and latest.scored_levels == SCORED_LEVELS
    assert all(np.array_equal(latest.quantile_returns[q], latest.quantiles[q] / data.close[-1] - 1)
               for q in QUANTILE_LEVELS)
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
    keys = ["0.05", "0.1", "0.2", "0.25", "0.3", "0.4", "0.5", "0.6", "0.7", "0.75", "0.8", "0.9", "0.95"]
    assert list(forecast["quantiles"]) == keys and list(forecast["quantile_returns"]) == keys
    assert forecast["scored_levels"] == ["0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9"]
    for key in keys:
        expected = np.array(forecast["quantiles"][key]) / forecast["last_close"] - 1
        np.testing.assert_allclose(forecast["quantile_returns"][key], expected, rtol=0, atol=1e-15)
    assert forecast["origin_time"] == "2024-04-18 04:00:00+00:00"
    # the table shows the median and the 80 % interval; the JSON has every level
    assert main(["predict", "--symbol", "BTCUSD", "--data-dir", str(shared_data), "--output-dir", str(hp)]) == 0
    table = capsys.readouterr().out
    assert all(column in table for column in ("q10", "q50", "q90", "80 % interval"))
    assert "q5 " not in table and "q25" not in table and f"{forecast['quantiles']['0.9'][0]:.6g}" in table


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
