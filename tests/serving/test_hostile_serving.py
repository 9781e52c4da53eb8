"""Hostile input to serving and to the commands around it: predict and evaluate on other bars than the config was
tuned on, promote's dry run and run folder, a best path that is a folder, a refused report's folder, a best file
whose model block and config disagree, one-line download errors, symbol suggestions and the promote table.

A refused command exits 2 naming the value and the fix, prints no traceback, and changes no file
(:func:`conftest.tree_digest`); the harness is in ``conftest.py``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

import sweep.cli
from sweep.data.bars import load_ohlcv, validate_symbol
from sweep.errors import ConfigError
from sweep.serving.predict import load_predictor
from sweep.data.tuned_data import tuned_data_settings

from conftest import SHIPPED_DATA, assert_refused, run_cli, synthetic_frame, tree_digest, write_csv

NAIVE_SWEEP = ["--models", "naive", "--n-trials", "1", "--val-windows", "8", "--test-windows", "8"]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A finished persistence-only sweep of BTCUSD on hourly bars, promoted: runs/r1, hp/candidates/r1 and
    hp/best/BTCUSD.json. Tests that change it work on a copy (:func:`copied`)."""
    root = tmp_path_factory.mktemp("project")
    argv = ["--symbols", "BTCUSD", "--data-dir", SHIPPED_DATA, "--runs-dir", root / "runs", "--output-dir",
            root / "hp", "--run-id", "r1", *NAIVE_SWEEP, "--promote"]
    assert sweep.cli.main([str(a) for a in argv]) == 0
    assert (root / "hp" / "best" / "BTCUSD.json").is_file()
    return root


@pytest.fixture
def copied(project, tmp_path) -> Path:
    """A copy of :func:`project` this test may change."""
    return Path(shutil.copytree(project, tmp_path / "project"))


def _cli(capsys, *argv):
    return run_cli(capsys, sweep.cli.main, list(argv))


def _predict(capsys, root: Path, *extra, data_dir: Path = SHIPPED_DATA):
    return _cli(capsys, "predict", "--symbol", "BTCUSD", "--data-dir", data_dir, "--output-dir", root / "hp", *extra)


def _edit(path: Path, **changes) -> dict:
    document = {**json.loads(path.read_text()), **changes}
    path.write_text(json.dumps(document))
    return document


# 1. the bar frequency and gap policy a config was tuned on

def test_when_a_sweep_writes_candidates_then_they_and_the_best_record_freq_and_gap_policy(project):
    for path in (project / "hp/candidates/r1/BTCUSD.json", project / "hp/best/BTCUSD.json"):
        provenance = json.loads(path.read_text())["provenance"]
        assert (provenance["freq"], provenance["gap_policy"]) == ("1h", "error"), path


@pytest.mark.parametrize("flags, named", [
    (["--freq", "2h"], ["--freq 2h", "1h"]),
    (["--freq", "30min", "--gap-policy", "ffill"], ["--freq 30min", "1h"]),
    (["--gap-policy", "ffill"], ["--gap-policy ffill", "error"])])
def test_when_predict_is_given_other_bars_than_the_best_was_tuned_on_then_it_refuses(project, capsys, flags, named):
    before = tree_digest(project)
    result = _predict(capsys, project, *flags)
    assert_refused(result, *named, str(project / "hp/best/BTCUSD.json"), "Drop")
    assert tree_digest(project) == before


def test_when_the_best_was_tuned_on_2h_bars_then_predict_reads_2h_bars_without_flags(copied, tmp_path, capsys):
    _edit(copied / "hp/best/BTCUSD.json", provenance={"freq": "2h", "gap_policy": "error"})
    frame = synthetic_frame(200)
    frame["timestamp"] = pd.date_range("2024-01-01", periods=200, freq="2h", tz="UTC").astype(str)
    data = write_csv(tmp_path / "bars2h", "BTCUSD", frame).parent
    result = _predict(capsys, copied, "--json", data_dir=data)
    assert result.code == 0, result  # read at 1h, the 2h bars have a gap at every bar
    forecast = json.loads(result.out)
    assert forecast["last_bar_time"] == str(pd.Timestamp(frame["timestamp"].iloc[-1]))
    assert pd.Timestamp(forecast["origin_time"]) - pd.Timestamp(forecast["last_bar_time"]) == pd.Timedelta("2h")
    assert_refused(_predict(capsys, copied, "--freq", "1h", data_dir=data), "--freq 1h", "2h")
    assert _predict(capsys, copied, "--freq", "120min", data_dir=data).code == 0  # the same duration


def test_when_a_best_records_no_frequency_then_the_flags_or_1h_apply(copied, capsys):
    document = json.loads((copied / "hp/best/BTCUSD.json").read_text())
    document["provenance"] = {k: v for k, v in document["provenance"].items() if k not in ("freq", "gap_policy")}
    (copied / "hp/best/BTCUSD.json").write_text(json.dumps(document))
    assert tuned_data_settings(document, "best.json") == ("1h", "error")
    assert tuned_data_settings(document, "best.json", "2h", "ffill") == ("2h", "ffill")
    predictor = load_predictor("BTCUSD", copied / "hp", freq="2h", gap_policy="ffill")
    assert (predictor.freq, predictor.gap_policy) == ("2h", "ffill")
    assert _predict(capsys, copied).code == 0


