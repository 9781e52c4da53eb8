"""Hostile checkpoints: edited, moved and deleted checkpoint folders under predict, evaluate and promote.

A project folder holds ``hp/`` (the hyperparams folder), ``runs/`` and ``ckpt/`` (the checkpoints), as a real
sweep run from inside it with relative flags leaves it. Any change to a file that defines a recorded model is
refused with exit 1 (the model the file names can no longer be loaded, the README's "1 failure") naming the
file that changed, and changes nothing in ``hp/``; moving the project folder as a whole changes nothing at all.
"""

import json
import shutil

import pytest

import sweep.cli
from conftest import PROMOTION, assert_refused, run_cli, tree_digest
from sweep.forecasters.checkpoints import file_sha256
from sweep.errors import ModelLoadError
from sweep.forecasters import forecaster_from_identity
from sweep.forecasters.kronos.forecaster import KronosForecaster
from sweep.forecasters.model_paths import portable_identity

WINDOWS = ["--val-windows", "8", "--test-windows", "8", "--stride", "24", "--max-context-length", "128"]
KRONOS = {"model": "kronos", "context_length": 64, "num_samples": 16, "aggregate": "median", "seed": 0,
          "sampling": {"temperature": 0.85, "top_k": 20, "top_p": 1.0, "clip": 3.0}}
CANDIDATE = "hp/candidates/h1/BTCUSD.json"


@pytest.fixture(scope="module")
def project(shared_data, tiny_toto_dir, tiny_kronos_dir, tmp_path_factory):
    """A project folder after a real Toto sweep run inside it with relative flags, and two best configs.

    ``hp/best/BTCUSD.json`` is the Toto candidate as ``promote`` writes it when it promotes (a random tiny Toto
    rarely beats persistence, so the test writes it); ``hp/best/ETHUSD.json`` a Kronos config on the
    kronostraining folder ``ckpt/kronos``.
    """
    root = tmp_path_factory.mktemp("hostile-checkpoints") / "proj"
    shutil.copytree(tiny_toto_dir, root / "ckpt/toto")
    shutil.copytree(tiny_kronos_dir, root / "ckpt/kronos")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        assert sweep.cli.main(["--symbols", "BTCUSD", "--models", "toto", "--n-trials", "2", "--data-dir",
                               str(shared_data), "--toto-model", "ckpt/toto", "--runs-dir", "runs", "--output-dir",
                               "hp", "--run-id", "h1", *WINDOWS]) == 0
    candidate = json.loads((root / CANDIDATE).read_text())
    (root / "hp/best").mkdir()
    (root / "hp/best/BTCUSD.json").write_text(json.dumps({**candidate, "promotion": PROMOTION}))
    kronos = portable_identity(KronosForecaster(str(root / "ckpt/kronos")).identity(), root / "hp")
    (root / "hp/best/ETHUSD.json").write_text(json.dumps({**candidate, "symbol": "ETHUSD", "model": kronos,
                                                          "config": KRONOS, "promotion": PROMOTION}))
    return root


def _copy(project, tmp_path):
    return shutil.copytree(project, tmp_path / "proj")


def _predict(capsys, shared_data, hp, symbol="BTCUSD"):
    return run_cli(capsys, sweep.cli.main, ["predict", "--symbol", symbol, "--data-dir", shared_data,
                                            "--output-dir", hp, "--json"])


def test_when_swept_with_relative_flags_then_the_model_blocks_record_the_checkpoint_relative_to_hp(project):
    candidate = json.loads((project / CANDIDATE).read_text())
    assert candidate["model"]["model_id"] == candidate["provenance"]["model_id"] == "../ckpt/toto"
    assert set(candidate["model"]["checkpoint_files"]) == {"config.json", "model.safetensors"}
    kronos = json.loads((project / "hp/best/ETHUSD.json").read_text())["model"]
    assert (kronos["model_id"], kronos["tokenizer_id"]) == ("../ckpt/kronos", "../ckpt/kronos/tokenizer")


@pytest.mark.parametrize("key, edit", [("num_heads", lambda v: 2 * v),
                                       ("use_memory_efficient_attention", lambda v: not v)])
