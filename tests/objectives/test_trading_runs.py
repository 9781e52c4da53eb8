"""Whole sweeps on the trading objectives: a tiny real Toto against climatology and flat, their candidates' trading
blocks, the review's targets, the backtest's per-fold trading rows, and the declared fee that no resume changes."""

import json

import numpy as np
import pandas as pd
import pytest

from sweep.cli import main
from sweep.objectives.targets import TARGETS

from conftest import assert_refused, run_cli, tree_digest

SYMBOLS = ("BTCUSD", "ETHUSD")
SMALL = ["--val-windows", "24", "--test-windows", "10", "--stride", "24"]


def _argv(shared_data, tiny_toto_dir, root, run_id, objective, *flags):
    return ["--symbols", *SYMBOLS, "--models", "toto", "naive", "--n-trials", "3", "--data-dir", str(shared_data),
            "--toto-model", str(tiny_toto_dir), "--runs-dir", str(root / "runs"),
            "--output-dir", str(root / f"hp-{run_id}"), "--run-id", run_id, "--objective", objective, "--select", "best", *SMALL, *flags]


@pytest.fixture(scope="module")
def trading_runs(shared_data, tiny_toto_dir, tmp_path_factory):
    """A ``--objective pnl`` (5 bps, long only) and a ``--objective direction`` sweep, each promoted."""
    root = tmp_path_factory.mktemp("trading")
    argv = {"pnl": _argv(shared_data, tiny_toto_dir, root, "p", "pnl", "--fee-bps", "5", "--long-only"),
            "direction": _argv(shared_data, tiny_toto_dir, root, "d", "direction")}
    for objective, run_id in (("pnl", "p"), ("direction", "d")):
        assert main(argv[objective]) == 0
        assert main(["promote", "--run", run_id, "--data-dir", str(shared_data), "--runs-dir", str(root / "runs"),
                     "--output-dir", str(root / f"hp-{run_id}")]) == 0
    return root, argv


def _candidate(root, run_id, symbol):
    return json.loads((root / f"hp-{run_id}/candidates/{run_id}/{symbol}.json").read_text())


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_when_a_pnl_sweep_selects_then_its_candidate_carries_the_rule_its_statistics_and_buy_and_hold(trading_runs,
                                                                                                     symbol):
    root, _ = trading_runs
    doc = _candidate(root, "p", symbol)
    assert doc["config"]["decision"]["fee_bps"] == 5.0 and doc["config"]["decision"]["long_only"] is True
    assert doc["selection"]["spa"]["benchmark"] == "flat" and set(doc["comparisons"]) == {"flat", "default"}
    trading = doc["trading"]
    assert trading["rule"] == doc["config"]["decision"]
    selected = trading["test"]["selected"]
    assert selected["sharpe"] == pytest.approx(doc["test"]["sharpe"]) and selected["sharpe_ci"][0] <= selected["sharpe"]
    assert selected["n_trades"] == doc["test"]["n_trades"] and selected["n_periods"] == doc["windows"]["n_test_origins"]
    assert trading["test"]["buy_and_hold"]["total_return"] == pytest.approx(doc["test"]["buy_and_hold_total_return"])
    assert 0 <= trading["deflated_sharpe"]["dsr"] <= 1 and trading["deflated_sharpe"]["n_trials"] >= 1
    assert set(trading["targets"]) == set(TARGETS) and all("verdict" in t for t in trading["targets"].values())
    losses = pd.read_csv(root / f"hp-p/candidates/p/{symbol}.test_losses.csv")
    assert losses["selected"].mean() == pytest.approx(doc["test"]["pnl"], abs=1e-15)
    assert not losses["flat"].any()  # flat's PnL is 0 in every window
    assert doc["test"]["skill"] == pytest.approx(-doc["test"]["pnl"])  # the mean PnL gain over flat


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_when_a_direction_sweep_selects_then_its_candidate_carries_accuracy_and_pesaran_timmermann(trading_runs,
                                                                                                  symbol):
    root, _ = trading_runs
    doc = _candidate(root, "d", symbol)
    assert doc["selection"]["spa"]["benchmark"] == "climatology" and "decision" not in doc["config"]
    assert 0 <= doc["test"]["direction"] <= 1 and doc["test"]["climatology_direction"] > 0
    judged = doc["trading"]["test"]["selected"]
    assert 0 <= judged["pesaran_timmermann"]["p_value"] <= 1
    assert judged["accuracy"]["ci_low"] <= judged["accuracy"]["accuracy"] <= judged["accuracy"]["ci_high"]
    assert doc["trading"]["targets"]["sharpe"]["met"] is False  # not measured without a trading rule


@pytest.mark.parametrize("run_id", ["p", "d"])
def test_when_a_trading_candidate_is_reviewed_then_the_review_states_each_target(trading_runs, run_id):
    root, _ = trading_runs
    for symbol in SYMBOLS:
        (review,) = (root / f"hp-{run_id}/reviews").glob(f"*-{symbol}.md")
        text = review.read_text()
        assert "## The seeds' targets" in text
        for name in TARGETS:
            assert f"- {name} " in text and ("**met" in text or "**not met" in text or "**not measured" in text)


def test_when_the_pnl_run_is_resumed_with_another_fee_then_it_is_refused_and_no_file_changes(trading_runs, capsys):
    root, argv = trading_runs
    before = tree_digest(root / "runs/p", root / "hp-p")
    changed = [*argv["pnl"][:-3], "--fee-bps", "10", "--long-only"]
    assert_refused(run_cli(capsys, main, changed), "fee_bps")
    assert tree_digest(root / "runs/p", root / "hp-p") == before


def test_when_a_pnl_backtest_runs_then_each_fold_reports_sharpe_and_drawdown_against_flat_and_buy_and_hold(
        shared_data, tiny_toto_dir, tmp_path, capsys):
    argv = ["backtest", *_argv(shared_data, tiny_toto_dir, tmp_path, "b", "pnl", "--folds", "2")]
    result = run_cli(capsys, main, argv)
    assert result.code == 0, result.err
    document = json.loads((tmp_path / "runs/b/backtest.json").read_text())
    for row in document["folds"]:
        trading = row["trading"]
        assert trading["flat"] == {"sharpe": 0.0, "max_drawdown": 0.0, "total_return": 0.0}
        assert np.isfinite(trading["selected"]["sharpe"]) and trading["buy_and_hold"]["max_drawdown"] >= 0
    assert "buy-and-hold Sharpe" in result.err  # the verdicts go to the console, the table to stdout


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_when_a_direction_candidate_is_not_promoted_then_climatology_not_persistence_becomes_the_best(trading_runs,
                                                                                                    symbol):
    root, _ = trading_runs
    candidate = _candidate(root, "d", symbol)
    assert candidate["implicit_incumbent"]["comparison"] == "climatology"
    best = json.loads((root / f"hp-d/best/{symbol}.json").read_text())
    if best["config"]["model"] == "naive":  # the candidate lost: the symbol is served climatology's 720 returns
        assert best["config"] == candidate["implicit_incumbent"]["config"] and best["config"]["context_length"] == 721
