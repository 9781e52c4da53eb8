"""Paired tests on overlapping windows: at test stride 1 a 24-step target shares 23 bars with its neighbour's."""

from __future__ import annotations

import numpy as np
import pytest

from sweep.stats._dependence import (OVERLAP_BANDWIDTH_FACTOR, auto_block_length, ewc_degrees_of_freedom,
                                     ewc_long_run_variance, overlap_block_length)
from sweep.stats.paired import (LONG_RUN_VARIANCE_RULE, OVERLAP_RULE, block_bootstrap_ci, diebold_mariano,
                                mde_for_origins, minimum_detectable_effect, paired_test)

HORIZON = 24
N_HOURLY = 2400
#: Nulls per size estimate: the binomial SE at a size of 0.05 is 0.0034, so 4 SE is 0.014.
NULLS = 4000
SIZE_BAND = 4 * np.sqrt(0.05 * 0.95 / NULLS)
#: Per-bar noise of the incumbent's forecast, in standard deviations of the hourly return.
INCUMBENT_NOISE = 0.5


def _noise_for_gain(gain: float) -> float:
    """Per-bar noise whose 24-step MAE is ``1 - gain`` times the incumbent's (MAE is proportional to the error's sd)."""
    return float(np.sqrt((1 - gain) ** 2 * (1 + INCUMBENT_NOISE ** 2) - 1))


def _overlapping_losses(n: int, reps: int, seed: int, candidate_noise: float = INCUMBENT_NOISE):
    """``reps`` pairs of ``[n]`` absolute errors of two forecasts of the 24-bar return, one origin per bar.

    Each forecaster misjudges bar ``s`` by ``r_s + v_s`` (the hourly return it missed plus its own noise), whichever
    origin's window covers ``s``; a window's error is the sum over its 24 bars, so neighbouring windows share 23
    bars of both errors and the differential ``|e_candidate| - |e_incumbent|`` is MA(23). Equal noise is a true null.
    """
    rng = np.random.default_rng(seed)
    bars = np.ones(HORIZON)
    for _ in range(reps):
        returns = rng.standard_normal(n + HORIZON - 1)
        candidate = returns + candidate_noise * rng.standard_normal(n + HORIZON - 1)
        incumbent = returns + INCUMBENT_NOISE * rng.standard_normal(n + HORIZON - 1)
        yield np.abs(np.convolve(candidate, bars, "valid")), np.abs(np.convolve(incumbent, bars, "valid"))


def _rejection_rates(n: int, reps: int, seed: int, candidate_noise: float = INCUMBENT_NOISE) -> dict[int, float]:
    """One-sided DM rejection rate at 0.05 with the disjoint-window df (overlap 1) and the overlap-24 df."""
    p_values = np.array([[diebold_mariano(c - i, overlap=m)[1] for m in (1, HORIZON)]
                         for c, i in _overlapping_losses(n, reps, seed, candidate_noise)])
    return dict(zip((1, HORIZON), (p_values < 0.05).mean(axis=0).tolist()))


def test_when_24_step_windows_overlap_at_2400_origins_then_the_capped_test_rejects_a_true_null_near_alpha():
    rates = _rejection_rates(N_HOURLY, NULLS, seed=1)
    # measured 0.051 (df 50); overlap 1 (df 72, bandwidth 33 bars) 0.0575: at 2,400 origins it barely over-rejects
    assert abs(rates[HORIZON] - 0.05) <= SIZE_BAND


@pytest.mark.parametrize("n", [240, 720])
def test_when_24_step_windows_overlap_at_10_to_30_days_then_the_default_df_over_rejects_and_the_capped_df_does_not(n):
    rates = _rejection_rates(n, NULLS, seed=n)
    # measured 0.080 (240) and 0.072 (720) with the default df; 0.054 and 0.060 with df <= n / 48
    assert rates[1] > 0.05 + SIZE_BAND
    assert abs(rates[HORIZON] - 0.05) <= SIZE_BAND


def test_when_the_candidate_is_10_percent_better_on_overlapping_windows_then_the_capped_test_finds_it_mostly():
    rates = _rejection_rates(N_HOURLY, 1000, seed=5, candidate_noise=_noise_for_gain(0.10))
    # measured 0.84 (a 5 % gain: 0.31, about 100 independent days); SE 0.012 at 0.84, so 0.78 is 5 SE below
    assert rates[HORIZON] >= 0.78


