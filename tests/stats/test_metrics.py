import numpy as np
import pytest

from sweep.stats.metrics import (coverage, crps, direction_accuracy, mape, pct_return_mae, point_metrics, price_mae,
                                 quantile_coverage, quantile_crps, rmse)

LAST = np.array([100.0, 200.0])
POINT = np.array([[101.0, 102.0], [198.0, 200.0]])
TRUE = np.array([[102.0, 100.0], [202.0, 196.0]])


def test_when_scored_then_pct_return_mae_matches_the_hand_computation():
    # window 0: |0.01-0.02|, |0.02-0.00|  window 1: |-0.01-0.01|, |0-(-0.02)|
    assert pct_return_mae(POINT, TRUE, LAST) == pytest.approx((0.01 + 0.02 + 0.02 + 0.02) / 4)


def test_when_scored_then_price_metrics_match_the_hand_computation():
    errors = np.array([1.0, 2.0, 4.0, 4.0])
    assert price_mae(POINT, TRUE) == pytest.approx(errors.mean())
    assert rmse(POINT, TRUE) == pytest.approx(np.sqrt((errors ** 2).mean()))
    assert mape(POINT, TRUE) == pytest.approx(np.mean([1 / 102, 2 / 100, 4 / 202, 4 / 196]))
    # signs: (+,+) hit, (+,0) miss, (-,+) miss, (0,-) miss
    assert direction_accuracy(POINT, TRUE, LAST) == pytest.approx(0.25)
    assert set(point_metrics(POINT, TRUE, LAST)) == {"pct_return_mae", "price_mae", "rmse", "mape",
                                                     "direction_accuracy"}


def test_when_crps_is_computed_then_it_equals_the_brute_force_energy_form():
    rng = np.random.default_rng(1)
    samples = 100 + rng.normal(size=(3, 7, 2))
    targets = 100 + rng.normal(size=(3, 2))
    last = np.full(3, 100.0)
    x = samples / 100 - 1
    y = targets / 100 - 1
    brute = np.mean([[np.abs(x[w, :, h] - y[w, h]).mean()
                      - 0.5 * np.abs(x[w, :, None, h] - x[w, None, :, h]).mean()
                      for h in range(2)] for w in range(3)])
    assert crps(samples, targets, last) == pytest.approx(brute, rel=1e-12)


def test_when_there_is_one_sample_then_crps_is_the_absolute_return_error():
    assert crps(POINT[:, None, :], TRUE, LAST) == pytest.approx(pct_return_mae(POINT, TRUE, LAST))


def test_when_targets_are_inside_the_band_then_coverage_counts_them():
    samples = np.linspace(0, 100, 101)[None, :, None].repeat(2, axis=2)
    targets = np.array([[50.0, 99.0]])  # 99 is above the 95th percentile
    assert coverage(samples, targets) == pytest.approx(0.5)


def test_when_a_quantile_forecast_has_only_the_median_then_its_crps_is_the_absolute_error():
    last = np.array([100.0, 200.0])
    targets = np.array([[101.0], [198.0]])
    quantiles = np.array([[[100.5]], [[199.0]]])
    assert quantile_crps(quantiles, np.array([0.5]), targets, last) == pytest.approx(
        pct_return_mae(quantiles[:, 0], targets, last))


def test_when_quantile_crps_is_computed_then_it_is_twice_the_mean_pinball_loss():
    last = np.array([100.0])
    quantiles = np.array([[[99.0], [100.0], [102.0]]])  # levels 0.1, 0.5, 0.9
    target = np.array([[101.0]])  # returns: q = -0.01, 0, 0.02; y = 0.01
    pinball = [0.1 * 0.02, 0.5 * 0.01, (1 - 0.9) * 0.01]  # y above, y above, y below
    assert quantile_crps(quantiles, np.array([0.1, 0.5, 0.9]), target, last) == pytest.approx(2 * np.mean(pinball))


def test_when_many_levels_of_a_normal_are_scored_then_quantile_crps_approaches_the_closed_form():
    from scipy import stats

    levels = (np.arange(999) + 0.5) / 999
    sigma, y = 0.01, 0.004
    quantiles = 100 * (1 + stats.norm.ppf(levels, scale=sigma))[None, :, None]
    z = y / sigma
    closed = sigma * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))  # Gneiting 2005
    assert quantile_crps(quantiles, levels, np.array([[100 * (1 + y)]]), np.array([100.0])) == pytest.approx(closed,
                                                                                                         rel=1e-3)


def test_when_a_quantile_model_lacks_the_5_and_95_levels_then_coverage_uses_the_nearest_and_says_which():
    levels = np.round(np.arange(1, 10) / 10, 1)
    quantiles = np.tile(np.arange(9.0)[None, :, None], (4, 1, 1))  # 0.1 -> 0, 0.9 -> 8
    targets = np.array([[-1.0], [0.0], [8.0], [9.0]])
    assert quantile_coverage(quantiles, levels, targets) == (pytest.approx(0.5), pytest.approx(0.8))
