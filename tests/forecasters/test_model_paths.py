"""Checkpoint paths in output documents: relative to the hyperparams folder inside the project, absolute outside."""

import pytest

from sweep.forecasters.checkpoints import TRAINING_RECORD, changed_files, is_hub_id, recorded_files
from sweep.errors import ModelLoadError
from sweep.forecasters.model_paths import (flag_path, hyperparams_root, is_recorded_path, portable_document,
                                           portable_path, resolve_identity, resolve_path)
from sweep.forecasters.overlap import TRAINING_METADATA


def test_when_a_checkpoint_lies_in_the_project_then_it_is_recorded_relative_to_the_hyperparams_folder(tmp_path):
    root = tmp_path / "proj" / "hyperparams"
    assert portable_path(str(tmp_path / "proj/runs/r1/finetune/toto-ft"), root) == "../runs/r1/finetune/toto-ft"
    assert portable_path(str(root / "ckpt/toto"), root) == "./ckpt/toto"  # never read as the hub id "ckpt/toto"
    assert portable_path(str(tmp_path / "elsewhere/toto"), root) == str(tmp_path / "elsewhere/toto")
    for unchanged in ("Datadog/Toto-Open-Base-1.0", "persistence", "bundled:fracast-0"):
        assert portable_path(unchanged, root) == unchanged
    for recorded in ("../runs/r1/finetune/toto-ft", "./ckpt/toto"):
        assert is_recorded_path(recorded) and not is_hub_id(recorded)
        assert resolve_path(recorded, root) == str((root / recorded).resolve())
    assert not is_recorded_path("Datadog/Toto-Open-Base-1.0") and is_recorded_path(str(tmp_path))


def test_when_a_document_is_made_portable_then_its_model_provenance_and_members_are_and_nothing_else(tmp_path):
    root, checkpoint = tmp_path / "hp", str(tmp_path / "ckpt" / "kronos")
    identity = {"family": "kronos", "model_id": checkpoint, "tokenizer_id": checkpoint + "/tokenizer",
                "checkpoint_files": {"kronos.json": "a" * 64}, "max_context": 512}
    document = {"model": identity, "provenance": {"model_id": checkpoint, "data_path": str(tmp_path / "BTCUSD.csv")},
                "config": {"members": [{"label": "kronos", "model": identity, "weight": 1.0}]}}
    portable = portable_document(document, root)
    expected = {**identity, "model_id": "../ckpt/kronos", "tokenizer_id": "../ckpt/kronos/tokenizer"}
    assert portable["model"] == expected and portable["config"]["members"][0]["model"] == expected
    assert portable["provenance"] == {"model_id": "../ckpt/kronos", "data_path": str(tmp_path / "BTCUSD.csv")}
    assert document["model"]["model_id"] == checkpoint  # the input is not modified
    assert resolve_identity(expected, root) == {**identity, "model_id": str((tmp_path / "ckpt/kronos").resolve()),
                                                "tokenizer_id": str((tmp_path / "ckpt/kronos/tokenizer").resolve())}


def test_when_a_relative_path_has_no_hyperparams_folder_then_model_load_error_says_where_to_load_it():
    with pytest.raises(ModelLoadError, match=r"'../ckpt/toto' relative to the hyperparams folder .*best/"):
        resolve_path("../ckpt/toto", None)


def test_when_a_document_lies_in_the_layout_then_its_hyperparams_folder_is_found(tmp_path):
    hp = tmp_path / "hp"
    assert hyperparams_root(hp / "best/BTCUSD.json") == hp
    assert hyperparams_root(hp / "candidates/r1/BTCUSD.json") == hp
    assert hyperparams_root(hp / "candidates/r1/ensemble/BTCUSD.json") == hp
    assert hyperparams_root(tmp_path / "copied.json") is None


def test_when_a_flag_names_a_folder_relative_to_the_working_directory_then_it_is_made_absolute(tmp_path, monkeypatch):
    (tmp_path / "ckpt").mkdir()
    monkeypatch.chdir(tmp_path)
    assert flag_path("ckpt") == str(tmp_path.resolve() / "ckpt")
    assert flag_path("Datadog/Toto-Open-Base-1.0") == "Datadog/Toto-Open-Base-1.0" and flag_path(None) is None


def test_when_recorded_files_are_compared_then_each_changed_or_missing_file_is_named(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    recorded = {"config.json": "0" * 64, "kronos.json": "1" * 64}
    assert changed_files(tmp_path, recorded) == ["config.json (sha256 000000000000... recorded, 44136fa355b3... now)",
                                                 "kronos.json (missing)"]
    # documents written before checkpoint_files: the weights hash, and Fracast's weights_sha256
    assert recorded_files({"checkpoint_sha256": "a"}) == {"model.safetensors": "a"}
    assert recorded_files({"tokenizer_checkpoint_sha256": "b"}, "tokenizer_") == {"model.safetensors": "b"}
    assert recorded_files({"weights_sha256": {"w8_manifest.json": "c"}}) == {"w8_manifest.json": "c"}
    assert recorded_files({"checkpoint_files": recorded, "checkpoint_sha256": "a"}) == recorded
    assert TRAINING_RECORD == TRAINING_METADATA
