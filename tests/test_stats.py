"""Paired tests against statsmodels and scipy references."""

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats as scipy_stats

from sweep.dependence import auto_block_length, automatic_hac_lag, median_block_length
from sweep.stats import block_bootstrap_ci, diebold_mariano, paired_test


def _autocorrelated(n, mean, seed):
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 1, n)
    noise[1:] += 0.6 * noise[:-1]
    return mean + noise


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_when_dm_is_computed_then_it_equals_the_hac_t_statistic_of_statsmodels(seed):
    d = _autocorrelated(150, -0.1, seed)
    statistic, p_value, lags = diebold_mariano(d)
    reference = sm.OLS(d, np.ones_like(d)).fit(cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": False})
    assert lags == automatic_hac_lag(d) >= 1
    assert statistic == pytest.approx(reference.tvalues[0], rel=1e-10)
    assert p_value == pytest.approx(scipy_stats.norm.cdf(reference.tvalues[0]), rel=1e-10)


def test_when_losses_are_identical_then_there_is_no_evidence():
    statistic, p_value, _ = diebold_mariano(np.zeros(50))
    assert (statistic, p_value) == (0.0, 0.5)
    assert not paired_test(np.ones(50), np.ones(50)).candidate_better


def test_when_the_block_is_one_bar_then_the_ci_matches_scipys_iid_percentile_bootstrap():
    d = np.random.default_rng(3).normal(-0.2, 1, 200)
    lower, upper, block = block_bootstrap_ci(d, alpha=0.05, reps=20000, seed=0, block_length=1)
    reference = scipy_stats.bootstrap((d,), np.mean, confidence_level=0.9, n_resamples=20000, method="percentile",
                                      random_state=0).confidence_interval
    assert block == 1
    assert lower == pytest.approx(reference.low, abs=0.01) and upper == pytest.approx(reference.high, abs=0.01)


def test_when_the_candidate_is_clearly_better_then_both_tests_say_so():
    incumbent = np.abs(_autocorrelated(100, 1.0, 4))
    result = paired_test(incumbent - 0.5 + np.random.default_rng(5).normal(0, 0.1, 100), incumbent)
    assert result.candidate_better and result.dm_p_value < 1e-6 and result.ci_upper < 0
    assert result.ci_lower <= result.mean_differential <= result.ci_upper


def test_when_the_candidate_is_better_by_the_same_amount_everywhere_then_it_is_better():
    result = paired_test(np.full(30, 0.5), np.ones(30))
    assert result.candidate_better and result.dm_p_value == 0.0 and result.ci_upper == pytest.approx(-0.5)


def test_when_the_candidate_is_worse_then_it_is_not_better():
    base = np.abs(_autocorrelated(100, 1.0, 6))
    result = paired_test(base + 0.3, base)
    assert not result.candidate_better and result.dm_p_value > 0.99


@pytest.mark.parametrize("kwargs, message", [
    ({"candidate_losses": np.ones(5), "incumbent_losses": np.ones(6)}, "same windows"),
    ({"candidate_losses": np.ones(5), "incumbent_losses": np.ones(5), "alpha": 0.7}, "alpha"),
])
def test_when_inputs_are_bad_then_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        paired_test(**kwargs)


def test_when_many_columns_share_a_block_then_it_is_the_rounded_up_median_without_constant_columns():
    x = np.column_stack([_autocorrelated(200, 0.0, seed) for seed in range(5)] + [np.ones(200)])
    from arch.bootstrap import optimal_block_length

    reference = optimal_block_length(x[:, :5])
    lengths = reference["stationary"].to_numpy()
    assert median_block_length(x) == int(np.ceil(np.median(lengths))) >= 1
    assert median_block_length(x, "circular") == int(np.ceil(np.median(reference["circular"])))
    assert median_block_length(x[:, 0]) == int(np.ceil(lengths[0])) == auto_block_length(x[:, 0], "stationary")
    assert median_block_length(np.ones((200, 3))) == median_block_length(x[:9]) == 1


@pytest.mark.parametrize("x, kwargs, message", [
    (np.ones((20, 2, 2)), {}, "n_columns"),
    (np.r_[np.ones(19), np.nan], {}, "finite"),
    (np.ones(20), {"bootstrap": "moving"}, "stationary"),
])
def test_when_block_length_inputs_are_bad_then_value_error(x, kwargs, message):
    with pytest.raises(ValueError, match=message):
        median_block_length(x, **kwargs)
