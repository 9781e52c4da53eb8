"""Hostile inputs to export, promote and predict: every best document shape, stale symbols, bad destinations.

A refused command exits 2 naming the path and the fix, prints no traceback, and changes nothing in ``--to``
or ``hyperparams/`` (compared file by file with :func:`conftest.tree_digest`).
"""

import json
import os

import pytest

import sweep.cli
from conftest import PROMOTION, assert_refused, run_cli, tree_digest

METRICS = {"price_mae": 40.0, "pct_return_mae": 0.0031, "latency_s": 0.02}
TOTO = {"model": "toto", "context_length": 256, "num_samples": 256, "aggregate": "mean", "seed": 0, "sampling": {}}
KRONOS = {"model": "kronos", "context_length": 512, "num_samples": 32, "aggregate": "mean", "seed": 0,
          "sampling": {"temperature": 0.7, "top_k": 20, "top_p": 1.0, "clip": 3.0}}
NAIVE = {"model": "naive", "context_length": 1, "num_samples": 1, "aggregate": "mean", "seed": 0, "sampling": {}}
STUDIES = [{"model": "toto", "study_name": "r1.toto", "best_trial": 3, "validation_pct_return_mae": 0.0031},
           {"model": "kronos", "study_name": "r1.kronos", "best_trial": 1, "validation_pct_return_mae": 0.0042},
           {"model": "naive", "study_name": "r1.naive", "best_trial": 0, "validation_pct_return_mae": 0.0050}]


def _single(symbol, config):
    """A promoted one-model best config, as ``promote`` writes it (the keys export reads)."""
    family = config["model"]
    return {"symbol": symbol, "model": {"family": family, "model_id": f"{family}-ckpt"}, "config": config,
            "validation": dict(METRICS), "test": dict(METRICS), "windows": {"horizon": 1},
            "selection": {"studies": STUDIES}, "provenance": {"run_id": "r1", "study_name": f"r1.{family}"},
            "promotion": PROMOTION}


def _persistence(symbol):
    return {"symbol": symbol, "model": {"family": "naive", "model_id": "persistence"}, "config": NAIVE,
            "validation": None, "test": dict(METRICS), "windows": {"horizon": 1},
            "provenance": {"written_because": "candidate does not beat persistence"},
            "promotion": {**PROMOTION, "decision": "persistence"}}


def _ensemble(symbol):
    """An ensemble best in the shape ``sweep.runs._candidate.ensemble_document`` writes: its ``selection.studies``
    name study and trial only, its ``model`` block has a method and no model id."""
    members = [{"label": "toto", "model": {"family": "toto", "model_id": "t"}, "config": TOTO, "weight": 0.25,
                "study_name": "r1.toto", "trial_number": 3},
               {"label": "kronos", "model": {"family": "kronos", "model_id": "k"}, "config": KRONOS, "weight": 0.6,
                "study_name": "r1.kronos", "trial_number": 1},
               {"label": "naive", "model": {"family": "naive", "model_id": "persistence"}, "config": NAIVE,
                "weight": 0.15, "study_name": "r1.naive", "trial_number": 0}]
    return {"symbol": symbol, "model": {"family": "ensemble", "method": "lp"}, "config": {"members": members},
            "validation": dict(METRICS), "test": dict(METRICS), "windows": {"horizon": 1},
            "selection": {"studies": [{"study_name": m["study_name"], "trial_number": m["trial_number"]}
                                      for m in members]},
            "provenance": {"run_id": "r1", "ensemble_method": "lp"}, "promotion": PROMOTION}


def _write(hp, symbol, document):
    path = hp / "best" / f"{symbol}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return path


@pytest.fixture
def hp(tmp_path):
    """hyperparams/ with a Toto best (BTCUSD) and a Kronos best (ETHUSD)."""
    root = tmp_path / "hp"
    _write(root, "BTCUSD", _single("BTCUSD", TOTO))
    _write(root, "ETHUSD", _single("ETHUSD", KRONOS))
    return root


