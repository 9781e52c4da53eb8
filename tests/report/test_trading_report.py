"""The report under the trading objectives: the equity curves re-scored on the test origins agree with the candidate,
and the trading table shows the candidate's numbers."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from drift_family import DRIFT, FLAG, write_checkpoint

from sweep.cli import main
from sweep.forecasters.registry import register, unregister
from sweep.objectives import get_objective
from sweep.report._calibration import calibration_section
from sweep.report._trading import equity_and_drawdown, trading_section
from sweep.stats.trading import max_drawdown

from conftest import markdown_table

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Three test days at test stride 1 (72 origins): enough periods for the bootstrap intervals, a few seconds to score.
WINDOWS = ["--val-windows", "8", "--test-windows", "3", "--stride", "24"]
#: A cell's numbers are printed to 3 significant digits: a half unit of the third digit, relative.
PRINTED = 5e-3


@pytest.fixture
def drift():
    register(DRIFT)
    yield DRIFT
    unregister(DRIFT.name)


def _numbers(cell: str) -> list[float]:
    """The numbers of a cell: ``"1.2 [0.5, 2.1]"`` -> ``[1.2, 0.5, 2.1]``; ``"-"`` -> ``[]``."""
    return [float(x) for x in re.findall(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?", cell)]


def _expected(value, interval=None) -> list[float]:
    return [] if value is None else [value, *(interval or [])]


def _report(hp, runs, run_id):
    assert main(["report", "--run", run_id, "--output-dir", str(hp), "--runs-dir", str(runs)]) == 0
    folder = runs / run_id / "report"
    return folder, (folder / "report.md").read_text()


@pytest.mark.filterwarnings("error::RuntimeWarning")  # the MDE plot once divided by flat's PnL of 0
def test_when_the_objective_is_pnl_then_the_report_draws_the_equity_curves_and_tabulates_the_trading_block(
        drift, shared_data, tmp_path):
    hp, runs = tmp_path / "hp", tmp_path / "runs"
    checkpoint = write_checkpoint(tmp_path / "drift-ckpt", max_context=256)
    # --select best: the best validation trial (threshold 0, 16 paths) trades more than the default, so the three
    # curves differ
    assert main(["--symbols", "BTCUSD", "--objective", "pnl", "--models", "drift", FLAG, str(checkpoint),
                 "--n-trials", "4", "--select", "best", "--data-dir", str(shared_data), "--runs-dir", str(runs),
                 "--output-dir", str(hp), "--run-id", "pnl", *WINDOWS]) == 0
    folder, text = _report(hp, runs, "pnl")
    candidate = json.loads((hp / "candidates/pnl/BTCUSD.json").read_text())
    trading = candidate["trading"]
    png = folder / "BTCUSD-equity.png"
    assert png.read_bytes()[:8] == PNG_SIGNATURE and png.stat().st_size > 5000
    assert "](BTCUSD-equity.png)" in text and text.index("## Trading") < text.index("](BTCUSD-equity.png)")
    assert "## Calibration" not in text and "](mde-vs-origins.png)" in text
    # the curves re-scored on the test origins end at the candidate's total returns, with its drawdowns
    curves = pd.read_csv(folder / "BTCUSD-equity.csv", index_col="origin")
    assert len(curves) == candidate["test"]["n_windows"] == trading["test"]["selected"]["n_periods"]
    for curve in ("selected", "default", "buy_and_hold"):
        stats = trading["test"][curve]
        assert curves[f"{curve}_equity"].iloc[-1] == pytest.approx(stats["total_return"], rel=1e-9, abs=1e-15)
        assert curves[f"{curve}_drawdown"].max() == pytest.approx(stats["max_drawdown"], rel=1e-9, abs=1e-15)
    assert trading["test"]["selected"]["n_trades"] != trading["test"]["default"]["n_trades"]
    table = markdown_table(text, "| rule | Sharpe (annualised) |")
    assert list(table) == ["selected", "family default", "buy-and-hold"]
    for label, curve in zip(table, ("selected", "default", "buy_and_hold")):
        stats = trading["test"][curve]
        sharpe, dsr, drawdown, turnover, hit_rate, total = map(_numbers, table[label])
        assert sharpe == pytest.approx(_expected(stats["sharpe"], stats["sharpe_ci"]), rel=PRINTED)
        assert dsr == ([pytest.approx(trading["deflated_sharpe"]["dsr"], abs=5e-4)] if curve == "selected" else [])
        assert drawdown == pytest.approx(_expected(stats["max_drawdown"], stats["max_drawdown_ci"]), rel=PRINTED)
        assert turnover == pytest.approx(_expected(stats["turnover"], stats["turnover_ci"]), rel=PRINTED)
        assert hit_rate == pytest.approx(_expected(stats["hit_rate"], stats["hit_rate_ci"]), rel=PRINTED)
        assert total == pytest.approx([stats["total_return"]], rel=PRINTED)
    verdicts = markdown_table(text, "| target | verdict |")
    assert verdicts == {target["target"]: [target["verdict"]] for target in trading["targets"].values()}
    assert len(verdicts) == 3


def test_when_the_objective_is_direction_then_the_report_tabulates_accuracy_and_the_pt_test(shared_data, tmp_path):
    hp, runs = tmp_path / "hp", tmp_path / "runs"
    assert main(["--symbols", "BTCUSD", "--objective", "direction", "--models", "naive", "--n-trials", "3",
                 "--data-dir", str(shared_data), "--runs-dir", str(runs), "--output-dir", str(hp), "--run-id", "dir",
                 *WINDOWS]) == 0
    folder, text = _report(hp, runs, "dir")
    trading = json.loads((hp / "candidates/dir/BTCUSD.json").read_text())["trading"]
    assert "## Trading" in text and "## Calibration" not in text and not list(folder.glob("*equity*"))
    table = markdown_table(text, "| forecast | direction accuracy |")
    assert list(table) == ["selected", "family default"]
    for label, judged in zip(table, trading["test"].values()):
        accuracy, test = judged["accuracy"], judged["pesaran_timmermann"]
        shown, called, p_value = table[label]
        assert _numbers(shown) == pytest.approx([accuracy["accuracy"], accuracy["ci_low"], accuracy["ci_high"]],
                                                rel=PRINTED)
        assert int(called) == accuracy["n"]
        assert float(p_value) == pytest.approx(test["p_value"], abs=5e-4)
    verdicts = markdown_table(text, "| target | verdict |")
    assert verdicts == {target["target"]: [target["verdict"]] for target in trading["targets"].values()}
    assert "not measured under --objective direction" in verdicts["sharpe > 1.5"][0]


def test_when_equity_falls_then_the_drawdown_is_its_fall_from_the_running_peak_and_the_start():
    equity, drawdown = equity_and_drawdown(np.array([-0.01, 0.03, -0.04, 0.02, 0.03]))
    np.testing.assert_allclose(equity, [-0.01, 0.02, -0.02, 0.0, 0.03], atol=1e-15)
    # the peak starts at 0 (the capital before any trade): a first loss is a drawdown
    np.testing.assert_allclose(drawdown, [0.01, 0.0, 0.04, 0.02, 0.0], atol=1e-15)


def test_when_the_pnl_is_random_then_the_largest_drawdown_is_the_stats_max_drawdown():
    rng = np.random.default_rng(0)
    for _ in range(20):
        pnl = rng.normal(0.0, 0.01, size=rng.integers(1, 300))
        _, drawdown = equity_and_drawdown(pnl)
        assert drawdown.min() >= 0 and drawdown.max() == pytest.approx(max_drawdown(pnl), abs=1e-15)


def test_when_the_pnl_is_not_one_dimensional_then_the_error_names_its_shape():
    with pytest.raises(ValueError, match=r"\[n_windows\].*\(2, 3\)"):
        equity_and_drawdown(np.zeros((2, 3)))


def test_when_no_candidate_has_a_trading_block_then_there_is_no_trading_section(tmp_path):
    candidates = {"BTCUSD": {"test": {"pnl": 0.0}}}
    assert trading_section(candidates, {}, get_objective("pnl"), tmp_path) == []
    assert calibration_section(candidates, {}, get_objective("pnl"), tmp_path) == []
