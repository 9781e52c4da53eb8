"""The garch family: arch's own fit and quantiles, one fit per refit bar, seeded simulations, the fallback of a
failed fit, its search space and an end-to-end evaluation on the shipped BTCUSD bars."""

import logging
from datetime import datetime, timezone
from itertools import product

import numpy as np
import optuna
import pytest
from arch import arch_model
from scipy import stats

from sweep.data.bars import load_ohlcv
from sweep.data.windows import gather_contexts
from sweep.errors import ConfigError
from sweep.forecasters.config import ForecastConfig
from sweep.forecasters.garch import GarchForecaster, refit_bar
from sweep.forecasters.registry import FAMILIES
from sweep.search.space import default_config, params_of, space_of
from sweep.stats.metrics import QUANTILE_LEVELS

DAY = 86_400
LEVELS = np.asarray(QUANTILE_LEVELS)


@pytest.fixture(scope="module")
def btc(shared_data):
    return load_ohlcv(shared_data, "BTCUSD")


@pytest.fixture(scope="module")
def midnight(btc):
    """An origin whose last context bar opens at 00:00 UTC (a refit bar of ``refit_every`` 24), near the end."""
    return int(np.flatnonzero(btc.timestamps_s % DAY == 0)[-5]) + 1


def _windows(data, origins, context_length=2024):
    origins = np.asarray(origins)
    return gather_contexts(data.close, origins, context_length), gather_contexts(data.timestamps_s, origins,
                                                                                 context_length)


def _fit_returns(data, last_bar, n=2000):
    """Percent returns of the ``n`` bars up to ``last_bar``, as the forecaster fits them."""
    closes = data.close[last_bar - n:last_bar + 1]
    return 100 * (closes[1:] / closes[:-1] - 1)


def test_when_the_last_bar_is_a_refit_bar_then_the_quantiles_are_archs_own_fit_and_ppf(btc, midnight):
    contexts, stamps = _windows(btc, [midnight])
    ours = GarchForecaster().forecast(contexts, stamps, 1, 1, 0, {}).quantiles[0, :, 0]

    result = arch_model(_fit_returns(btc, midnight - 1), mean="Zero", vol="GARCH", p=1, q=1, dist="t",
                        rescale=False).fit(disp="off")
    forecast = result.forecast(horizon=1, reindex=False)
    theirs = (forecast.mean.iloc[-1, 0] + np.sqrt(forecast.variance.iloc[-1, 0])
              * result.model.distribution.ppf(LEVELS, [result.params["nu"]]))
    np.testing.assert_allclose(ours, btc.close[midnight - 1] * (1 + theirs / 100), rtol=1e-12)


def test_when_bars_follow_the_refit_bar_then_the_fitted_variance_is_filtered_through_them(btc, midnight):
    """Five bars after the refit bar: the GARCH(1,1) recursion by hand from the fit's last conditional variance,
    with scipy's Student t scaled to unit variance."""
    contexts, stamps = _windows(btc, [midnight + 5])
    ours = GarchForecaster().forecast(contexts, stamps, 1, 1, 0, {}).quantiles[0, :, 0]

    result = arch_model(_fit_returns(btc, midnight - 1), mean="Zero", vol="GARCH", p=1, q=1, dist="t",
                        rescale=False).fit(disp="off")
    omega, alpha, beta, nu = result.params[["omega", "alpha[1]", "beta[1]", "nu"]]
    variance = result.conditional_volatility[-1] ** 2
    for e in _fit_returns(btc, midnight + 4, n=6):  # the refit bar's return and the five after it
        variance = omega + alpha * e ** 2 + beta * variance
    theirs = np.sqrt(variance) * stats.t.ppf(LEVELS, nu) * np.sqrt((nu - 2) / nu)
    np.testing.assert_allclose(ours, btc.close[midnight + 4] * (1 + theirs / 100), rtol=1e-9)


