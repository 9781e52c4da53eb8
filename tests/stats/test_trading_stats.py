"""The statistics of the trading objectives: hand-worked values, and the size and power of every test (Pesaran-
Timmermann, the binomial accuracy target, PSR/DSR, and the SPA on PnL) on simulated hourly GARCH(1,1)-t returns.

Tolerances come from binomial standard errors: a rejection rate estimated from ``s`` simulations at a true rate
``p`` has s.e. ``sqrt(p (1 - p) / s)``; every bound below sits at least 3 s.e. from the rate it guards."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from conftest import garch_t_returns
from sweep.stats import (accuracy_interval, accuracy_target, deflated_sharpe_ratio, max_drawdown, pesaran_timmermann,
                         probabilistic_sharpe_ratio, sharpe_ratio, trading_summary)
from sweep.stats.significance import spa_test
from sweep.stats.trading import _expected_max_sharpe

#: Unconditional s.d. of the simulated hourly returns (0.7 %), as :func:`conftest.garch_t_returns` draws them.
HOURLY_SD = 0.007


def _binomial_bound(rate: float, simulations: int) -> float:
    """``rate`` plus 3 binomial standard errors of a rejection rate estimated from ``simulations`` draws."""
    return rate + 3 * np.sqrt(rate * (1 - rate) / simulations)


# --- Pesaran-Timmermann -------------------------------------------------------------------------------------------

def test_when_a_small_sample_is_worked_by_hand_then_pesaran_timmermann_matches_the_paper_s_formula():
    realised = np.array([1, 1, 1, 1, 1, 1, 0, 0, 0, 0], dtype=bool)  # Py = 0.6
    predicted = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 1], dtype=bool)  # Px = 0.5; 7 of 10 right
    # P* = 0.6*0.5 + 0.4*0.5 = 0.5; var(P) = 0.25/10 = 0.025;
    # var(P*) = 0.2^2 * 0.25/10 + 0^2 * 0.24/10 + 4 * 0.6*0.5*0.4*0.5/100 = 0.001 + 0.0024 = 0.0034
    result = pesaran_timmermann(predicted, realised)
    statistic = (0.7 - 0.5) / np.sqrt(0.025 - 0.0034)  # = 1.3608
    assert (result.accuracy, result.expected_accuracy, result.n) == (pytest.approx(0.7), pytest.approx(0.5), 10)
    assert result.statistic == pytest.approx(statistic, rel=1e-12)
    assert result.p_value == pytest.approx(stats.norm.sf(statistic), rel=1e-12) == pytest.approx(0.0868, abs=1e-4)
    assert json.loads(json.dumps(result.to_dict())) == result.to_dict()


def test_when_calls_are_independent_of_outcomes_with_unequal_base_rates_then_pt_rejects_at_about_5_percent():
    simulations, n = 2000, 500
    rng = np.random.default_rng(11)
    predicted, realised = rng.random((simulations, n)) < 0.7, rng.random((simulations, n)) < 0.55
    rejected = np.mean([pesaran_timmermann(p, r).p_value < 0.05 for p, r in zip(predicted, realised)])
    # measured 0.0545; s.e. 0.0049 at 0.05, so 3 s.e. either side is [0.035, 0.065]
    assert 2 * 0.05 - _binomial_bound(0.05, simulations) <= rejected <= _binomial_bound(0.05, simulations)


def test_when_calls_are_right_55_percent_of_the_time_where_chance_gives_50_then_pt_rejects_at_2400_windows():
    simulations, n = 300, 2400
    rng = np.random.default_rng(12)
    realised = rng.random((simulations, n)) < 0.5
    predicted = np.where(rng.random((simulations, n)) < 0.55, realised, ~realised)
    rejected = np.mean([pesaran_timmermann(p, r).p_value < 0.05 for p, r in zip(predicted, realised)])
    assert rejected >= 0.9  # measured 1.0: S is about 4.9 on average


def test_when_accuracy_above_half_comes_only_from_base_rates_then_pt_does_not_reject_though_a_binomial_test_does():
    rng = np.random.default_rng(13)
    realised = rng.random(2400) < 0.55
    always_up = pesaran_timmermann(np.ones(2400, dtype=bool), realised)
    assert always_up.accuracy == pytest.approx(realised.mean()) and always_up.accuracy > 0.53
    assert (always_up.statistic, always_up.p_value) == (0.0, 1.0)  # undefined: one side constant
    simulations = 500  # "up" 90 % of the time, independent of the outcome: 54 % right
    predicted, realised = rng.random((simulations, 2400)) < 0.9, rng.random((simulations, 2400)) < 0.55
    results = [pesaran_timmermann(p, r) for p, r in zip(predicted, realised)]
    naive = [stats.binomtest(int(round(r.accuracy * r.n)), r.n, 0.5, alternative="greater").pvalue for r in results]
    assert np.mean([r.accuracy for r in results]) > 0.535
    assert np.mean(np.array(naive) < 0.05) > 0.9  # measured 0.992: accuracy alone says "skill"
    # measured 0.062; the bound is 0.079
    assert np.mean([r.p_value < 0.05 for r in results]) <= _binomial_bound(0.05, simulations)


@pytest.mark.parametrize("predicted, realised, message", [
    (np.ones(3, bool), np.ones(4, bool), "3 windows but realised_up 4"),
    (np.ones(1, bool), np.ones(1, bool), "at least 2 windows"),
    (np.array([0.3, 0.7]), np.ones(2, bool), "must be booleans"),
    (np.ones((2, 2), bool), np.ones((2, 2), bool), "1-D"),
])
def test_when_pt_inputs_are_bad_then_value_error_names_them(predicted, realised, message):
    with pytest.raises(ValueError, match=message):
        pesaran_timmermann(predicted, realised)


# --- accuracy interval and target ---------------------------------------------------------------------------------

def test_when_7_of_10_are_right_then_the_wilson_interval_is_the_hand_computed_one():
    # z = 1.95996; centre (7 + z^2/2)/(10 + z^2) = 0.64449; half-width z/(10 + z^2) sqrt(7*3/10 + z^2/4) = 0.24771
    low, high = accuracy_interval(np.r_[np.ones(7), np.zeros(3)].astype(bool))
    assert (low, high) == (pytest.approx(0.396778, abs=1e-6), pytest.approx(0.892209, abs=1e-6))
    target = accuracy_target(np.r_[np.ones(7), np.zeros(3)].astype(bool), target=0.55)
    assert target["met"] is False and target["p_value"] == pytest.approx(stats.binom.sf(6, 10, 0.55))
    assert json.loads(json.dumps(target)) == target


def test_when_true_accuracy_equals_the_target_then_the_target_test_rejects_at_most_5_percent():
    simulations = 2000
    hits = np.random.default_rng(21).random((simulations, 1000)) < 0.55
    results = [accuracy_target(h, target=0.55) for h in hits]
    # the exact binomial test's size is at most 0.05 (measured 0.042); `met` is a one-sided test at 0.025
    assert np.mean([r["p_value"] < 0.05 for r in results]) <= _binomial_bound(0.05, simulations)
    assert np.mean([r["met"] for r in results]) <= _binomial_bound(0.025, simulations)  # measured 0.0245


def test_when_true_accuracy_is_60_percent_at_2400_windows_then_a_55_percent_target_is_met():
    hits = np.random.default_rng(22).random((200, 2400)) < 0.60
    results = [accuracy_target(h, target=0.55) for h in hits]
    assert np.mean([r["p_value"] < 0.05 for r in results]) >= 0.95 and np.mean([r["met"] for r in results]) >= 0.95


# --- Sharpe ratio, drawdown, turnover, hit rate -------------------------------------------------------------------

def test_when_pnl_is_worked_by_hand_then_sharpe_and_drawdown_match():
    # mean 0.005, sample variance (25 + 225 + 225 + 25)e-6 / 3: the per-period Sharpe ratio is sqrt(0.15)
    assert sharpe_ratio([0.01, -0.01, 0.02, 0.0], periods_per_year=100) == pytest.approx(np.sqrt(0.15) * 10)
    assert sharpe_ratio(np.zeros(5), periods_per_year=8760) == 0.0
    # equity 0, .10, .05, .07, -.03, .02: the fall from .10 to -.03
    assert max_drawdown([0.1, -0.05, 0.02, -0.1, 0.05]) == pytest.approx(0.13)
    assert max_drawdown([-0.01, -0.02]) == pytest.approx(0.03)  # the peak includes the start at 0
    assert max_drawdown([0.01, 0.02]) == 0.0


def test_when_positions_are_worked_by_hand_then_turnover_trades_and_hit_rate_match():
    positions = np.array([1, 1, 0, -1, -1, 1])
    pnl = np.array([0.01, -0.02, 0.0, 0.03, 0.0, 0.01])
    summary = trading_summary(pnl, positions, periods_per_year=8760, reps=50)
    # changes |1-0|, 0, |0-1|, |-1-0|, 0, |1+1| = 1, 0, 1, 1, 0, 2; in the market 5 periods, 3 with pnl > 0
    assert summary["turnover"] == pytest.approx(5 / 6) and summary["n_trades"] == 4
    assert summary["hit_rate"] == pytest.approx(3 / 5)
    assert summary["total_return"] == pytest.approx(0.03) and summary["mean_pnl"] == pytest.approx(0.005)
    assert summary["max_drawdown"] == pytest.approx(0.02) and summary["block_size"] == 1


def test_when_a_strategy_is_summarised_then_intervals_contain_the_estimates_and_everything_is_json_safe():
    returns, _ = garch_t_returns(1, 2400, seed=31)
    rng = np.random.default_rng(31)
    positions = np.sign(rng.normal(0.3, 1, 2400)).astype(int) * (rng.random(2400) < 0.7)
    pnl = positions * returns[0] + 0.0003 * (positions != 0)
    summary = trading_summary(pnl, positions, periods_per_year=8760, seed=3)
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary
    for key in ("sharpe", "max_drawdown", "turnover", "hit_rate"):
        low, high = summary[f"{key}_ci"]
        assert low < summary[key] < high, key
    assert summary == trading_summary(pnl, positions, periods_per_year=8760, seed=3)  # the seed fixes it
    flat = trading_summary(np.zeros(30), np.zeros(30, dtype=int), periods_per_year=8760, reps=20)
    assert flat["hit_rate"] is None and flat["hit_rate_ci"] is None and flat["sharpe_ci"] == [0.0, 0.0]
    assert json.loads(json.dumps(flat, allow_nan=False)) == flat


@pytest.mark.parametrize("pnl, positions, periods, message", [
    (np.zeros(4), np.array([0, 2, 0, 0]), 8760, "-1 .short., 0 .flat. or 1 .long., got \\[2\\]"),
    (np.zeros(4), np.zeros(3), 8760, "positions must be \\[n_periods\\] = \\[4\\]"),
    (np.array([0.0, np.nan, 0.0]), np.zeros(3), 8760, "1 non-finite"),
    (np.zeros(4), np.zeros(4), 0, "periods_per_year must be positive"),
    (np.zeros(1), np.zeros(1), 8760, "at least 2 periods"),
])
def test_when_summary_inputs_are_bad_then_value_error_names_them(pnl, positions, periods, message):
    with pytest.raises(ValueError, match=message):
        trading_summary(pnl, positions, periods)


# --- PSR and DSR --------------------------------------------------------------------------------------------------

def test_when_trials_are_iid_normal_then_the_expected_maximum_sharpe_is_near_the_simulated_maximum():
    # Bailey & Lopez de Prado's approximation of E[max of N standard normals], scaled by sqrt(V)
    sharpes = np.random.default_rng(41).normal(0, 0.02, (4000, 100))
    simulated = sharpes.max(axis=1).mean()
    approximations = [_expected_max_sharpe(row) for row in sharpes[:200]]
    assert np.mean(approximations) == pytest.approx(simulated, rel=0.03)
    assert _expected_max_sharpe(np.array([0.3])) == 0.0


def test_when_one_trial_is_tried_then_the_dsr_is_the_psr_and_flat_pnl_gets_its_documented_values():
    pnl = np.random.default_rng(42).standard_t(4, 500) * 0.01 + 0.001
    single = deflated_sharpe_ratio(pnl, [pnl.mean() / pnl.std(ddof=1)])
    assert single.expected_max_sharpe == 0.0 and single.dsr == probabilistic_sharpe_ratio(pnl)
    sharpe, g3, g4 = pnl.mean() / pnl.std(ddof=1), stats.skew(pnl), stats.kurtosis(pnl, fisher=False)
    spread = 1 - g3 * sharpe + (g4 - 1) / 4 * sharpe ** 2  # Bailey & Lopez de Prado (2012), T = 500
    assert single.dsr == pytest.approx(stats.norm.cdf(sharpe * np.sqrt(499) / np.sqrt(spread)), rel=1e-12)
    assert deflated_sharpe_ratio(np.zeros(100), [0.0]).dsr == 0.5  # flat: SR = 0 exactly, SR0 = 0
    flat = deflated_sharpe_ratio(np.zeros(100), [0.0, 0.05, -0.05])
    assert flat.dsr == 0.0 and flat.sharpe == 0.0 and (flat.skewness, flat.kurtosis) == (0.0, 3.0)
    assert json.loads(json.dumps(flat.to_dict(), allow_nan=False)) == flat.to_dict()


def _best_of_trials(simulations: int, seed: int, edge_sharpe: float = 0.0, n_trials: int = 100,
                    n_periods: int = 2400) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DSR and PSR of the best of ``n_trials`` strategies by Sharpe ratio, and whether it was the one with an edge.

    Every strategy is random signs times the same GARCH(1,1)-t market returns (zero mean, clustered volatility);
    strategy 0 earns ``edge_sharpe`` per period on top (its mean is ``edge_sharpe`` times the returns' s.d.).
    """
    returns, _ = garch_t_returns(simulations, n_periods, seed)
    rng = np.random.default_rng(seed)
    dsr, psr, edge_kept = np.empty(simulations), np.empty(simulations), np.empty(simulations, dtype=bool)
    for i, market in enumerate(returns):
        pnl = rng.choice([-1.0, 1.0], (n_trials, n_periods)) * market
        pnl[0] += edge_sharpe * HOURLY_SD
        sharpes = pnl.mean(axis=1) / pnl.std(axis=1, ddof=1)
        best = int(sharpes.argmax())
        dsr[i], psr[i] = deflated_sharpe_ratio(pnl[best], sharpes).dsr, probabilistic_sharpe_ratio(pnl[best])
        edge_kept[i] = best == 0
    return dsr, psr, edge_kept


