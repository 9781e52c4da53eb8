"""Size and power of the paired DM test and the SPA test on per-window quantile losses (``quantile_loss_windows``,
what ``--objective quantile_loss`` compares), on simulated hourly GARCH(1,1)-t returns.

Every forecaster states the 9 levels of ``QUANTILE_LEVELS`` for the next bar as ``last_close * (1 + s_t q_a)``, with
``q_a`` the unit-variance t(NU) quantile and ``s_t`` its scale: the true conditional s.d. ``sigma_t`` (the best
forecast: the quantile loss is a proper scoring rule), a constant, ``sigma_t`` scaled, or ``sigma_t exp(u_t)`` with
``u_t`` a persistent AR(0.9) log-scale error of its own. Forecasters whose errors ``u`` have the same distribution,
independent of each other, have exactly equal expected losses: the nulls.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from conftest import garch_t_returns
from sweep.stats.metrics import QUANTILE_LEVELS, quantile_loss_windows
from sweep.stats.paired import diebold_mariano, minimum_detectable_effect, paired_test
from sweep.stats.significance import spa_test

LEVELS = np.array(QUANTILE_LEVELS)
NU = 5
UNIT_T_QUANTILES = stats.t.ppf(LEVELS, NU) * np.sqrt((NU - 2) / NU)
#: Unconditional s.d. of the simulated hourly returns.
HOURLY_SD = 0.007
#: Test origins of the paired test: 42 days of hourly bars.
N_ORIGINS = 1000
#: Windows of the SPA's simulations: 21 days of hourly bars.
SPA_WINDOWS = 500
#: The binomial s.e. of a rejection rate at a true size of 0.05 is 0.0069 over 1000 simulations, 0.011 over 400.
NULL_SIMULATIONS, SPA_NULL_SIMULATIONS, POWER_SIMULATIONS = 1000, 400, 300
SPA_REPS = 299


def _garch_t(simulations: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`conftest.garch_t_returns` with t(:data:`NU`) shocks."""
    return garch_t_returns(simulations, n, seed, nu=NU, hourly_sd=HOURLY_SD)


def _log_scale_errors(rng: np.random.Generator, shape: tuple[int, ...], sd: float,
                      persistence: float = 0.9) -> np.ndarray:
    """Stationary Gaussian AR(1) series of marginal s.d. ``sd`` along the last axis: a forecaster's log-scale error."""
    innovations = rng.standard_normal(shape) * sd * np.sqrt(1 - persistence ** 2)
    errors = np.empty(shape)
    errors[..., 0] = rng.standard_normal(shape[:-1]) * sd
    for t in range(1, shape[-1]):
        errors[..., t] = persistence * errors[..., t - 1] + innovations[..., t]
    return errors


def _quantile_losses(scale: np.ndarray, returns: np.ndarray) -> np.ndarray:
    """``[simulations, n]`` per-window quantile losses of the forecasts ``scale * t-quantile`` of each next return."""
    simulations, n = returns.shape
    prices = 100 * np.cumprod(1 + returns, axis=1)
    last_close = np.concatenate([np.full((simulations, 1), 100.0), prices[:, :-1]], axis=1).reshape(-1)
    quantiles = last_close[:, None, None] * (1 + scale.reshape(-1)[:, None, None] * UNIT_T_QUANTILES[None, :, None])
    return quantile_loss_windows(quantiles, LEVELS, prices.reshape(-1, 1), last_close).reshape(simulations, n)


def _dm_rejections(differentials: np.ndarray) -> float:
    return float(np.mean([diebold_mariano(d)[1] < 0.05 for d in differentials]))


@pytest.fixture(scope="module")
def null_differentials() -> np.ndarray:
    """``[NULL_SIMULATIONS, N_ORIGINS]`` loss differentials of two forecasters with equally noisy scales."""
    returns, sigma = _garch_t(NULL_SIMULATIONS, N_ORIGINS, seed=1)
    rng = np.random.default_rng(2)
    candidate, incumbent = (_quantile_losses(sigma * np.exp(_log_scale_errors(rng, sigma.shape, 0.3)), returns)
                            for _ in range(2))
    return candidate - incumbent


def test_when_two_forecasters_have_equal_expected_quantile_loss_then_dm_rejects_at_most_at_its_level(
        null_differentials):
    # measured 0.052 and 0.059 (either forecaster as the candidate); 0.07 is 2.9 s.e. above 0.05
    assert _dm_rejections(null_differentials) <= 0.07
    assert _dm_rejections(-null_differentials) <= 0.07