def test_when_windows_share_a_refit_bar_then_they_share_one_fit_whatever_the_request(btc, midnight):
    forecaster = GarchForecaster()
    same_day = np.arange(midnight + 1, midnight + 13)  # last bars 01:00 .. 12:00: one refit bar
    contexts, stamps = _windows(btc, same_day)
    batched = forecaster.forecast(contexts, stamps, 3, 1, 7, {}).quantiles
    assert forecaster.fits_estimated == 1

    forecaster.forecast(*_windows(btc, np.arange(midnight + 1, midnight + 37)), 3, 1, 7, {})
    assert forecaster.fits_estimated == 2  # the next day's refit bar; the first day's fit is reused
    for row in (0, 5, 11):
        alone = GarchForecaster().forecast(contexts[row:row + 1], stamps[row:row + 1], 3, 1, 7, {}).quantiles
        np.testing.assert_array_equal(alone[0], batched[row])


def test_when_the_horizon_is_longer_than_one_bar_then_the_simulation_is_seeded_and_the_quantiles_ordered(btc,
                                                                                                          midnight):
    contexts, stamps = _windows(btc, [midnight + 3, midnight + 30])
    sampling = {"vol": "gjr", "dist": "skewt", "mean": "constant"}
    first = GarchForecaster().forecast(contexts, stamps, 24, 1, 11, sampling).quantiles
    again = GarchForecaster().forecast(contexts, stamps, 24, 1, 11, sampling).quantiles
    other_seed = GarchForecaster().forecast(contexts, stamps, 24, 1, 12, sampling).quantiles
    one_bar = GarchForecaster().forecast(contexts, stamps, 1, 1, 11, sampling).quantiles

    np.testing.assert_array_equal(first, again)
    assert np.all(np.diff(first, axis=1) > 0)
    np.testing.assert_allclose(first[:, :, 0], one_bar[:, :, 0], rtol=1e-14)  # step one is exact, not simulated
    assert not np.array_equal(first[:, :, 1:], other_seed[:, :, 1:])
    # a 0.1 or 0.9 quantile of 1,000 draws has a standard error of about 0.03 of the 0.1-0.9 spread (normal and t
    # with 3 degrees of freedom alike), so two seeds' differ by 0.04 of it per SE: 0.2 is 5 SE at every step
    spread = first[:, -1, 1:] - first[:, 0, 1:]
    assert np.all(np.abs(first - other_seed)[:, :, 1:].max(axis=1) < 0.2 * spread)
    assert np.all(spread[:, -1] > 2 * spread[:, 0])  # 24 bars' return spreads out more than 2 bars' (sqrt 12)


def test_when_prices_are_constant_then_the_failed_fit_is_logged_recorded_and_replaced_by_the_random_walk(caplog):
    stamps = 1_700_006_400 // DAY * DAY + 3600 * np.arange(524)  # starts at 00:00 UTC; last refit 2023-12-06
    forecaster = GarchForecaster()
    with caplog.at_level(logging.WARNING, logger="sweep.forecasters.garch"):
        quantiles = forecaster.forecast(np.full((1, 524), 250.0), stamps[None], 3, 1, 0, {}).quantiles

    assert list(forecaster.fit_failures) == ["2023-12-06T00:00:00+00:00"]
    assert "did not converge" in forecaster.fit_failures["2023-12-06T00:00:00+00:00"]
    assert "2023-12-06T00:00:00+00:00" in caplog.text
    np.testing.assert_array_equal(quantiles, 250.0)  # the empirical random walk of a flat window


def test_when_a_bad_tick_follows_the_refit_bar_then_the_unusable_forecast_falls_back(btc, midnight):
    """A close 1,000 times the one before, after the refit bar: the filtered variance implies prices below zero."""
    contexts, stamps = _windows(btc, [midnight + 2])  # last bars: 00:00 (the refit bar), 01:00, 02:00
    contexts[0, -1] *= 1000
    forecaster = GarchForecaster()
    quantiles = forecaster.forecast(contexts, stamps, 2, 1, 0, {}).quantiles[0]

    refit_time = datetime.fromtimestamp(int(stamps[0, -3]), tz=timezone.utc).isoformat()
    assert "the forecast is unusable" in forecaster.fit_failures[refit_time]
    fit = contexts[0, -2003:-2]  # 2001 closes up to the refit bar
    one_bar = np.quantile(fit[1:] / fit[:-1] - 1, LEVELS)
    np.testing.assert_allclose(quantiles[:, 0], contexts[0, -1] * (1 + one_bar), rtol=1e-12)