def test_when_the_best_of_100_skill_less_strategies_is_kept_then_dsr_rarely_passes_while_psr_almost_always_does():
    simulations = 400
    dsr, psr, _ = _best_of_trials(simulations, seed=43)
    assert np.mean(dsr > 0.95) <= _binomial_bound(0.05, simulations)  # measured 0.0
    assert np.mean(psr > 0.95) >= 0.9  # measured 0.99: about 1 - 0.95^100 of the best of 100 look "significant"


def test_when_one_zero_mean_clustered_strategy_is_tested_alone_then_psr_passes_0_95_about_5_percent_of_the_time():
    simulations = 1000
    returns, _ = garch_t_returns(simulations, 2400, seed=44)
    psr = np.array([probabilistic_sharpe_ratio(r) for r in returns])
    assert 2 * 0.05 - _binomial_bound(0.05, simulations) <= np.mean(psr > 0.95) <= _binomial_bound(0.05, simulations)


def test_when_one_of_100_strategies_has_a_real_edge_then_its_dsr_passes_0_95_at_least_80_percent_of_the_time():
    # A per-period Sharpe ratio of 0.12 at 2400 periods (measured 0.89); at 0.10 the power is 0.725: SR0 is
    # about 0.057 here, so 0.10 sits only about 2.1 s.e. above it.
    dsr, _, edge_kept = _best_of_trials(200, seed=45, edge_sharpe=0.12)
    assert np.mean(edge_kept) >= 0.9 and np.mean(dsr > 0.95) >= 0.8


