"""--finetune: a fine-tuned variant swept beside its base checkpoint; JSON logs for nightly jobs."""

import json

import pandas as pd

from sweep.cli import main

from test_cli import SMALL


def _sweep(shared_data, tiny_toto_dir, tmp_path, *extra):
    return main(["--symbols", "BTCUSD", "--models", "toto", "naive", "--n-trials", "2", "--data-dir", str(shared_data), "--toto-model",
                 str(tiny_toto_dir), "--runs-dir", str(tmp_path / "runs"), "--output-dir", str(tmp_path / "hp"),
                 "--run-id", "ft", *SMALL, *extra])


def test_when_finetune_is_asked_then_the_variant_is_trained_once_and_swept_beside_the_base(shared_data,
                                                                                            tiny_toto_dir, tmp_path):
    assert _sweep(shared_data, tiny_toto_dir, tmp_path, "--finetune", "--finetune-steps", "3") == 0
    checkpoint = tmp_path / "runs/ft/finetune/toto-ft"
    training = json.loads((checkpoint / "training.json").read_text())
    assert training["steps"] == 3 and "BTCUSD" in training["datasets"]
    run = json.loads((tmp_path / "runs/ft/run.json").read_text())
    assert run["finetune"] == ["toto"] and run["variants"] == {"toto-ft": str(checkpoint.resolve())}
    candidate = json.loads((tmp_path / "hp/candidates/ft/BTCUSD.json").read_text())
    assert {s["model"] for s in candidate["selection"]["studies"]} == {"toto", "naive", "toto-ft"}
    # the variant lies in the project folder (beside hp/): recorded relative to the hyperparams folder; the base
    # checkpoint lies outside it: absolute
    if candidate["model"]["family"] == "toto":
        assert candidate["model"]["model_id"] in ("../runs/ft/finetune/toto-ft", str(tiny_toto_dir.resolve()))
    if candidate["model"]["family"] == "toto" and candidate["model"]["model_id"] == "../runs/ft/finetune/toto-ft":
        assert candidate["model"]["variant"] == "toto-ft"

    written = (checkpoint / "model.safetensors").stat().st_mtime_ns
    assert _sweep(shared_data, tiny_toto_dir, tmp_path, "--finetune", "--finetune-steps", "3") == 0
    assert (checkpoint / "model.safetensors").stat().st_mtime_ns == written  # the rerun reused it


def test_when_finetune_has_no_toto_then_exit_2(shared_data, tiny_toto_dir, tmp_path, capsys):
    assert _sweep(shared_data, tiny_toto_dir, tmp_path, "--models", "naive", "--finetune") == 2
    assert "--finetune toto: fine-tuning needs a family with a trainer" in capsys.readouterr().err


def test_when_toto_and_kronos_are_fine_tuned_then_both_variants_are_swept(shared_data, tiny_toto_dir,
                                                                          tiny_kronos_dir, tmp_path):
    assert _sweep(shared_data, tiny_toto_dir, tmp_path, "--models", "toto", "kronos", "naive", "--kronos-model",
                  str(tiny_kronos_dir), "--finetune", "toto", "kronos", "--finetune-steps", "2") == 0
    run = json.loads((tmp_path / "runs/ft/run.json").read_text())
    assert run["finetune"] == ["toto", "kronos"] and set(run["variants"]) == {"toto-ft", "kronos-ft"}
    kronos = json.loads((tmp_path / "runs/ft/finetune/kronos-ft/kronos.json").read_text())
    assert "BTCUSD" in kronos["datasets"] and kronos["trained_until"]
    candidate = json.loads((tmp_path / "hp/candidates/ft/BTCUSD.json").read_text())
    studies = {s["model"]: s["n_complete"] for s in candidate["selection"]["studies"]}
    assert set(studies) == {"toto", "kronos", "naive", "toto-ft", "kronos-ft"} and studies["kronos-ft"] == 2


def test_when_logs_are_json_then_every_stdout_line_is_an_object(shared_data, tiny_toto_dir, tmp_path, capsys):
    assert _sweep(shared_data, tiny_toto_dir, tmp_path, "--log-format", "json", "--promote") == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    trials = [line for line in lines if "study" in line]
    assert len(trials) == 3 and {"trial", "params", "value", "state", "duration_s"} <= set(trials[0])
    assert {line["symbol"] for line in lines if "candidate" in line} == {"BTCUSD"}
    # a random tiny Toto does not beat persistence: the first review writes persistence as the best
    assert [(line["decision"], line["promoted"]) for line in lines if "decision" in line] == [("persistence", False)]
    candidate = next(line for line in lines if "candidate" in line)
    assert {"spa_p_value", "vs_persistence", "vs_default"} <= set(candidate)


def test_when_chronos2_is_fine_tuned_then_its_variant_records_its_training_range_and_is_swept(
        shared_data, tiny_quantile_dirs, tmp_path):
    assert main(["--symbols", "BTCUSD", "--models", "chronos2", "naive", "--n-trials", "2", "--data-dir",
                 str(shared_data), "--chronos2-model", str(tiny_quantile_dirs["chronos2"]), "--runs-dir",
                 str(tmp_path / "runs"), "--output-dir", str(tmp_path / "hp"), "--run-id", "c2", *SMALL,
                 "--finetune", "chronos2", "--finetune-steps", "3"]) == 0
    folder = tmp_path / "runs/c2/finetune/chronos2-ft"
    training = json.loads((folder / "training.json").read_text())
    first_validation = pd.Timestamp(training["datasets"]["BTCUSD"]["first_validation_origin_time"])
    assert training["steps"] == 3 and pd.Timestamp(training["trained_until"]) < first_validation
    candidate = json.loads((tmp_path / "hp/candidates/c2/BTCUSD.json").read_text())
    assert {s["model"] for s in candidate["selection"]["studies"]} == {"chronos2", "naive", "chronos2-ft"}