def test_when_a_gap_hides_the_refit_time_then_the_fit_ends_at_the_last_bar_before_it():
    hours = np.r_[np.arange(0, 41), np.arange(50, 61)]  # hours 41 .. 49 missing, the refit time 48 with them
    assert refit_bar(3600 * hours, 24, 10) == 40
    assert refit_bar(3600 * hours, 1, 10) == len(hours) - 1  # every bar is a refit bar


@pytest.mark.parametrize("ceiling", [501, 600, 1024, 2048, 4096, 8192])
def test_when_the_default_is_built_then_it_is_valid_and_a_point_of_the_space(ceiling):
    config = default_config("garch", ceiling, seed=3)
    assert ForecastConfig.from_dict(config.to_dict()) == config and config.context_length <= ceiling
    assert space_of("garch")(optuna.trial.FixedTrial(params_of(config, ceiling)), ceiling, 3) == config
    if ceiling >= 2024:  # the documented default itself: 2000 returns refitted every 24 bars
        assert config.context_length == 2024 and config.sampling == FAMILIES["garch"].default.sampling


@pytest.mark.parametrize("ceiling", [512, 2048])
def test_when_every_grid_point_is_tried_then_size_and_inference_keys_count_the_distinct_configs(ceiling):
    space = space_of("garch")
    grids = space.grids(ceiling)
    configs = set()
    for values in product(*grids.values()):
        config = space(optuna.trial.FixedTrial(dict(zip(grids, values))), ceiling, 0)
        assert config.context_length <= ceiling and config.aggregate == "median" and config.num_samples == 1
        configs.add((config.context_length, tuple(sorted(config.sampling.items()))))
    assert space.size(ceiling) == len(configs)
    assert {(c, tuple(sorted(s.items()))) for c, s in space.inference_keys(ceiling)} == configs


@pytest.mark.parametrize("sampling, match", [
    ({"vol": "figarch"}, "garch vol 'figarch' is unknown"),
    ({"refit_every": 12}, "garch refit_every 12 is unknown"),
    ({"dist": "ged"}, "garch dist 'ged' is unknown"),
    ({"p": 2}, r"keys \['p'\] are unknown"),
])
def test_when_a_sampling_value_is_off_the_choices_then_the_config_is_refused(sampling, match):
    with pytest.raises(ConfigError, match=match):
        ForecastConfig(model="garch", context_length=2024, num_samples=1, aggregate="median", sampling=sampling)


def test_when_the_ceiling_holds_no_fit_window_then_the_space_names_the_flag():
    with pytest.raises(ConfigError, match="raise --max-context-length to 501"):
        default_config("garch", 500)


def test_when_the_context_leaves_no_return_to_fit_then_the_forecast_is_refused():
    with pytest.raises(ConfigError, match="context_length 24 with refit_every 24 leaves none"):
        GarchForecaster().forecast(np.ones((1, 24)), 3600 * np.arange(24)[None], 1, 1, 0, {})


def test_when_the_default_is_evaluated_on_btcusd_then_every_metric_is_finite(btc):
    from sweep.scoring.evaluate import evaluate

    forecaster = GarchForecaster()
    origins = np.arange(btc.n_bars - 60, btc.n_bars - 12)  # 48 hourly origins, 12 bars of targets after the last
    result = evaluate(forecaster, default_config("garch", 2048), btc, origins, 12)
    assert result.n_windows == 48 and forecaster.fit_failures == {}
    assert forecaster.fits_estimated <= 3  # 48 hours touch at most three days' refit bars
    assert all(np.isfinite(v) for v in result.metrics.values()), result.metrics
    assert 0 < result.metrics["crps"] and 0 <= result.metrics["coverage_90"] <= 1
