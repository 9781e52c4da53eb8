"""Hostile values found by an adversarial run: storage files that are not journals, places nothing can be written,
frequencies that are not durations, seeds and budgets out of range, checkpoints of the wrong family, an unreachable
Ray cluster. Each exits 2 naming the value, prints no traceback and leaves every existing file as it was."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pandas as pd
import pytest

from sweep.cli import main

from conftest import SHIPPED_DATA, assert_refused, run_cli, tree_digest
from test_hostile_input import NAIVE, sweep_argv

#: A folder where nothing can be created, even by root (tests here may run as root).
UNWRITABLE = Path("/proc")


def test_when_storage_is_an_existing_file_that_is_not_a_journal_then_it_is_left_alone(tmp_path, capsys):
    victim = tmp_path / "SOLUSD.csv.gz"
    shutil.copy(SHIPPED_DATA / "SOLUSD.csv.gz", victim)
    before = tree_digest(tmp_path)
    result = run_cli(capsys, main, sweep_argv(tmp_path, *NAIVE, "--storage", victim))
    assert_refused(result, str(victim), "not an Optuna journal")
    assert tree_digest(tmp_path) == before
    gzip.decompress(victim.read_bytes())  # still whole


def test_when_storage_is_an_earlier_runs_journal_then_the_sweep_uses_it(tmp_path, capsys):
    first = run_cli(capsys, main, sweep_argv(tmp_path, *NAIVE, "--storage", tmp_path / "studies.journal"))
    assert first.code == 0, first
    again = run_cli(capsys, main, sweep_argv(tmp_path, *NAIVE, "--storage", tmp_path / "studies.journal",
                                             run_id="r2"))
    assert again.code == 0, again


def test_when_an_sqlite_database_has_no_folder_then_the_sweep_refuses_before_the_run_folder(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/missing/studies.db"
    result = run_cli(capsys, main, sweep_argv(tmp_path, *NAIVE, "--storage", url))
    assert_refused(result, url, "does not exist; create it first")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("flag", ["--output-dir", "--runs-dir", "--storage"])
def test_when_a_place_cannot_be_written_even_by_root_then_the_sweep_refuses_it(flag, tmp_path, capsys):
    argv = sweep_argv(tmp_path, *NAIVE)
    place = UNWRITABLE / "sweep-test" / ("x.journal" if flag == "--storage" else "out")
    argv = [*argv, flag, place] if flag == "--storage" else [place if a == argv[argv.index(flag) + 1] else a
                                                              for a in argv]
    result = run_cli(capsys, main, argv)
    assert_refused(result, flag, "nothing can be created in /proc")
    assert not (tmp_path / "runs").exists()


def test_when_report_or_download_cannot_write_then_they_refuse(tmp_path, capsys):
    result = run_cli(capsys, main, ["data", "download", "--symbols", "BTCUSD", "--data-dir", UNWRITABLE / "dl"])
    assert_refused(result, "--data-dir", "/proc/dl")


@pytest.mark.parametrize("freq", ["nan", "NaT", "0h", "0s"])
def test_when_freq_is_not_a_positive_duration_then_every_command_refuses(freq, tmp_path, capsys):
    assert_refused(run_cli(capsys, main, ["data", "validate", "--symbols", "BTCUSD", "--data-dir", SHIPPED_DATA,
                                          "--freq", freq]), f"got '{freq}'")
    assert_refused(run_cli(capsys, main, sweep_argv(tmp_path, *NAIVE, "--freq", freq)), f"got '{freq}'")
    assert not (tmp_path / "runs").exists()


def test_when_forward_filling_would_make_up_most_bars_then_the_data_is_refused(capsys):
    result = run_cli(capsys, main, ["data", "validate", "--symbols", "BTCUSD", "--data-dir", SHIPPED_DATA,
                                    "--freq", "1ns", "--gap-policy", "ffill"])
    assert_refused(result, "--freq 1ns with --gap-policy ffill would make up", "pass that --freq")


@pytest.mark.parametrize("extra, named", [
    (["--objectives", "pct_return_mae", "latency_s", "--latency-budget-s", "inf"], "--latency-budget-s inf"),
    (["--objectives", "pct_return_mae", "latency_s", "--latency-budget-s", "nan"], "--latency-budget-s nan"),
    (["--seed", "4294967296"], "--seed must be an integer from 0 to 2147483647"),
])
def test_when_a_budget_or_seed_is_out_of_range_then_the_sweep_refuses_before_the_run_folder(extra, named, tmp_path,
                                                                                           capsys):
    result = run_cli(capsys, main, sweep_argv(tmp_path, *NAIVE, *extra))
    assert_refused(result, named)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("flag, model, fixture", [("--toto-model", "toto", "tiny_kronos_dir"),
                                                  ("--kronos-model", "kronos", "tiny_toto_dir"),
                                                  ("--chronos2-model", "chronos2", "tiny_toto_dir")])
def test_when_a_checkpoint_flag_names_another_familys_training_output_then_the_sweep_refuses(flag, model, fixture,
                                                                                            request, tmp_path, capsys):
    folder = request.getfixturevalue(fixture)
    if fixture == "tiny_toto_dir":  # the fixture saves weights only; tototraining adds its training record
        folder = shutil.copytree(folder, tmp_path / "toto")
        (folder / "training.json").write_text("{}")
    result = run_cli(capsys, main, sweep_argv(tmp_path, "--models", model, "--val-windows", "8", "--test-windows",
                                              "8", "--max-context-length", "128", flag, folder))
    assert_refused(result, flag, str(folder), "written by")
    assert not (tmp_path / "runs").exists()


def test_when_the_ray_address_does_not_answer_then_the_sweep_refuses_at_once(tmp_path, capsys):
    result = run_cli(capsys, main, sweep_argv(tmp_path, *NAIVE, "--executor", "ray", "--ray-address", "127.0.0.1:1"))
    assert_refused(result, "--ray-address 127.0.0.1:1", "nothing accepts connections")
    assert not (tmp_path / "runs").exists()


def _flat_btcusd(folder: Path, bars: int) -> Path:
    """The shipped BTCUSD bars with the last ``bars`` flat at the close before them (open = high = low = close)."""
    frame = pd.read_csv(SHIPPED_DATA / "BTCUSD.csv.gz")
    frame.loc[frame.index[-bars:], ["open", "high", "low", "close"]] = frame["close"].iloc[-bars - 1]
    folder.mkdir(parents=True)
    frame.to_csv(folder / "BTCUSD.csv", index=False)
    return folder


@pytest.mark.parametrize("bars, span, oldest_flat_fold", [(200, "test windows", 1), (400, "validation windows", 0)])
def test_when_the_close_never_moves_over_scored_windows_then_validate_sweep_and_backtest_refuse(bars, span,
                                                                                               oldest_flat_fold,
                                                                                               tmp_path, capsys):
    # NAIVE's windows: 8 test days of 24 hourly origins (193 scored closes), then 8 daily validation origins
    data = _flat_btcusd(tmp_path / "data", bars)
    named = (str(data / "BTCUSD.csv"), "BTCUSD's close never moves over the " + span, "persistence's error")
    assert_refused(run_cli(capsys, main, ["data", "validate", "--symbols", "BTCUSD", "--data-dir", data,
                                          *NAIVE[4:]]), *named)
    config = tmp_path / "naive.json"
    config.write_text('{"model": "naive", "context_length": 1, "num_samples": 1, "aggregate": "mean"}')
    before = tree_digest(tmp_path)
    assert_refused(run_cli(capsys, main, ["evaluate", "--symbol", "BTCUSD", "--config", config, "--data-dir", data,
                                          *NAIVE[4:]]), *named)
    argv = ["--symbols", "BTCUSD", "--data-dir", data, "--runs-dir", tmp_path / "runs", "--output-dir",
            tmp_path / "hp", "--run-id", "r1", *NAIVE]
    assert_refused(run_cli(capsys, main, argv), *named)
    # fold 0's test windows end where today's (fold 1's) begin: 400 flat bars cover them, 200 do not
    assert_refused(run_cli(capsys, main, ["backtest", *argv, "--folds", "2"]), *named[::2],
                   f"close never moves over the test windows of walk-forward fold {oldest_flat_fold}")
    assert tree_digest(tmp_path) == before and not (tmp_path / "runs").exists()


def test_when_only_an_older_stretch_is_flat_then_validate_accepts_the_windows_that_move(tmp_path, capsys):
    data = _flat_btcusd(tmp_path / "data", 200)
    result = run_cli(capsys, main, ["data", "validate", "--symbols", "BTCUSD", "--data-dir", data])
    assert result.code == 0, result  # the default 2,400 hourly test origins reach back past the flat 200 bars
