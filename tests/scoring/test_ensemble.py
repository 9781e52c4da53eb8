"""Ensemble weights: the LP against brute force, greedy selection on known cases, blending, the sweep's candidate."""

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from sweep.cli import main
from sweep.forecasters.config import ForecastConfig
from sweep.data.bars import load_ohlcv
from sweep.stats.predictive import Predictive
from sweep.scoring.ensemble import (QUANTILE_LEVELS, Member, MemberForecast, blend, ensemble_result, fit_greedy_weights,
                                    fit_lp_weights, member_forecast)
from sweep.scoring.evaluate import evaluate
from sweep.forecasters import PersistenceForecaster
from sweep.forecasters.toto import TotoForecaster
from sweep.data.windows import WindowSpec, make_splits

from test_cli import SMALL


def _mae(weights, returns, target):
    return np.abs(weights @ returns - target).mean()


def _simplex_grid(n_members, step):
    ticks = np.round(np.arange(0, 1 + step / 2, step), 10)
    for head in itertools.product(ticks, repeat=n_members - 1):
        if sum(head) <= 1 + 1e-9:
            yield np.array([*head, 1 - sum(head)])


@pytest.mark.parametrize("seed", range(4))
def test_when_the_lp_is_solved_then_no_point_of_a_fine_grid_beats_it(seed):
    rng = np.random.default_rng(seed)
    returns, target = rng.normal(0, 0.01, (3, 40)), rng.normal(0, 0.01, 40)
    weights = fit_lp_weights(returns, target)
    grid_best = min(_mae(w, returns, target) for w in _simplex_grid(3, 0.01))
    assert weights.min() >= 0 and weights.sum() == pytest.approx(1)
    assert _mae(weights, returns, target) <= grid_best + 1e-12
    assert grid_best - _mae(weights, returns, target) < 0.01 * np.abs(returns).max()


def test_when_the_target_is_a_blend_of_members_then_the_lp_recovers_its_weights():
    rng = np.random.default_rng(7)
    returns = rng.normal(0, 0.01, (3, 50))
    weights = fit_lp_weights(returns, 0.3 * returns[0] + 0.7 * returns[1])
    np.testing.assert_allclose(weights, [0.3, 0.7, 0.0], atol=1e-7)


def test_when_greedy_selects_then_it_follows_caruanas_rounds():
    # y = 0; members always +1, -1 and +2: rounds alternate between the first two (ties go to the first)
    returns, target = np.array([[1.0] * 4, [-1.0] * 4, [2.0] * 4]), np.zeros(4)
    np.testing.assert_allclose(fit_greedy_weights(returns, target, n_iterations=25), [13 / 25, 12 / 25, 0])
    np.testing.assert_allclose(fit_greedy_weights(returns[[2, 1]], returns[1], n_iterations=5), [0, 1])


def _forecast(label, point, values, levels=None):
    return MemberForecast(label, np.asarray(point, float), Predictive(np.asarray(values, float), levels), 0.5)


def test_when_members_are_blended_then_points_add_up_and_quantiles_are_averaged():
    rng = np.random.default_rng(0)
    a = _forecast("a", [[100.0]], rng.normal(100, 1, (1, 400, 1)))
    b = _forecast("b", [[104.0]], rng.normal(104, 3, (1, 400, 1)))
    blended = blend([a, b], np.array([0.25, 0.75]))
    assert blended.point[0, 0] == pytest.approx(103.0)
    expected = 0.25 * np.quantile(a.predictive.values[0, :, 0], QUANTILE_LEVELS) + \
        0.75 * np.quantile(b.predictive.values[0, :, 0], QUANTILE_LEVELS)
    np.testing.assert_allclose(blended.predictive.values[0, :, 0], expected)
    np.testing.assert_allclose(blended.predictive.levels, QUANTILE_LEVELS)
    assert blended.latency_s == 1.0 and blended.label == "a+b"


