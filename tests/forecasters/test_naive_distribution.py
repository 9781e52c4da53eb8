"""The naive family's two faces: persistence as its point (unchanged under ``pct_return_mae``) and the empirical
random walk as its distribution (``quantile_loss``), with the lookback its search space tries."""

import numpy as np
import optuna
import pytest

from sweep.data.bars import load_ohlcv
from sweep.data.windows import gather_contexts, gather_targets
from sweep.forecasters.base import QuantileBatch
from sweep.forecasters.config import ForecastConfig
from sweep.forecasters.naive import DEFAULT_LOOKBACK, LOOKBACKS, PersistenceForecaster, empirical_quantiles
from sweep.scoring.cache import SampleCache
from sweep.scoring.evaluate import benchmark_losses, draw_samples, evaluate, persistence_errors
from sweep.search.space import default_config, params_of, space_of, space_size
from sweep.stats.metrics import QUANTILE_LEVELS

#: Origins of real BTCUSD bars with 4,320 bars of history before the first (the longest lookback fits).
ORIGINS = np.arange(20_000, 20_600, 10)
PERSISTENCE = ForecastConfig(model="naive", context_length=1, num_samples=1, aggregate="mean")


@pytest.fixture(scope="module")
def btc(shared_data):
    return load_ohlcv(shared_data, "BTCUSD")


def _by_hand(context: np.ndarray, k: int, levels) -> np.ndarray:
    """The k-bar simple returns of one context, one by one, and the last close times (1 + their quantiles)."""
    returns = [context[t] / context[t - k] - 1.0 for t in range(k, len(context))]
    return context[-1] * (1.0 + np.quantile(returns, levels))


def test_when_quantiles_are_asked_then_each_step_k_reads_the_contexts_own_k_bar_returns():
    contexts = np.array([[100.0, 101.0, 99.0, 102.0, 104.0, 103.0, 105.0],
                         [50.0, 49.0, 51.0, 52.0, 50.0, 48.0, 47.5]])
    levels = (0.1, 0.25, 0.5, 0.9)
    out = empirical_quantiles(contexts, 3, levels)
    assert out.shape == (2, 4, 3)  # [n_windows, n_levels, horizon]
    for w, context in enumerate(contexts):
        for k in (1, 2, 3):
            np.testing.assert_allclose(out[w, :, k - 1], _by_hand(context, k, levels), rtol=1e-14)
    assert (np.diff(out, axis=1) >= 0).all()  # quantiles increase with the level


def test_when_default_levels_are_used_then_they_are_the_scored_levels():
    rng = np.random.default_rng(0)
    contexts = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (3, 50)), axis=1))
    out = empirical_quantiles(contexts, 2)
    assert out.shape == (3, len(QUANTILE_LEVELS), 2)
    np.testing.assert_allclose(out[1, :, 1], _by_hand(contexts[1], 2, QUANTILE_LEVELS), rtol=1e-14)


def test_when_the_horizon_is_longer_than_the_context_then_the_longest_return_is_held():
    context = np.array([[100.0, 102.0, 99.0, 103.0]])  # 3 one-bar returns: k = 1, 2, 3 fit, 4 .. 6 do not
    out = empirical_quantiles(context, 6, (0.2, 0.5, 0.8))
    for k in (1, 2, 3):
        np.testing.assert_allclose(out[0, :, k - 1], _by_hand(context[0], k, (0.2, 0.5, 0.8)), rtol=1e-14)
    for step in (4, 5, 6):
        np.testing.assert_array_equal(out[0, :, step - 1], out[0, :, 2])
    assert np.isfinite(out).all()


def test_when_the_context_is_one_bar_then_every_level_and_step_is_the_last_close():
    contexts = np.array([[101.5], [7.25]])
    out = empirical_quantiles(contexts, 4)
    assert out.shape == (2, len(QUANTILE_LEVELS), 4)
    np.testing.assert_array_equal(out[0], 101.5)
    np.testing.assert_array_equal(out[1], 7.25)


def test_when_persistence_forecasts_then_its_point_is_the_last_close_beside_the_empirical_quantiles():
    rng = np.random.default_rng(1)
    contexts = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (4, 30)), axis=1))
    batch = PersistenceForecaster().forecast(contexts, np.zeros_like(contexts, dtype=np.int64), 3, 1, seed=0)
    assert isinstance(batch, QuantileBatch)
    np.testing.assert_array_equal(batch.point, np.repeat(contexts[:, -1:], 3, axis=1))
    np.testing.assert_array_equal(batch.quantiles, empirical_quantiles(contexts, 3))
    np.testing.assert_array_equal(batch.levels, QUANTILE_LEVELS)
    for aggregation in ("mean", "median", "quantile_0.7"):  # the point ignores the config's aggregate
        np.testing.assert_array_equal(batch.predictive.point(aggregation), batch.point)