def _export(capsys, hp, to, *extra):
    return run_cli(capsys, sweep.cli.main, ["export", "--layout", "stock-prediction", "--output-dir", hp, "--to", to,
                                            *extra])


def _manifest(to):
    return json.loads((to / "sweep-export.json").read_text())


def test_when_the_best_is_an_ensemble_then_its_strongest_model_member_is_exported_with_a_warning(hp, tmp_path,
                                                                                                  capsys):
    _write(hp, "SOLUSD", _ensemble("SOLUSD"))
    selected = hp / "candidates" / "r1" / "SOLUSD.json"  # the run's selected candidate lists the studies' MAEs
    selected.parent.mkdir(parents=True)
    selected.write_text(json.dumps(_single("SOLUSD", TOTO)))
    to = tmp_path / "out"
    result = _export(capsys, hp, to)
    assert result.code == 0, result
    assert "SOLUSD: the ensemble (toto 0.25, kronos 0.60, naive 0.15) is not carried" in " ".join(result.err.split())
    best = json.loads((to / "best/SOLUSD.json").read_text())
    assert best["model"] == "kronos" and best["metadata"]["candidate_pct_return_mae"] == {"toto": 0.0031,
                                                                                            "kronos": 0.0042}
    assert json.loads((to / "kronos/SOLUSD.json").read_text())["config"]["max_context"] == 512
    assert not (to / "toto/SOLUSD.json").exists()
    entry = _manifest(to)["symbols"]["SOLUSD"]
    assert entry["status"] == "exported" and entry["files"] == ["best/SOLUSD.json", "kronos/SOLUSD.json"]


def test_when_a_symbols_best_goes_back_to_persistence_then_its_exported_files_are_removed(hp, tmp_path, capsys):
    to = tmp_path / "out"
    assert _export(capsys, hp, to).code == 0
    assert (to / "kronos/ETHUSD.json").is_file()
    _write(hp, "ETHUSD", _persistence("ETHUSD"))
    result = _export(capsys, hp, to)
    assert result.code == 0, result
    err = " ".join(result.err.split())
    assert f"removed {to / 'kronos/ETHUSD.json'}: its best is persistence now" in err
    assert f"removed {to / 'best/ETHUSD.json'}: its best is persistence now" in err
    assert "ETHUSD: not exported: its best is persistence" in err
    assert not (to / "kronos/ETHUSD.json").exists() and not (to / "best/ETHUSD.json").exists()
    assert (to / "toto/BTCUSD.json").is_file()
    entry = _manifest(to)["symbols"]["ETHUSD"]
    assert entry["status"] == "skipped" and entry["files"] == [] and "persistence" in entry["reason"]


def test_when_a_symbols_model_changes_then_the_old_models_file_is_removed(hp, tmp_path, capsys):
    to = tmp_path / "out"
    assert _export(capsys, hp, to).code == 0
    _write(hp, "ETHUSD", _single("ETHUSD", TOTO))
    result = _export(capsys, hp, to)
    assert f"removed {to / 'kronos/ETHUSD.json'}: its best is toto now" in " ".join(result.err.split())
    assert (to / "toto/ETHUSD.json").is_file() and not (to / "kronos").exists()


def test_when_a_best_file_is_deleted_then_a_full_export_removes_its_symbol(hp, tmp_path, capsys):
    to = tmp_path / "out"
    assert _export(capsys, hp, to).code == 0
    (hp / "best/ETHUSD.json").unlink()
    result = _export(capsys, hp, to)
    assert result.code == 0 and "no longer exists" in result.err
    assert sorted(p.relative_to(to).as_posix() for p in to.rglob("*.json")) == [
        "best/BTCUSD.json", "sweep-export.json", "toto/BTCUSD.json"]
    assert set(_manifest(to)["symbols"]) == {"BTCUSD"}


