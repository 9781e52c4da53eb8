"""SPA and the Model Confidence Set over trials, on losses with known answers, against arch, and by simulation."""

import importlib.util
import json
from pathlib import Path

import arch
import numpy as np
import pytest
from arch.bootstrap import SPA, StationaryBootstrap

from sweep.stats.significance import (distinct_columns, model_confidence_set, selection_significance, spa_blocks,
                                      spa_test, stationary_bootstrap_counts, stationary_bootstrap_draws,
                                      stationary_bootstrap_variance)
from sweep.stats._dependence import median_block_length
from sweep.search.study import TrialLosses

N = 200

_SPEC = importlib.util.spec_from_file_location("spa_power",
                                               Path(__file__).resolve().parents[2] / "benchmarks" / "spa_power.py")
spa_power = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(spa_power)


def _losses(seed=0):
    rng = np.random.default_rng(seed)
    return np.abs(rng.normal(0.004, 0.003, N))


def _mixed_noise(seed=0, n=100, k=40):
    """A benchmark and k trials, half with 5x noisier differentials, trial 0 slightly better."""
    rng = np.random.default_rng(seed)
    bench = np.abs(rng.normal(0, 1, n))
    noise = rng.normal(0, 0.1, (n, k)) * np.r_[np.ones(k // 2), 5 * np.ones(k - k // 2)]
    models = bench[:, None] + noise
    models[:, 0] -= 0.03
    return bench, models


def test_when_one_model_is_clearly_better_than_the_benchmark_then_spa_rejects():
    bench = _losses()
    rng = np.random.default_rng(1)
    models = np.column_stack([bench * 0.6 + rng.normal(0, 1e-4, N)] + [bench * 1.2 for _ in range(20)])
    result = spa_test(bench, models, seed=0)
    assert result.p_value < 0.01 and result.n_models == 21 and result.n_distinct == 2


def test_when_many_models_are_noise_around_the_benchmark_then_spa_does_not_reject():
    bench = _losses()
    rng = np.random.default_rng(2)
    models = bench[:, None] + rng.normal(0, 5e-4, (N, 100))  # the best of 100 beats the benchmark by luck
    assert models.mean(axis=0).min() < bench.mean()
    assert spa_test(bench, models, seed=0).p_value > 0.1


def test_when_every_model_is_worse_then_spa_p_value_is_one():
    bench = _losses()
    result = spa_test(bench, np.column_stack([bench * 2, bench * 3]))
    assert (result.p_value, result.p_lower, result.p_upper, result.statistic) == (1.0, 1.0, 1.0, 0.0)
    assert set(result.p_value_by_block.values()) == {1.0}


def test_when_a_model_is_better_by_the_same_amount_everywhere_then_spa_p_value_is_zero():
    bench = _losses()
    shifted = spa_test(bench, np.column_stack([bench - 1e-3, bench * 1.1]))  # constant differential up to rounding
    exact = spa_test(np.full(N, 2.0), np.column_stack([np.full(N, 1.0), bench]))  # exactly constant: omega = 0
    assert shifted.p_value == exact.p_value == 0.0 and shifted.statistic > 1e6
    assert exact.statistic == np.inf and exact.to_dict()["statistic"] is None


def test_when_arch_spa_is_given_differentials_over_their_hac_sd_then_it_equals_spa_test_at_every_block():
    bench, models = _mixed_noise()
    result = spa_test(bench, models, seed=7)
    d = bench[:, None] - models
    assert result.n_distinct == models.shape[1] and len(result.p_value_by_block) >= 2
    for block, p_value in result.p_value_by_block.items():
        omega = np.sqrt(stationary_bootstrap_variance(d, block))
        reference = SPA(np.zeros(len(bench)), -d / omega, block_size=block, reps=1000, seed=7)
        reference.compute()
        assert p_value == reference.pvalues["consistent"]
        if block == result.block_size:
            assert (result.p_lower, result.p_upper) == (reference.pvalues["lower"], reference.pvalues["upper"])


def test_when_studentize_is_false_then_spa_test_equals_arch_spa_on_raw_losses():
    bench, models = _mixed_noise(1)
    result = spa_test(bench, models, seed=3, studentize=False)
    for block, p_value in result.p_value_by_block.items():
        reference = SPA(bench, models, block_size=block, reps=1000, seed=3)
        reference.compute()
        assert p_value == reference.pvalues["consistent"]
    assert not result.to_dict()["studentized"]


@pytest.mark.skipif(not arch.__version__.startswith("8.0."), reason="documents arch 8.0.x's SPA.compute")
def test_when_arch_8_studentize_flag_is_toggled_then_its_p_values_do_not_move():
    bench, models = _mixed_noise()
    p_values = []
    for studentize in (True, False):
        spa = SPA(bench, models, block_size=5, reps=1000, seed=1, studentize=studentize)
        spa.compute()
        p_values.append(tuple(spa.pvalues))
    assert p_values[0] == p_values[1]  # why sweep studentizes itself
    assert spa_test(bench, models, seed=1).p_value < 0.05 < spa_test(bench, models, seed=1, studentize=False).p_value


def test_when_every_trial_has_the_same_variance_then_studentized_and_raw_tests_agree():
    rng = np.random.default_rng(4)
    base = rng.normal(0, 1, 120)
    base[1:] += 0.5 * base[:-1]
    # circular shifts have the same circular autocovariances, hence the same stationary-bootstrap variance
    d = np.column_stack([np.roll(base, 7 * k) - base.mean() + 0.01 * (k - 10) for k in range(30)])
    omega = stationary_bootstrap_variance(d, 3)
    np.testing.assert_allclose(omega, omega[0], rtol=1e-12)
    bench = 5 + np.abs(rng.normal(0, 1, 120))
    studentized, raw = (spa_test(bench, bench[:, None] - d, seed=2, studentize=s) for s in (True, False))
    assert studentized.p_value_by_block == raw.p_value_by_block
    assert (studentized.p_lower, studentized.p_upper) == (raw.p_lower, raw.p_upper)
    assert 0 < studentized.p_value < 1


@pytest.mark.parametrize("block", [1, 3, 7.5])
def test_when_bootstrap_counts_are_drawn_then_they_are_arch_stationary_bootstrap_resamples(block):
    n, reps = 50, 40
    counts = stationary_bootstrap_counts(stationary_bootstrap_draws(n, reps, 11), block)
    bootstrap = StationaryBootstrap(block, np.arange(n), seed=11)
    expected = [np.bincount(data[0][0], minlength=n) for data in bootstrap.bootstrap(reps)]
    np.testing.assert_array_equal(counts, expected)


def test_when_the_hac_variance_is_computed_then_it_is_hansens_kernel_and_the_bootstraps_variance():
    rng = np.random.default_rng(5)
    x = rng.normal(0, 1, (60, 3))
    x[1:] += 0.6 * x[:-1]
    n, block = len(x), 4.0
    centred = x - x.mean(axis=0)
    expected = (centred ** 2).sum(axis=0) / n
    for i in range(1, n):
        kappa = (1 - i / n) * (1 - 1 / block) ** i + (i / n) * (1 - 1 / block) ** (n - i)
        expected += 2 * kappa * (centred[:-i] * centred[i:]).sum(axis=0) / n
    variance = stationary_bootstrap_variance(x, block)
    np.testing.assert_allclose(variance, expected, rtol=1e-10)
    means = stationary_bootstrap_counts(stationary_bootstrap_draws(n, 20000, 0), block) @ x / n
    np.testing.assert_allclose(n * means.var(axis=0), variance, rtol=0.05)
    np.testing.assert_allclose(stationary_bootstrap_variance(x, 1), x.var(axis=0), rtol=1e-10)


def test_when_only_the_winner_is_autocorrelated_then_the_block_follows_all_trials():
    rng = np.random.default_rng(6)
    bench = 2 + np.abs(rng.normal(0, 1, 100))
    models = bench[:, None] + rng.normal(0, 0.2, (100, 30))
    winner = np.repeat(rng.normal(0, 0.4, 10), 10)  # blocks of 10 equal values: a long Politis-White block
    models[:, 0] = bench - 0.3 - winner
    result = spa_test(bench, models)
    d = bench[:, None] - distinct_columns(models)[0]
    assert result.block_size == median_block_length(d) <= 2 < median_block_length(d[:, [np.argmax(d.mean(axis=0))]])
    assert result.to_dict()["hac_bandwidth"] == result.block_size


def test_when_the_p_value_range_is_reported_then_it_covers_block_one_the_chosen_and_twice_it():
    assert spa_blocks(1, 100) == (1, 2)
    assert spa_blocks(4, 100) == (1, 4, 8)
    assert spa_blocks(20, 100) == (1, 20, 30)  # capped at ceil(min(3 sqrt(100), 100 / 3)) = 30
    assert spa_blocks(2, 5) == (1, 2)
    bench, models = _mixed_noise(2)
    out = spa_test(bench, models, seed=4).to_dict()
    blocks = spa_blocks(out["block_size"], len(bench))
    assert list(out["p_value_by_block"]) == [str(b) for b in blocks]
    assert out["p_value_by_block"][str(out["block_size"])] == out["p_value"]
    assert out["p_value_range"] == [min(out["p_value_by_block"].values()), max(out["p_value_by_block"].values())]


def test_when_spa_is_serialised_then_it_keeps_the_old_keys_and_states_its_method():
    bench, models = _mixed_noise(3)
    out = spa_test(bench, models, seed=5).to_dict()
    assert {"p_value", "p_lower", "p_upper", "n_models", "n_distinct", "block_size", "benchmark", "test"} <= set(out)
    assert out["studentized"] is True and out["reps"] == 1000 and out["seed"] == 5
    assert "studentized" in out["test"] and out["benchmark"] == "persistence"
    assert out["hac_kernel"].startswith("stationary-bootstrap kernel") and "Politis-White" in out["block_rule"]
    assert json.loads(json.dumps(out)) == out


def test_when_spa_is_rerun_with_the_same_seed_then_every_p_value_is_the_same():
    bench, models = _mixed_noise(4)
    first = spa_test(bench, models, seed=9)
    again = spa_test(bench, models[:, ::-1], seed=9)  # the order of the trials is irrelevant
    assert first == again
    stored = first.to_dict()
    assert spa_test(bench, models, seed=stored["seed"], reps=stored["reps"]).to_dict() == stored


@pytest.mark.parametrize("benchmark, models, kwargs, message", [
    (np.ones(10), np.ones((9, 2)), {}, "n_windows, n_models"),
    (np.ones(10), np.ones((10, 0)), {}, "n_windows, n_models"),
    (np.ones(2), np.zeros((2, 1)), {}, "at least 3 windows"),
    (np.ones(10), np.r_[np.zeros(9), np.nan][:, None], {}, "finite"),
    (np.ones(10), np.zeros((10, 1)), {"reps": 0}, "reps"),
])
def test_when_spa_inputs_are_bad_then_value_error(benchmark, models, kwargs, message):
    with pytest.raises(ValueError, match=message):
        spa_test(benchmark, models, **kwargs)


def test_when_models_repeat_then_duplicates_share_their_fate_in_the_mcs():
    bench = _losses()
    good, bad = bench * 0.5, bench * 3
    losses = np.column_stack([good, bad, good, bad, good])
    unique, inverse = distinct_columns(losses)
    assert unique.shape[1] == 2 and len(inverse) == 5
    np.testing.assert_array_equal(model_confidence_set(losses, 0.05), [0, 2, 4])


def test_when_selection_significance_is_built_then_the_benchmark_study_joins_the_mcs_only():
    bench = _losses()
    trials = [TrialLosses("X.naive", 0, "default", bench), TrialLosses("X.toto", 0, "default", bench * 1.5),
              TrialLosses("X.toto", 1, "search", bench * 0.5 + 1e-5)]
    out = selection_significance(trials, bench, "naive", 0.05)
    assert out["spa"]["n_models"] == 2 and out["spa"]["p_value"] < 0.05 and out["spa"]["studentized"]
    assert out["mcs"] == [{"study": "X.toto", "trial": 1}] and out["mcs_alpha"] == 0.05


# Size and power by simulation (design: benchmarks/spa_power.py). 299 bootstrap reps per test; under
# the null 1200 simulations per design: the binomial s.e. at a true size of 0.05 is 0.0063, so a
# correct test exceeds 0.07 with probability about 7e-4 (z = 3.2). These seeds give 0.058 (equal) and
# 0.057 (half-noisy); the benchmark's 2000 simulations at 499 reps give 0.051 and 0.063: at 100 windows
# of heavy-tailed losses the studentized SPA over-rejects slightly. Alternatives: 200 simulations each.
SIZE_SIMS, POWER_SIMS, SIM_REPS = 1200, 200, 299


@pytest.mark.parametrize("design", ["equal", "half-noisy"])
def test_when_no_trial_beats_persistence_then_spa_rejects_at_most_at_its_nominal_size(design):
    size, _ = spa_power.rejection_rates(SIZE_SIMS, 0.0, design, SIM_REPS, seed=100 + len(design), raw=False)
    assert size <= 0.07


def test_when_one_trial_is_10_percent_better_among_noisy_trials_then_studentized_spa_finds_it_and_raw_does_not():
    power, raw_power = spa_power.rejection_rates(POWER_SIMS, 0.10, "half-noisy", SIM_REPS, seed=200)
    assert power >= 0.8  # measured 0.98; the binomial s.e. is at most 0.035
    assert raw_power <= 0.15 and power - raw_power >= 0.6  # arch 8's raw statistic: about its size (0.045)


def test_when_one_trial_is_5_percent_better_among_noisy_trials_then_studentized_spa_has_power_above_its_size():
    power, raw_power = spa_power.rejection_rates(POWER_SIMS, 0.05, "half-noisy", SIM_REPS, seed=300)
    assert power >= 0.2 and power - raw_power >= 0.15  # measured 0.43 against 0.035
