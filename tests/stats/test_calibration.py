"""The calibration test of quantile forecasts: its parts, and its size and power on simulated hourly GARCH(1,1)-t
returns, with one-step windows and with 24-step windows at every origin."""

from __future__ import annotations

import json

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from scipy import stats
from statsmodels.stats.multitest import multipletests

from conftest import garch_t_returns
from sweep.stats.calibration import (calibration_degrees_of_freedom, calibration_test, coverage_band, holm_adjust,
                                     level_hits)
from sweep.stats.metrics import QUANTILE_LEVELS, coverage_by_level
from sweep.stats.paired import MIN_ORIGINS, diebold_mariano

LEVELS = np.array(QUANTILE_LEVELS)
#: Degrees of freedom of the Student-t innovations: the heavy tails of hourly crypto returns.
NU = 5
#: Quantiles of the unit-variance Student t(NU), ``[n_levels]``.
UNIT_T_QUANTILES = stats.t.ppf(LEVELS, NU) * np.sqrt((NU - 2) / NU)
N_WINDOWS = 500
HORIZON = 24
#: Simulations under the null: the binomial s.e. at a true size of 0.05 is 0.0049, so 0.065 is 3 s.e. above it.
NULL_SIMULATIONS = 2000
POWER_SIMULATIONS = 200