@pytest.mark.parametrize("forecast, least_power", [
    ("constant sigma", 0.95),  # 3.1 % more quantile loss than the truth: measured 0.99
    ("sigma 25% too wide", 0.85),  # 1.0 % more: measured 0.97
    ("sigma 25% too narrow", 0.85),  # 1.2 % more: measured 0.98
])
def test_when_the_true_conditional_quantiles_meet_a_misspecified_sigma_then_dm_finds_the_better_one(
        forecast, least_power):
    returns, sigma = _garch_t(POWER_SIMULATIONS, N_ORIGINS, seed=3)
    scale = {"constant sigma": np.full_like(sigma, HOURLY_SD), "sigma 25% too wide": 1.25 * sigma,
             "sigma 25% too narrow": 0.75 * sigma}[forecast]
    truth, misspecified = _quantile_losses(sigma, returns), _quantile_losses(scale, returns)
    assert _dm_rejections(truth - misspecified) >= least_power
    assert _dm_rejections(misspecified - truth) == 0.0  # the one-sided test never favours the worse forecast


def test_when_the_true_gain_in_quantile_loss_equals_the_reported_mde_then_dm_finds_it_about_80_percent_of_the_time(
        null_differentials):
    returns, sigma = _garch_t(15, N_ORIGINS, seed=4)
    rng = np.random.default_rng(5)
    candidate, incumbent = (_quantile_losses(sigma * np.exp(_log_scale_errors(rng, sigma.shape, 0.3)), returns)
                            for _ in range(2))
    reported = [paired_test(c, i).to_dict(reference_mae=float(i.mean())) for c, i in zip(candidate, incumbent)]
    for out, c, i in zip(reported, candidate, incumbent):
        assert out["mde"] == pytest.approx(minimum_detectable_effect(c - i, 0.05), rel=1e-12)
    mde = float(np.median([out["mde"] for out in reported]))
    assert 0.005 <= np.median([out["mde_relative"] for out in reported]) <= 0.05  # measured 1.3 % of the loss
    # mirrors test_power.py: the null differentials shifted by the MDE; 1000 simulations, s.e. 0.013 at 0.8
    assert 0.72 <= _dm_rejections(null_differentials - mde) <= 0.88  # measured 0.77


def test_when_the_paired_test_compares_true_quantiles_with_a_constant_sigma_then_both_its_tests_find_the_gain():
    returns, sigma = _garch_t(20, N_ORIGINS, seed=6)
    truth, constant = _quantile_losses(sigma, returns), _quantile_losses(np.full_like(sigma, HOURLY_SD), returns)
    found = [paired_test(t, c).candidate_better for t, c in zip(truth, constant)]  # DM and block-bootstrap interval
    assert sum(found) >= 18  # measured 20 of 20


def _spa_losses(simulations: int, seed: int, persistence: float, worse: int,
                with_truth: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A benchmark's ``[simulations, SPA_WINDOWS]`` losses and 10 models' ``[simulations, SPA_WINDOWS, 10]`` (11 with
    the truth): the benchmark and ``10 - worse`` models with log-scale errors of s.d. 0.4 (3 % more loss than the
    truth), ``worse`` models with 0.6 (7 % more), and with ``with_truth`` the true conditional quantiles."""
    returns, sigma = _garch_t(simulations, SPA_WINDOWS, seed)
    rng = np.random.default_rng(seed + 1)
    sds = [0.4] * (11 - worse) + [0.6] * worse
    losses = [_quantile_losses(sigma * np.exp(_log_scale_errors(rng, sigma.shape, sd, persistence)), returns)
              for sd in sds]
    if with_truth:
        losses.append(_quantile_losses(sigma, returns))
    return losses[0], np.stack(losses[1:], axis=-1)


def test_when_no_model_beats_the_benchmark_then_spa_rejects_at_most_at_about_its_level():
    # 3 models as good as the benchmark and 7 worse, all with errors of persistence 0.9. With all 10 as good (the
    # least favourable null) it held its size at persistence 0.5 (0.060) but not at 0.9 (0.10-0.12 at 500-2,400
    # windows): its stationary-bootstrap variance then falls about a quarter short of the long-run variance
    benchmark, models = _spa_losses(SPA_NULL_SIMULATIONS, seed=7, persistence=0.9, worse=7)
    rate = np.mean([spa_test(b, m, seed=s, reps=SPA_REPS).p_value < 0.05
                    for s, (b, m) in enumerate(zip(benchmark, models))])
    assert rate <= 0.08  # measured 0.058; the s.e. at 0.05 is 0.011, so 0.08 is 2.8 s.e. above it


def test_when_one_model_has_3_percent_less_quantile_loss_than_the_benchmark_then_spa_rejects_mostly():
    benchmark, models = _spa_losses(100, seed=8, persistence=0.9, worse=7, with_truth=True)
    assert 0.02 <= 1 - models[..., -1].mean() / benchmark.mean() <= 0.04
    rate = np.mean([spa_test(b, m, seed=s, reps=SPA_REPS).p_value < 0.05
                    for s, (b, m) in enumerate(zip(benchmark, models))])
    assert rate >= 0.85  # measured 0.97