def test_when_a_quantile_member_is_blended_with_paths_then_its_levels_are_interpolated_not_resampled():
    levels = np.array([0.1, 0.5, 0.9])
    paths = _forecast("paths", [[100.0]], np.full((1, 50, 1), 100.0))
    quantiles = _forecast("q", [[110.0]], np.array([[[104.0], [110.0], [116.0]]]), levels)
    blended = blend([paths, quantiles], np.array([0.5, 0.5]))
    grid = [0.055, 0.105, 0.305, 0.505, 0.955]  # points of the blend's level grid
    q = blended.predictive.quantiles(grid)[0, :, 0]
    # the quantile member: held at 104 below 0.1, linear between its levels (15 per unit level), held at 116 above 0.9
    member = np.array([104.0, 104.0 + 0.005 * 15, 104.0 + 0.205 * 15, 110.0 + 0.005 * 15, 116.0])
    np.testing.assert_allclose(q, 0.5 * 100 + 0.5 * member, atol=1e-9)


def test_when_one_member_has_all_the_weight_then_the_ensemble_is_that_member(data_dir, tiny_toto_dir):
    data = load_ohlcv(data_dir, "TEST")
    origins = make_splits(data.n_bars, WindowSpec(val_windows=6, test_windows=6, stride=12,
                                                  max_context_length=128)).test_origins
    config = ForecastConfig(model="toto", context_length=64, num_samples=32, aggregate="median", seed=0)
    toto = Member("toto", TotoForecaster(str(tiny_toto_dir)), config)
    naive = Member("naive", PersistenceForecaster(), ForecastConfig(model="naive", context_length=1, num_samples=1,
                                                                      aggregate="mean", seed=0))
    forecasts = [member_forecast(m, data, origins, 1, _cache()) for m in (toto, naive)]
    alone = ensemble_result(forecasts, np.array([1.0, 0.0]), data, origins, 1)
    direct = evaluate(toto.forecaster, config, data, origins, 1)
    for key in ("pct_return_mae", "crps", "coverage_90", "skill"):
        assert alone.metrics[key] == pytest.approx(direct.metrics[key], rel=1e-12)


def _cache():
    from sweep.scoring.cache import SampleCache

    return SampleCache()


@pytest.mark.parametrize("method", ["lp", "greedy"])
def test_when_the_sweep_fits_an_ensemble_then_its_candidate_lists_members_and_weights(method, shared_data,
                                                                                      tiny_toto_dir, tmp_path):
    code = main(["--symbols", "BTCUSD", "--models", "toto", "naive", "--n-trials", "3", "--data-dir", str(shared_data),
                 "--toto-model", str(tiny_toto_dir), "--runs-dir", str(tmp_path / "runs"),
                 "--output-dir", str(tmp_path / "hp"), "--run-id", "e1", "--ensemble", method, *SMALL])
    assert code == 0
    document = json.loads((tmp_path / "hp/candidates/e1/ensemble/BTCUSD.json").read_text())
    members = document["config"]["members"]
    assert document["model"] == {"family": "ensemble", "method": method}
    assert {m["label"] for m in members} == {"toto", "naive"}
    assert sum(m["weight"] for m in members) == pytest.approx(1) and min(m["weight"] for m in members) >= 0
    assert {"symbol", "validation", "test", "baseline", "windows", "provenance"} <= set(document)
    assert document["test"]["n_windows"] == 8 * 24 and document["selection"]["weights_fitted_on"] == "validation origins"
    strongest = max(members, key=lambda m: m["weight"])["label"]
    assert document["default"]["model"] == strongest  # the default of the member with the largest weight
    assert set(document["comparisons"]) == {"persistence", "default"}
    assert document["comparisons"]["persistence"]["mean_diff"] == pytest.approx(
        document["test"]["pct_return_mae"] - document["test"]["persistence_pct_return_mae"])
    # the SPA tests the member studies' trials, not the blend fitted on the same validation windows
    assert "spa" not in document["selection"] and document["selection"]["members_significance"]["spa"]["n_models"] == 3
    losses = pd.read_csv(tmp_path / "hp/candidates/e1/ensemble" / document["test_losses"]["file"])
    assert list(losses.columns[2:]) == ["ensemble", "default", "persistence"]
    assert losses["ensemble"].mean() == pytest.approx(document["test"]["pct_return_mae"])
