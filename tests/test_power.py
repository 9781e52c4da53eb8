"""Size, power and the power arithmetic of the paired test on hourly-like (autocorrelated) loss differentials."""

from __future__ import annotations

import numpy as np
import pytest

from sweep.dependence import automatic_hac_lag, effective_sample_size, hac_variance
from sweep.stats import diebold_mariano, minimum_detectable_effect, origins_for_power, paired_test

N_HOURLY = 2400
SIMULATIONS = 300


def _clustered_differential(n: int, mean: float, seed: int, phi: float = 0.5) -> np.ndarray:
    """AR(1) loss differential with persistent volatility (log-volatility AR(0.98)), as hourly errors have."""
    rng = np.random.default_rng(seed)
    log_vol = np.zeros(n)
    for t in range(1, n):
        log_vol[t] = 0.98 * log_vol[t - 1] + 0.2 * rng.standard_normal()
    shocks = np.exp(log_vol) * rng.standard_normal(n)
    d = np.zeros(n)
    for t in range(1, n):
        d[t] = phi * d[t - 1] + shocks[t]
    return mean + 1e-3 * d


def _rejection_rate(mean: float, alpha: float = 0.05) -> float:
    return float(np.mean([diebold_mariano(_clustered_differential(N_HOURLY, mean, seed))[1] < alpha
                          for seed in range(SIMULATIONS)]))


def test_when_the_differential_is_autocorrelated_then_the_automatic_lag_is_longer_than_for_white_noise():
    rng = np.random.default_rng(0)
    white = rng.standard_normal(N_HOURLY)
    assert automatic_hac_lag(_clustered_differential(N_HOURLY, 0.0, 0)) > automatic_hac_lag(white)


def test_when_there_is_no_difference_then_dm_with_the_automatic_lag_keeps_its_size():
    # binomial SE at 0.05 with 300 simulations is 0.0126: a true size of 0.05 exceeds 0.08 with p < 0.01
    assert _rejection_rate(0.0) <= 0.08


def test_when_the_true_gain_equals_the_mde_then_the_dm_test_finds_it_about_80_percent_of_the_time():
    reference = [_clustered_differential(N_HOURLY, 0.0, 10_000 + s) for s in range(50)]
    mde = float(np.median([minimum_detectable_effect(d, 0.05) for d in reference]))
    assert 0.65 <= _rejection_rate(-mde) <= 0.92


def test_when_origins_for_power_are_asked_for_the_mde_then_it_returns_the_current_count():
    d = _clustered_differential(N_HOURLY, -1e-4, 3)
    lag = automatic_hac_lag(d)
    mde = minimum_detectable_effect(d, 0.05, max_lag=lag)
    assert origins_for_power(hac_variance(d, lag), mde, 0.05) == pytest.approx(N_HOURLY, rel=1e-9)
    assert origins_for_power(hac_variance(d, lag), mde / 2, 0.05) == pytest.approx(4 * N_HOURLY, rel=1e-9)


def test_when_errors_are_ar1_then_the_effective_sample_size_is_near_n_times_one_minus_rho_over_one_plus_rho():
    rng = np.random.default_rng(1)
    x = np.zeros(20_000)
    for t in range(1, len(x)):
        x[t] = 0.5 * x[t - 1] + rng.standard_normal()
    assert effective_sample_size(x, automatic_hac_lag(x)) == pytest.approx(len(x) / 3, rel=0.2)


def test_when_a_paired_test_is_written_then_it_states_the_origins_and_days_a_5_and_10_percent_gain_need():
    rng = np.random.default_rng(2)
    incumbent = np.abs(rng.standard_normal(N_HOURLY)) * 1e-2
    candidate = incumbent + 1e-3 * rng.standard_normal(N_HOURLY)
    out = paired_test(candidate, incumbent).to_dict(reference_mae=float(incumbent.mean()), origins_per_day=24)
    assert out["origins_needed"]["5%"] == pytest.approx(4 * out["origins_needed"]["10%"])
    assert out["days_needed"]["5%"] == pytest.approx(out["origins_needed"]["5%"] / 24)
    assert 0 < out["effective_n"] and out["long_run_variance"] > 0
