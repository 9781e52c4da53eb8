import numpy as np
import pytest

from sweep.errors import ConfigError, DataValidationError
from sweep.data.windows import WindowSpec, context_slice, gather_contexts, gather_targets, make_splits, target_slice


@pytest.mark.parametrize("horizon, stride, context, test_stride", [(1, 1, 8, 1), (4, 3, 16, 3), (24, 24, 64, 1),
                                                                   (5, 1, 5, 1), (24, 24, 64, 6)])
def test_when_origins_are_placed_then_no_scored_bar_is_inside_any_context(horizon, stride, context, test_stride):
    spec = WindowSpec(horizon=horizon, val_windows=7, test_windows=5, stride=stride, max_context_length=context,
                      test_stride=test_stride)
    splits = make_splits(spec.bars_needed() + 13, spec)
    for origin in np.concatenate([splits.validation_origins, splits.test_origins]):
        ctx = set(range(*context_slice(int(origin), context).indices(10**9)))
        tgt = set(range(*target_slice(int(origin), horizon).indices(10**9)))
        assert not ctx & tgt
        assert max(ctx) < min(tgt)
        assert min(ctx) >= 0 and max(tgt) < splits.n_bars


def test_when_values_are_gathered_then_contexts_end_just_before_the_origin():
    values = np.arange(100.0)
    origins = np.array([10, 50])
    np.testing.assert_array_equal(gather_contexts(values, origins, 3), [[7, 8, 9], [47, 48, 49]])
    np.testing.assert_array_equal(gather_targets(values, origins, 2), [[10, 11], [50, 51]])


def test_when_splits_are_made_then_the_purge_gap_separates_validation_and_test_targets():
    spec = WindowSpec(horizon=3, val_windows=10, test_windows=10, stride=2, max_context_length=20, purge_gap_bars=5)
    splits = make_splits(500, spec)
    last_val_target = splits.validation_origins[-1] + spec.horizon - 1
    assert splits.test_origins[0] - last_val_target - 1 == 5
    assert splits.test_origins[-1] + spec.horizon == 500
    assert np.all(np.diff(splits.validation_origins) == 2)


def test_when_the_series_is_too_short_then_the_error_names_the_need_and_the_fix():
    spec = WindowSpec(val_windows=100, test_windows=100)
    with pytest.raises(DataValidationError, match=r"x.csv has 1000 bars but the windows need .*lower --val-windows"):
        make_splits(1000, spec, source="x.csv")


@pytest.mark.parametrize("kwargs, match", [
    ({"horizon": 0}, "--horizon must be a positive integer"),
    ({"horizon": 4, "purge_gap_bars": 2}, "--purge-gap must be >= --horizon"),
    ({"stride": -1}, "stride"),
    ({"stride": 24, "test_stride": 5}, "--test-stride 5 must divide --stride 24"),
    ({"test_stride": 0}, "--test-stride must be a positive integer"),
    ({"val_windows": 4}, "--val-windows 4: selection needs at least 5 validation origins"),
    ({"test_windows": 2, "test_stride": 24}, "--test-windows 2 holds 2 test origin.* at least 5"),
])
def test_when_a_spec_is_invalid_then_config_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        WindowSpec(**kwargs)


def test_when_walk_forward_folds_are_made_then_test_blocks_follow_each_other_and_the_last_is_today():
    from sweep.data.windows import walk_forward_splits

    spec = WindowSpec(horizon=2, val_windows=6, test_windows=5, stride=4, max_context_length=16)
    n_bars = spec.bars_needed() + 3 * 5 * 4 + 7
    folds = walk_forward_splits(n_bars, spec, 4)
    today = make_splits(n_bars, spec)
    np.testing.assert_array_equal(folds[-1].test_origins, today.test_origins)
    np.testing.assert_array_equal(folds[-1].validation_origins, today.validation_origins)
    for earlier, later in zip(folds, folds[1:]):
        assert later.test_origins[0] == earlier.test_origins[-1] + spec.test_stride  # consecutive, no overlap
    for fold in folds:  # a fold's selection never scores a bar of its own test block
        assert fold.validation_origins[-1] + spec.horizon - 1 < fold.test_origins[0] - spec.purge_gap + 1


