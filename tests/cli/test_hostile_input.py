"""Hostile input to the sweep's own commands: every case exits 2 (or works, where the input is valid) with a
message naming the value, no traceback, and no existing file changed.

The trainers' ``--output`` cases are in ``test_hostile_training.py``, ``export``'s in ``test_hostile_export.py``
and changed or moved checkpoints in ``test_hostile_checkpoints.py``; all use the harness in ``conftest.py``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from sweep.cli import exit_code_of, main

from conftest import SHIPPED_DATA, assert_refused, run_cli, tree_digest

NAIVE = ["--models", "naive", "--n-trials", "1", "--val-windows", "8", "--test-windows", "8"]


def sweep_argv(root: Path, *extra: str, symbols=("BTCUSD",), run_id: str = "r1") -> list[str]:
    return ["--symbols", *symbols, "--data-dir", SHIPPED_DATA, "--runs-dir", root / "runs",
            "--output-dir", root / "hp", "--run-id", run_id, *extra]


@pytest.fixture(scope="module")
def promoted(tmp_path_factory) -> Path:
    """A finished persistence-only sweep of BTCUSD, promoted: runs/r1 and hp/best/BTCUSD.json exist."""
    root = tmp_path_factory.mktemp("project")
    assert main([str(a) for a in sweep_argv(root, *NAIVE, "--promote")]) == 0
    assert (root / "hp" / "best" / "BTCUSD.json").is_file()
    return root


def test_when_a_resume_is_refused_then_the_run_folder_and_hyperparams_are_unchanged(promoted, capsys):
    # another driver's record, which a refused command must not replace with its own (same pid in-process)
    (promoted / "runs" / "r1" / "driver.json").write_text('{"pid": 1, "host": "elsewhere"}')
    before = tree_digest(promoted)
    result = run_cli(capsys, main, sweep_argv(promoted, *NAIVE[:-4], "--val-windows", "9", "--test-windows", "8"))
    assert_refused(result, "r1", "different windows")
    assert tree_digest(promoted) == before  # driver.json included: a refused command records no driver


@pytest.mark.parametrize("url, scheme", [("postgres://user:secret@db/sweep", "postgres"), ("bogus://x/y", "bogus"),
                                         ("oracle://u@h/d", "oracle")])
def test_when_storage_has_a_scheme_sqlalchemy_or_optuna_lacks_then_nothing_is_written(url, scheme, tmp_path, capsys,
                                                                                      monkeypatch):
    monkeypatch.chdir(tmp_path)  # the old behaviour wrote a journal named after the URL here
    result = run_cli(capsys, main, sweep_argv(tmp_path, *NAIVE, "--storage", url))
    assert_refused(result, "--storage", f"unknown database scheme '{scheme}'")
    assert "secret" not in result.err and list(tmp_path.iterdir()) == []


def test_when_storage_names_postgres_then_the_fix_is_postgresql(tmp_path, capsys):
    result = run_cli(capsys, main, sweep_argv(tmp_path, *NAIVE, "--storage", "postgres://u:pw@db/sweep"))
    assert_refused(result, "postgres://u:***@db/sweep", "did you mean postgresql://")


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "sqlite+pysqlite:///:memory:",
                                 "sqlite:///file::memory:?cache=shared&uri=true",
                                 "sqlite:///file:studies?mode=memory&cache=shared&uri=true"])
def test_when_storage_is_an_in_memory_sqlite_then_it_is_refused_before_any_work(url, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # without uri=true, SQLite would create a file named 'file::memory:' here
    result = run_cli(capsys, main, sweep_argv(tmp_path, *NAIVE, "--storage", url))
    assert_refused(result, url, "in-memory SQLite", "sqlite:///path/to/studies.db")
    assert list(tmp_path.iterdir()) == []  # no run folder: a rerun would have silently started from zero


def test_when_a_storage_driver_is_missing_then_it_is_named(tmp_path, capsys):
    result = run_cli(capsys, main, sweep_argv(tmp_path, *NAIVE, "--storage", "mysql+nosuchdriver://u@h/d"))
    assert_refused(result, "mysql+nosuchdriver://u@h/d", "driver cannot be loaded")


def test_when_storage_is_a_folder_then_it_is_refused(tmp_path, capsys):
    result = run_cli(capsys, main, sweep_argv(tmp_path, *NAIVE, "--storage", tmp_path))
    assert_refused(result, "--storage", "is a folder")


def test_when_report_storage_is_mistyped_then_it_is_refused(promoted, capsys):
    before = tree_digest(promoted)
    result = run_cli(capsys, main, ["report", "--run", "r1", "--runs-dir", promoted / "runs", "--output-dir",
                                    promoted / "hp", "--storage", "postgress://db/x"])
    assert_refused(result, "postgress://db/x")
    assert tree_digest(promoted) == before


@pytest.mark.parametrize("windows, named", [
    (["--val-windows", "8", "--test-windows", "2", "--test-stride", "24"], "--test-windows 2 holds 2 test origin"),
    (["--val-windows", "4", "--test-windows", "8"], "--val-windows 4"),
    (["--val-windows", "8", "--test-windows", "8", "--test-stride", "5"], "--test-stride 5 must divide --stride 24"),
    (["--val-windows", "8", "--test-windows", "8", "--horizon", "0"], "--horizon must be a positive integer"),
])
def test_when_windows_leave_too_few_origins_then_the_sweep_refuses_before_any_work(windows, named, tmp_path, capsys):
    result = run_cli(capsys, main, sweep_argv(tmp_path, "--models", "naive", *windows))
    assert_refused(result, named)
    assert not tmp_path.joinpath("runs").exists() and not tmp_path.joinpath("hp").exists()


def test_when_max_context_is_below_the_grid_then_the_sweep_refuses(tmp_path, capsys):
    result = run_cli(capsys, main, sweep_argv(tmp_path, "--models", "toto", "naive", "--max-context-length", "10"))
    assert_refused(result, "--max-context-length 10", "64")
    assert not tmp_path.joinpath("runs").exists()


@pytest.mark.parametrize("flag, value, named", [("--timeout", "0", "--timeout"), ("--finetune-steps", "0",
                                                "--finetune-steps"), ("--n-trials", "0", "--n-trials"),
                                                ("--alpha", "0.7", "--alpha"), ("--run-id", "../x", "'../x'"),
                                                ("--seed", "-1", "--seed")])
def test_when_a_number_or_name_is_out_of_range_then_the_sweep_refuses(flag, value, named, tmp_path, capsys):
    result = run_cli(capsys, main, sweep_argv(tmp_path, *NAIVE, flag, value))
    assert_refused(result, named)
    assert not tmp_path.joinpath("runs").exists()


@pytest.mark.parametrize("flag", ["--output-dir", "--runs-dir"])
def test_when_an_output_folder_is_a_file_then_the_sweep_refuses(flag, tmp_path, capsys):
    blocker = tmp_path / "occupied"
    blocker.write_text("mine")
    argv = sweep_argv(tmp_path, *NAIVE)
    argv[argv.index(flag) + 1] = blocker / "sub" if flag == "--runs-dir" else blocker
    result = run_cli(capsys, main, argv)
    assert_refused(result, flag, str(blocker))
    assert blocker.read_text() == "mine"


def test_when_a_symbol_is_named_twice_then_it_runs_once_with_a_warning(tmp_path, capsys, caplog):
    result = run_cli(capsys, main, sweep_argv(tmp_path, *NAIVE, symbols=("BTCUSD", "BTCUSD")))
    assert result.code == 0, result
    assert "--symbols names BTCUSD more than once" in caplog.text  # pytest's handler holds the log records
    assert [p.name for p in (tmp_path / "hp" / "candidates" / "r1").glob("*.json")] == ["BTCUSD.json"]


def test_when_validation_windows_are_few_then_the_sweep_warns_about_power(tmp_path, capsys, caplog):
    result = run_cli(capsys, main, sweep_argv(tmp_path, "--models", "naive", "--val-windows", "5",
                                              "--test-windows", "8"))
    assert result.code == 0, result
    assert "--val-windows 5" in caplog.text and "mostly luck" in caplog.text


@pytest.fixture
def flipped_data(tmp_path) -> Path:
    """BTCUSD.csv.gz with 40 flipped bytes inside its deflate stream."""
    raw = bytearray((SHIPPED_DATA / "BTCUSD.csv.gz").read_bytes())
    raw[5000:5040] = bytes(b ^ 0xFF for b in raw[5000:5040])
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "BTCUSD.csv.gz").write_bytes(bytes(raw))
    return folder


def test_when_a_gzip_file_is_corrupt_then_validate_and_sweep_name_it(flipped_data, tmp_path, capsys):
    path = str(flipped_data / "BTCUSD.csv.gz")
    assert_refused(run_cli(capsys, main, ["data", "validate", "--symbols", "BTCUSD", "--data-dir", flipped_data]),
                   path, "corrupt or truncated")
    argv = sweep_argv(tmp_path, *NAIVE)
    argv[argv.index("--data-dir") + 1] = flipped_data
    assert_refused(run_cli(capsys, main, argv), path, "corrupt or truncated")
    assert not tmp_path.joinpath("runs").exists()


@pytest.mark.parametrize("at, named", [("yesterday-ish", "--at 'yesterday-ish' is not a date"),
                                       ("2024-03-01T10:30:00Z", "--at must be the open time of a bar")])
def test_when_predict_at_is_not_a_bar_open_time_then_it_is_refused(at, named, promoted, capsys):
    result = run_cli(capsys, main, ["predict", "--symbol", "BTCUSD", "--data-dir", SHIPPED_DATA,
                                    "--output-dir", promoted / "hp", "--at", at])
    assert_refused(result, named)


@pytest.mark.parametrize("command", [["predict", "--symbol", "FOO/BAR"], ["evaluate", "--symbol", "FOO/BAR",
                                                                        "--config", "x.json"],
                                     ["data", "validate", "--symbols", "FOO/BAR"],
                                     ["promote", "--run", "r1", "--symbols", "FOO/BAR"]])
def test_when_a_symbol_is_a_path_then_every_command_refuses_it(command, promoted, capsys):
    before = tree_digest(promoted)
    result = run_cli(capsys, main, [*command, "--output-dir", promoted / "hp"] if command[0] in ("predict", "promote")
                     else command)
    assert_refused(result, "'FOO/BAR'", "[A-Z0-9._-]+")
    assert tree_digest(promoted) == before


def test_when_a_config_aggregate_is_ambiguous_then_evaluate_refuses(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model": "toto", "context_length": 64, "num_samples": 16,
                                  "aggregate": "quantile_1.5"}))
    result = run_cli(capsys, main, ["evaluate", "--symbol", "BTCUSD", "--config", config, "--data-dir",
                                    SHIPPED_DATA])
    assert_refused(result, "quantile_1.5", "quantile_0.015")


@pytest.mark.parametrize("config", ["folder", "binary"])
def test_when_evaluate_config_is_not_a_json_file_then_it_is_refused(config, tmp_path, capsys):
    path = tmp_path / config
    path.mkdir() if config == "folder" else path.write_bytes(b"\xff\xfe\x00garbage")
    result = run_cli(capsys, main, ["evaluate", "--symbol", "BTCUSD", "--config", path])
    assert_refused(result, str(path))


def test_when_download_since_is_not_a_date_then_nothing_is_fetched(tmp_path, capsys):
    result = run_cli(capsys, main, ["data", "download", "--symbols", "BTCUSD", "--data-dir", tmp_path / "d",
                                    "--since", "last tuesday"])
    assert_refused(result, "--since 'last tuesday'")
    assert not (tmp_path / "d").exists()


def test_when_a_command_hits_a_bug_then_one_line_names_the_log_with_the_traceback(crash_logs, capsys):
    before = set(crash_logs.iterdir())
    code = exit_code_of(lambda: {}["no such key"])
    err = capsys.readouterr().err
    (log,) = set(crash_logs.iterdir()) - before
    assert code == 1 and "Traceback" not in err
    assert "unexpected KeyError" in err and str(log) in err
    assert "Traceback" in log.read_text() and "no such key" in log.read_text()


def test_when_the_log_folder_cannot_be_written_then_the_message_still_comes(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("SWEEP_LOG_DIR", str(blocker / "logs"))  # under a file: mkdir fails
    assert exit_code_of(lambda: 1 / 0) == 1
    err = capsys.readouterr().err
    assert "unexpected ZeroDivisionError" in err and f"traceback is in {tempfile.gettempdir()}" in err


@pytest.mark.parametrize("command", [["promote", "--run", "../r1"], ["report", "--run", "../../etc"]])
def test_when_a_run_id_is_a_path_then_promote_and_report_refuse_it(command, promoted, capsys):
    before = tree_digest(promoted)
    result = run_cli(capsys, main, [*command, "--output-dir", promoted / "hp", "--runs-dir", promoted / "runs"])
    assert_refused(result, f"--run '{command[2]}' is invalid")
    assert tree_digest(promoted) == before


@pytest.mark.parametrize("flag", ["--toto-model", "--kronos-model", "--chronos2-model"])
def test_when_a_checkpoint_flag_names_neither_a_folder_nor_a_hub_id_then_no_run_folder_is_made(flag, tmp_path,
                                                                                              capsys):
    model = {"--toto-model": "toto", "--kronos-model": "kronos", "--chronos2-model": "chronos2"}[flag]
    result = run_cli(capsys, main, sweep_argv(tmp_path, "--models", model, "--val-windows", "8", "--test-windows",
                                              "8", flag, tmp_path / "no-such-checkpoint"))
    assert_refused(result, flag, "no-such-checkpoint", "neither an existing checkpoint folder")
    assert not tmp_path.joinpath("runs").exists()


# --- a resume never mixes incomparable trials, wherever the run's settings are recorded -----------------------


def _with(argv: list, flag: str, value: str) -> list:
    """``argv`` with ``flag``'s value replaced."""
    argv = list(argv)
    argv[argv.index(flag) + 1] = value
    return argv


