"""The trading objectives' pieces: the probability of up, the Brier score, the trading rule and its PnL after fees,
the decision a pnl study searches, and the flags that declare the rule."""

import numpy as np
import pytest

from sweep.data.bars import load_ohlcv
from sweep.data.windows import WindowSpec
from sweep.errors import ConfigError
from sweep.forecasters.config import ForecastConfig
from sweep.forecasters.naive import PersistenceForecaster
from sweep.objectives import TradingRule, get_objective, up_probability
from sweep.objectives.trading import brier_scores, rule_pnl, trading_costs, windows_open_at_once
from sweep.runs.settings import SweepSettings
from sweep.scoring.evaluate import benchmark_losses, evaluate
from sweep.search.space import default_config, params_of, space_of
from sweep.stats.metrics import QUANTILE_LEVELS
from sweep.stats.predictive import Predictive


LEVELS = np.asarray(QUANTILE_LEVELS)


def _quantiles(returns_by_level, last=100.0) -> Predictive:
    """One window, one step: quantiles at :data:`LEVELS` of the given returns."""
    values = last * (1 + np.asarray(returns_by_level, dtype=float))[None, :, None]
    return Predictive(values, LEVELS)


def test_when_paths_tie_with_the_last_close_then_they_count_half():
    paths = np.array([[[101.0], [99.0], [100.0], [102.0]]])
    assert up_probability(Predictive(paths), np.array([100.0])) == pytest.approx(0.625)


def test_when_quantiles_straddle_zero_then_the_probability_is_read_off_the_interpolated_cdf():
    symmetric = _quantiles(np.linspace(-0.04, 0.04, 9))
    assert up_probability(symmetric, np.array([100.0]))[0] == pytest.approx(0.5)
    # zero a quarter of the way from the 0.5 quantile (-0.01) to the 0.6 one (+0.03): F(0) = 0.5 + 0.25 * 0.1
    shifted = _quantiles([-0.05, -0.04, -0.03, -0.02, -0.01, 0.03, 0.04, 0.05, 0.06])
    assert up_probability(shifted, np.array([100.0]))[0] == pytest.approx(1 - 0.525)


def test_when_every_quantile_is_above_zero_then_the_lower_tail_keeps_the_mass_its_slope_puts_below():
    # the quantile function goes on below 0.1 with slope 0.01 per 0.1: it reaches 0 at level 0.05
    above = _quantiles(np.linspace(0.005, 0.085, 9))
    assert up_probability(above, np.array([100.0]))[0] == pytest.approx(1 - 0.05)
    far_above = _quantiles(np.linspace(0.5, 0.58, 9))
    assert up_probability(far_above, np.array([100.0]))[0] == pytest.approx(1.0)


def test_when_quantiles_cross_or_sit_at_zero_then_they_are_sorted_and_a_point_mass_at_zero_counts_half():
    crossed = _quantiles(np.linspace(-0.04, 0.04, 9)[::-1])
    assert up_probability(crossed, np.array([100.0]))[0] == pytest.approx(0.5)
    assert up_probability(_quantiles(np.zeros(9)), np.array([100.0]))[0] == pytest.approx(0.5)


def test_when_the_brier_score_is_averaged_then_the_true_probability_scores_best():
    rng = np.random.default_rng(0)
    truth = rng.uniform(0.3, 0.7, 20_000)
    closes = np.where(rng.uniform(size=truth.size) < truth, 101.0, 99.0)[:, None]
    last = np.full(truth.size, 100.0)
    honest = brier_scores(truth, closes, last).mean()
    for distorted in (np.clip(truth + 0.1, 0, 1), 0.5 + 1.5 * (truth - 0.5), np.full(truth.size, 0.5)):
        assert brier_scores(distorted, closes, last).mean() > honest


def test_when_the_forecast_return_clears_the_threshold_then_the_rule_goes_long_or_short():
    rule = TradingRule(threshold_fees=1.0, fee_bps=10.0)
    point = np.array([[100.3], [100.1], [99.7], [99.9]])
    assert rule.threshold == pytest.approx(0.002)
    assert rule.positions(point, np.full(4, 100.0)).tolist() == [1, 0, -1, 0]
    long_only = TradingRule(1.0, 10.0, long_only=True)
    assert long_only.positions(point, np.full(4, 100.0)).tolist() == [1, 0, 0, 0]


def test_when_windows_follow_each_other_then_the_fee_is_paid_on_each_change_of_position_and_the_last_close():
    positions, returns = np.array([1.0, 1.0, 0.0, -1.0]), np.array([0.01, -0.02, 0.03, -0.01])
    pnl = rule_pnl(positions, returns, np.arange(4), horizon=1, fee=0.001)
    assert pnl.tolist() == pytest.approx([0.01 - 0.001, -0.02, -0.001, 0.01 - 0.001 - 0.001])


def test_when_windows_are_apart_then_every_position_is_a_round_trip():
    pnl = rule_pnl(np.array([1.0, 1.0]), np.array([0.01, 0.01]), np.array([0, 24]), horizon=1, fee=0.001)
    assert pnl.tolist() == pytest.approx([0.008, 0.008])