def test_when_the_noise_for_a_gain_is_drawn_then_the_mae_falls_by_that_gain():
    candidate, incumbent = zip(*_overlapping_losses(N_HOURLY, 20, seed=9, candidate_noise=_noise_for_gain(0.10)))
    assert np.mean(candidate) / np.mean(incumbent) == pytest.approx(0.90, abs=0.01)


@pytest.mark.parametrize("n, expected", [(10, 1), (240, 5), (720, 15), (2400, 50), (10_000, 186)])
def test_when_windows_overlap_by_24_then_the_df_keeps_the_bandwidth_at_least_48_bars(n, expected):
    df = ewc_degrees_of_freedom(n, HORIZON)
    assert df == expected == max(1, min(ewc_degrees_of_freedom(n), n // (OVERLAP_BANDWIDTH_FACTOR * HORIZON)))
    assert df == 1 or n / df >= 2 * HORIZON  # at 10,000 origins the default df (186) is the smaller


def test_when_windows_overlap_by_24_then_the_paired_test_uses_the_capped_df_and_blocks_of_at_least_24():
    candidate, incumbent = next(_overlapping_losses(720, 1, seed=3))
    d = candidate - incumbent
    result = paired_test(candidate, incumbent, overlap=HORIZON)
    df = ewc_degrees_of_freedom(720, HORIZON)
    assert (result.dm_statistic, result.dm_p_value, result.df) == diebold_mariano(d, df=df)
    assert result.block_length == overlap_block_length(d, HORIZON) >= HORIZON
    assert (result.ci_lower, result.ci_upper) == block_bootstrap_ci(d, 0.05, block_length=result.block_length)[:2]
    assert result.mde == minimum_detectable_effect(d, 0.05, df=df)
    assert result.long_run_variance == ewc_long_run_variance(d, df) and result.overlap == HORIZON


def test_when_the_differential_is_white_noise_then_the_block_is_still_the_overlap():
    d = np.random.default_rng(4).standard_normal(500)
    assert auto_block_length(d) < HORIZON
    assert overlap_block_length(d, HORIZON) == paired_test(d, np.zeros(500), overlap=HORIZON).block_length == HORIZON


def test_when_the_overlap_exceeds_the_windows_then_the_block_is_all_of_them_and_df_is_1():
    result = paired_test(np.arange(12.0), np.zeros(12), overlap=HORIZON)
    assert (result.block_length, result.df) == (12, 1)


def test_when_the_overlap_is_1_then_every_result_equals_the_default_test():
    candidate, incumbent = next(_overlapping_losses(720, 1, seed=6))
    d = candidate - incumbent
    result = paired_test(candidate, incumbent, overlap=1)
    assert result == paired_test(candidate, incumbent)
    assert (result.dm_statistic, result.dm_p_value, result.df) == diebold_mariano(d)
    assert (result.ci_lower, result.ci_upper, result.block_length) == block_bootstrap_ci(d, 0.05)
    assert result.mde == minimum_detectable_effect(d, 0.05) and result.overlap == 1
    assert ewc_degrees_of_freedom(720, 1) == ewc_degrees_of_freedom(720) == 32


def test_when_an_overlapping_test_is_written_then_its_overlap_rule_and_power_use_the_capped_df():
    candidate, incumbent = next(_overlapping_losses(720, 1, seed=7))
    reference = float(incumbent.mean())
    out = paired_test(candidate, incumbent, overlap=HORIZON).to_dict(reference_mae=reference, origins_per_day=24)
    assert out["overlap"] == HORIZON and out["df"] == 15
    assert out["long_run_variance_rule"] == f"{LONG_RUN_VARIANCE_RULE}; {OVERLAP_RULE}"
    for gain, n in out["origins_needed"].items():  # the fewest origins whose capped-df MDE is the gain
        effect = float(gain[:-1]) / 100 * reference
        variance = out["long_run_variance"]
        assert mde_for_origins(variance, n, 0.05, overlap=HORIZON) <= effect
        assert effect < mde_for_origins(variance, n - 1, 0.05, overlap=HORIZON)
    plain = paired_test(candidate, incumbent).to_dict()
    assert plain["overlap"] == 1 and plain["long_run_variance_rule"] == LONG_RUN_VARIANCE_RULE


@pytest.mark.parametrize("overlap", [0, -3, 2.5, True, "24"])
def test_when_the_overlap_is_not_a_whole_number_of_windows_then_value_error_names_it(overlap):
    with pytest.raises(ValueError, match=f"overlap must be a whole number >= 1.*ceil\\(horizon / test_stride\\).*"
                                         f"got {overlap!r}"):
        paired_test(np.arange(10.0), np.zeros(10), overlap=overlap)
