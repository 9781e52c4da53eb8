"""SPA and the Model Confidence Set over trials, on losses with known answers."""

import numpy as np

from sweep.significance import distinct_columns, model_confidence_set, selection_significance, spa_test
from sweep.study import TrialLosses

N = 200


def _losses(seed=0):
    rng = np.random.default_rng(seed)
    return np.abs(rng.normal(0.004, 0.003, N))


def test_when_one_model_is_clearly_better_than_the_benchmark_then_spa_rejects():
    bench = _losses()
    rng = np.random.default_rng(1)
    models = np.column_stack([bench * 0.6 + rng.normal(0, 1e-4, N)] + [bench * 1.2 for _ in range(20)])
    result = spa_test(bench, models, seed=0)
    assert result.p_value < 0.01 and result.n_models == 21


def test_when_many_models_are_noise_around_the_benchmark_then_spa_does_not_reject():
    bench = _losses()
    rng = np.random.default_rng(2)
    models = bench[:, None] + rng.normal(0, 5e-4, (N, 100))  # the best of 100 beats the benchmark by luck
    assert models.mean(axis=0).min() < bench.mean()
    assert spa_test(bench, models, seed=0).p_value > 0.1


def test_when_every_model_is_worse_then_spa_p_value_is_one():
    bench = _losses()
    result = spa_test(bench, np.column_stack([bench * 2, bench * 3]))
    assert (result.p_value, result.p_lower, result.p_upper) == (1.0, 1.0, 1.0)


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
    assert out["spa"]["n_models"] == 2 and out["spa"]["p_value"] < 0.05
    assert out["mcs"] == [{"study": "X.toto", "trial": 1}] and out["mcs_alpha"] == 0.05