def test_when_a_shared_storage_is_resumed_from_another_runs_dir_then_its_studies_refuse_other_settings(tmp_path,
                                                                                                      capsys):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    first = sweep_argv(tmp_path / "a", *NAIVE, "--storage", storage, run_id="sq")
    assert run_cli(capsys, main, first).code == 0
    before = tree_digest(tmp_path)
    elsewhere = sweep_argv(tmp_path / "b", *_with(NAIVE, "--val-windows", "12"), "--seed", "5", "--storage", storage,
                           run_id="sq")
    result = run_cli(capsys, main, elsewhere)
    assert_refused(result, "'sq/BTCUSD.naive'", "val_windows 8 recorded, 12 now", "seed (0 recorded, 5 now)")
    assert tree_digest(tmp_path) == before and not (tmp_path / "b").exists()  # no run folder, database unchanged
    same = sweep_argv(tmp_path / "b", *NAIVE, "--storage", storage, run_id="sq")
    assert run_cli(capsys, main, same).code == 0  # the same settings resume from any runs folder


def test_when_run_json_is_deleted_then_the_runs_journal_studies_refuse_other_settings(tmp_path, capsys):
    assert run_cli(capsys, main, sweep_argv(tmp_path, *NAIVE)).code == 0
    (tmp_path / "runs" / "r1" / "run.json").unlink()
    before = tree_digest(tmp_path)
    result = run_cli(capsys, main, sweep_argv(tmp_path, *_with(NAIVE, "--val-windows", "12")))
    assert_refused(result, "'BTCUSD.naive'", "optuna.journal", "val_windows 8 recorded, 12 now")
    assert tree_digest(tmp_path) == before