def test_when_windows_overlap_then_each_holds_an_equal_tranche_handed_on_to_the_window_a_horizon_later():
    origins = np.arange(6)
    assert windows_open_at_once(origins, 2) == 2
    pnl = rule_pnl(np.ones(6), np.full(6, 0.02), origins, horizon=2, fee=0.001)
    # two tranches, each long throughout: one entry fee each, one exit fee each (the last two windows)
    assert pnl.sum() == pytest.approx(6 * 0.02 / 2 - 4 * 0.001 / 2)
    assert pnl[0] == pytest.approx((0.02 - 0.001) / 2) and pnl[2] == pytest.approx(0.02 / 2)


def test_when_the_rule_is_read_from_a_config_then_a_bad_decision_names_the_value():
    with pytest.raises(ConfigError, match="fee_bps"):
        TradingRule.from_decision({"threshold_fees": 1.0, "fee_bps": -1, "long_only": False}, "BTCUSD.json")
    with pytest.raises(ConfigError, match="BTCUSD.json"):
        TradingRule.from_decision({"threshold_fees": 1.0}, "BTCUSD.json")


def test_when_a_pnl_study_searches_then_the_threshold_joins_the_space_and_persistence_never_trades():
    fixed = {"fee_bps": 5.0, "long_only": True}
    space, plain = space_of("toto2", "pnl", fixed), space_of("toto2", "pct_return_mae")
    assert space.size(512) == plain.size(512) * 5
    assert space_of("naive", "pnl", fixed).size(512) == 1
    config = default_config("toto2", 512, 0, "pnl", fixed)
    assert config.decision == {"threshold_fees": 1.0, "fee_bps": 5.0, "long_only": True}
    assert params_of(config, 512, "pnl", fixed)["threshold_fees"] == 1.0
    assert ForecastConfig.from_dict(config.to_dict()) == config
    assert "decision" not in default_config("toto2", 512).to_dict()  # other objectives' documents keep their shape


def test_when_fee_flags_meet_another_objective_or_pooling_then_they_are_refused():
    with pytest.raises(ConfigError, match="--objective pnl"):
        trading_costs("pct_return_mae", 5.0, False)
    with pytest.raises(ConfigError, match="pooled"):
        SweepSettings(symbols=("BTCUSD",), models=("naive",), objectives=("pnl",), selection=("pooled",))
    with pytest.raises(ConfigError, match="fee-bps"):
        trading_costs("pnl", float("nan"), False)
    assert trading_costs("pnl", 0, True) == {"fee_bps": 0.0, "long_only": True}
    for objective in ("pnl", "direction"):  # overlapping windows: refused until they are marked bar by bar
        with pytest.raises(ConfigError, match="--test-stride 1"):
            SweepSettings(symbols=("BTCUSD",), models=("naive",), objectives=(objective,),
                          windows=WindowSpec(horizon=4))


@pytest.fixture(scope="module")
def btcusd(shared_data):
    return load_ohlcv(shared_data, "BTCUSD")


def test_when_climatology_is_the_benchmark_then_it_is_the_naive_default_scored_as_any_config(btcusd):
    origins = np.arange(20_000, 20_480, 8)
    config = default_config("naive", 4321, 0, "direction")
    result = evaluate(PersistenceForecaster(), config, btcusd, origins, 1, objective="direction")
    assert np.array_equal(result.window_errors, benchmark_losses(btcusd, origins, 1, "direction"))
    probability = result.window_records["up_probability"]
    assert 0.3 < probability.min() and probability.max() < 0.7  # the share of up bars of a month


def test_when_flat_is_scored_then_its_pnl_is_zero_and_the_skill_is_the_gain_in_return_units(btcusd):
    origins = np.arange(20_000, 20_100)
    config = default_config("naive", 4321, 0, "pnl", {"fee_bps": 10.0, "long_only": False})
    result = evaluate(PersistenceForecaster(), config, btcusd, origins, 1, objective="pnl")
    assert not result.window_errors.any() and result.metrics["skill"] == 0.0
    assert result.metrics["n_trades"] == 0 and "hit_rate" not in result.metrics
    realised = btcusd.close[origins] / btcusd.close[origins - 1] - 1
    hold = result.window_records["buy_and_hold_pnl"]
    assert hold.sum() == pytest.approx(realised.sum() - 2 * 0.001)  # one entry and one exit fee
    assert get_objective("pnl").skill(-0.001, 0.0) == pytest.approx(0.001)


def test_when_an_incumbent_is_reviewed_under_pnl_then_its_own_threshold_pays_the_candidates_fee():
    pnl, run = get_objective("pnl"), {"threshold_fees": 2.0, "fee_bps": 5.0, "long_only": True}
    # tuned under another objective: the default threshold; tuned under pnl at another fee: its own threshold
    assert pnl.judged_decision(None, run) == {"threshold_fees": 1.0, "fee_bps": 5.0, "long_only": True}
    assert pnl.judged_decision({"threshold_fees": 4.0, "fee_bps": 10.0, "long_only": False}, run) == \
        {"threshold_fees": 4.0, "fee_bps": 5.0, "long_only": True}
    assert get_objective("direction").judged_decision(None, {}) is None
