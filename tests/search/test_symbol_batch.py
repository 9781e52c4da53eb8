"""One forward pass for many symbols: a batched draw equals each symbol's own draw, and a sweep uses it."""

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from sweep.scoring.cache import SampleCache
from sweep.cli import main
from sweep.forecasters.config import ForecastConfig
from sweep.data.bars import load_ohlcv
from sweep.scoring.evaluate import draw_samples, evaluate
from sweep.forecasters.registry import FAMILIES
from sweep.search.study import make_storage
from sweep.search._symbol_batch import draw_for_symbols
from sweep.data.windows import WindowSpec, make_splits

SPEC = WindowSpec(val_windows=12, test_windows=5, stride=24, max_context_length=128)
SYMBOLS = ("BTCUSD", "ETHUSD", "SOLUSD")


def _requests(shared_data):
    out = []
    for symbol in SYMBOLS:
        data = load_ohlcv(shared_data, symbol)
        out.append((data, make_splits(data.n_bars, SPEC).validation_origins))
    return out


@pytest.mark.parametrize("family,sampling,windows_per_pass", [
    ("toto", {}, None), ("toto", {}, 7), ("kronos", {"temperature": 0.85, "top_k": 0, "top_p": 0.9, "clip": 5.0}, None),
    ("chronos2", {"inputs": "covariates"}, None)])
def test_when_symbols_are_batched_then_each_symbols_rows_equal_its_own_draw(
        family, sampling, windows_per_pass, shared_data, tiny_toto_dir, tiny_kronos_dir, tiny_quantile_dirs,
        monkeypatch):
    folder = {"toto": tiny_toto_dir, "kronos": tiny_kronos_dir, **tiny_quantile_dirs}[family]
    forecaster = FAMILIES[family].load(str(folder))
    if windows_per_pass:  # passes that split a symbol's windows
        monkeypatch.setattr(type(forecaster), "windows_per_pass", lambda self, c, h: windows_per_pass)
    num_samples = 1 if forecaster.output == "quantiles" else 8
    config = ForecastConfig(family, 64, num_samples, "median", seed=4, sampling=sampling)
    requests = _requests(shared_data)
    cache = SampleCache()
    drawn = draw_for_symbols(forecaster, config, requests, 1, cache, n_max=num_samples)
    assert drawn == sum(len(o) for _, o in requests)
    assert draw_for_symbols(forecaster, config, requests, 1, cache, n_max=num_samples) == 0  # all held now
    for data, origins in requests:
        batched, _ = draw_samples(forecaster, config, data, origins, 1, cache)
        alone, _ = draw_samples(forecaster, config, data, origins, 1, SampleCache(enabled=False))
        assert cache.misses == 0  # served from the batched draw
        if forecaster.output == "samples":  # per-window streams, shapes independent of the batch: exactly equal
            np.testing.assert_array_equal(batched.samples, alone.samples)
        else:  # float32 products whose rounding depends on the batch size (the family contract's tolerance)
            np.testing.assert_allclose(batched.quantiles, alone.quantiles, rtol=0,
                                       atol=1e-5 * float(data.close[origins].max()))


def test_when_a_batched_sweep_runs_then_every_trial_scores_as_if_drawn_alone(shared_data, tiny_toto_dir, tmp_path,
                                                                             monkeypatch):
    from sweep.forecasters.toto import TotoForecaster

    assert not TotoForecaster(str(tiny_toto_dir)).batches_symbols()  # a CPU draws symbol by symbol
    monkeypatch.setattr(TotoForecaster, "batches_symbols", lambda self: True)  # as on a GPU, which this machine lacks
    calls = []
    original = TotoForecaster.forecast
    monkeypatch.setattr(TotoForecaster, "forecast", lambda self, contexts, *a, **k: calls.append(len(contexts)) or
                        original(self, contexts, *a, **k))
    argv = ["--symbols", *SYMBOLS, "--models", "toto", "naive", "--n-trials", "6", "--data-dir", str(shared_data),
            "--toto-model", str(tiny_toto_dir), "--runs-dir", str(tmp_path / "runs"), "--output-dir",
            str(tmp_path / "hp"), "--run-id", "batched", "--val-windows", "12", "--test-windows", "5", "--stride",
            "24", "--max-context-length", "128"]
    assert main(argv) == 0
    during_sweep = list(calls)
    forecaster = FAMILIES["toto"].load(str(tiny_toto_dir))
    storage = make_storage(tmp_path / "runs" / "batched" / "optuna.journal")
    contexts, n_test = set(), set()
    for symbol in SYMBOLS:
        data = load_ohlcv(shared_data, symbol)
        splits = make_splits(data.n_bars, SPEC)
        origins, n_test = splits.validation_origins, n_test | {len(splits.test_origins)}
        study = optuna.load_study(study_name=f"{symbol}.toto", storage=storage)
        for trial in study.get_trials(states=(TrialState.COMPLETE,)):
            config = ForecastConfig.from_dict(trial.user_attrs["config"])
            contexts.add(config.context_length)
            alone = evaluate(forecaster, config, data, origins, 1, SampleCache(enabled=False))
            assert trial.user_attrs["validation_window_errors"] == alone.window_errors.tolist()
    # validation windows were drawn only for the three symbols at once, once per context any study tried; the
    # other calls are the candidates' test origins, one symbol at a time
    validation_calls = [n for n in during_sweep if n not in n_test]
    assert sorted(validation_calls) == [len(SYMBOLS) * SPEC.val_windows] * len(contexts)


def test_when_a_batched_draw_fails_then_each_study_draws_its_own_symbol(shared_data, tiny_toto_dir, tmp_path,
                                                                       monkeypatch, caplog):
    import sweep.search._symbol_batch as symbol_batch
    from sweep.forecasters.toto import TotoForecaster

    monkeypatch.setattr(TotoForecaster, "batches_symbols", lambda self: True)

    def out_of_memory(*args, **kwargs):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(symbol_batch, "draw_for_symbols", out_of_memory)
    argv = ["--symbols", *SYMBOLS[:2], "--models", "toto", "--n-trials", "3", "--data-dir", str(shared_data),
            "--toto-model", str(tiny_toto_dir), "--runs-dir", str(tmp_path / "runs"), "--output-dir",
            str(tmp_path / "hp"), "--run-id", "fallback", "--val-windows", "12", "--test-windows", "5", "--stride",
            "24", "--max-context-length", "128"]
    with caplog.at_level("WARNING", logger="sweep.search._symbol_batch"):
        assert main(argv) == 0
    assert "drawing symbol by symbol" in caplog.text
    storage = make_storage(tmp_path / "runs" / "fallback" / "optuna.journal")
    for symbol in SYMBOLS[:2]:
        study = optuna.load_study(study_name=f"{symbol}.toto", storage=storage)
        assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 3  # no trial failed for the batch's sake