@pytest.mark.parametrize("horizon", [1, 24])
@pytest.mark.parametrize("stride", [24, 8, 4, 2, 1])
def test_when_validation_origins_are_denser_over_the_same_period_then_no_target_reaches_the_purge_gap(stride, horizon):
    from sweep.data.windows import walk_forward_splits

    # benchmarks/validation_origins.py: 100 to 2,400 validation origins over the default's 2,400 validation bars
    spec = WindowSpec(horizon=horizon, val_windows=2400 // stride, test_windows=2400 // stride, stride=stride,
                      max_context_length=64)
    n_bars = spec.bars_needed() + 2 * spec.test_span_bars + 5
    for splits in [make_splits(n_bars, spec), *walk_forward_splits(n_bars, spec, folds=3)]:
        targets = splits.validation_origins[:, None] + np.arange(horizon)  # every scored validation bar
        first_gap_bar = splits.test_origins[0] - spec.purge_gap
        assert len(splits.validation_origins) == 2400 // stride and len(splits.test_origins) == 2400
        assert targets.max() == first_gap_bar - 1  # up to the purge gap, never into it
        assert not np.isin(targets, splits.test_origins).any()

def test_when_the_series_is_too_short_for_the_folds_then_the_error_says_how_many_bars_are_needed():
    from sweep.data.windows import walk_forward_splits

    spec = WindowSpec(val_windows=5, test_windows=5, stride=4, max_context_length=16)
    with pytest.raises(DataValidationError, match="3 walk-forward folds need"):
        walk_forward_splits(spec.bars_needed() + 10, spec, 3, source="X.csv")
    with pytest.raises(ConfigError, match="--folds"):
        walk_forward_splits(1000, spec, 0)


def test_when_the_defaults_are_used_then_the_last_100_days_are_scored_every_hour():
    spec = WindowSpec()
    splits = make_splits(spec.bars_needed() + 5, spec)
    assert spec.n_test_origins == len(splits.test_origins) == 2400
    assert np.all(np.diff(splits.test_origins) == 1) and np.all(np.diff(splits.validation_origins) == 24)
    assert splits.test_origins[-1] == splits.n_bars - 1
    assert splits.test_origins[-1] - splits.test_origins[0] + 1 == spec.test_windows * spec.stride
    assert splits.describe()["n_test_origins"] == 2400


def test_when_test_stride_equals_stride_then_the_origins_are_those_of_the_daily_layout():
    daily = WindowSpec(val_windows=6, test_windows=5, stride=4, max_context_length=16, test_stride=4)
    splits = make_splits(200, daily)
    assert len(splits.test_origins) == 5 and np.all(np.diff(splits.test_origins) == 4)
    assert splits.test_origins[-1] == 199


def test_when_a_document_predates_test_stride_then_its_test_origins_stay_at_the_stride():
    old = {"horizon": 1, "val_windows": 8, "test_windows": 8, "stride": 24, "max_context_length": 128,
           "purge_gap_bars": 1, "n_bars": 999}
    assert WindowSpec.from_document(old).test_stride == 24
    assert WindowSpec.from_document({**old, "test_stride": 1}).n_test_origins == 192


def test_when_validation_origins_are_few_then_the_spec_warns_about_power_and_not_at_the_default():
    assert WindowSpec().power_warnings() == []
    (warning,) = WindowSpec(val_windows=5).power_warnings()
    assert "--val-windows 5" in warning and "luck" in warning


def _closes(close: np.ndarray):
    """Bars of these closes (open = high = low = close), validated like a CSV."""
    import pandas as pd

    from sweep.data.bars import ohlcv_from_frame

    stamps = pd.date_range("2024-01-01", periods=len(close), freq="1h", tz="UTC")
    frame = pd.DataFrame({"open": close, "high": close, "low": close, "close": close, "volume": 1.0}, index=stamps)
    return ohlcv_from_frame(frame, "FLAT", source="FLAT.csv")


def test_when_persistence_errs_nowhere_on_a_span_then_check_moving_closes_names_it_and_elsewhere_accepts():
    from sweep.scoring.evaluate import persistence_metrics
    from sweep.data.windows import check_moving_closes

    spec = WindowSpec(horizon=1, val_windows=5, test_windows=5, stride=2, max_context_length=4)  # 10 test origins
    moving = 100.0 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, spec.bars_needed())))
    splits = make_splits(len(moving), spec)
    first_test = int(splits.test_origins[0])

    flat = moving.copy()
    flat[first_test - 1:] = flat[first_test - 1]  # every test target equals the last close before its origin
    with pytest.raises(DataValidationError, match=r"FLAT.csv: FLAT's close never moves over the test windows \("):
        check_moving_closes(_closes(flat), splits)

    one_move = flat.copy()
    one_move[-1] *= 1.001  # one scored close moves: persistence errs on one origin, nothing divides by 0
    check_moving_closes(_closes(one_move), splits)
    assert persistence_metrics(_closes(one_move), splits.test_origins, 1)["pct_return_mae"] > 0

    steps = moving.copy()  # moves only into the origins between those one --stride apart, which report scores
    for t in splits.test_origins_at_stride:
        steps[t] = steps[t - 1]
    with pytest.raises(DataValidationError, match="test windows one --stride apart"):
        check_moving_closes(_closes(steps), splits)
    check_moving_closes(_closes(moving), splits, splits)