def test_when_the_context_is_one_bar_then_pct_return_mae_is_persistences_error_as_before(btc):
    horizon = 3
    batch, _ = draw_samples(PersistenceForecaster(), PERSISTENCE, btc, ORIGINS, horizon, SampleCache())
    np.testing.assert_array_equal(batch.point, np.repeat(btc.close[ORIGINS - 1][:, None], horizon, axis=1))
    result = evaluate(PersistenceForecaster(), PERSISTENCE, btc, ORIGINS, horizon, objective="pct_return_mae")
    np.testing.assert_array_equal(result.window_errors, persistence_errors(btc, ORIGINS, horizon))
    np.testing.assert_array_equal(result.window_errors, result.baseline_window_errors)
    assert result.loss == result.metrics["persistence_pct_return_mae"] and result.metrics["skill"] == 0.0
    # every quantile is the last close, so twice the mean pinball loss is the absolute return error
    assert result.metrics["crps"] == pytest.approx(result.metrics["pct_return_mae"], rel=1e-12)


def test_when_the_context_is_one_bar_then_its_quantile_loss_is_its_absolute_return_error(btc):
    result = evaluate(PersistenceForecaster(), PERSISTENCE, btc, ORIGINS, 2, objective="quantile_loss")
    np.testing.assert_allclose(result.window_errors, persistence_errors(btc, ORIGINS, 2), rtol=1e-12)


def test_when_scored_on_quantile_loss_then_the_benchmark_is_the_naive_default_config(btc):
    config = default_config("naive", 2048, 0, "quantile_loss")
    result = evaluate(PersistenceForecaster(), config, btc, ORIGINS, 3, objective="quantile_loss")
    np.testing.assert_allclose(result.window_errors, benchmark_losses(btc, ORIGINS, 3, "quantile_loss"), rtol=1e-12)
    np.testing.assert_allclose(result.window_errors, result.baseline_window_errors, rtol=1e-12)
    assert result.metrics["skill"] == pytest.approx(0.0, abs=1e-12)
    quantiles = empirical_quantiles(gather_contexts(btc.close, ORIGINS, DEFAULT_LOOKBACK + 1), 3)
    targets = gather_targets(btc.close, ORIGINS, 3)[:, -1]  # the close 3 bars ahead: what every objective scores
    assert result.metrics["coverage_0.5"] == pytest.approx(float((targets <= quantiles[:, 4, -1]).mean()))


def test_when_the_objective_is_pct_return_mae_then_the_naive_space_is_persistence_alone():
    space = space_of("naive", "pct_return_mae")
    assert space.size(2048) == 1 == space_size("naive", 4096, "pct_return_mae") and space.grids(2048) == {}
    config = default_config("naive", 2048, 3, "pct_return_mae")
    assert (config.context_length, config.num_samples, config.seed) == (1, 1, 3)
    assert space(optuna.trial.FixedTrial({}), 2048, 3) == config
    assert params_of(config, 2048, "pct_return_mae") == {}


@pytest.mark.parametrize("ceiling", [512, 2048, 4321])
def test_when_the_objective_is_quantile_loss_then_the_naive_space_searches_the_lookbacks_that_fit(ceiling):
    space = space_of("naive", "quantile_loss")
    fitting = tuple(n for n in LOOKBACKS if n + 1 <= ceiling)
    assert space.grids(ceiling) == {"lookback": fitting} and space.size(ceiling) == len(fitting)
    assert space_size("naive", ceiling, "quantile_loss") == len(fitting)
    assert space.inference_keys(ceiling) == [(n + 1, {}) for n in fitting]
    for lookback in fitting:
        config = space(optuna.trial.FixedTrial({"lookback": lookback}), ceiling, 0)
        assert config.context_length == lookback + 1
        assert params_of(config, ceiling, "quantile_loss") == {"lookback": lookback}


def test_when_720_returns_fit_then_the_default_lookback_is_720_and_round_trips():
    assert DEFAULT_LOOKBACK == 720 and DEFAULT_LOOKBACK in LOOKBACKS
    default = default_config("naive", 2048, 0, "quantile_loss")
    assert default.context_length == 721
    params = params_of(default, 2048, "quantile_loss")
    assert params == {"lookback": 720}
    assert space_of("naive", "quantile_loss")(optuna.trial.FixedTrial(params), 2048, 0) == default


def test_when_720_returns_do_not_fit_then_the_default_is_the_longest_lookback_that_does():
    default = default_config("naive", 512, 0, "quantile_loss")
    assert default.context_length == 337
    assert params_of(default, 512, "quantile_loss") == {"lookback": 336}
