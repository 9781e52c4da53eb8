"""A family registered at run time, defined only in ``tests/drift_family.py``, goes through the sweep, the
review, ``predict``, the report and ``export`` without a line of ``sweep/`` naming it."""

import json

import optuna
import pytest
from conftest import PROMOTION
from drift_family import DRIFT, FLAG, write_checkpoint

from sweep.cli import main
from sweep.errors import ConfigError
from sweep.forecasters.registry import FAMILIES, register, unregister
from sweep.search.study import make_storage

WINDOWS = ["--val-windows", "10", "--test-windows", "10", "--stride", "24", "--max-context-length", "512"]


@pytest.fixture
def drift():
    register(DRIFT)
    yield DRIFT
    unregister(DRIFT.name)


@pytest.fixture
def drift_run(drift, shared_data, tmp_path):
    """A sweep of the drift family (whose checkpoint takes at most 256 bars) and persistence on BTCUSD."""
    checkpoint = write_checkpoint(tmp_path / "drift-ckpt", max_context=256)
    hp, runs = tmp_path / "hp", tmp_path / "runs"
    assert main(["--symbols", "BTCUSD", "--models", "drift", "naive", FLAG, str(checkpoint), "--n-trials", "4",
                 "--data-dir", str(shared_data), "--runs-dir", str(runs), "--output-dir", str(hp), "--run-id", "d",
                 "--ensemble", "lp", *WINDOWS]) == 0
    return hp, runs, checkpoint


def test_when_a_family_is_registered_then_a_sweep_tunes_it_like_a_built_in_one(drift_run):
    hp, runs, checkpoint = drift_run
    study = optuna.load_study(study_name="BTCUSD.drift", storage=make_storage(str(runs / "d/optuna.journal")))
    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 4 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    # warm-started with its registry default, within the checkpoint's own 256-bar limit
    default = next(t for t in trials if t.user_attrs["source"] == "default")
    assert default.params == {"context_length": 256, "num_samples": 64, "aggregate": "median"}
    assert {t.params["num_samples"] for t in trials} <= set(DRIFT.num_samples)
    assert max(t.params["context_length"] for t in trials) <= 256
    candidate = json.loads((hp / "candidates/d/BTCUSD.json").read_text())
    assert {s["model"] for s in candidate["selection"]["studies"]} == {"drift", "naive"}
    drift_default = candidate["default"] if candidate["config"]["model"] == "drift" else None
    assert drift_default is None or drift_default["source"] == DRIFT.default.source
    ensemble = json.loads((hp / "candidates/d/ensemble/BTCUSD.json").read_text())
    (member,) = [m for m in ensemble["config"]["members"] if m["label"] == "drift"]
    assert member["model"]["family"] == "drift" and member["model"]["checkpoint_files"]


def test_when_a_registered_familys_config_is_promoted_then_predict_serves_it(drift_run, shared_data, capsys):
    hp, runs, _checkpoint = drift_run
    assert main(["promote", "--run", "d", "--data-dir", str(shared_data), "--runs-dir", str(runs),
                 "--output-dir", str(hp)]) == 0
    review = next((hp / "reviews").glob("*BTCUSD.md")).read_text()
    assert "drift" in review and "persistence" in review
    # serve the drift candidate whatever the review decided: predict reads what best/ holds, once promoted
    (hp / "best").mkdir(exist_ok=True)
    candidate = json.loads((hp / "candidates/d/BTCUSD.json").read_text())
    (hp / "best/BTCUSD.json").write_text(json.dumps({**candidate, "promotion": PROMOTION}))
    capsys.readouterr()
    assert main(["predict", "--symbol", "BTCUSD", "--data-dir", str(shared_data), "--output-dir", str(hp),
                 "--json"]) == 0
    forecast = json.loads(capsys.readouterr().out)
    best = json.loads((hp / "best/BTCUSD.json").read_text())
    assert forecast["config"] == best["config"] and forecast["model"] == best["model"]
    assert forecast["point"] and all(v > 0 for v in forecast["point"])


def test_when_a_run_with_a_registered_family_is_reported_then_its_study_is_in_the_report(drift_run, shared_data):
    hp, runs, _checkpoint = drift_run
    assert main(["report", "--run", "d", "--data-dir", str(shared_data), "--runs-dir", str(runs),
                 "--output-dir", str(hp)]) == 0
    report = (runs / "d/report/report.md").read_text()
    assert "BTCUSD.drift" in report


def test_when_a_registered_family_is_exported_then_the_layout_refuses_it_by_name(drift_run, tmp_path, capsys):
    hp, _runs, _checkpoint = drift_run
    best = json.loads((hp / "candidates/d/BTCUSD.json").read_text())
    best["config"] = {"model": "drift", "context_length": 256, "num_samples": 64, "aggregate": "median"}
    best["model"] = {**best["model"], "family": "drift"}
    (hp / "best").mkdir(exist_ok=True)
    (hp / "best/BTCUSD.json").write_text(json.dumps({**best, "promotion": PROMOTION}))
    capsys.readouterr()
    main(["export", "--layout", "stock-prediction", "--output-dir", str(hp), "--to", str(tmp_path / "out")])
    assert "BTCUSD: not exported: its best (drift)" in capsys.readouterr().err.replace("\n", " ")


def test_when_a_family_is_unregistered_then_it_is_unknown_again(drift, shared_data, tmp_path, capsys):
    unregister(drift.name)
    assert "drift" not in FAMILIES
    with pytest.raises(SystemExit) as refused:  # argparse's own refusal of an unknown --models choice
        main(["--symbols", "BTCUSD", "--models", "drift", "--data-dir", str(shared_data)])
    assert refused.value.code == 2 and "invalid choice: 'drift'" in capsys.readouterr().err
    register(drift)
    with pytest.raises(ConfigError, match="registered already"):
        register(drift)