def _garch_t(simulations: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`conftest.garch_t_returns` with t(:data:`NU`) shocks."""
    return garch_t_returns(simulations, n, seed, nu=NU, hourly_sd=0.007)


def _hits(returns: np.ndarray, sigma: np.ndarray, scale: float = 1.0, horizon: int = 1) -> np.ndarray:
    """``[N_WINDOWS, n_levels]`` hits of one simulation's forecast ``scale * sigma_t * t-quantile`` of every return.

    With ``horizon`` > 1 window ``w`` holds the steps ``w .. w + horizon - 1``, each forecast by its true conditional
    quantile (given the bars before it): consecutive windows share ``horizon - 1`` targets, as 24-step windows at
    every hourly origin do, so the hits are a moving average over 24 windows while every step stays calibrated.
    """
    quantiles = scale * sigma[:, None] * UNIT_T_QUANTILES  # [steps, n_levels]
    windows = sliding_window_view(quantiles, horizon, axis=0)[:N_WINDOWS]  # [N_WINDOWS, n_levels, horizon]
    return level_hits(windows, sliding_window_view(returns, horizon)[:N_WINDOWS])


def _rejections(simulations: int, seed: int, scale: float = 1.0, horizon: int = 1,
                overlap: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Joint rejections ``[simulations]`` and unadjusted per-level rejections ``[simulations, n_levels]`` at 0.05."""
    returns, sigma = _garch_t(simulations, N_WINDOWS + horizon - 1, seed)
    results = [calibration_test(_hits(r, s, scale, horizon), LEVELS, overlap=overlap) for r, s in zip(returns, sigma)]
    return (np.array([not result.calibrated for result in results]),
            np.array([np.array(result.p_value) < 0.05 for result in results]))


def test_when_quantiles_are_the_true_conditional_ones_then_the_test_rejects_at_about_its_level():
    joint, by_level = _rejections(NULL_SIMULATIONS, seed=1)
    # measured 0.039: the Bonferroni step of Holm is conservative, the levels' hits being strongly correlated
    assert 0.02 <= joint.mean() <= 0.065
    # each level's t test alone: measured 0.046-0.056, mean 0.052 (the s.e. of the mean over levels is at most 0.0049)
    assert 0.035 <= by_level.mean() <= 0.065 and by_level.mean(axis=0).max() <= 0.08


@pytest.mark.parametrize("scale", [1.3, 0.7])
def test_when_the_forecast_sigma_is_30_percent_off_then_500_windows_reject_calibration(scale):
    joint, by_level = _rejections(POWER_SIMULATIONS, seed=2, scale=scale)
    assert joint.mean() >= 0.9  # measured 0.995 (too wide) and 0.995 (too narrow)
    # the tails move most and the median not at all: the 0.1 and 0.9 levels are found, 0.5 at about the size
    assert by_level[:, [0, -1]].mean() >= 0.85 and by_level[:, 4].mean() <= 0.12


def test_when_24_step_windows_overlap_then_the_capped_test_keeps_its_size_and_a_binomial_test_does_not():
    returns, sigma = _garch_t(1000, N_WINDOWS + HORIZON - 1, seed=3)
    hits = [_hits(r, s, horizon=HORIZON) for r, s in zip(returns, sigma)]
    capped = [calibration_test(h, LEVELS, overlap=HORIZON) for h in hits]
    uncapped = [calibration_test(h, LEVELS) for h in hits]
    # 1000 simulations: the s.e. at 0.05 is 0.0069; 0.075 is 3.6 s.e. above it (measured 0.053 joint, 0.057 per level)
    assert np.mean([not result.calibrated for result in capped]) <= 0.075
    assert np.mean([np.array(result.p_value) < 0.05 for result in capped]) <= 0.075
    # the DM test's df (25 cosine terms at 500 windows) sees too little of a 24-window overlap: measured 0.10 per level
    assert np.mean([np.array(result.p_value) < 0.05 for result in uncapped]) >= 0.08
    # a binomial test counting every (window, step) as independent rejects almost always (measured 0.996)
    coverage = np.array([h.mean(axis=0) for h in hits])
    z = (coverage - LEVELS) / np.sqrt(LEVELS * (1 - LEVELS) / (N_WINDOWS * HORIZON))
    assert np.mean(np.min(2 * stats.norm.sf(np.abs(z)), axis=1) * len(LEVELS) < 0.05) >= 0.9


def test_when_windows_overlap_then_the_degrees_of_freedom_are_capped_at_n_over_twice_the_overlap():
    assert calibration_degrees_of_freedom(500) == calibration_degrees_of_freedom(500, overlap=1) == 25
    assert calibration_degrees_of_freedom(500, overlap=24) == 10
    assert calibration_degrees_of_freedom(2400, overlap=24) == 50  # the LLSW rule alone would give 72
    assert calibration_degrees_of_freedom(2400, overlap=2) == 72  # a small overlap leaves the rule as it is
    assert calibration_degrees_of_freedom(10, overlap=24) == 1


def test_when_levels_are_tested_without_overlap_then_each_is_the_dm_t_test_of_hit_minus_level_two_sided():
    returns, sigma = _garch_t(1, N_WINDOWS, seed=4)
    hits = _hits(returns[0], sigma[0], scale=1.1)
    result = calibration_test(hits, LEVELS)
    for j, level in enumerate(LEVELS):
        statistic, one_sided, df = diebold_mariano(hits[:, j] - level)
        assert result.statistic[j] == pytest.approx(statistic, rel=1e-12) and result.df == df
        assert result.p_value[j] == pytest.approx(2 * min(one_sided, 1 - one_sided), rel=1e-9)
    np.testing.assert_allclose(result.coverage, hits.mean(axis=0))
    assert result.joint_p_value == min(result.holm_p_value)


def test_when_p_values_are_holm_adjusted_then_they_equal_statsmodels():
    p_values = np.array([0.01, 0.04, 0.03, 0.005, 0.5, 0.2, 0.04, 0.9, 0.001])
    np.testing.assert_allclose(holm_adjust(p_values), multipletests(p_values, method="holm")[1], rtol=1e-12)


def test_when_hits_are_counted_then_they_are_the_share_of_steps_at_or_below_each_quantile():
    quantiles = np.array([[[1.0, 2.0], [3.0, 4.0]]])  # one window, levels (a, b), two steps
    targets = np.array([[1.0, 3.0]])  # a tie counts as a hit: the PIT is P(Y <= y)
    np.testing.assert_array_equal(level_hits(quantiles, targets), [[0.5, 1.0]])
    returns, sigma = _garch_t(1, N_WINDOWS + 5, seed=5)
    windows = sliding_window_view(sigma[0][:, None] * UNIT_T_QUANTILES, 6, axis=0)[:N_WINDOWS]
    targets = sliding_window_view(returns[0], 6)[:N_WINDOWS]
    np.testing.assert_allclose(level_hits(windows, targets).mean(axis=0), coverage_by_level(windows, targets))


def test_when_a_quantile_is_never_reached_in_a_few_windows_then_that_is_not_taken_for_certainty():
    hits = np.tile(LEVELS, (5, 1))
    hits[:, 0] = 0.0  # the 0.1 quantile never reached: a 59 % chance in 5 independent windows of a calibrated one
    few = calibration_test(hits, LEVELS)
    assert few.calibrated and few.p_value[0] > 0.3 and few.long_run_variance[0] == pytest.approx(0.09)
    many = np.tile(LEVELS, (N_WINDOWS, 1))
    many[:, 0] = 0.0
    assert calibration_test(many, LEVELS).miscalibrated_levels == (0.1,)


def test_when_the_band_is_drawn_then_a_calibrated_forecasts_independent_coverage_falls_inside_about_95_percent():
    lower, upper = coverage_band(N_WINDOWS, LEVELS, 0.05)
    half_width = 1.959964 * np.sqrt(LEVELS * (1 - LEVELS) / N_WINDOWS)
    np.testing.assert_allclose(lower, LEVELS - half_width, rtol=1e-6)
    np.testing.assert_allclose(upper, LEVELS + half_width, rtol=1e-6)
    shares = np.random.default_rng(6).binomial(N_WINDOWS, LEVELS, (4000, len(LEVELS))) / N_WINDOWS
    inside = (shares >= lower) & (shares <= upper)
    assert 0.93 <= inside.mean() <= 0.97  # normal approximation of a binomial; measured 0.951
    assert coverage_band(3, [0.1], 0.05)[0][0] == 0.0  # clipped to [0, 1]


def test_when_a_calibration_test_is_serialised_then_it_is_json_with_one_entry_per_level():
    returns, sigma = _garch_t(1, N_WINDOWS, seed=7)
    result = calibration_test(_hits(returns[0], sigma[0], scale=0.7), LEVELS)
    out = result.to_dict()
    assert json.loads(json.dumps(out)) == out
    assert not out["calibrated"] and out["n_windows"] == N_WINDOWS and out["df"] == 25 and out["overlap"] == 1
    assert [entry["level"] for entry in out["by_level"]] == list(QUANTILE_LEVELS)
    assert "Holm" in out["test"] and "EWC" in out["test"]
    first = out["by_level"][0]
    assert first["coverage"] > 0.1 and first["band"][0] < 0.1 < first["band"][1]
    assert set(result.miscalibrated_levels) >= {0.1, 0.9}


@pytest.mark.parametrize("quantiles, targets, message", [
    (np.zeros((4, 9)), np.zeros((4, 1)), r"quantiles \[n_windows, n_levels, horizon\]"),
    (np.zeros((4, 9, 2)), np.zeros((4, 3)), "same windows and horizon"),
    (np.zeros((4, 9, 2)), np.zeros((5, 2)), "same windows and horizon"),
    (np.zeros((4, 9, 2)), np.full((4, 2), np.nan), "finite"),
])
def test_when_level_hits_get_bad_input_then_value_error(quantiles, targets, message):
    with pytest.raises(ValueError, match=message):
        level_hits(quantiles, targets)


@pytest.mark.parametrize("hits, levels, kwargs, message", [
    (np.full((10, 2), 0.5), [10, 50], {}, r"inside \(0, 1\).*not percentages"),
    (np.full((10, 2), 0.5), [0.0, 0.5], {}, r"inside \(0, 1\)"),
    (np.full((10, 2), 0.5), [], {}, r"inside \(0, 1\)"),
    (np.full((10, 3), 0.5), [0.1, 0.5], {}, "one column for each of the 2 levels"),
    (np.full(10, 0.5), [0.5], {}, r"\[n_windows, n_levels\]"),
    (np.full((MIN_ORIGINS - 1, 1), 0.5), [0.5], {}, f"at least {MIN_ORIGINS} windows, got {MIN_ORIGINS - 1}"),
    (np.full((10, 1), 2.0), [0.5], {}, r"shares in \[0, 1\]"),
    (np.full((10, 1), np.nan), [0.5], {}, r"shares in \[0, 1\]"),
    (np.full((10, 1), 0.5), [0.5], {"alpha": 1.5}, r"alpha must be in \(0, 1\), got 1.5"),
    (np.full((10, 1), 0.5), [0.5], {"overlap": 0}, "overlap must be at least 1"),
])
def test_when_calibration_test_gets_bad_input_then_value_error_names_it(hits, levels, kwargs, message):
    with pytest.raises(ValueError, match=message):
        calibration_test(hits, levels, **kwargs)


def test_when_the_band_gets_bad_input_then_value_error():
    with pytest.raises(ValueError, match="at least 1 window"):
        coverage_band(0, LEVELS)
    with pytest.raises(ValueError, match=r"inside \(0, 1\)"):
        coverage_band(10, [1.0])
