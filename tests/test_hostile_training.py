"""Hostile ``--output`` and numbers given to the three training jobs: refused up front with exit 2, disk untouched.

The refusals run with a ``--data-dir`` that does not exist: the output check comes before any data is loaded,
so the message is about ``--output``, never about the data.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from chronostraining.__main__ import main as chronos_main
from conftest import CliResult, assert_refused, run_cli, tree_digest
from kronostraining.__main__ import main as kronos_main
from sweep.checkpoint_output import KINDS, check_output, checkpoint_kind_of
from sweep.errors import ConfigError
from sweep.store import staged_folder
from tototraining.__main__ import main as toto_main

MAINS = {"toto": toto_main, "kronos": kronos_main, "chronos2": chronos_main}
#: Fast settings of each job (one step of a tiny scratch model).
FAST = {"toto": ["--batch-size", "2", "--context-length", "64"],
        "kronos": ["--batch-size", "2", "--context-length", "32"],
        "chronos2": ["--batch-size", "2"]}
WINDOWS = ["--val-windows", "8", "--test-windows", "8", "--max-context-length", "128"]
SENTINEL_STEPS = 999
JOBS = list(MAINS)


def argv(job: str, output: Path, data_dir: Path, *extra: str) -> list[str]:
    return ["--symbols", "BTCUSD", "--data-dir", str(data_dir), "--output", str(output), "--init", "scratch",
            "--preset", "tiny", "--steps", "1", *WINDOWS, *FAST[job], *extra]


def snapshot(root: Path) -> tuple[dict[str, str], list[str]]:
    """Every file's hash and every entry (empty folders too) under ``root``."""
    return tree_digest(root), sorted(str(p) for p in root.rglob("*"))


