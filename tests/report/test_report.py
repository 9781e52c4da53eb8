"""Reports with real plots, and multi-objective (accuracy, latency) studies."""

import json

import optuna
import pandas as pd
import pytest

from sweep.cli import main
from sweep.report._calibration import FAN_DAYS, forecast_blocks, last_days
from sweep.search.study import make_storage
from sweep.stats.metrics import QUANTILE_LEVELS

from conftest import markdown_table
from test_cli import SMALL

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _sweep(root, shared_data, tiny_toto_dir, run_id, *extra):
    return main(["--symbols", "BTCUSD", "--n-trials", "4", "--data-dir", str(shared_data), "--toto-model",
                 str(tiny_toto_dir), "--runs-dir", str(root / "runs"), "--output-dir", str(root / "hp"),
                 "--run-id", run_id, *SMALL, *extra])


def test_when_a_report_is_written_then_every_plot_exists_and_is_linked(shared_data, tiny_toto_dir, tiny_kronos_dir,
                                                                       tmp_path, capsys):
    # test origins every 4 bars (48 over the 8 test days): the report scores every trial on them, and Kronos'
    # sampling of each origin is most of this test's time
    assert _sweep(tmp_path, shared_data, tiny_toto_dir, "rep", "--kronos-model", str(tiny_kronos_dir),
                  "--test-stride", "4") == 0
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
    assert "Objective: `pct_return_mae`" in text and "| vs persistence p |" in text
    assert "## Calibration" not in text and not list(folder.glob("*reliability*")) and not list(folder.glob("*quantile*"))
    out = capsys.readouterr().out
    assert "BTCUSD.toto" in out and "best val pct_return_mae" in out


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


def test_when_the_objective_is_quantile_loss_then_the_report_draws_and_tabulates_calibration(shared_data, tmp_path,
                                                                                              capsys):
    runs, hp = tmp_path / "runs", tmp_path / "hp"
    # the default --max-context-length (2048) holds the GARCH default's 2024 bars; the test origins have the
    # random walk's 721 bars before them
    assert main(["--symbols", "BTCUSD", "--objective", "quantile_loss", "--models", "naive", "--n-trials", "3",
                 "--data-dir", str(shared_data), "--runs-dir", str(runs), "--output-dir", str(hp), "--run-id", "ql",
                 "--val-windows", "8", "--test-windows", "5", "--stride", "24"]) == 0
    capsys.readouterr()
    assert main(["report", "--run", "ql", "--output-dir", str(hp), "--runs-dir", str(runs)]) == 0
    folder = runs / "ql" / "report"
    text = (folder / "report.md").read_text()
    for stem in ("BTCUSD-reliability", "BTCUSD-quantile-fan", "BTCUSD-fan", "BTCUSD.naive-history"):
        png = folder / f"{stem}.png"
        assert png.read_bytes()[:8] == PNG_SIGNATURE and png.stat().st_size > 5000
        assert f"]({stem}.png)" in text
    assert "Objective: `quantile_loss`" in text and "## Calibration" in text
    assert text.index("## Calibration") < text.index("](BTCUSD-reliability.png)")
    assert "pct_return_mae" not in text and "persistence" not in text
    candidate = json.loads((hp / "candidates/ql/BTCUSD.json").read_text())
    summary = markdown_table(text, "| symbol | model | val quantile_loss |")["BTCUSD"]
    assert summary[3:7] == [f"{candidate['test']['random_walk_quantile_loss']:.6g}", f"{candidate['test']['skill']:+.4f}",
                            f"{candidate['comparisons']['random_walk']['p_value']:.3f}",
                            f"{candidate['comparisons']['garch']['p_value']:.3f}"]
    table = markdown_table(text, "| forecast | model | 0.1 |")
    assert list(table) == ["selected", "default", "random_walk", "garch"]
    blocks = {"selected": candidate["test"], "default": candidate["default"]["test"],
              **{name: reference["test"] for name, reference in candidate["references"].items()}}
    for label, block in blocks.items():
        coverage = [f"{block[f'coverage_{level:g}']:.3f}" for level in QUANTILE_LEVELS]
        assert table[label][1:] == [*coverage, f"{block['quantile_loss']:.6g}",
                                    f"{candidate['calibration'][label]['joint_p_value']:.3f}"]
    assert table["garch"][0] == "garch"
    assert "best val quantile_loss" in capsys.readouterr().out


def test_when_a_candidate_lacks_coverage_then_that_forecast_is_left_out_of_the_calibration():
    with_coverage = {f"coverage_{level:g}": level for level in QUANTILE_LEVELS}
    document = {"test": with_coverage, "default": {"test": {"quantile_loss": 0.01}},
                "references": {"random_walk": {"test": with_coverage}, "garch": {}}}
    assert list(forecast_blocks(document, QUANTILE_LEVELS)) == ["selected", "random_walk"]


@pytest.mark.parametrize("n_origins, shown", [(400, 24 * FAN_DAYS), (100, 100), (1, 1)])
def test_when_the_test_period_is_long_then_the_quantile_fan_shows_its_last_days(n_origins, shown):
    times = pd.date_range("2024-01-01", periods=n_origins, freq="h", tz="UTC")
    mask = last_days(times, FAN_DAYS)
    assert mask.sum() == shown and mask[-shown:].all()