def test_when_loaded_bars_have_another_frequency_than_the_best_then_predictor_refuses(project):
    predictor = load_predictor("BTCUSD", project / "hp")
    assert (predictor.freq, predictor.gap_policy) == ("1h", "error")
    with pytest.raises(ConfigError, match="tuned on 1h bars"):
        predictor.predict(load_ohlcv(SHIPPED_DATA, "BTCUSD", "2h"))
    with pytest.raises(ConfigError, match=r"--freq 2h differs from the bar frequency 1h"):
        load_predictor("BTCUSD", project / "hp", freq="2h")


def test_when_evaluate_is_given_another_frequency_than_the_candidate_then_it_refuses(project, capsys):
    candidate = project / "hp/candidates/r1/BTCUSD.json"
    before = tree_digest(project)
    result = _cli(capsys, "evaluate", "--symbol", "BTCUSD", "--config", candidate, "--data-dir", SHIPPED_DATA,
                  "--freq", "2h")
    assert_refused(result, "--freq 2h", "1h", str(candidate), "provenance.freq")
    result = _cli(capsys, "evaluate", "--symbol", "BTCUSD", "--config", candidate, "--data-dir", SHIPPED_DATA,
                  "--gap-policy", "drop")
    assert_refused(result, "--gap-policy drop", "error", str(candidate))
    assert tree_digest(project) == before


# 2. promote --dry-run and a run folder that does not exist

def test_when_promote_is_a_dry_run_then_it_writes_no_cache_entry_and_no_lock(copied, capsys):
    shutil.rmtree(copied / "runs/r1/cache")
    (copied / "hp/.promote.lock").unlink()
    before = tree_digest(copied)
    result = _cli(capsys, "promote", "--run", "r1", "--dry-run", "--data-dir", SHIPPED_DATA, "--output-dir",
                  copied / "hp", "--runs-dir", copied / "runs")
    assert result.code == 0, result
    assert tree_digest(copied) == before and not (copied / "runs/r1/cache").exists()


def test_when_the_runs_dir_does_not_exist_then_promote_does_not_create_it(copied, tmp_path, capsys):
    missing = tmp_path / "nonexist"
    result = _cli(capsys, "promote", "--run", "r1", "--data-dir", SHIPPED_DATA, "--output-dir", copied / "hp",
                  "--runs-dir", missing)
    assert result.code == 0, result
    assert not missing.exists()


# 3. a best path that is a folder

@pytest.mark.parametrize("holds_a_file", [False, True])
def test_when_the_best_path_is_a_folder_then_promote_refuses_before_any_review(copied, capsys, holds_a_file):
    best = copied / "hp/best/BTCUSD.json"
    best.unlink()
    best.mkdir()
    if holds_a_file:
        (best / "notes.txt").write_text("mine")
    before = tree_digest(copied)
    reviews = sorted((copied / "hp/reviews").iterdir())
    result = _cli(capsys, "promote", "--run", "r1", "--data-dir", SHIPPED_DATA, "--output-dir", copied / "hp",
                  "--runs-dir", copied / "runs")
    assert_refused(result, str(best), "is a folder", "move the folder")
    assert tree_digest(copied) == before and sorted((copied / "hp/reviews").iterdir()) == reviews


# 4. a refused report leaves no folder

def test_when_a_report_is_refused_for_missing_data_then_no_report_folder_is_left(copied, tmp_path, capsys):
    empty = tmp_path / "nodata"
    empty.mkdir()
    before = tree_digest(copied)
    result = _cli(capsys, "report", "--run", "r1", "--runs-dir", copied / "runs", "--output-dir", copied / "hp",
                  "--data-dir", empty)
    assert_refused(result, "BTCUSD")
    assert not (copied / "runs/r1/report").exists() and tree_digest(copied) == before
    deep = tmp_path / "new" / "deeper" / "report"
    result = _cli(capsys, "report", "--run", "r1", "--runs-dir", copied / "runs", "--output-dir", copied / "hp",
                  "--data-dir", empty, "--report-dir", deep)
    assert_refused(result, "BTCUSD")
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("inside", ["best", "candidates/r1/report"])
def test_when_the_report_dir_is_inside_best_or_candidates_then_report_refuses(copied, capsys, inside):
    before = tree_digest(copied)
    result = _cli(capsys, "report", "--run", "r1", "--runs-dir", copied / "runs", "--output-dir", copied / "hp",
                  "--data-dir", SHIPPED_DATA, "--report-dir", copied / "hp" / inside)
    assert_refused(result, f"--report-dir {copied / 'hp' / inside}", "choose a folder outside")
    assert tree_digest(copied) == before


# 5. smaller ones

