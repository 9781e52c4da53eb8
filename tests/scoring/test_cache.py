from dataclasses import replace

import numpy as np
import pytest

from sweep.scoring.cache import SampleCache
from sweep.forecasters.config import ForecastConfig
from sweep.data.bars import load_ohlcv
from sweep.scoring.evaluate import draw_samples, evaluate
from sweep.forecasters.toto import TotoForecaster
from sweep.data.windows import WindowSpec, make_splits


class CountingForecaster(TotoForecaster):
    calls = 0
    windows = 0

    def forecast(self, contexts, *args, **kwargs):
        CountingForecaster.calls += 1
        CountingForecaster.windows += len(contexts)
        return super().forecast(contexts, *args, **kwargs)


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
    assert len(list(tmp_path.glob("*/*.npz"))) == 1


def test_when_a_cache_file_is_torn_then_it_is_recomputed(data_dir, tiny_toto_dir, tmp_path):
    data, splits, forecaster = _setup(data_dir, tiny_toto_dir)
    config = ForecastConfig("toto", 64, 16, "median")
    evaluate(forecaster, config, data, splits.validation_origins, 1, SampleCache(tmp_path), n_max=16)
    entry = next(tmp_path.glob("*/*.npz"))
    entry.write_bytes(entry.read_bytes()[:50])
    CountingForecaster.calls = 0
    evaluate(forecaster, config, data, splits.validation_origins, 1, SampleCache(tmp_path), n_max=16)
    assert CountingForecaster.calls == 1


def test_when_requests_overlap_then_only_the_missing_origins_are_drawn_and_rows_equal_a_direct_draw(
        data_dir, tiny_toto_dir, tmp_path):
    data, _splits, forecaster = _setup(data_dir, tiny_toto_dir)
    config = ForecastConfig("toto", 64, 16, "mean", seed=2)
    first, second = np.arange(200, 400, 10), np.arange(300, 500, 10)[::-1]  # half shared, asked in another order
    cache = SampleCache(tmp_path)
    CountingForecaster.calls = CountingForecaster.windows = 0
    draw_samples(forecaster, config, data, first, 1, cache, n_max=32)
    served, _ = draw_samples(forecaster, config, data, second, 1, cache, n_max=32)
    assert CountingForecaster.windows == len(first) + 10 and cache.drawn_origins == len(first) + 10
    direct, _ = draw_samples(forecaster, config, data, second, 1, SampleCache(enabled=False))
    np.testing.assert_array_equal(served.samples, direct.samples)  # a window's paths are its own
    assert served.latency_s() > 0
    reopened, _ = draw_samples(forecaster, config, data, np.union1d(first, second), 1, SampleCache(tmp_path), n_max=32)
    assert CountingForecaster.calls == 3  # the two draws on disk serve the union
    more, _ = draw_samples(forecaster, replace(config, num_samples=64), data, second, 1, cache, n_max=32)
    assert CountingForecaster.calls == 4 and more.samples.shape == (20, 64, 1)  # more paths than held: drawn again
    np.testing.assert_array_equal(more.samples[:, :16], served.samples)


def test_when_a_window_depends_on_its_request_then_the_request_is_cached_whole(data_dir, tiny_toto_dir):
    data, _splits, forecaster = _setup(data_dir, tiny_toto_dir)
    horizon = forecaster.backbone.patch_embed.patch_size + 1  # decoded by toto-ts: one stream for the batch
    assert not forecaster.rows_independent(horizon) and forecaster.rows_independent(1)
    config = ForecastConfig("toto", 64, 4, "mean")
    cache = SampleCache()
    CountingForecaster.calls = 0
    for origins in (np.arange(200, 260, 10), np.arange(200, 250, 10), np.arange(200, 260, 10)):
        draw_samples(forecaster, config, data, origins, horizon, cache)
    assert CountingForecaster.calls == 2 and cache.hits == 1


def test_when_rows_of_several_draws_are_served_then_latency_is_their_share_per_origin(data_dir):
    from sweep.forecasters import PersistenceForecaster

    data = load_ohlcv(data_dir, "TEST")
    config = ForecastConfig(model="naive", context_length=1, num_samples=1, aggregate="mean")
    cache = SampleCache()
    whole, _ = draw_samples(PersistenceForecaster(), config, data, np.arange(100, 400, 10), 1, cache)
    part, _ = draw_samples(PersistenceForecaster(), config, data, np.array([390, 150, 200]), 1, cache)
    np.testing.assert_array_equal(part.point[:, 0], data.close[[389, 149, 199]])
    assert cache.hits == 1 and part.latency_s() == pytest.approx(whole.latency_s())  # seconds per origin