# --- SPA on PnL: a flat benchmark against minus-PnL losses ---------------------------------------------------------

def _spa_rejections(simulations: int, seed: int, edge_sharpe: float = 0.0, n_windows: int = 500,
                    n_strategies: int = 20) -> np.ndarray:
    """SPA p-values < 0.05 with a flat benchmark (losses 0) and ``n_strategies`` independent GARCH(1,1)-t PnLs as
    losses ``-pnl``; strategy 0 earns ``edge_sharpe`` times the returns' s.d. per window on top."""
    returns, _ = garch_t_returns(simulations * n_strategies, n_windows, seed)
    pnl = returns.reshape(simulations, n_strategies, n_windows).transpose(0, 2, 1).copy()
    pnl[:, :, 0] += edge_sharpe * HOURLY_SD
    flat = np.zeros(n_windows)
    return np.array([spa_test(flat, -p, seed=i, reps=200).p_value < 0.05 for i, p in enumerate(pnl)])


def test_when_20_zero_mean_clustered_strategies_face_a_flat_benchmark_then_spa_rejects_at_most_5_percent():
    simulations = 200  # about 35 ms a test: this one takes about 7 s
    # measured 0.055; the bound is 0.096 (s.e. 0.0154 at 0.05)
    assert np.mean(_spa_rejections(simulations, seed=51)) <= _binomial_bound(0.05, simulations)


def test_when_one_of_20_strategies_has_a_real_mean_edge_then_spa_against_flat_rejects():
    # per-window Sharpe ratio 0.2 at 500 windows: t about 4.5 (measured 0.97)
    assert np.mean(_spa_rejections(60, seed=52, edge_sharpe=0.2)) >= 0.8


def test_when_strategies_are_flat_or_never_beat_flat_then_spa_against_flat_gives_p_value_one():
    flat = np.zeros(200)
    all_flat = spa_test(flat, np.zeros((200, 3)), reps=50)
    assert all_flat.p_value == 1.0 and all_flat.n_distinct == 1
    losing = np.column_stack([np.zeros(200), -np.random.default_rng(53).normal(-0.001, 0.007, 200)])
    assert spa_test(flat, losing, reps=50).p_value == 1.0
