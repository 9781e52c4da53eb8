"""Size, power and the power arithmetic of the paired test, from 10 origins to 2,400 hourly-like (clustered) ones."""

from __future__ import annotations

import numpy as np
import pytest

from sweep.stats._dependence import effective_sample_size, ewc_long_run_variance
from sweep.review.review_file import mde_percent, power_sentence
from sweep.stats.paired import (MIN_PERIOD_ORIGINS, diebold_mariano, mde_for_origins, minimum_detectable_effect,
                                origins_for_power, paired_test)

N_HOURLY = 2400
SIMULATIONS = 300
#: Nulls per small-sample case: the binomial SE at a size of 0.05 is 0.0034, so 0.07 is 5.8 SE above nominal.
SMALL_SIMULATIONS = 4000


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


def _ar1_differentials(n: int, phi: float, mean: float = 0.0, seed: int = 0) -> np.ndarray:
    """``[SMALL_SIMULATIONS, n]`` stationary Gaussian AR(1) differentials (iid when ``phi`` is 0), one per row."""
    rng = np.random.default_rng(seed)
    shocks = rng.standard_normal((SMALL_SIMULATIONS, n))
    d = np.empty_like(shocks)
    d[:, 0] = shocks[:, 0] / np.sqrt(1 - phi ** 2)  # the stationary start: no burn-in needed
    for t in range(1, n):
        d[:, t] = phi * d[:, t - 1] + shocks[:, t]
    return mean + d


def _rejection_rate(mean: float, alpha: float = 0.05) -> float:
    return float(np.mean([diebold_mariano(_clustered_differential(N_HOURLY, mean, seed))[1] < alpha
                          for seed in range(SIMULATIONS)]))


def test_when_the_differential_is_autocorrelated_then_it_counts_for_fewer_independent_origins_than_white_noise():
    white = np.random.default_rng(0).standard_normal(N_HOURLY)
    assert effective_sample_size(_clustered_differential(N_HOURLY, 0.0, 0)) < 0.6 * N_HOURLY
    assert effective_sample_size(white) > 0.8 * N_HOURLY


def test_when_there_is_no_difference_then_dm_keeps_its_size_on_hourly_clustered_losses():
    # binomial SE at 0.05 with 300 simulations is 0.0126: a true size of 0.05 exceeds 0.08 with p < 0.01
    assert _rejection_rate(0.0) <= 0.08


@pytest.mark.parametrize("phi", [0.0, 0.4])
@pytest.mark.parametrize("n", [10, 30, 100])
def test_when_there_is_no_difference_at_few_origins_then_dm_rejects_at_most_7_percent_of_the_time(n, phi):
    # measured 0.050-0.062; a Newey-West lag with t(n - 1) rejected 8.5-16 % at 10 origins
    rate = np.mean([diebold_mariano(d)[1] < 0.05 for d in _ar1_differentials(n, phi, seed=n)])
    assert rate <= 0.07


def test_when_the_true_gain_equals_the_mde_then_the_dm_test_finds_it_about_80_percent_of_the_time():
    reference = [_clustered_differential(N_HOURLY, 0.0, 10_000 + s) for s in range(50)]
    mde = float(np.median([minimum_detectable_effect(d, 0.05) for d in reference]))
    assert 0.65 <= _rejection_rate(-mde) <= 0.92


@pytest.mark.parametrize("n", [10, 100])
def test_when_the_true_gain_equals_the_mde_at_few_origins_then_the_t_test_finds_it_80_percent_of_the_time(n):
    # Gaussian iid differentials of variance 1: the statistic is exactly noncentral t, so the power is exactly 0.8
    mde = float(mde_for_origins(1.0, n, 0.05))
    rate = np.mean([diebold_mariano(d)[1] < 0.05 for d in _ar1_differentials(n, 0.0, -mde, seed=100 + n)])
    assert 0.77 <= rate <= 0.83