def test_when_the_best_model_block_disagrees_with_its_config_then_predict_promote_and_export_refuse(copied, tmp_path,
                                                                                                   capsys):
    best = copied / "hp/best/BTCUSD.json"
    _edit(best, model={"family": "toto", "model_id": "persistence"})
    before = tree_digest(copied)
    named = (str(best), "names the family 'toto'", "'naive' config", "re-run `python -m sweep promote")
    assert_refused(_predict(capsys, copied), *named)
    assert_refused(_cli(capsys, "promote", "--run", "r1", "--data-dir", SHIPPED_DATA, "--output-dir",
                        copied / "hp", "--runs-dir", copied / "runs"), *named)
    assert_refused(_cli(capsys, "export", "--layout", "stock-prediction", "--output-dir", copied / "hp", "--to",
                        tmp_path / "out"), *named)
    assert tree_digest(copied) == before and not (tmp_path / "out").exists()


def test_when_a_candidate_is_copied_into_best_by_hand_then_predict_and_export_refuse_it(copied, tmp_path, capsys):
    best = copied / "hp/best/BTCUSD.json"
    shutil.copy(copied / "hp/candidates/r1/BTCUSD.json", best)  # no review: no promotion block
    before = tree_digest(copied)
    named = (str(best), "no `promotion` block", "python -m sweep promote --run r1 --symbols BTCUSD")
    assert_refused(_predict(capsys, copied), *named)
    assert_refused(_cli(capsys, "export", "--layout", "stock-prediction", "--output-dir", copied / "hp", "--to",
                        tmp_path / "out"), *named)
    assert tree_digest(copied) == before and not (tmp_path / "out").exists()


def test_when_a_hub_download_fails_then_the_message_is_one_line(tmp_path, capsys, monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # refused at once: the library's text has 2 lines
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    config = tmp_path / "toto.json"
    config.write_text(json.dumps({"model": "toto", "context_length": 64, "num_samples": 8, "aggregate": "mean"}))
    result = _cli(capsys, "evaluate", "--symbol", "BTCUSD", "--config", config, "--data-dir", SHIPPED_DATA,
                  "--toto-model", "Org/Nope")
    assert_refused(result, "--toto-model 'Org/Nope' could not be downloaded", code=1)
    assert len(result.err.strip().splitlines()) == 1, result.err


@pytest.mark.parametrize("value, example", [("", "BTCUSD"), ("../x", "BTCUSD"), ("/etc/x", "BTCUSD"),
                                            ("btc/usd", "BTCUSD"), ("eth-usd", "ETH-USD")])
def test_when_a_symbol_is_invalid_then_the_suggestion_is_a_valid_symbol(value, example, capsys):
    with pytest.raises(ConfigError, match=f"use e.g. '{example}'$"):
        validate_symbol(value)
    assert validate_symbol(example) == example
    assert_refused(_cli(capsys, "data", "validate", "--symbols", value, "--data-dir", SHIPPED_DATA),
                   f"use e.g. '{example}'")


def test_when_the_candidate_is_persistence_then_the_promote_table_shows_no_nan_mde(copied, capsys):
    (copied / "hp/best/BTCUSD.json").unlink()
    result = _cli(capsys, "promote", "--run", "r1", "--dry-run", "--data-dir", SHIPPED_DATA, "--output-dir",
                  copied / "hp", "--runs-dir", copied / "runs")
    assert result.code == 0, result
    assert "nan" not in result.out
    row = next(line for line in result.out.splitlines() if line.startswith("│ BTCUSD"))
    cells = [cell.strip() for cell in row.strip("│ ").split("│")]
    assert cells[-2] == "-", row  # MDE vs persistence: a persistence candidate has no differential (no best here)


def test_when_an_ensemble_member_disagrees_with_its_config_then_check_best_names_the_member(tmp_path):
    from sweep.scoring.ensemble import check_best

    naive = {"model": "naive", "context_length": 1, "num_samples": 1, "aggregate": "mean", "seed": 0}
    member = {"label": "toto", "model": {"family": "toto", "model_id": "t"}, "config": naive, "weight": 1.0}
    document = {"symbol": "BTCUSD", "model": {"family": "ensemble", "method": "lp"}, "config": {"members": [member]}}
    with pytest.raises(ConfigError, match="ensemble member 'toto''s model names the family 'toto' but its config is "
                                          "a 'naive' config"):
        check_best(document, tmp_path / "best" / "BTCUSD.json")


def test_when_a_report_fails_in_an_existing_folder_then_only_its_new_files_are_removed(tmp_path):
    from sweep.report._folder import removed_on_failure

    folder = tmp_path / "report"
    folder.mkdir()
    (folder / "old.png").write_text("old")
    with pytest.raises(ConfigError), removed_on_failure(folder):
        (folder / "plots").mkdir()
        (folder / "plots" / "new.png").write_text("new")
        (folder / "new.md").write_text("new")
        raise ConfigError("refused")
    assert sorted(p.name for p in folder.rglob("*")) == ["old.png"]
    with pytest.raises(ConfigError), removed_on_failure(tmp_path / "a" / "b"):
        (tmp_path / "a" / "b").mkdir(parents=True)
        raise ConfigError("refused")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]