def test_when_a_shared_storage_study_predates_recorded_settings_then_the_run_resumes(tmp_path, capsys):
    import optuna

    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    optuna.create_study(storage=storage, study_name="old/BTCUSD.naive")  # as written before studies recorded them
    result = run_cli(capsys, main, sweep_argv(tmp_path, *NAIVE, "--storage", storage, run_id="old"))
    assert result.code == 0, result
    recorded = optuna.load_study(study_name="old/BTCUSD.naive", storage=storage).user_attrs["run_settings"]
    assert recorded["windows"]["val_windows"] == 8 and recorded["storage"] == storage  # recorded from now on


@pytest.mark.parametrize("first_storage", [True, False])
def test_when_a_resume_names_another_storage_then_it_is_refused(first_storage, tmp_path, capsys):
    storage = ["--storage", f"sqlite:///{tmp_path / 'x.db'}"]
    first, then = (storage, []) if first_storage else ([], storage)
    assert run_cli(capsys, main, sweep_argv(tmp_path, *NAIVE, *first)).code == 0
    before = tree_digest(tmp_path)
    result = run_cli(capsys, main, sweep_argv(tmp_path, *NAIVE, *then))
    recorded = f"'{storage[1]}' recorded, None now" if first_storage else f"None recorded, '{storage[1]}' now"
    assert_refused(result, "different storage", recorded)
    assert tree_digest(tmp_path) == before  # the candidates are not overwritten by empty studies' results


