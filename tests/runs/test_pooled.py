"""Pooled selection (``--selection pooled``): one study per family over every symbol, judged by relative MAE."""

import json

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from sweep.cli import main
from sweep.forecasters.config import ForecastConfig
from sweep.data.bars import load_ohlcv
from sweep.scoring.evaluate import evaluate, persistence_errors
from sweep.forecasters.toto import TotoForecaster
from sweep.search.objective import BY_SYMBOL_ATTR, WINDOW_ERRORS_ATTR, relative_window_losses
from sweep.runs.settings import SweepSettings
from sweep.search.study import make_storage
from sweep.data.windows import WindowSpec, make_splits

from conftest import assert_refused, run_cli, tree_digest

SPEC = WindowSpec(val_windows=8, test_windows=8, stride=24, max_context_length=128)
FLAGS = ["--val-windows", "8", "--test-windows", "8", "--stride", "24", "--max-context-length", "128"]
SYMBOLS = ("BTCUSD", "ETHUSD", "SOLUSD")


def _sweep_args(data_dir, toto_dir, root, symbols=SYMBOLS, selection="pooled", run_id="pool", extra=()):
    return ["--symbols", *symbols, "--models", "toto", "naive", "--n-trials", "5", "--selection", selection,
            "--data-dir", str(data_dir), "--toto-model", str(toto_dir), "--runs-dir", str(root / "runs"),
            "--output-dir", str(root / "hp"), "--run-id", run_id, *FLAGS, *extra]