def test_when_the_toto_config_json_is_edited_then_predict_evaluate_and_promote_refuse_naming_it(
        project, shared_data, tmp_path, capsys, key, edit):
    proj = _copy(project, tmp_path)
    config = proj / "ckpt/toto/config.json"
    values = json.loads(config.read_text())
    config.write_text(json.dumps({**values, key: edit(values[key])}))
    before = tree_digest(proj / "hp")
    for command, named in (
            (["predict", "--symbol", "BTCUSD", "--data-dir", shared_data, "--output-dir", proj / "hp"],
             proj / "hp/best/BTCUSD.json"),
            (["evaluate", "--symbol", "BTCUSD", "--config", proj / CANDIDATE, "--data-dir", shared_data],
             proj / CANDIDATE),
            (["promote", "--run", "h1", "--data-dir", shared_data, "--runs-dir", proj / "runs", "--output-dir",
              proj / "hp"], proj / CANDIDATE)):
        result = run_cli(capsys, sweep.cli.main, command)
        assert_refused(result, str(named), "'../ckpt/toto'", "changed since it was recorded: config.json (sha256",
                       "re-run the sweep", code=1)
        assert "--toto-model" not in result.err
    assert tree_digest(proj / "hp") == before


@pytest.mark.parametrize("path, named", [("tokenizer/config.json", "tokenizer checkpoint '../ckpt/kronos/tokenizer'"),
                                         ("kronos.json", "kronos.json (sha256"),
                                         ("predictor/config.json", "predictor/config.json (sha256")])
def test_when_a_file_of_the_kronos_folder_is_edited_then_predict_and_evaluate_refuse_naming_it(
        project, shared_data, tmp_path, capsys, path, named):
    proj = _copy(project, tmp_path)
    edited = proj / "ckpt/kronos" / path
    values = json.loads(edited.read_text())
    key = sorted(k for k, v in values.items() if isinstance(v, int) and not isinstance(v, bool))[0]
    edited.write_text(json.dumps({**values, key: values[key] // 2}))
    before = tree_digest(proj / "hp")
    result = _predict(capsys, shared_data, proj / "hp", "ETHUSD")
    assert_refused(result, str(proj / "hp/best/ETHUSD.json"), named, "changed since it was recorded", code=1)
    result = run_cli(capsys, sweep.cli.main, ["evaluate", "--symbol", "ETHUSD", "--config",
                                              proj / "hp/best/ETHUSD.json", "--data-dir", shared_data])
    assert_refused(result, str(proj / "hp/best/ETHUSD.json"), named, code=1)
    assert "--kronos" not in result.err and tree_digest(proj / "hp") == before


def test_when_the_whole_project_folder_moves_then_predict_and_promote_work_from_the_new_place(
        project, shared_data, tmp_path, capsys):
    proj = _copy(project, tmp_path)
    before = {s: json.loads(_predict(capsys, shared_data, proj / "hp", s).out) for s in ("BTCUSD", "ETHUSD")}
    moved = tmp_path / "elsewhere" / "renamed"
    moved.parent.mkdir()
    shutil.move(proj, moved)
    assert not proj.exists()
    for symbol, forecast in before.items():
        result = _predict(capsys, shared_data, moved / "hp", symbol)
        assert result.code == 0, result
        after = json.loads(result.out)
        for key in ("point", "quantiles", "model", "config", "times"):
            assert after[key] == forecast[key], key
    result = run_cli(capsys, sweep.cli.main, ["promote", "--run", "h1", "--data-dir", shared_data, "--runs-dir",
                                              moved / "runs", "--output-dir", moved / "hp"])
    assert result.code == 0, result
    assert json.loads((moved / "hp/best/BTCUSD.json").read_text())["model"]["family"] in ("toto", "naive")


def test_when_the_checkpoint_folder_is_deleted_then_predict_names_the_best_file_and_the_recorded_path(
        project, shared_data, tmp_path, capsys):
    proj = _copy(project, tmp_path)
    shutil.rmtree(proj / "ckpt/toto")
    before = tree_digest(proj / "hp")
    result = _predict(capsys, shared_data, proj / "hp")
    assert_refused(result, str(proj / "hp/best/BTCUSD.json"), "'../ckpt/toto'", str(proj / "ckpt/toto"),
                   "does not exist", "restore that folder", "re-run the sweep", code=1)
    assert "--toto-model" not in result.err and "flag" not in result.err
    assert tree_digest(proj / "hp") == before


def test_when_a_kronos_block_predates_checkpoint_files_then_it_loads_and_changed_tokenizer_weights_are_refused(
        tiny_kronos_dir, tmp_path):
    folder = shutil.copytree(tiny_kronos_dir, tmp_path / "kronos")
    legacy = {"family": "kronos", "model_id": str(folder / "predictor"), "checkpoint_sha256": file_sha256(
        folder / "predictor/model.safetensors"), "tokenizer_id": str(folder / "tokenizer"),
        "tokenizer_checkpoint_sha256": file_sha256(folder / "tokenizer/model.safetensors"), "max_context": 512}
    assert forecaster_from_identity(legacy).max_context_length == 512
    weights = folder / "tokenizer/model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(ModelLoadError, match=r"tokenizer checkpoint .* changed since it was recorded: "
                                             r"model.safetensors \(sha256 "):
        forecaster_from_identity(legacy)