@pytest.mark.parametrize("extra, named", [
    (["--ensemble", "lp"], ["ensemble (None recorded, 'lp' now)"]),
    (["--ensemble", "greedy", "--promote-candidate", "ensemble"],
     ["promote_candidate ('selected' recorded, 'ensemble' now)", "ensemble (None recorded, 'greedy' now)"]),
    (["--select", "best"], ["select (['significant'] recorded, ['best'] now)"]),
    (["--select-alpha", "0.05"], ["select_alpha (0.1 recorded, 0.05 now)"]),
])
def test_when_a_resume_changes_the_promotion_candidate_ensemble_or_selection_rule_then_it_is_refused(extra, named, promoted,
                                                                                       capsys):
    before = tree_digest(promoted)
    result = run_cli(capsys, main, sweep_argv(promoted, *NAIVE, *extra))
    assert_refused(result, "'r1'", *named)
    assert tree_digest(promoted) == before


TOTO = ["--models", "toto", "--n-trials", "1", "--max-context-length", "64", "--val-windows", "8",
        "--test-windows", "8"]


def test_when_a_checkpoint_folder_is_spelled_otherwise_then_the_run_resumes_and_another_folder_is_named(
        tiny_toto_dir, tmp_path, capsys, monkeypatch):
    import shutil

    root = tmp_path / "project"
    assert run_cli(capsys, main, sweep_argv(root, *TOTO, "--toto-model", tiny_toto_dir)).code == 0
    monkeypatch.chdir(tiny_toto_dir.parent)
    link = tmp_path / "linked"
    link.symlink_to(tiny_toto_dir, target_is_directory=True)
    for spelling in (f"{tiny_toto_dir}/", tiny_toto_dir.name, link):
        result = run_cli(capsys, main, sweep_argv(root, *TOTO, "--toto-model", spelling))
        assert result.code == 0, (spelling, result)
    other = shutil.copytree(tiny_toto_dir, tmp_path / "toto-copy")
    before = tree_digest(root)
    result = run_cli(capsys, main, sweep_argv(root, *TOTO, "--toto-model", other))
    assert_refused(result, "different toto_model", f"recorded, '{other}' now", "the checkpoint of toto")
    assert tree_digest(root) == before


