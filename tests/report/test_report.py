"""Reports with real plots, and multi-objective (accuracy, latency) studies."""

import json

import optuna
import pytest

from sweep.cli import main
from sweep.search.study import make_storage

from test_cli import SMALL

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _sweep(root, shared_data, tiny_toto_dir, run_id, *extra):
    return main(["--symbols", "BTCUSD", "--n-trials", "4", "--data-dir", str(shared_data), "--toto-model",
                 str(tiny_toto_dir), "--runs-dir", str(root / "runs"), "--output-dir", str(root / "hp"),
                 "--run-id", run_id, *SMALL, *extra])


def test_when_a_report_is_written_then_every_plot_exists_and_is_linked(shared_data, tiny_toto_dir, tiny_kronos_dir,
                                                                       tmp_path, capsys):
    assert _sweep(tmp_path, shared_data, tiny_toto_dir, "rep", "--kronos-model", str(tiny_kronos_dir)) == 0
    code = main(["report", "--run", "rep", "--data-dir", str(shared_data), "--output-dir", str(tmp_path / "hp"),
                 "--runs-dir", str(tmp_path / "runs")])
    assert code == 0
    folder = tmp_path / "runs" / "rep" / "report"
    text = (folder / "report.md").read_text()
    expected = ["BTCUSD.toto-history", "BTCUSD.toto-importances", "BTCUSD.toto-accuracy-latency",
                "BTCUSD.toto-validation-vs-test", "BTCUSD-fan", "BTCUSD.kronos-history", "BTCUSD.kronos-importances",
                "BTCUSD.kronos-validation-vs-test"]
    for stem in expected:
        png = folder / f"{stem}.png"
        assert png.read_bytes()[:8] == PNG_SIGNATURE and png.stat().st_size > 5000
        assert f"]({stem}.png)" in text
    assert "| BTCUSD |" in text and "Spearman" in text
    assert "BTCUSD.toto" in capsys.readouterr().out


def test_when_the_run_does_not_exist_then_the_report_exits_2(tmp_path, capsys):
    assert main(["report", "--run", "nope", "--runs-dir", str(tmp_path)]) == 2
    assert "nope" in capsys.readouterr().err


def test_when_latency_is_an_objective_then_the_choice_is_the_most_accurate_within_budget(shared_data, tiny_toto_dir,
                                                                                        tmp_path):
    assert _sweep(tmp_path, shared_data, tiny_toto_dir, "mo", "--models", "toto", "--objectives", "pct_return_mae",
                  "latency_s", "--n-trials", "6") == 0
    study = optuna.load_study(study_name="BTCUSD.toto", storage=make_storage(tmp_path / "runs/mo/optuna.journal"))
    assert len(study.directions) == 2
    trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    latencies = sorted(t.values[1] for t in trials)
    budget = latencies[len(latencies) // 2]
    assert _sweep(tmp_path, shared_data, tiny_toto_dir, "mo", "--models", "toto", "--objectives", "pct_return_mae",
                  "latency_s", "--n-trials", "6", "--latency-budget-s", str(budget)) == 0
    candidate = json.loads((tmp_path / "hp/candidates/mo/BTCUSD.json").read_text())
    within = [t for t in trials if t.values[1] <= budget]
    chosen = min(within, key=lambda t: (t.values[0], t.number))
    assert candidate["provenance"]["trial_number"] == chosen.number
    assert candidate["selection"]["latency_budget_s"] == budget


def test_when_no_trial_fits_the_latency_budget_then_the_symbol_gets_no_candidate(shared_data, tiny_toto_dir, tmp_path,
                                                                                caplog):
    code = _sweep(tmp_path, shared_data, tiny_toto_dir, "tight", "--models", "toto", "--objectives", "pct_return_mae",
                  "latency_s", "--latency-budget-s", "1e-12")
    assert code == 1
    assert "no completed trial is within --latency-budget-s" in caplog.text
    assert not (tmp_path / "hp/candidates/tight/BTCUSD.json").exists()


@pytest.mark.parametrize("argv, message", [
    (["--objectives", "latency_s"], "--objectives"),
    (["--latency-budget-s", "0.1"], "--latency-budget-s"),
])
def test_when_objectives_are_bad_then_exit_2(argv, message, shared_data, tiny_toto_dir, tmp_path, capsys):
    assert _sweep(tmp_path, shared_data, tiny_toto_dir, "bad", "--models", "toto", "naive", *argv) == 2
    assert message in capsys.readouterr().err