@pytest.fixture(scope="module")
def pooled_run(shared_data, tiny_toto_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("pooled")
    assert main(_sweep_args(shared_data, tiny_toto_dir, root, extra=["--ensemble", "lp"])) == 0
    candidates = {s: json.loads((root / "hp" / "candidates" / "pool" / f"{s}.json").read_text()) for s in SYMBOLS}
    return root, candidates


def _trials(root, name):
    storage = make_storage(root / "runs" / "pool" / "optuna.journal")
    return optuna.load_study(study_name=name, storage=storage).get_trials(states=(TrialState.COMPLETE,))


def test_when_losses_are_pooled_then_they_are_scale_free_and_persistence_averages_one():
    rng = np.random.default_rng(0)
    errors = [np.abs(rng.normal(0, s, 50)) for s in (0.01, 0.05)]
    pooled = relative_window_losses(errors, [e.mean() for e in errors])
    assert pooled.mean() == pytest.approx(1.0)
    rescaled = relative_window_losses([errors[0], 10 * errors[1]], [errors[0].mean(), 10 * errors[1].mean()])
    np.testing.assert_allclose(rescaled, pooled)  # a symbol 10x as volatile weighs the same
    with pytest.raises(ValueError, match="share their validation windows"):
        relative_window_losses([errors[0], errors[1][:40]], [1.0, 1.0])
    with pytest.raises(ValueError, match="positive"):
        relative_window_losses(errors, [0.0, 1.0])


def test_when_selection_is_pooled_then_every_symbol_gets_the_same_config_from_one_study_per_family(pooled_run):
    _root, candidates = pooled_run
    configs = {json.dumps(c["config"], sort_keys=True) for c in candidates.values()}
    assert len(configs) == 1
    for symbol, doc in candidates.items():
        selection = doc["selection"]
        assert selection["scope"] == "pooled" and doc["symbol"] == symbol
        assert selection["pooled"]["symbols"] == list(SYMBOLS)
        assert selection["pooled"]["study_name"] == doc["provenance"]["study_name"]
        assert doc["provenance"]["study_name"] in ("pooled.toto", "pooled.naive")
        assert {s["study_name"] for s in selection["studies"]} == {"pooled.toto", "pooled.naive"}
        assert selection["spa"] is not None and selection["spa"]["n_models"] == 5
        assert set(doc["comparisons"]) == {"persistence", "default"} and doc["default"]["config"]


def test_when_a_pooled_trial_is_scored_then_its_objective_is_the_mean_relative_mae_over_symbols(
        pooled_run, shared_data, tiny_toto_dir):
    root, _candidates = pooled_run
    forecaster = TotoForecaster(str(tiny_toto_dir))
    for trial in _trials(root, "pooled.toto")[:2]:
        config = ForecastConfig.from_dict(trial.user_attrs["config"])
        relative, losses = [], []
        for symbol in SYMBOLS:
            data = load_ohlcv(shared_data, symbol)
            origins = make_splits(data.n_bars, SPEC).validation_origins
            result = evaluate(forecaster, config, data, origins, 1)  # independent: a fresh in-memory cache
            assert trial.user_attrs[BY_SYMBOL_ATTR][symbol]["pct_return_mae"] == pytest.approx(
                result.metrics["pct_return_mae"], rel=1e-9)
            persistence = persistence_errors(data, origins, 1)
            relative.append(result.metrics["pct_return_mae"] / persistence.mean())
            losses.append(result.window_errors / persistence.mean())
        assert trial.value == pytest.approx(np.mean(relative), rel=1e-9)
        np.testing.assert_allclose(trial.user_attrs[WINDOW_ERRORS_ATTR], np.mean(losses, axis=0), rtol=1e-9)
    (naive,) = _trials(root, "pooled.naive")
    assert naive.value == pytest.approx(1.0)


def test_when_a_pooled_candidate_is_written_then_its_validation_block_is_its_own_symbols(pooled_run):
    root, candidates = pooled_run
    name, number = (candidates["BTCUSD"]["provenance"][k] for k in ("study_name", "trial_number"))
    (trial,) = [t for t in _trials(root, name) if t.number == number]
    for symbol, doc in candidates.items():
        assert doc["validation"]["pct_return_mae"] == trial.user_attrs[BY_SYMBOL_ATTR][symbol]["pct_return_mae"]
        assert doc["validation"]["pooled_relative_mae"] == trial.value
    best_of = {name: min(t.value for t in _trials(root, name)) for name in ("pooled.toto", "pooled.naive")}
    assert trial.value == min(best_of.values())  # the pooled winner over families


def test_when_an_ensemble_is_fitted_on_a_pooled_run_then_members_are_the_pooled_configs(pooled_run):
    root, candidates = pooled_run
    for symbol in SYMBOLS:
        ensemble = json.loads((root / "hp" / "candidates" / "pool" / "ensemble" / f"{symbol}.json").read_text())
        assert ensemble["selection"]["scope"] == "pooled"
        for member in ensemble["config"]["members"]:
            assert member["study_name"] in ("pooled.toto", "pooled.naive")


def test_when_a_pooled_run_is_rerun_then_no_trial_is_redone(pooled_run, shared_data, tiny_toto_dir):
    root, candidates = pooled_run
    before = {n: len(_trials(root, n)) for n in ("pooled.toto", "pooled.naive")}
    assert main(_sweep_args(shared_data, tiny_toto_dir, root, extra=["--ensemble", "lp"])) == 0
    assert {n: len(_trials(root, n)) for n in before} == before
    again = json.loads((root / "hp" / "candidates" / "pool" / "BTCUSD.json").read_text())
    assert again["config"] == candidates["BTCUSD"]["config"]


@pytest.mark.parametrize("change, named", [
    (dict(symbols=("BTCUSD", "ETHUSD")), "pool"),
    (dict(selection="per-symbol"), "selection"),
])
def test_when_a_pooled_run_is_resumed_with_other_symbols_or_scope_then_it_is_refused(
        pooled_run, shared_data, tiny_toto_dir, capsys, change, named):
    root, _ = pooled_run
    before = tree_digest(root)
    result = run_cli(capsys, main, _sweep_args(shared_data, tiny_toto_dir, root, extra=["--ensemble", "lp"], **change))
    assert_refused(result, named, "--run-id")
    assert tree_digest(root) == before


def test_when_a_sweep_is_given_two_scopes_then_it_is_refused(shared_data, tiny_toto_dir, tmp_path):
    from sweep.errors import ConfigError
    from sweep.runs.run import run_sweep

    settings = SweepSettings(symbols=("BTCUSD",), models=("naive",), selection=("per-symbol", "pooled"),
                             data_dir=shared_data, runs_dir=tmp_path / "runs", output_dir=tmp_path / "hp")
    with pytest.raises(ConfigError, match="backtest --selection per-symbol pooled"):
        run_sweep(settings)
    assert not (tmp_path / "runs").exists()
    with pytest.raises(ConfigError, match="--selection"):
        SweepSettings(symbols=("BTCUSD",), selection=("global",))


def test_when_symbols_have_production_configs_then_the_pooled_study_enqueues_each_distinct_one_once(tmp_path):
    from sweep.search.warm_start import pooled_warm_starts

    settings = SweepSettings(symbols=("BTCUSD", "ETHUSD", "SOLUSD"), output_dir=tmp_path,
                             windows=WindowSpec(max_context_length=512))
    (tmp_path / "best").mkdir()
    contexts = {"BTCUSD": 128, "ETHUSD": 256, "SOLUSD": 128}  # SOLUSD's production config is BTCUSD's
    for symbol, context in contexts.items():
        config = {"model": "toto", "context_length": context, "num_samples": 64, "aggregate": "median", "seed": 0,
                  "sampling": {}}
        (tmp_path / "best" / f"{symbol}.json").write_text(json.dumps(
            {"symbol": symbol, "model": {"family": "toto", "model_id": "x"}, "config": config}))
    starts = pooled_warm_starts(settings, "toto", 512)
    assert [w.source for w in starts] == ["default", "production", "production"]
    assert [w.params["context_length"] for w in starts[1:]] == [128, 256]
    assert starts[1].user_attrs["production"].endswith("BTCUSD.json")
    assert starts[2].user_attrs["production"].endswith("ETHUSD.json")


def test_when_a_pooled_run_is_reported_then_its_pooled_studies_are_summarised(pooled_run, shared_data):
    from sweep.report.report import write_report

    root, _ = pooled_run
    report = write_report("pool", data_dir=shared_data, output_dir=root / "hp", runs_dir=root / "runs")
    assert {s.name for s in report.studies} == {"pooled.toto", "pooled.naive"}
    naive = next(s for s in report.studies if s.name == "pooled.naive")
    np.testing.assert_allclose(naive.test, 1.0)  # persistence relative to itself, on test origins too
    assert set(report.candidates) == set(SYMBOLS)