def test_when_symbols_are_a_subset_then_the_other_symbols_keep_their_files(hp, tmp_path, capsys):
    to = tmp_path / "out"
    assert _export(capsys, hp, to).code == 0
    eth = tree_digest(to / "best/ETHUSD.json", to / "kronos/ETHUSD.json")
    eth_entry = _manifest(to)["symbols"]["ETHUSD"]
    _write(hp, "BTCUSD", _persistence("BTCUSD"))
    result = _export(capsys, hp, to, "--symbols", "BTCUSD")
    assert result.code == 0 and "kept 2 files of symbols not in --symbols" in result.err
    assert tree_digest(to / "best/ETHUSD.json", to / "kronos/ETHUSD.json") == eth
    assert not (to / "toto/BTCUSD.json").exists()
    assert _manifest(to)["symbols"]["ETHUSD"] == eth_entry


def test_when_the_manifest_is_written_then_it_records_the_version_source_and_hash(hp, tmp_path, capsys):
    import hashlib

    import sweep

    to = tmp_path / "out"
    assert _export(capsys, hp, to).code == 0
    manifest = _manifest(to)
    assert manifest["sweep_version"] == sweep.__version__ and manifest["output_dir"] == str(hp)
    entry = manifest["symbols"]["BTCUSD"]
    assert entry["source"] == str(hp / "best/BTCUSD.json") and entry["model"] == "toto"
    assert entry["source_sha256"] == hashlib.sha256((hp / "best/BTCUSD.json").read_bytes()).hexdigest()


@pytest.mark.parametrize("document, problem", [
    ({}, "has no 'model' and no 'config' key"), ([], "holds an array, not a JSON object"),
    ([{"model": "toto"}], "holds an array"), ({"model": {"family": "toto"}}, "has no 'config' key"),
    ({"model": "toto", "config": TOTO}, "is not an object with a 'family'"),
    ({"model": {"family": "prophet"}, "config": TOTO}, "model family 'prophet' is unknown"),
    ({**_single("ETHUSD", TOTO), "symbol": "BTCUSD"}, "it is the best config of 'BTCUSD', not of 'ETHUSD'"),
    ({"model": {"family": "ensemble"}, "config": {"members": [{"label": "toto"}]}}, "malformed"),
    ({"model": {"family": "toto"}, "config": {**TOTO, "num_samples": 0}}, "num_samples must be a positive")])
def test_when_a_best_file_is_not_a_best_document_then_export_changes_nothing(hp, tmp_path, capsys, document,
                                                                            problem):
    to = tmp_path / "out"
    assert _export(capsys, hp, to).code == 0
    path = _write(hp, "ETHUSD", document)  # after BTCUSD in no order: nothing may be written before the check
    _write(hp, "AAAUSD", _single("AAAUSD", TOTO))
    before = tree_digest(to, hp)
    assert_refused(_export(capsys, hp, to), str(path), problem, "re-run `python -m sweep promote")
    assert tree_digest(to, hp) == before
    assert_refused(_export(capsys, hp, tmp_path / "new"), str(path))
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("document", [{}, []])
def test_when_the_current_best_is_empty_then_promote_refuses_before_any_review(tmp_path, capsys, document):
    hp = tmp_path / "hp"
    candidate = hp / "candidates" / "r1" / "BTCUSD.json"
    candidate.parent.mkdir(parents=True)
    candidate.write_text(json.dumps(_persistence("BTCUSD")))
    path = _write(hp, "BTCUSD", document)
    before = tree_digest(hp)
    result = run_cli(capsys, sweep.cli.main, ["promote", "--run", "r1", "--output-dir", hp, "--data-dir",
                                              tmp_path / "data", "--runs-dir", tmp_path / "runs"])
    assert_refused(result, str(path), "is not a best config", "re-run `python -m sweep promote")
    assert tree_digest(hp) == before and not (hp / "reviews").exists()


@pytest.mark.parametrize("document", [{}, []])
def test_when_the_best_is_empty_then_predict_refuses_naming_the_file(tmp_path, capsys, document):
    path = _write(tmp_path / "hp", "BTCUSD", document)
    result = run_cli(capsys, sweep.cli.main, ["predict", "--symbol", "BTCUSD", "--output-dir", tmp_path / "hp",
                                              "--data-dir", tmp_path / "data"])
    assert_refused(result, str(path), "is not a best config")