def test_when_origins_for_power_are_asked_for_the_mde_then_it_returns_the_current_count():
    d = _clustered_differential(N_HOURLY, -1e-4, 3)
    mde = minimum_detectable_effect(d, 0.05)
    assert origins_for_power(ewc_long_run_variance(d), mde, 0.05) == N_HOURLY
    # four times the origins for half the effect, a little fewer (9,492) as the t test's degrees of freedom grow
    assert 0.97 * 4 * N_HOURLY <= origins_for_power(ewc_long_run_variance(d), mde / 2, 0.05) < 4 * N_HOURLY


def test_when_the_differential_barely_varies_then_a_gain_still_needs_the_fewest_origins_a_period_holds():
    assert origins_for_power(1e-12, 1e-3, 0.05) == MIN_PERIOD_ORIGINS == 5
    incumbent = np.abs(np.random.default_rng(4).standard_normal(N_HOURLY)) * 1e-2
    out = paired_test(incumbent * (1 - 1e-6), incumbent).to_dict(reference_mae=float(incumbent.mean()),
                                                                  origins_per_day=24)
    assert out["origins_needed"] == {"5%": 5.0, "10%": 5.0}
    assert "a 5% gain needs 5 origins (under a day)" in power_sentence(out) and "0 days" not in power_sentence(out)


def test_when_the_mde_exceeds_the_loss_itself_then_the_power_text_says_no_gain_is_detectable():
    power = {"mde_relative": 2.3, "n_windows": 10, "effective_n": 10.0, "origins_needed": {"5%": 21_000.0},
             "days_needed": {"5%": 875.0}}
    sentence = power_sentence(power)
    assert sentence.startswith("this test cannot detect any gain with 80% power: its MDE is more than the loss itself")
    assert "could see a 230" not in sentence and "a 5% gain needs 21,000 origins (875 days)" in sentence
    assert (mde_percent(2.3), mde_percent(0.041)) == ("over 100%", "4.1%")


@pytest.mark.parametrize("alpha, power", [(0.05, 0.05), (0.0, 0.8), (0.05, 1.0)])
def test_when_alpha_or_power_are_out_of_range_then_value_error(alpha, power):
    with pytest.raises(ValueError, match="need 0 < alpha < power < 1"):
        origins_for_power(1.0, 0.1, alpha, power)
    with pytest.raises(ValueError, match="need 0 < alpha < power < 1"):
        mde_for_origins(1.0, 10, alpha, power)


def test_when_errors_are_ar1_then_the_effective_sample_size_is_near_n_times_one_minus_rho_over_one_plus_rho():
    rng = np.random.default_rng(1)
    x = np.zeros(20_000)
    for t in range(1, len(x)):
        x[t] = 0.5 * x[t - 1] + rng.standard_normal()
    assert effective_sample_size(x) == pytest.approx(len(x) / 3, rel=0.2)


def test_when_a_paired_test_is_written_then_it_states_the_origins_and_days_a_5_and_10_percent_gain_need():
    rng = np.random.default_rng(2)
    incumbent = np.abs(rng.standard_normal(N_HOURLY)) * 1e-2
    candidate = incumbent + 1e-3 * rng.standard_normal(N_HOURLY)
    out = paired_test(candidate, incumbent).to_dict(reference_mae=float(incumbent.mean()), origins_per_day=24)
    needed, variance = out["origins_needed"], out["long_run_variance"]
    assert needed["5%"] > needed["10%"] >= 3
    for gain, n in (("5%", needed["5%"]), ("10%", needed["10%"])):  # the fewest origins whose MDE is the gain
        effect = float(gain[:-1]) / 100 * incumbent.mean()
        assert mde_for_origins(variance, n, 0.05) <= effect < mde_for_origins(variance, n - 1, 0.05)
    assert out["days_needed"]["5%"] == pytest.approx(needed["5%"] / 24)
    assert 0 < out["effective_n"] <= out["n_windows"] and out["long_run_variance"] > 0