def parse_refused(capsys, main, args: list[str]) -> CliResult:
    """Run a job whose flags argparse refuses: it exits while parsing."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(args)
    out, err = capsys.readouterr()
    return CliResult(exited.value.code, out, err)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, tiny_toto_dir, tiny_kronos_dir) -> dict[str, Path]:
    """A checkpoint of each job, laid out as the job writes it (its record says ``steps: 999``)."""
    from sweep.forecasters.presets import save_random_checkpoint

    root = tmp_path_factory.mktemp("own")
    folders = {"toto": shutil.copytree(tiny_toto_dir, root / "toto"),
               "kronos": shutil.copytree(tiny_kronos_dir, root / "kronos"),
               "chronos2": save_random_checkpoint("chronos2", "tiny", root / "chronos2")}
    (folders["toto"] / "training.json").write_text(json.dumps({"steps": SENTINEL_STEPS}))
    (folders["chronos2"] / "training.json").write_text(json.dumps({"steps": SENTINEL_STEPS}))
    (folders["kronos"] / "kronos.json").write_text(json.dumps({"max_context": 512, "steps": SENTINEL_STEPS}))
    return {kind: Path(folder) for kind, folder in folders.items()}


def place(checkpoints: dict[str, Path], kind: str, where: Path) -> Path:
    return Path(shutil.copytree(checkpoints[kind], where))


def refuse(capsys, job: str, output: Path, tmp_path: Path, *extra: str) -> CliResult:
    """Run ``job`` into ``output``, asserting it changed nothing under ``tmp_path``."""
    before = snapshot(tmp_path)
    result = run_cli(capsys, MAINS[job], argv(job, output, tmp_path / "no-data", *extra))
    assert snapshot(tmp_path) == before, result
    return result


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
@pytest.mark.parametrize("job", JOBS)
def test_when_output_is_a_folder_of_other_files_then_it_is_refused_and_kept(job, overwrite, tmp_path, capsys):
    out = tmp_path / "mine"
    (out / "notes").mkdir(parents=True)
    (out / "results.csv").write_text("a,b\n1,2\n")
    (out / "notes" / "todo.txt").write_text("keep me")
    result = refuse(capsys, job, out, tmp_path, *overwrite)
    assert_refused(result, "--output", str(out), "results.csv", f"not a {KINDS[job].label} checkpoint",
                   "choose a new or empty --output")


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
@pytest.mark.parametrize("job", JOBS)
def test_when_output_is_a_file_then_it_is_refused_and_kept(job, overwrite, tmp_path, capsys):
    out = tmp_path / "model.bin"
    out.write_bytes(b"\x00" * 10)
    result = refuse(capsys, job, out, tmp_path, *overwrite)
    assert_refused(result, "--output", str(out), "a file of 10 bytes", "choose a new --output")


@pytest.mark.parametrize("job,other", [(j, o) for j in JOBS for o in JOBS if o != j])
def test_when_output_holds_another_jobs_checkpoint_then_even_overwrite_is_refused(job, other, checkpoints, tmp_path,
                                                                                  capsys):
    out = place(checkpoints, other, tmp_path / "ckpt")
    result = refuse(capsys, job, out, tmp_path, "--overwrite")
    assert_refused(result, str(out), f"holds a {KINDS[other].label} checkpoint written by {KINDS[other].command}",
                   f"not a {KINDS[job].label} one")


@pytest.mark.parametrize("job", JOBS)
def test_when_output_holds_its_own_checkpoint_without_overwrite_then_it_is_refused(job, checkpoints, tmp_path,
                                                                                   capsys):
    out = place(checkpoints, job, tmp_path / "ckpt")
    result = refuse(capsys, job, out, tmp_path)
    assert_refused(result, str(out), f"already holds a {KINDS[job].label} checkpoint",
                   "pass --overwrite to replace it, or choose a new --output")


@pytest.mark.parametrize("job", JOBS)
def test_when_its_own_checkpoint_holds_other_files_then_overwrite_is_refused(job, checkpoints, tmp_path, capsys):
    out = place(checkpoints, job, tmp_path / "ckpt")
    (out / "my-notes.md").write_text("results of the last run")
    result = refuse(capsys, job, out, tmp_path, "--overwrite")
    assert_refused(result, str(out), "my-notes.md", "--overwrite would delete")


@pytest.mark.parametrize("job", JOBS)
def test_when_the_parent_of_output_is_a_file_then_it_is_refused(job, tmp_path, capsys):
    (tmp_path / "plain").write_text("x")
    result = refuse(capsys, job, tmp_path / "plain" / "ckpt", tmp_path)
    assert_refused(result, str(tmp_path / "plain" / "ckpt"), f"{tmp_path / 'plain'} is a file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
@pytest.mark.parametrize("job", JOBS)
def test_when_the_parent_of_output_is_not_writable_then_it_is_refused(job, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        result = refuse(capsys, job, locked / "ckpt", tmp_path)
    finally:
        locked.chmod(0o755)
    assert_refused(result, str(locked / "ckpt"), "is not writable")


@pytest.mark.parametrize("job", JOBS)
def test_when_output_is_a_link_then_it_is_refused(job, tmp_path, capsys):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    result = refuse(capsys, job, tmp_path / "link", tmp_path, "--overwrite")
    assert_refused(result, str(tmp_path / "link"), "symbolic link")


@pytest.mark.parametrize("job", JOBS)
def test_when_init_lies_in_output_then_it_is_refused(job, checkpoints, tmp_path, capsys):
    out = place(checkpoints, job, tmp_path / "ckpt")
    args = argv(job, out, tmp_path / "no-data", "--overwrite")
    args[args.index("--init") + 1] = str(out)
    before = snapshot(tmp_path)
    result = run_cli(capsys, MAINS[job], args)
    assert snapshot(tmp_path) == before
    assert_refused(result, "--init", str(out), "choose a new --output")


@pytest.mark.parametrize("steps", ["0", "-1"])
@pytest.mark.parametrize("job", JOBS)
def test_when_steps_is_below_one_then_it_is_refused_while_parsing(job, steps, tmp_path, capsys):
    args = argv(job, tmp_path / "ckpt", tmp_path / "no-data")
    args[args.index("--steps") + 1] = steps
    result = parse_refused(capsys, MAINS[job], args)
    assert_refused(result, "argument --steps", f"got {steps}", ">= 1")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("job,flag,value", [
    ("toto", "--batch-size", "0"), ("toto", "--context-length", "-4"), ("toto", "--lr", "0"),
    ("toto", "--folds", "0"), ("kronos", "--tokenizer-steps", "0"), ("kronos", "--batch-size", "-1"),
    ("kronos", "--max-context", "0"), ("kronos", "--lr", "nan"), ("chronos2", "--batch-size", "0"),
    ("chronos2", "--lr", "-0.5"), ("chronos2", "--folds", "x")])
def test_when_a_number_flag_is_out_of_range_then_it_is_refused_while_parsing(job, flag, value, tmp_path, capsys):
    result = parse_refused(capsys, MAINS[job], argv(job, tmp_path / "ckpt", tmp_path / "no-data", flag, value))
    named = f"'{value}' is not" if value == "x" else f"got {value}"
    assert_refused(result, f"argument {flag}", named)


@pytest.mark.parametrize("job", JOBS)
def test_when_its_own_checkpoint_is_overwritten_then_it_is_replaced_whole(job, checkpoints, shared_data, tmp_path,
                                                                         capsys):
    out = place(checkpoints, job, tmp_path / "ckpt")
    result = run_cli(capsys, MAINS[job], argv(job, out, shared_data, "--overwrite"))
    assert result.code == 0, result
    record = "kronos.json" if job == "kronos" else "training.json"
    assert json.loads((out / record).read_text())["steps"] == 1  # the new training's record, not the old one
    assert checkpoint_kind_of(out) == job
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]  # staging and old folders are gone


def test_when_staged_folder_meets_a_file_or_a_link_to_one_then_it_refuses_before_writing(tmp_path):
    (tmp_path / "file").write_text("keep")
    (tmp_path / "link").symlink_to(tmp_path / "file")
    before = snapshot(tmp_path)
    for target in ("file", "link"):
        with pytest.raises(ConfigError, match="never replaced"):
            with staged_folder(tmp_path / target):
                pass
    assert snapshot(tmp_path) == before


def test_when_staged_folder_replaces_a_folder_then_a_users_hidden_old_folder_is_kept(tmp_path):
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "old.txt").write_text("old")
    (tmp_path / ".ckpt.old").mkdir()  # named as the previous version's temporary folder was
    (tmp_path / ".ckpt.old" / "precious.txt").write_text("mine")
    with staged_folder(tmp_path / "ckpt") as staging:
        (staging / "new.txt").write_text("new")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["new.txt"]
    assert (tmp_path / ".ckpt.old" / "precious.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ckpt.old", "ckpt"]


def test_when_output_is_new_empty_or_its_own_with_overwrite_then_it_is_accepted_unchanged(checkpoints, tmp_path,
                                                                                         monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    own = place(checkpoints, "kronos", tmp_path / "own")
    before = snapshot(tmp_path)
    assert check_output("new/deeper", "toto") == tmp_path / "new" / "deeper"
    assert check_output("empty/../empty", "chronos2") == tmp_path / "empty"
    assert check_output(own, "kronos", overwrite=True) == own
    assert snapshot(tmp_path) == before


def test_when_a_checkpoints_record_is_not_json_then_it_is_no_checkpoint(checkpoints, tmp_path):
    out = place(checkpoints, "toto", tmp_path / "ckpt")
    assert checkpoint_kind_of(out) == "toto"
    (out / "config.json").write_text("{not json")
    assert checkpoint_kind_of(out) is None
    with pytest.raises(ConfigError, match="not a Toto checkpoint"):
        check_output(out, "toto", overwrite=True)


def test_when_output_is_the_root_folder_then_it_is_refused():
    with pytest.raises(ConfigError, match="root folder"):
        check_output("/", "toto", overwrite=True)