def test_when_to_is_a_file_then_export_refuses_and_changes_nothing(hp, tmp_path, capsys):
    to = tmp_path / "out.json"
    to.write_text("{}")
    before = tree_digest(to, hp)
    assert_refused(_export(capsys, hp, to), f"--to {to} is a file, not a folder", "pass a folder")
    assert tree_digest(to, hp) == before


def test_when_to_lies_under_a_file_then_export_refuses_and_changes_nothing(hp, tmp_path, capsys):
    (tmp_path / "plain").write_text("x")
    to = tmp_path / "plain" / "sub" / "out"
    before = tree_digest(tmp_path)
    assert_refused(_export(capsys, hp, to), f"--to {to}", str(tmp_path / "plain"), "is a file")
    assert tree_digest(tmp_path) == before


def test_when_to_is_in_a_read_only_folder_then_export_refuses_and_changes_nothing(hp, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: permissions do not block writes (the file-parent test covers refusal)")
        assert_refused(_export(capsys, hp, locked / "out"), str(locked), "is not writable", "fix its permissions")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_when_to_holds_foreign_files_without_a_manifest_then_export_refuses(hp, tmp_path, capsys):
    to = tmp_path / "theirs"
    (to / "toto").mkdir(parents=True)
    (to / "toto" / "BTCUSD.json").write_text('{"hand": "written"}')
    (to / "notes.txt").write_text("mine")
    before = tree_digest(to, hp)
    assert_refused(_export(capsys, hp, to), f"--to {to} is not empty and has no sweep-export.json",
                   "pass a new or empty folder")
    assert tree_digest(to, hp) == before


def test_when_to_is_empty_then_export_writes_into_it(hp, tmp_path, capsys):
    to = tmp_path / "empty"
    to.mkdir()
    assert _export(capsys, hp, to).code == 0 and (to / "toto/BTCUSD.json").is_file()


def test_when_foreign_files_were_added_after_an_export_then_they_are_kept(hp, tmp_path, capsys):
    to = tmp_path / "out"
    assert _export(capsys, hp, to).code == 0
    (to / "notes.txt").write_text("mine")
    (to / "toto" / "XRPUSD.json").write_text('{"hand": "written"}')
    (to / "empty").mkdir()
    _write(hp, "ETHUSD", _persistence("ETHUSD"))
    assert _export(capsys, hp, to).code == 0
    assert (to / "notes.txt").read_text() == "mine" and (to / "toto/XRPUSD.json").is_file()
    assert (to / "empty").is_dir() and not (to / "kronos/ETHUSD.json").exists()


def test_when_a_foreign_file_sits_where_the_export_writes_then_it_refuses(hp, tmp_path, capsys):
    to = tmp_path / "out"
    assert _export(capsys, hp, to, "--symbols", "BTCUSD").code == 0
    (to / "kronos").mkdir()
    (to / "kronos" / "ETHUSD.json").write_text('{"hand": "written"}')
    before = tree_digest(to, hp)
    assert_refused(_export(capsys, hp, to), str(to / "kronos/ETHUSD.json"), "was not written by sweep export",
                   "move it out")
    assert tree_digest(to, hp) == before


@pytest.mark.parametrize("manifest", ["not json", "[]", '{"symbols": {"BTCUSD": {"files": ["../../etc/x"]}}}'])
def test_when_the_manifest_is_broken_then_export_refuses(hp, tmp_path, capsys, manifest):
    to = tmp_path / "out"
    assert _export(capsys, hp, to).code == 0
    (to / "sweep-export.json").write_text(manifest)
    before = tree_digest(to, hp)
    assert_refused(_export(capsys, hp, to), str(to / "sweep-export.json"), "move")
    assert tree_digest(to, hp) == before


def test_when_to_holds_the_output_dir_then_export_refuses(hp, tmp_path, capsys):
    before = tree_digest(hp)
    assert_refused(_export(capsys, hp, tmp_path), f"--to {tmp_path} holds --output-dir {hp}")
    assert tree_digest(hp) == before
