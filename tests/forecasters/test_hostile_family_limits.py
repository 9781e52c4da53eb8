"""Hostile checkpoints and horizons for a family: another family's folder, an empty folder, a horizon past the limit.

Each is refused with exit 2 before the run folder exists, naming the flag that fits (the folder's own family's) or
the family's horizon limit and the fix. The checkpoints are the tiny random ones the tests build offline.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from conftest import assert_refused, run_cli, synthetic_frame, write_csv
from sweep.cli import main
from sweep.errors import ConfigError
from sweep.forecasters.checkpoint_folders import check_checkpoint_folder, check_horizon, checkpoint_family_of
from sweep.forecasters.registry import FAMILIES
from sweep.runs.settings import SweepSettings

WINDOWS = ["--n-trials", "1", "--val-windows", "8", "--test-windows", "8", "--stride", "24", "--test-stride", "24",
           "--max-context-length", "128"]


@pytest.fixture(scope="module")
def folders(tiny_quantile_dirs, tiny_toto_dir, tiny_kronos_dir, tmp_path_factory) -> dict[str, Path]:
    """``{name: folder}``: each quantile family's tiny checkpoint, a Toto published layout, a kronostraining output,
    a Kronos predictor alone, Fracast's bundled release, an empty folder and a folder of notes."""
    empty = tmp_path_factory.mktemp("empty")
    notes = tmp_path_factory.mktemp("notes")
    (notes / "notes.txt").write_text("not a checkpoint")
    return {**tiny_quantile_dirs, "toto": tiny_toto_dir, "kronostraining": tiny_kronos_dir,
            "kronos": tiny_kronos_dir / "predictor", "fracast": Path(str(resources.files("fracast.weights"))),
            "empty": empty, "notes": notes}


@pytest.fixture(scope="module")
def long_data(tmp_path_factory) -> Path:
    """``LONG.csv``: 4,000 hourly bars, room for a horizon of 1,025 bars."""
    folder = tmp_path_factory.mktemp("long")
    write_csv(folder, "LONG", synthetic_frame(4000))
    return folder


def sweep_argv(root: Path, data: Path, symbol: str, *extra) -> list:
    return ["--symbols", symbol, "--data-dir", data, "--runs-dir", root / "runs", "--output-dir", root / "hp",
            *WINDOWS, *extra]


@pytest.mark.parametrize("given, family, fits", [
    ("kronos", "timesfm", "--kronos-model"), ("kronostraining", "timesfm", "--kronos-model"),
    ("timesfm", "chronos2", "--timesfm-model"), ("tirex2", "timesfm", "--tirex2-model"),
    ("chronos-bolt", "chronos2", "--chronos-bolt-model"), ("chronos2", "tirex2", "--chronos2-model"),
    ("toto2", "toto", "--toto2-model"), ("toto", "toto2", "--toto-model"), ("fracast", "tirex2", "--fracast-model")])
def test_when_a_flag_names_another_familys_checkpoint_then_the_sweep_exits_2_naming_the_flag_that_fits(
        given, family, fits, folders, shared_data, tmp_path, capsys):
    flag = FAMILIES[family].flag
    result = run_cli(capsys, main, sweep_argv(tmp_path, shared_data, "BTCUSD", "--models", family, "naive", flag,
                                              folders[given]))
    assert_refused(result, f"{flag} {folders[given]}", f"pass it with {fits}")
    assert "max() arg" not in result.err and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("family", ["tirex2", "timesfm", "chronos2"])
@pytest.mark.parametrize("given, named", [("empty", "is an empty folder"), ("notes", "lacks")])
def test_when_a_flag_names_a_folder_with_no_checkpoint_then_the_sweep_exits_2_before_the_run_folder(
        family, given, named, folders, shared_data, tmp_path, capsys):
    flag = FAMILIES[family].flag
    result = run_cli(capsys, main, sweep_argv(tmp_path, shared_data, "BTCUSD", "--models", family, "naive", flag,
                                              folders[given]))
    assert_refused(result, f"{flag} {folders[given]}", named, f"holds no {family} checkpoint", "model.safetensors",
                   "or a hub id like")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("family", ["toto", "kronos", "toto2", "chronos2", "chronos-bolt", "timesfm", "tirex2",
                                    "fracast"])
def test_when_a_family_is_given_its_own_checkpoint_then_the_folder_is_accepted_and_recognised(family, folders):
    check_checkpoint_folder(family, FAMILIES[family].flag, folders[family])
    assert checkpoint_family_of(folders[family]) == family
    assert checkpoint_family_of(folders["empty"]) is checkpoint_family_of(folders["notes"]) is None


def test_when_the_kronos_tokenizer_folder_is_given_then_the_settings_accept_it(folders, tmp_path):
    settings = SweepSettings(symbols=("BTCUSD",), models=("kronos",), runs_dir=tmp_path / "runs",
                             output_dir=tmp_path / "hp", model_ids={"kronos": str(folders["kronos"])},
                             model_options={"kronos": {"tokenizer": str(folders["kronostraining"] / "tokenizer")}})
    assert settings.model_ids["kronos"] == str(folders["kronos"])


@pytest.mark.parametrize("family, given, limit", [("tirex2", "tirex2", 64), ("timesfm", "timesfm", 1024),
                                                  ("kronos", "kronostraining", 512)])
def test_when_the_horizon_passes_a_familys_limit_then_the_sweep_exits_2_before_the_run_folder(
        family, given, limit, folders, long_data, tmp_path, capsys):
    result = run_cli(capsys, main, sweep_argv(tmp_path, long_data, "LONG", "--models", family, "naive",
                                              FAMILIES[family].flag, folders[given], "--horizon", limit + 1))
    assert_refused(result, f"--horizon {limit + 1}", f"{family} forecasts at most {limit} bars",
                   f"pass --horizon {limit} or less, or leave {family} out of --models")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("family, given, limit", [("tirex2", "tirex2", 64), ("timesfm", "timesfm", 1024),
                                                  ("kronos", "kronostraining", 512), ("chronos2", "chronos2", None),
                                                  ("chronos-bolt", "chronos-bolt", None), ("toto2", "toto2", None),
                                                  ("toto", "toto", None), ("fracast", "fracast", None)])
def test_when_a_family_states_its_horizon_limit_then_a_horizon_up_to_it_passes(family, given, limit, folders):
    assert FAMILIES[family].horizon_limit(str(folders[given])) == limit
    check_horizon(family, limit or 10_000, str(folders[given]))
    if limit is not None:
        with pytest.raises(ConfigError, match=f"--horizon {limit + 1} .* {family} forecasts at most {limit} bars"):
            check_horizon(family, limit + 1, str(folders[given]))


def test_when_timesfm_is_a_hub_id_then_its_horizon_limit_is_the_packages_without_a_download():
    assert FAMILIES["timesfm"].horizon_limit("google/timesfm-2.5-200m-pytorch") == 1024
    assert FAMILIES["naive"].horizon_limit() is None


def test_when_a_backtest_horizon_passes_a_familys_limit_then_it_exits_2_before_the_run_folder(folders, long_data,
                                                                                                tmp_path, capsys):
    result = run_cli(capsys, main, ["backtest", "--folds", "2", *sweep_argv(tmp_path, long_data, "LONG", "--models",
                                                                            "tirex2", "naive", "--tirex2-model",
                                                                            folders["tirex2"], "--horizon", 65)])
    assert_refused(result, "--horizon 65", "tirex2 forecasts at most 64 bars")
    assert not (tmp_path / "runs").exists()
