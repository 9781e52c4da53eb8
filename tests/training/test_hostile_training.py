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
from sweep.forecasters.checkpoint_output import check_init, check_output, checkpoint_kind_of, checkpoint_kinds
from sweep.errors import ConfigError
from sweep.storage.store import staged_folder
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
    assert_refused(result, "--output", str(out), "results.csv", f"not a {checkpoint_kinds()[job].label} checkpoint",
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
    assert_refused(result, str(out), f"holds a {checkpoint_kinds()[other].label} checkpoint written by {checkpoint_kinds()[other].command}",
                   f"not a {checkpoint_kinds()[job].label} one")


@pytest.mark.parametrize("job", JOBS)
def test_when_output_holds_its_own_checkpoint_without_overwrite_then_it_is_refused(job, checkpoints, tmp_path,
                                                                                   capsys):
    out = place(checkpoints, job, tmp_path / "ckpt")
    result = refuse(capsys, job, out, tmp_path)
    assert_refused(result, str(out), f"already holds a {checkpoint_kinds()[job].label} checkpoint",
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


def with_init(job: str, output: Path, data_dir: Path, init: str, *extra: str) -> list[str]:
    """:func:`argv` with ``--init init``."""
    args = argv(job, output, data_dir, *extra)
    args[args.index("--init") + 1] = init
    return args


def refuse_init(capsys, job: str, tmp_path: Path, init: str, *extra: str) -> CliResult:
    """Run ``job`` from ``init`` on a ``--data-dir`` that does not exist, asserting nothing under ``tmp_path``
    changed: a refusal of the start comes before any data is loaded."""
    before = snapshot(tmp_path)
    result = run_cli(capsys, MAINS[job], with_init(job, tmp_path / "ckpt", tmp_path / "no-data", init, *extra))
    assert snapshot(tmp_path) == before, result
    return result


@pytest.mark.parametrize("seed", ["-1", "99999999999", "2147483648"])
@pytest.mark.parametrize("job", JOBS)
def test_when_seed_is_out_of_range_then_it_is_refused_while_parsing(job, seed, tmp_path, capsys):
    result = parse_refused(capsys, MAINS[job], argv(job, tmp_path / "ckpt", tmp_path / "no-data", "--seed", seed))
    assert_refused(result, "argument --seed", f"got {seed}", "from 0 to 2147483647")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["missing", "file", "empty folder", "empty string", "broken link"])
@pytest.mark.parametrize("job", JOBS)
def test_when_init_is_no_checkpoint_then_it_is_refused_naming_init(job, where, tmp_path, capsys):
    (tmp_path / "weights.bin").write_bytes(b"\x00" * 4)
    (tmp_path / "empty").mkdir()
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    init = {"missing": str(tmp_path / "nonexist"), "file": str(tmp_path / "weights.bin"),
            "empty folder": str(tmp_path / "empty"), "empty string": "", "broken link": str(tmp_path / "dangling")}[where]
    said = {"missing": "neither an existing folder nor a Hugging Face id", "file": "is a file",
            "empty folder": "without config.json, model.safetensors", "empty string": "--init is empty",
            "broken link": "a symbolic link to nothing"}[where]
    result = refuse_init(capsys, job, tmp_path, init)
    assert_refused(result, f"--init {init}".strip(), said, "pass 'scratch', a", "or a Hugging Face id like")
    assert not any(flag in result.err for flag in ("--toto-model", "--kronos-model", "--chronos2-model"))


@pytest.mark.parametrize("job,other", [(j, o) for j in JOBS for o in JOBS if o != j])
def test_when_init_is_another_jobs_checkpoint_then_it_is_refused_naming_its_kind(job, other, checkpoints, tmp_path,
                                                                                capsys):
    start = place(checkpoints, other, tmp_path / "start")
    result = refuse_init(capsys, job, tmp_path, str(start))
    assert_refused(result, f"--init {start}", f"holds a {checkpoint_kinds()[other].label} checkpoint written by "
                   f"{checkpoint_kinds()[other].command}", f"not a {checkpoint_kinds()[job].label} checkpoint")


def test_when_init_tokenizer_does_not_exist_with_scratch_then_it_is_refused(tmp_path, capsys):
    result = refuse_init(capsys, "kronos", tmp_path, "scratch", "--init-tokenizer", str(tmp_path / "nonexist"))
    assert_refused(result, "--init-tokenizer", str(tmp_path / "nonexist"), "neither an existing folder",
                   "a Kronos tokenizer folder")


def test_when_init_tokenizer_is_given_with_scratch_then_it_is_refused_as_meaningless(tiny_kronos_dir, tmp_path,
                                                                                   capsys):
    tokenizer = str(tiny_kronos_dir / "tokenizer")
    result = refuse_init(capsys, "kronos", tmp_path, "scratch", "--init-tokenizer", tokenizer)
    assert_refused(result, f"--init-tokenizer {tokenizer}", "has no effect with --init scratch",
                   "drop --init-tokenizer")


def test_when_init_tokenizer_is_a_whole_kronos_checkpoint_then_its_tokenizer_folder_is_named(tiny_kronos_dir,
                                                                                           tmp_path, capsys):
    result = refuse_init(capsys, "kronos", tmp_path, str(tiny_kronos_dir / "predictor"), "--init-tokenizer",
                         str(tiny_kronos_dir))
    assert_refused(result, f"--init-tokenizer {tiny_kronos_dir}", "holds a Kronos checkpoint",
                   str(tiny_kronos_dir / "tokenizer"))


@pytest.mark.parametrize("init", ["predictor folder", "nobody/unknown-kronos"])
def test_when_kronos_init_has_no_known_tokenizer_then_it_is_refused_up_front(init, tiny_kronos_dir, tmp_path,
                                                                           capsys):
    init = str(tiny_kronos_dir / "predictor") if init == "predictor folder" else init
    result = refuse_init(capsys, "kronos", tmp_path, init)
    assert_refused(result, f"--init {init}", "has no known tokenizer", "pass --init-tokenizer")
    assert "--kronos-tokenizer" not in result.err


@pytest.mark.parametrize("extra,named", [
    (["--context-length", "600"], ["--context-length 600 exceeds 512", "--max-context 600"]),
    (["--context-length", "64", "--max-context", "32"], ["--context-length 64 exceeds --max-context 32"]),
    (["--no-train-tokenizer"], ["--init scratch needs the tokenizer trained", "drop --no-train-tokenizer"])])
def test_when_kronos_flags_contradict_then_they_are_refused_before_the_data(extra, named, tmp_path, capsys):
    assert_refused(refuse_init(capsys, "kronos", tmp_path, "scratch", *extra), *named)


def test_when_tokenizer_steps_are_given_but_the_tokenizer_is_kept_then_it_is_refused(tiny_kronos_dir, tmp_path,
                                                                                   capsys):
    result = refuse_init(capsys, "kronos", tmp_path, str(tiny_kronos_dir), "--tokenizer-steps", "3")
    assert_refused(result, "--tokenizer-steps 3 has no effect", "add --train-tokenizer or drop --tokenizer-steps")


def test_when_init_is_a_folder_or_hub_id_then_check_init_accepts_it(tiny_toto_dir, tiny_kronos_dir, checkpoints):
    check_init("scratch", "toto")
    check_init("Datadog/Toto-Open-Base-1.0", "toto")
    check_init(str(tiny_toto_dir), "toto")  # a published layout, no training record
    check_init(str(checkpoints["chronos2"]), "chronos2")
    check_init(str(tiny_kronos_dir), "kronos")
    check_init(str(tiny_kronos_dir / "predictor"), "kronos", str(tiny_kronos_dir / "tokenizer"))
    check_init("NeoQuasar/Kronos-small", "kronos", "NeoQuasar/Kronos-Tokenizer-base")


def broken_toto(tiny_toto_dir: Path, where: Path) -> Path:
    """A Toto folder whose config.json lacks the constructor's arguments: it passes the up-front check, and fails
    to load."""
    folder = Path(shutil.copytree(tiny_toto_dir, where))
    (folder / "config.json").write_text(json.dumps({"patch_size": 16}))
    return folder


@pytest.mark.parametrize("job", JOBS)
def test_when_init_fails_to_load_then_the_error_names_init_not_a_sweep_flag(job, tiny_toto_dir, tiny_kronos_dir,
                                                                          shared_data, tmp_path, capsys):
    extra = []
    if job == "toto":
        init = str(broken_toto(tiny_toto_dir, tmp_path / "broken"))
    elif job == "kronos":  # a Toto folder as the tokenizer: its config.json lacks the tokenizer's arguments
        init, extra = str(tiny_kronos_dir / "predictor"), ["--init-tokenizer", str(tiny_toto_dir)]
    else:
        init = str(tiny_toto_dir)
    result = run_cli(capsys, MAINS[job], with_init(job, tmp_path / "ckpt", shared_data, init, *extra))
    flag, value = ("--init-tokenizer", str(tiny_toto_dir)) if job == "kronos" else ("--init", init)
    assert_refused(result, flag, value, code=1)
    assert not any(f in result.err for f in ("--toto-model", "--kronos-model", "--kronos-tokenizer", "--chronos2-model"))
    assert not (tmp_path / "ckpt").exists()


def test_when_symbols_repeat_then_training_data_holds_each_once_with_a_warning(shared_data, tmp_path, caplog):
    from sweep.training import load_training_data
    from tototraining.__main__ import parse_args

    args = parse_args(argv("toto", tmp_path / "ckpt", shared_data, "--symbols", "BTCUSD", "ETHUSD", "BTCUSD"))
    _spec, datasets, metadata = load_training_data(args)
    assert [data.symbol for data, _splits in datasets] == ["BTCUSD", "ETHUSD"]
    assert list(metadata["datasets"]) == ["BTCUSD", "ETHUSD"]
    assert "--symbols names BTCUSD more than once" in caplog.text


@pytest.mark.parametrize("job", JOBS)
def test_when_data_dir_is_a_file_then_it_is_refused_naming_it(job, tmp_path, capsys):
    (tmp_path / "bars.csv").write_text("timestamp,open\n")
    before = snapshot(tmp_path)
    result = run_cli(capsys, MAINS[job], argv(job, tmp_path / "ckpt", tmp_path / "bars.csv"))
    assert snapshot(tmp_path) == before
    assert_refused(result, f"--data-dir {tmp_path / 'bars.csv'} is a file, not a folder", "pass the folder")
