import numpy as np
import pytest

from sweep.metrics import coverage, crps, direction_accuracy, mape, pct_return_mae, point_metrics, price_mae, rmse

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
