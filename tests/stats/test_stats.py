"""Paired tests against statsmodels and scipy references."""

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats as scipy_stats

from sweep.stats._dependence import (auto_block_length, effective_sample_size, ewc_degrees_of_freedom,
                                     ewc_long_run_variance, median_block_length)
from sweep.stats.paired import block_bootstrap_ci, diebold_mariano, paired_test


def _autocorrelated(n, mean, seed):
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 1, n)
    noise[1:] += 0.6 * noise[:-1]
    return mean + noise


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_when_df_is_n_minus_1_then_dm_is_the_one_sample_t_test_and_the_hln_modified_dm(seed):
    d = _autocorrelated(40, -0.1, seed)
    statistic, p_value, df = diebold_mariano(d, df=len(d) - 1)
    reference = scipy_stats.ttest_1samp(d, 0.0, alternative="less")
    n = len(d)
    hln = d.mean() / np.sqrt(d.var() / n) * np.sqrt((n - 1) / n)  # Harvey, Leybourne & Newbold (1997), h = 1, no lags
    assert df == n - 1
    assert statistic == pytest.approx(reference.statistic, rel=1e-10) == pytest.approx(hln, rel=1e-10)
    assert p_value == pytest.approx(reference.pvalue, rel=1e-10)


@pytest.mark.parametrize("n", [3, 10, 30, 100, 2400])
def test_when_dm_is_computed_then_it_is_the_mean_over_the_cosine_long_run_variance_with_a_t_p_value(n):
    d = _autocorrelated(n, -0.1, n)
    df = ewc_degrees_of_freedom(n)
    t = np.arange(n) + 0.5
    projections = [np.sqrt(2 / n) * np.cos(np.pi * j * t / n) @ d for j in range(1, df + 1)]
    variance = float(np.mean(np.square(projections)))
    statistic, p_value, used = diebold_mariano(d)
    assert used == df
    assert ewc_long_run_variance(d) == pytest.approx(variance, rel=1e-10)
    assert statistic == pytest.approx(d.mean() / np.sqrt(variance / n), rel=1e-10)
    assert p_value == pytest.approx(scipy_stats.t.cdf(statistic, df), rel=1e-10)


def test_when_the_origins_are_few_then_the_degrees_of_freedom_follow_lazarus_et_al_and_stay_below_n():
    assert [ewc_degrees_of_freedom(n) for n in (2, 3, 5, 10, 30, 100, 2400)] == [1, 1, 1, 2, 4, 9, 72]


def test_when_the_differential_alternates_at_10_origins_then_the_effective_n_is_at_most_10():
    # negatively autocorrelated: a long-run variance far below the variance, where 44.1 "effective" of 10 was seen
    d = np.tile([1.0, -1.0], 5) + np.random.default_rng(7).normal(0, 0.1, 10)
    result = paired_test(d, np.zeros(10))
    assert result.effective_n == effective_sample_size(d) == 10
    assert result.to_dict()["effective_n"] <= result.n_windows


@pytest.mark.parametrize("x, df, message", [
    (np.ones(1), None, "n >= 2"),
    (np.ones((4, 2)), None, "n >= 2"),
    (np.arange(5.0), 5, "df must be in 1..4"),
    (np.arange(5.0), 0, "df must be in 1..4"),
])
def test_when_long_run_variance_inputs_are_bad_then_value_error(x, df, message):
    with pytest.raises(ValueError, match=message):
        ewc_long_run_variance(x, df)


def test_when_there_is_one_origin_then_the_degrees_of_freedom_are_refused():
    with pytest.raises(ValueError, match="at least 2 observations, got 1"):
        ewc_degrees_of_freedom(1)


def test_when_a_paired_test_is_written_then_its_degrees_of_freedom_and_rule_are_recorded():
    base = np.abs(_autocorrelated(100, 1.0, 8))
    out = paired_test(base - 0.05, base).to_dict()
    assert out["df"] == 9 and "Lazarus" in out["long_run_variance_rule"] and "hac_max_lag" not in out


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


def _zero_tail(n):
    """Differentials that are 0 after two windows (two configs that agree there): their mean is exactly 0, so
    arch's autocorrelations divide by a sum of squares of 0."""
    x = np.zeros(n)
    x[:2] = 1e-3, -1e-3
    return x


@pytest.mark.parametrize("x", [
    np.random.default_rng(0).normal(size=(10, 3)),  # 10 windows: arch estimates a lag with no pairs of windows
    _zero_tail(50),
])
def test_when_arch_divides_by_zero_then_no_runtime_warning_escapes_and_a_log_line_says_why(x, recwarn, caplog):
    with caplog.at_level("DEBUG", logger="sweep.stats._dependence"):
        lengths = [median_block_length(x), median_block_length(x, "circular"), auto_block_length(x[:, 0] if x.ndim == 2
                                                                                                  else x)]
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)], [str(w.message) for w in recwarn]
    assert all(isinstance(b, int) and b >= 1 for b in lengths)
    assert "divide by zero" in caplog.text and "optimal_block_length" in caplog.text


@pytest.mark.parametrize("x, kwargs, message", [
    (np.ones((20, 2, 2)), {}, "n_columns"),
    (np.r_[np.ones(19), np.nan], {}, "finite"),
    (np.ones(20), {"bootstrap": "moving"}, "stationary"),
])
def test_when_block_length_inputs_are_bad_then_value_error(x, kwargs, message):
    with pytest.raises(ValueError, match=message):
        median_block_length(x, **kwargs)