@pytest.mark.parametrize("content", ["[]", "{}", '{"windows": null}', "not json {", "incomplete windows"])
@pytest.mark.parametrize("command", ["sweep", "report", "promote"])
def test_when_run_json_is_corrupt_then_every_reader_names_it_and_changes_nothing(content, command, promoted,
                                                                                  tmp_path, capsys):
    import shutil

    root = Path(shutil.copytree(promoted, tmp_path / "project"))
    run_json = root / "runs" / "r1" / "run.json"
    if content == "incomplete windows":
        content = json.dumps({**json.loads(run_json.read_text()), "windows": {"horizon": 1}})
    run_json.write_text(content)
    before = tree_digest(root)
    places = ["--runs-dir", root / "runs", "--output-dir", root / "hp"]
    argv = {"sweep": sweep_argv(root, *NAIVE), "report": ["report", "--run", "r1", *places],
            "promote": ["promote", "--run", "r1", "--data-dir", SHIPPED_DATA, *places]}[command]
    result = run_cli(capsys, main, argv)
    assert_refused(result, str(run_json), "restore it, or start a new run with a new --run-id")
    assert "unexpected" not in result.err
    assert tree_digest(root) == before


def test_when_an_error_is_raised_while_ctrl_c_unwinds_then_it_is_an_interrupt_not_a_bug(crash_logs, capsys):
    def lock_released_half_taken():  # what Optuna's journal lock does when Ctrl-C lands inside its rename
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise FileNotFoundError(2, "No such file or directory", "optuna.journal.lock.rename")

    before = set(crash_logs.iterdir())
    assert exit_code_of(lock_released_half_taken) == 130
    assert "rerun the same command" in capsys.readouterr().err and set(crash_logs.iterdir()) == before


def test_when_the_selection_rules_level_is_invalid_then_the_sweep_exits_2_naming_it(tmp_path, capsys):
    result = run_cli(capsys, main, sweep_argv(tmp_path, *NAIVE, "--select-alpha", "0.5"))
    assert_refused(result, "--select-alpha", "0.5")
    assert not (tmp_path / "runs").exists()
