"""Walk-forward backtest of the tuning: the folds, the summary, shared inference, no look-ahead, overlap guard."""

import json
import shutil

import numpy as np
import optuna
import pandas as pd
import pytest

from sweep.cli import main
from sweep.data.bars import load_ohlcv, symbol_path
from sweep.scoring.evaluate import persistence_metrics
from sweep.search.study import make_storage
from sweep.data.windows import WindowSpec, make_splits, walk_forward_splits

SPEC = WindowSpec(val_windows=8, test_windows=8, stride=24, max_context_length=128)
FLAGS = ["--val-windows", "8", "--test-windows", "8", "--stride", "24", "--max-context-length", "128"]


def _backtest(data_dir, toto_dir, root, run_id="bt", symbols=("BTCUSD",), folds=3, extra=()):
    return main(["backtest", "--symbols", *symbols, "--models", "toto", "naive", "--n-trials", "4", "--folds",
                 str(folds), "--data-dir", str(data_dir), "--toto-model", str(toto_dir), "--runs-dir",
                 str(root / "runs"), "--output-dir", str(root / "hp"), "--run-id", run_id, *FLAGS, *extra])


@pytest.fixture(scope="module")
def backtest(shared_data, tiny_toto_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("backtest")
    assert _backtest(shared_data, tiny_toto_dir, root, symbols=("BTCUSD", "ETHUSD")) == 0
    return root, json.loads((root / "runs" / "bt" / "backtest.json").read_text())


def test_when_a_backtest_runs_then_every_fold_is_scored_on_its_own_test_block(backtest, shared_data):
    _root, doc = backtest
    assert doc["n_folds"] == 3 and len(doc["folds"]) == 6
    for symbol in ("BTCUSD", "ETHUSD"):
        data = load_ohlcv(shared_data, symbol)
        splits = walk_forward_splits(data.n_bars, SPEC, 3)
        rows = sorted((r for r in doc["folds"] if r["symbol"] == symbol), key=lambda r: r["fold"])
        for row, split in zip(rows, splits):
            index = data.frame.index
            assert row["test_origins"]["first"] == str(index[split.test_origins[0]])
            assert row["validation_origins"]["last"] == str(index[split.validation_origins[-1]])
            assert row["selected"]["model"] in ("toto", "naive") and row["selected"]["config"]["model"]
            mae = row["test_pct_return_mae"]
            assert set(mae) == {"selected", "default", "persistence"}
            assert mae["persistence"] == pytest.approx(
                persistence_metrics(data, split.test_origins, 1)["pct_return_mae"])
        today = make_splits(data.n_bars, SPEC)
        assert rows[-1]["test_origins"]["last"] == str(data.frame.index[today.test_origins[-1]])


def test_when_a_backtest_is_summarised_then_gains_have_intervals_and_fold_counts(backtest):
    _root, doc = backtest
    for scope in [doc["summary"], *doc["summary"]["per_symbol"].values()]:
        for name in ("gain_vs_default", "gain_vs_persistence"):
            gain = scope[name]
            assert {"mean", "ci_low", "ci_high", "folds_won"} <= set(gain)
            assert gain["ci_low"] <= gain["mean"] <= gain["ci_high"] and 0 <= gain["folds_won"] <= 3
    per_symbol = doc["summary"]["per_symbol"]["BTCUSD"]["gain_vs_persistence"]
    rows = [r for r in doc["folds"] if r["symbol"] == "BTCUSD"]
    expected = np.mean([r["test_pct_return_mae"]["persistence"] - r["test_pct_return_mae"]["selected"] for r in rows])
    assert per_symbol["mean"] == pytest.approx(expected)  # equal-sized folds: the mean of the fold gains


def test_when_folds_share_inference_then_each_origin_is_drawn_once_and_only_for_a_fold_that_needs_it(
        backtest, shared_data):
    root, doc = backtest
    periods = []  # the origins of each fold's validation and test periods: what one request may ask for
    for symbol in ("BTCUSD", "ETHUSD"):
        splits = walk_forward_splits(load_ohlcv(shared_data, symbol).n_bars, SPEC, 3)
        periods += [set(s.origins(split).tolist()) for s in splits for split in ("validation", "test")]
    draws = {}
    for entry in (root / "runs" / "bt" / "cache").glob("*/*.npz"):
        with np.load(entry) as f:
            paths = f["samples"].shape[1] if "samples" in f.files else 1  # quantiles: one draw serves any count
            draws.setdefault(entry.parent.name, []).append((set(f["origins"].tolist()), paths))
    assert draws
    for key_draws in draws.values():
        for origins, _paths in key_draws:  # never more rows than one fold's period needed
            assert any(origins <= period for period in periods)
        by_paths = {}
        for origins, paths in key_draws:  # and no origin drawn twice at the same path count
            assert not origins & by_paths.get(paths, set())
            by_paths.setdefault(paths, set()).update(origins)
    assert doc["inference"]["scoring_cache"]["drawn_origins"] > 0


def test_when_a_folds_test_bars_are_perturbed_then_its_selection_is_unchanged(shared_data, tiny_toto_dir, tmp_path):
    data = load_ohlcv(shared_data, "BTCUSD")
    fold0 = walk_forward_splits(data.n_bars, SPEC, 2)[0]
    start = int(fold0.test_origins[0])  # everything from fold 0's first test bar on
    frame = pd.read_csv(symbol_path(shared_data, "BTCUSD"))
    factor = np.exp(np.random.default_rng(0).normal(0, 0.02, len(frame) - start))
    for column in ("open", "high", "low", "close"):
        frame.loc[start:, column] = frame.loc[start:, column].to_numpy() * factor
    (tmp_path / "perturbed").mkdir()
    frame.to_csv(tmp_path / "perturbed" / "BTCUSD.csv", index=False)
    docs = []
    for name, folder in (("real", shared_data), ("perturbed", tmp_path / "perturbed")):
        assert _backtest(folder, tiny_toto_dir, tmp_path / name, folds=2) == 0
        docs.append(json.loads((tmp_path / name / "runs" / "bt" / "backtest.json").read_text()))
    real, perturbed = (d["folds"][0] for d in docs)
    assert real["selected"] == perturbed["selected"]
    assert real["validation_pct_return_mae"] == pytest.approx(perturbed["validation_pct_return_mae"], rel=1e-9)
    assert real["test_pct_return_mae"]["persistence"] != perturbed["test_pct_return_mae"]["persistence"]


def test_when_a_checkpoint_saw_a_folds_windows_then_the_backtest_refuses_unless_allowed(shared_data, tiny_toto_dir,
                                                                                       tmp_path, capsys):
    seen = tmp_path / "seen"
    shutil.copytree(tiny_toto_dir, seen)
    (seen / "training.json").write_text(json.dumps({"trained_until": "2024-04-01T00:00:00+00:00"}))
    assert _backtest(shared_data, seen, tmp_path) == 2
    err = capsys.readouterr().err
    assert "2024-04-01" in err and "--allow-overlap" in err and "--folds 3" in err
    assert not (tmp_path / "runs" / "bt" / "backtest.json").exists()
    assert _backtest(shared_data, seen, tmp_path, extra=["--allow-overlap"]) == 0
    doc = json.loads((tmp_path / "runs" / "bt" / "backtest.json").read_text())
    assert doc["overlap"] and all("2024-04-01" in line for line in doc["overlap"])


@pytest.fixture(scope="module")
def both_scopes(shared_data, tiny_toto_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("scopes")
    assert _backtest(shared_data, tiny_toto_dir, root, run_id="scopes", symbols=("BTCUSD", "ETHUSD"), folds=2,
                     extra=["--selection", "per-symbol", "pooled", "--select", "best", "significant"]) == 0
    return root, json.loads((root / "runs" / "scopes" / "backtest.json").read_text())


def test_when_both_scopes_are_backtested_then_each_has_its_gains_and_pooling_picks_one_config_per_fold(both_scopes):
    _root, doc = both_scopes
    assert doc["selection"] == ["per-symbol", "pooled"] and doc["select"] == ["best", "significant"]
    assert len(doc["folds"]) == 2 * 2 * 2 * 2  # symbols x folds x scopes x rules
    summary = doc["summary"]
    for rule in ("best", "significant"):
        for scope in ("per-symbol", "pooled"):
            for name in ("gain_vs_default", "gain_vs_persistence"):
                gain = summary["by_rule"][rule]["by_selection"][scope][name]
                assert {"mean", "ci_low", "ci_high", "folds_won"} <= set(gain) and gain["ci_low"] <= gain["ci_high"]
    assert summary["gain_vs_default"] == summary["by_selection"]["per-symbol"]["gain_vs_default"]
    assert summary["by_selection"] == summary["by_rule"]["best"]["by_selection"]  # the first rule's, at the top
    for fold in range(2):
        for rule in ("best", "significant"):
            pooled = [r for r in doc["folds"] if r["fold"] == fold and r["selection"] == "pooled" and r["select"] == rule]
            assert len(pooled) == 2 and pooled[0]["selected"] == pooled[1]["selected"]


def test_when_both_scopes_are_backtested_then_the_paired_gain_is_computed_from_the_fold_rows(both_scopes):
    _root, doc = both_scopes
    compared = doc["summary"]["pooled_vs_per_symbol"]
    mae = {scope: np.mean([r["test_pct_return_mae"]["selected"] for r in doc["folds"]
                           if r["selection"] == scope and r["select"] == "best"]) for scope in ("per-symbol", "pooled")}
    assert compared["mean"] == pytest.approx(mae["per-symbol"] - mae["pooled"])  # equal-sized folds and symbols
    assert compared["better"] == ("pooled" if compared["mean"] > 0 else "per-symbol")
    assert compared["significant"] == (compared["ci_low"] > 0 or compared["ci_high"] < 0)
    assert compared["ci_level"] == pytest.approx(0.95) and set(compared["per_symbol"]) == {"BTCUSD", "ETHUSD"}


def test_when_both_scopes_are_backtested_then_the_cli_states_which_generalised_better(both_scopes, capsys):
    from sweep.cli import print_backtest

    _root, doc = both_scopes
    print_backtest(doc)
    out = capsys.readouterr().err  # the sentences go with the messages; the table to stdout
    assert "pooled vs per-symbol selection:" in out and "significant" in out
    assert "pooled tuning, --select best, vs persistence" in out and "per-symbol tuning, --select significant, vs default" in out
    assert "significant vs best rule:" in out


def test_when_both_scopes_share_a_backtest_then_pooled_studies_reuse_the_per_symbol_draws(both_scopes, shared_data):
    root, _doc = both_scopes
    storage = make_storage(root / "runs/scopes/optuna.journal")
    tried = {(k, t.params["context_length"]) for k in range(2) for study in ("BTCUSD", "ETHUSD", "pooled")
             for t in optuna.load_study(study_name=f"fold{k}/{study}.toto", storage=storage).trials}
    periods = [set(s.validation_origins.tolist()) for symbol in ("BTCUSD", "ETHUSD")
               for s in walk_forward_splits(load_ohlcv(shared_data, symbol).n_bars, SPEC, 2)]
    validation = sum(1 for e in (root / "runs/scopes/cache").glob("*/*.npz")
                     if set(np.load(e)["origins"].tolist()) in periods)
    # one validation draw per (fold, context, symbol), whichever scope tried it first, plus persistence per
    # (fold, symbol)
    assert validation == 2 * len(tried) + 2 * 2


def test_when_both_rules_are_backtested_then_significant_vs_best_is_the_paired_gain_of_the_fold_rows(both_scopes):
    _root, doc = both_scopes
    for scope in ("per-symbol", "pooled"):
        compared = doc["summary"]["significant_vs_best"][scope]
        mae = {rule: np.mean([r["test_pct_return_mae"]["selected"] for r in doc["folds"]
                              if r["selection"] == scope and r["select"] == rule]) for rule in ("best", "significant")}
        assert compared["mean"] == pytest.approx(mae["best"] - mae["significant"])  # equal-sized folds and symbols
        assert compared["better"] == ("significant" if compared["mean"] > 0 else "best")
        assert compared["ci_level"] == pytest.approx(0.95) and "mde" in compared and compared["n_folds"] == 2


def test_when_a_fold_is_backtested_then_its_regret_is_against_the_best_trial_on_its_thinned_test_origins(both_scopes):
    _root, doc = both_scopes
    for row in doc["folds"]:
        regret = row["selection_regret"]
        oracle = regret["best_trial_on_test"]
        assert oracle["n_test_origins"] == 8 and oracle["n_configs"] >= 1  # 192 hourly test origins, one a day
        assert regret["regret"] >= -1e-15 and regret["regret"] == pytest.approx(regret["selected_loss"] - oracle["loss"])
    for key in {(r["symbol"], r["fold"], r["selection"]) for r in doc["folds"]}:  # both rules: one oracle
        pair = [r["selection_regret"]["best_trial_on_test"] for r in doc["folds"]
                if (r["symbol"], r["fold"], r["selection"]) == key]
        assert len(pair) == 2 and pair[0] == pair[1]


def test_when_a_backtest_of_both_rules_is_reported_then_the_report_has_every_combination_and_both_verdicts(
        both_scopes, shared_data):
    root, _doc = both_scopes
    assert main(["report", "--run", "scopes", "--data-dir", str(shared_data), "--runs-dir", str(root / "runs"),
                 "--output-dir", str(root / "hp")]) == 0
    report = (root / "runs" / "scopes" / "report" / "report.md").read_text()
    for scope in ("per-symbol", "pooled"):
        for rule in ("best", "significant"):
            assert f"| {scope} | {rule} | default |" in report and f"| {scope} | {rule} | persistence |" in report
        assert f"gain of the significant rule over best ({scope})" in report
    assert "gain of pooled over per-symbol selection" in report and "regret" in report
    assert (root / "runs" / "scopes" / "report" / "backtest-folds.png").stat().st_size > 0
