"""Windows compared across symbols are the same hours: pooled studies and the backtest on the common calendar."""

import numpy as np
import pandas as pd
import pytest

from sweep.cli import main
from sweep.data.common_calendar import aligned_splits, require_same_origin_times, sweep_splits
from sweep.data.bars import load_ohlcv
from sweep.errors import ConfigError
from sweep.data.windows import WindowSpec, make_splits

from conftest import assert_refused, run_cli, synthetic_frame, tree_digest, write_csv

SPEC = WindowSpec(val_windows=10, test_windows=5, stride=24, max_context_length=128)
FLAGS = ["--val-windows", "10", "--test-windows", "5", "--max-context-length", "128"]


def _origin_times(datasets, splits):
    return {s: (tuple(datasets[s].frame.index[splits[s].validation_origins]),
                tuple(datasets[s].frame.index[splits[s].test_origins])) for s in datasets}


def _shifted(frame: pd.DataFrame, hours: int) -> pd.DataFrame:
    out = frame.copy()
    out["timestamp"] = (pd.to_datetime(out["timestamp"], utc=True) + pd.Timedelta(hours=hours)).astype(str)
    return out


@pytest.mark.parametrize("windows, test_start", [([], "2024-01-09 04:00"),
                                                 (["--val-windows", "30", "--test-windows", "10"], "2024-04-08 04:00")])
def test_when_btcusd_and_uniusd_are_pooled_on_the_shipped_data_then_the_sweep_refuses_before_any_work(
        shared_data, tmp_path, capsys, windows, test_start):
    # UNIUSD ends 2024-02-05, BTCUSD 2024-04-18: counted back from their own last bars, "window i" of UNIUSD
    # was weeks before BTCUSD's, and UNIUSD's config was chosen partly on BTCUSD bars after its own test period
    args = ["--symbols", "BTCUSD", "UNIUSD", "--models", "naive", "--selection", "pooled", "--data-dir", shared_data,
            "--runs-dir", tmp_path / "runs", "--output-dir", tmp_path / "hp", "--run-id", "uni", *windows]
    before = tree_digest(tmp_path)
    result = run_cli(capsys, main, args)
    assert_refused(result, "UNIUSD", "to 2024-02-05 19:00", test_start, "to 2024-04-18 03:00", "--symbols",
                   "--selection per-symbol")
    assert tree_digest(tmp_path) == before and not (tmp_path / "runs").exists()


def test_when_btcusd_and_uniusd_are_backtested_together_then_the_backtest_refuses(shared_data, tmp_path, capsys):
    args = ["backtest", "--symbols", "BTCUSD", "UNIUSD", "--models", "naive", "--folds", "2", "--data-dir",
            shared_data, "--runs-dir", tmp_path / "runs", "--output-dir", tmp_path / "hp", "--run-id", "bt", *FLAGS]
    assert_refused(run_cli(capsys, main, args), "UNIUSD", "2024-02-05", "--symbols")
    assert not (tmp_path / "runs").exists()


def test_when_shipped_symbols_end_together_then_pooled_windows_equal_their_own_layouts(shared_data, tmp_path):
    symbols = ("BTCUSD", "ETHUSD", "SOLUSD")
    datasets = {s: load_ohlcv(shared_data, s) for s in symbols}
    pooled = sweep_splits(datasets, SPEC, pooled=True)
    times = _origin_times(datasets, pooled)
    assert len(set(times.values())) == 1
    own = {s: make_splits(d.n_bars, SPEC) for s, d in datasets.items()}
    assert _origin_times(datasets, own) == times  # the shipped symbols end together: nothing moves
    assert pooled["BTCUSD"].describe(datasets["BTCUSD"].frame.index)["calendar"]["symbols"] == list(symbols)


@pytest.mark.parametrize("case", ["shifted 7 h", "cut 20 bars short", "gap dropped"])
def test_when_a_symbols_bars_differ_then_pooled_origins_are_still_the_same_hours(tmp_path, case):
    frame = synthetic_frame(3000, seed=1)
    other = synthetic_frame(3000, seed=2)
    policy = "error"
    if case == "shifted 7 h":
        other = _shifted(other, 7)
    elif case == "cut 20 bars short":  # less than a --stride behind: the layout ends at its last bar
        other = other.iloc[:-20]
    else:
        other = other.drop(other.index[2800:2810])
        policy = "drop"
    write_csv(tmp_path / "data", "AAA", frame)
    write_csv(tmp_path / "data", "BBB", other)
    datasets = {s: load_ohlcv(tmp_path / "data", s, gap_policy=policy) for s in ("AAA", "BBB")}
    own = {s: make_splits(d.n_bars, SPEC) for s, d in datasets.items()}
    assert len(set(_origin_times(datasets, own).values())) == 2  # by position, the old layout mixed hours
    pooled = sweep_splits(datasets, SPEC, pooled=True)
    assert len(set(_origin_times(datasets, pooled).values())) == 1
    for symbol, splits in pooled.items():  # validation never reaches a test origin's bars, in each own series
        assert splits.validation_origins[-1] + SPEC.horizon + SPEC.purge_gap <= splits.test_origins[0]
        assert splits.validation_origins[0] >= SPEC.max_context_length


