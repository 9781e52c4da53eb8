"""Ensemble weights under a distribution objective: the blend's pinball loss minimised over the simplex, exactly (LP)
or greedily, and ``fit_weights`` choosing the members whose quantiles match the truth."""

import numpy as np
import pytest
from scipy.stats import norm

from sweep.data.bars import load_ohlcv
from sweep.scoring._quantile_weights import fit_pinball_greedy_weights, fit_pinball_lp_weights, pinball_loss
from sweep.scoring.ensemble import GREEDY_ITERATIONS, MemberForecast, QUANTILE_LEVELS as GRID, ensemble_result, \
    fit_weights
from sweep.stats.metrics import QUANTILE_LEVELS
from sweep.stats.predictive import Predictive

from conftest import synthetic_frame, write_csv

HORIZON = 3
#: Every third origin of a 2,600-bar synthetic walk, after the 721 bars the random-walk benchmark reads.
ORIGINS = np.arange(800, 2590, 3)
#: The synthetic walk's one-bar log-return standard deviation (``conftest.synthetic_frame``).
SIGMA = 0.01


def _points(n_windows: int, seed: int, scales: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(member quantile returns [n_members, n_points], target returns [n_points], levels [n_points])``: standard
    normal targets, each member the normal quantiles times its scale, one point per (window, level)."""
    rng = np.random.default_rng(seed)
    levels = np.tile(np.asarray(QUANTILE_LEVELS), n_windows)
    target = np.repeat(rng.normal(size=n_windows), len(QUANTILE_LEVELS))
    return np.stack([s * norm.ppf(levels) for s in scales]), target, levels


def test_when_the_pinball_loss_is_computed_then_it_is_the_quantile_score_by_hand():
    forecast, target, levels = np.array([0.3, -0.2, 0.0]), np.array([0.1, 0.1, -0.5]), np.array([0.9, 0.1, 0.5])
    by_hand = [(0.1 - 0.3) * (0.9 - 1), (0.1 + 0.2) * 0.1, (0.0 + 0.5) * (1 - 0.5)]  # a (y - q) or (1 - a) (q - y)
    assert pinball_loss(forecast, target, levels) == pytest.approx(np.mean(by_hand), rel=1e-14)


def test_when_two_members_are_blended_then_the_lp_finds_the_grid_searchs_minimum():
    members, target, levels = _points(300, seed=0, scales=(0.5, 2.0))
    weights = fit_pinball_lp_weights(members, target, levels)
    assert weights.shape == (2,) and (weights >= 0).all() and weights.sum() == pytest.approx(1.0, abs=1e-12)
    grid = np.linspace(0.0, 1.0, 2_001)
    grid_losses = pinball_loss(grid[:, None] * members[0] + (1 - grid[:, None]) * members[1], target, levels)
    lp_loss = pinball_loss(weights @ members, target, levels)
    assert lp_loss <= grid_losses.min() + 1e-12
    assert 0.05 < weights[0] < 0.95  # the scales 0.5 and 2 are each wrong: the minimum is inside the simplex
    assert lp_loss < min(grid_losses[0], grid_losses[-1])


def test_when_three_members_are_blended_then_no_point_of_the_simplex_beats_the_lp():
    members, target, levels = _points(200, seed=1, scales=(0.4, 1.3, 3.0))
    members[1] += 0.3  # a biased member, so that the three are not collinear
    weights = fit_pinball_lp_weights(members, target, levels)
    assert (weights >= 0).all() and weights.sum() == pytest.approx(1.0, abs=1e-12)
    lp_loss = pinball_loss(weights @ members, target, levels)
    tries = np.vstack([np.eye(3), np.random.default_rng(2).dirichlet(np.ones(3), 3000)])
    assert lp_loss <= pinball_loss(tries @ members, target, levels).min() + 1e-12


@pytest.mark.parametrize("n_iterations", [7, GREEDY_ITERATIONS])
def test_when_greedy_weights_are_fitted_then_they_count_rounds_and_beat_the_best_single_member(n_iterations):
    members, target, levels = _points(300, seed=3, scales=(0.4, 1.8, 3.0))
    weights = fit_pinball_greedy_weights(members, target, levels, n_iterations)
    counts = weights * n_iterations
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)
    assert (weights >= 0).all() and weights.sum() == pytest.approx(1.0, abs=1e-12)
    singles = pinball_loss(members, target, levels)
    assert pinball_loss(weights @ members, target, levels) <= singles.min() + 1e-15
    assert np.count_nonzero(weights) >= 2  # no single scale is right: greedy mixes


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    """A synthetic hourly random walk with Gaussian log returns of standard deviation :data:`SIGMA`."""
    folder = tmp_path_factory.mktemp("walk")
    write_csv(folder, "SYN", synthetic_frame(n_bars=2600, seed=7))
    return load_ohlcv(folder, "SYN")


def _member(data, label: str, scale: float, levels=GRID) -> MemberForecast:
    """The walk's true k-step quantiles at ``levels`` (default: the ensemble's 100) with their spread times
    ``scale``."""
    last_close = data.close[ORIGINS - 1]
    levels = np.asarray(levels)
    spread = SIGMA * norm.ppf(levels)[None, :, None] * np.sqrt(np.arange(1, HORIZON + 1))[None, None, :]
    quantiles = last_close[:, None, None] * np.exp(scale * spread)
    return MemberForecast(label, np.repeat(last_close[:, None], HORIZON, axis=1), Predictive(quantiles, levels), 0.0)


@pytest.mark.parametrize("method", ["lp", "greedy"])
def test_when_one_member_is_the_truth_and_one_is_badly_scaled_then_the_truth_gets_the_weight(walk, method):
    members = [_member(walk, "truth", 1.0), _member(walk, "wide", 5.0)]
    weights = fit_weights(method, members, walk, ORIGINS, HORIZON, objective="quantile_loss")
    assert weights.sum() == pytest.approx(1.0, abs=1e-12) and (weights >= 0).all()
    assert weights[0] >= 0.9, weights  # 0.98 to 1.0 over seeds 0 .. 11 (LP)


def test_when_one_member_is_too_narrow_and_one_too_wide_then_the_lp_blend_is_calibrated_and_beats_both(walk):
    members = [_member(walk, "narrow", 0.5), _member(walk, "wide", 2.0)]
    weights = fit_weights("lp", members, walk, ORIGINS, HORIZON, objective="quantile_loss")
    # a blend of spreads 0.5 and 2 is the true spread at w = 2/3 (to first order in the returns); 0.63 to 0.70 over
    # seeds 0 .. 11, so 0.1 is about five of its standard deviations
    assert weights[0] == pytest.approx(2 / 3, abs=0.1)
    blended = ensemble_result(members, weights, walk, ORIGINS, HORIZON, "quantile_loss")
    alone = [ensemble_result(members, np.eye(2)[i], walk, ORIGINS, HORIZON, "quantile_loss") for i in range(2)]
    assert blended.objective == "quantile_loss" and blended.window_errors.shape == (len(ORIGINS),)
    assert blended.loss <= min(r.loss for r in alone) + 1e-12  # the fitted loss is the scored blend's own
    assert blended.loss < 0.97 * min(r.loss for r in alone)


def test_when_a_quantile_member_is_blended_with_itself_then_its_quantile_loss_is_unchanged(walk):
    # a quantile family (Toto 2.0, Chronos-Bolt) predicts exactly the scored levels 0.1 .. 0.9: averaging its
    # quantiles with themselves (Vincentization) is the same distribution, so the same loss and coverage
    member = _member(walk, "quantiles", 1.0, QUANTILE_LEVELS)
    alone = ensemble_result([member], np.ones(1), walk, ORIGINS, HORIZON, "quantile_loss")
    twice = ensemble_result([member, member], np.array([0.5, 0.5]), walk, ORIGINS, HORIZON, "quantile_loss")
    np.testing.assert_allclose(twice.window_errors, alone.window_errors, rtol=1e-9)
    for level in (0.1, 0.9):
        assert twice.metrics[f"coverage_{level:g}"] == pytest.approx(alone.metrics[f"coverage_{level:g}"]), level
