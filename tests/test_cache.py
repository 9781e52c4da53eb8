import numpy as np

from sweep.cache import SampleCache
from sweep.config import ForecastConfig
from sweep.data import load_ohlcv
from sweep.evaluate import draw_samples, evaluate
from sweep.forecasters.toto import TotoForecaster
from sweep.windows import WindowSpec, make_splits


class CountingForecaster(TotoForecaster):
    calls = 0

    def forecast(self, *args, **kwargs):
        CountingForecaster.calls += 1
        return super().forecast(*args, **kwargs)


def _setup(data_dir, tiny_toto_dir):
    data = load_ohlcv(data_dir, "TEST")
    splits = make_splits(data.n_bars, WindowSpec(val_windows=5, test_windows=5, stride=12, max_context_length=64))
    return data, splits, CountingForecaster(str(tiny_toto_dir))


def test_when_the_cache_serves_n_samples_then_they_equal_a_direct_n_sample_run(data_dir, tiny_toto_dir):
    data, splits, forecaster = _setup(data_dir, tiny_toto_dir)
    origins = splits.validation_origins
    cache = SampleCache()
    cached, _ = draw_samples(forecaster, ForecastConfig("toto", 64, 16, "mean", seed=3), data, origins, 1, cache,
                             n_max=64)
    direct, _ = draw_samples(forecaster, ForecastConfig("toto", 64, 16, "mean", seed=3), data, origins, 1,
                             SampleCache(enabled=False))
    np.testing.assert_array_equal(cached.samples, direct.samples)
    assert cached.samples.shape == (5, 16, 1)


def test_when_only_num_samples_or_aggregate_change_then_inference_runs_once(data_dir, tiny_toto_dir, tmp_path):
    data, splits, forecaster = _setup(data_dir, tiny_toto_dir)
    cache = SampleCache(tmp_path / "cache")
    CountingForecaster.calls = 0
    for n, agg in [(16, "mean"), (32, "median"), (64, "quantile_0.45"), (16, "trimmed_mean_0.1")]:
        evaluate(forecaster, ForecastConfig("toto", 64, n, agg), data, splits.validation_origins, 1, cache, n_max=64)
    assert CountingForecaster.calls == 1
    evaluate(forecaster, ForecastConfig("toto", 32, 16, "mean"), data, splits.validation_origins, 1, cache, n_max=64)
    assert CountingForecaster.calls == 2  # a new context length is new inference


def test_when_a_new_process_opens_the_cache_then_entries_come_from_disk(data_dir, tiny_toto_dir, tmp_path):
    data, splits, forecaster = _setup(data_dir, tiny_toto_dir)
    config = ForecastConfig("toto", 64, 16, "median", seed=5)
    first = evaluate(forecaster, config, data, splits.validation_origins, 1, SampleCache(tmp_path), n_max=32)
    CountingForecaster.calls = 0
    reopened = SampleCache(tmp_path)
    second = evaluate(forecaster, config, data, splits.validation_origins, 1, reopened, n_max=32)
    assert CountingForecaster.calls == 0 and reopened.hits == 1
    assert first.metrics == second.metrics
    assert len(list(tmp_path.glob("*.npz"))) == 1


def test_when_a_cache_file_is_torn_then_it_is_recomputed(data_dir, tiny_toto_dir, tmp_path):
    data, splits, forecaster = _setup(data_dir, tiny_toto_dir)
    config = ForecastConfig("toto", 64, 16, "median")
    evaluate(forecaster, config, data, splits.validation_origins, 1, SampleCache(tmp_path), n_max=16)
    entry = next(tmp_path.glob("*.npz"))
    entry.write_bytes(entry.read_bytes()[:50])
    CountingForecaster.calls = 0
    evaluate(forecaster, config, data, splits.validation_origins, 1, SampleCache(tmp_path), n_max=16)
    assert CountingForecaster.calls == 1


def test_when_origins_are_drawn_over_a_universe_then_their_rows_are_scored_with_their_share_of_latency(data_dir):
    import numpy as np
    import pytest

    from sweep.cache import SampleCache
    from sweep.config import ForecastConfig
    from sweep.data import load_ohlcv
    from sweep.evaluate import draw_samples, evaluate, rows_of
    from sweep.forecasters import PersistenceForecaster

    data = load_ohlcv(data_dir, "TEST")
    universe, origins = np.arange(100, 400, 10), np.array([150, 200, 390])
    config = ForecastConfig(model="naive", context_length=1, num_samples=1, aggregate="mean")
    alone = evaluate(PersistenceForecaster(), config, data, origins, 1)
    shared = evaluate(PersistenceForecaster(), config, data, origins, 1, universe=universe)
    assert shared.metrics["pct_return_mae"] == alone.metrics["pct_return_mae"] and shared.n_windows == 3
    cache = SampleCache()
    whole, _ = draw_samples(PersistenceForecaster(), config, data, universe, 1, cache)
    part, _ = draw_samples(PersistenceForecaster(), config, data, origins, 1, cache, universe=universe)
    np.testing.assert_array_equal(part.samples, whole.samples[rows_of(universe, origins)])
    assert part.latency_s() == pytest.approx(whole.latency_s())  # seconds per origin, not per universe
    with pytest.raises(ValueError, match="origin universe"):
        rows_of(universe, np.array([155]))