@pytest.mark.parametrize("cut", [2000, 25])
def test_when_a_symbol_ends_over_a_stride_before_the_others_then_it_is_refused_with_both_spans(tmp_path, cut):
    write_csv(tmp_path / "data", "AAA", synthetic_frame(3000, seed=1))
    write_csv(tmp_path / "data", "BBB", synthetic_frame(3000, seed=2).iloc[:-cut])
    datasets = {s: load_ohlcv(tmp_path / "data", s) for s in ("AAA", "BBB")}
    last = f"{datasets['BBB'].frame.index[-1]:%Y-%m-%d %H:%M}"
    with pytest.raises(ConfigError, match=rf"BBB cannot be lined up with AAA.*BBB.csv.*2024-01-01 00:00 to {last} "
                                          r"and end more than --stride 24 bars before AAA's \(2024-01-01 00:00 to "
                                          r"2024-05-04 23:00\), whose test period is 2024-04-30 00:00 to"):
        aligned_splits(datasets, SPEC, fix="drop it")


def test_when_a_symbols_bars_fall_on_other_times_then_it_is_refused(tmp_path):
    write_csv(tmp_path / "data", "AAA", synthetic_frame(3000, seed=1))
    half_past = synthetic_frame(3000, seed=2)
    half_past["timestamp"] = (pd.to_datetime(half_past["timestamp"], utc=True) + pd.Timedelta(minutes=30)).astype(str)
    write_csv(tmp_path / "data", "BBB", half_past)
    datasets = {s: load_ohlcv(tmp_path / "data", s) for s in ("AAA", "BBB")}
    with pytest.raises(ConfigError, match="AAA cannot be lined up with the other symbols.*share only 0 bar "
                                          "times.*need 466"):
        aligned_splits(datasets, SPEC, fix="drop it")


def test_when_walk_forward_folds_are_aligned_then_every_fold_is_the_same_hours(tmp_path):
    write_csv(tmp_path / "data", "AAA", synthetic_frame(3000, seed=1))
    write_csv(tmp_path / "data", "BBB", _shifted(synthetic_frame(3000, seed=2), 5))
    datasets = {s: load_ohlcv(tmp_path / "data", s) for s in ("AAA", "BBB")}
    folds = aligned_splits(datasets, SPEC, folds=3)
    for k in range(3):
        require_same_origin_times([(s, datasets[s].frame.index, folds[s][k]) for s in datasets])
    assert folds["AAA"][1].test_origins[0] == folds["AAA"][2].test_origins[0] - SPEC.test_span_bars


def test_when_a_pool_is_not_aligned_then_the_pooled_study_is_never_built(tmp_path):
    write_csv(tmp_path / "data", "AAA", synthetic_frame(3000, seed=1))
    write_csv(tmp_path / "data", "BBB", _shifted(synthetic_frame(3000, seed=2), 7))
    datasets = {s: load_ohlcv(tmp_path / "data", s) for s in ("AAA", "BBB")}
    own = [(s, d.frame.index, make_splits(d.n_bars, SPEC)) for s, d in datasets.items()]
    with pytest.raises(ValueError, match="BBB's validation origins are not AAA's hours"):
        require_same_origin_times(own)
    assert np.array_equal(own[0][2].validation_origins, own[1][2].validation_origins)  # same positions, other hours


def test_when_one_of_three_symbols_starts_too_late_then_that_symbol_is_named(tmp_path):
    write_csv(tmp_path / "data", "AAA", synthetic_frame(3000, seed=1))
    write_csv(tmp_path / "data", "BBB", synthetic_frame(3000, seed=2))
    write_csv(tmp_path / "data", "CCC", synthetic_frame(3000, seed=4).iloc[2700:])  # 300 bars: no room for windows
    datasets = {s: load_ohlcv(tmp_path / "data", s) for s in ("AAA", "BBB", "CCC")}
    with pytest.raises(ConfigError, match="CCC cannot be lined up.*share only 300 bar times with the 3000"):
        aligned_splits(datasets, SPEC, fix="drop it")


def test_when_a_symbols_latest_bars_are_left_out_then_the_sweep_says_so(tmp_path, caplog):
    write_csv(tmp_path / "data", "AAA", synthetic_frame(3000, seed=1))
    write_csv(tmp_path / "data", "BBB", synthetic_frame(3000, seed=2).iloc[:-20])
    datasets = {s: load_ohlcv(tmp_path / "data", s) for s in ("AAA", "BBB")}
    sweep_splits(datasets, SPEC, pooled=True)
    assert "AAA: its last 20 bar(s) (after 2024-05-04 03:00) are left out" in caplog.text


def test_when_a_training_job_sees_symbols_on_shifted_hours_then_it_stops_before_either_layouts_validation(tmp_path):
    from sweep.training import load_training_data
    from tototraining.__main__ import parse_args

    write_csv(tmp_path / "data", "AAA", synthetic_frame(3000, seed=1))
    write_csv(tmp_path / "data", "BBB", _shifted(synthetic_frame(3000, seed=2), 7))  # ends 7 h after AAA
    args = parse_args(["--symbols", "AAA", "BBB", "--data-dir", str(tmp_path / "data"), "--output",
                       str(tmp_path / "ckpt"), "--folds", "2", *FLAGS])
    _spec, trained, _meta = load_training_data(args)
    datasets = {data.symbol: data for data, _ in trained}
    aligned = aligned_splits(datasets, SPEC, folds=2)
    for data, splits in trained:  # the pooled sweep's and backtest's layout starts 7 h earlier for BBB than its own
        own = make_splits(data.n_bars - SPEC.test_span_bars, SPEC)
        assert splits.first_validation_origin == min(own.first_validation_origin,
                                                     aligned[data.symbol][0].first_validation_origin)
    bbb = next(splits for data, splits in trained if data.symbol == "BBB")
    own_bbb = make_splits(datasets["BBB"].n_bars - SPEC.test_span_bars, SPEC)
    assert bbb.first_validation_origin == own_bbb.first_validation_origin - 7
