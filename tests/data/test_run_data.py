"""`promote` and `report` read the data the run swept, and refuse data whose bars the run used have changed."""

import json
import shutil

import pandas as pd
import pytest

from sweep.cli import main

from conftest import assert_refused, run_cli, synthetic_frame, tree_digest, write_csv

FLAGS = ["--val-windows", "8", "--test-windows", "5", "--max-context-length", "128"]
#: The bars as they will be a day after the run: the run sees the first 1,500.
LATER = synthetic_frame(1524, seed=3)


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A naive sweep of TEST on its own data folder (not trainingdata/), and a pristine copy of that folder."""
    root = tmp_path_factory.mktemp("run-data")
    write_csv(root / "swept", "TEST", LATER.iloc[:1500])
    assert main(["--symbols", "TEST", "--models", "naive", "--n-trials", "3", "--data-dir", str(root / "swept"),
                 "--runs-dir", str(root / "runs"), "--output-dir", str(root / "hp"), "--run-id", "r", *FLAGS]) == 0
    shutil.copytree(root / "swept", root / "pristine")
    return root


@pytest.fixture
def run(swept, tmp_path, monkeypatch):
    """The swept run copied to a fresh folder, run from a working directory whose trainingdata/ holds other bars."""
    for name in ("swept", "runs", "hp"):
        shutil.copytree(swept / name, tmp_path / name)
    shutil.rmtree(tmp_path / "swept")
    shutil.copytree(swept / "pristine", tmp_path / "swept")
    monkeypatch.chdir(tmp_path)
    write_csv(tmp_path / "trainingdata", "TEST", synthetic_frame(1500, seed=99))  # not the run's data
    run_json = json.loads((tmp_path / "runs" / "r" / "run.json").read_text())
    run_json["data_dir"] = str(tmp_path / "swept")  # the copied run's folder, as the sweep would have recorded it
    (tmp_path / "runs" / "r" / "run.json").write_text(json.dumps(run_json))
    return tmp_path


def _promote(root, *extra):
    return ["promote", "--run", "r", "--output-dir", root / "hp", "--runs-dir", root / "runs", *extra]


def _report(root):
    return ["report", "--run", "r", "--output-dir", root / "hp", "--runs-dir", root / "runs"]


def _append_a_day(path):
    LATER.iloc[1500:].to_csv(path, mode="a", header=False, index=False)  # the old lines stay as written


def _nudge_one_close(frame):
    """Bar 1000's close 1 % higher (its high follows): one changed bar inside the run's span."""
    frame.loc[1000, "close"] *= 1.01
    frame.loc[1000, "high"] = max(frame.loc[1000, "high"], frame.loc[1000, "close"])


def _edit(path, change):
    frame = pd.read_csv(path, float_precision="round_trip")  # the other bars stay exactly as they were
    change(frame)
    frame.to_csv(path, index=False)


def test_when_a_run_records_its_data_then_run_json_names_the_folder_and_each_symbols_span(swept):
    recorded = json.loads((swept / "runs" / "r" / "run.json").read_text())
    assert recorded["data_dir"] == str(swept / "swept")
    span = recorded["data_spans"]["TEST"]
    assert span["n_bars"] == 1500 and span["last_bar"].startswith("2024-03-03T11:00")


def test_when_promote_is_given_no_data_dir_then_it_reviews_the_data_the_run_swept(run, capsys):
    assert run_cli(capsys, main, _promote(run)).code == 0
    best = json.loads((run / "hp" / "best" / "TEST.json").read_text())
    candidate = json.loads((run / "hp" / "candidates" / "r" / "TEST.json").read_text())
    assert best["promotion"]["test_on_review"]["data_fingerprint"] == candidate["provenance"]["data_fingerprint"]


def test_when_bars_were_appended_after_the_run_then_promote_reviews_todays_data(run, capsys):
    _append_a_day(run / "swept" / "TEST.csv")
    assert run_cli(capsys, main, _promote(run)).code == 0
    review = json.loads((run / "hp" / "best" / "TEST.json").read_text())["promotion"]["test_on_review"]
    assert review["data_range"]["last_bar"].startswith("2024-03-04T11:00")


@pytest.mark.parametrize("command", [_promote, _report])
def test_when_a_bar_the_run_used_changed_then_promote_and_report_refuse_naming_the_file_and_span(run, capsys,
                                                                                              command):
    _edit(run / "swept" / "TEST.csv", _nudge_one_close)
    before = tree_digest(run / "hp", run / "runs")
    result = run_cli(capsys, main, command(run))
    assert_refused(result, "TEST.csv", "2024-01-01T00:00:00+00:00 to 2024-03-03T11:00:00+00:00, 1500 bars",
                   "differ from the run's", "--data-dir")
    assert tree_digest(run / "hp", run / "runs") == before


def test_when_promote_is_pointed_at_other_data_then_it_refuses(run, capsys):
    result = run_cli(capsys, main, _promote(run, "--data-dir", run / "trainingdata"))
    assert_refused(result, "trainingdata/TEST.csv", "differ from the run's", str(run / "swept"))


def test_when_report_is_given_no_data_dir_then_it_reports_on_the_runs_own_bars(run, capsys):
    assert run_cli(capsys, main, _report(run)).code == 0
    first = (run / "runs" / "r" / "report" / "report.md").read_text()
    _append_a_day(run / "swept" / "TEST.csv")
    assert run_cli(capsys, main, _report(run)).code == 0  # appended bars are not the run's: the same windows
    assert (run / "runs" / "r" / "report" / "report.md").read_text() == first


def test_when_the_recorded_data_folder_is_gone_then_promote_names_it_and_data_dir(run, capsys):
    (run / "swept").rename(run / "moved")
    result = run_cli(capsys, main, _promote(run))
    assert_refused(result, str(run / "swept"), "run.json", "is not there any more", "--data-dir")
    assert run_cli(capsys, main, _promote(run, "--data-dir", run / "moved")).code == 0
