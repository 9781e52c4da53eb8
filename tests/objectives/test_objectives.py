"""The objective registry, and the objective as a run declares it: once, recorded everywhere, never changed, never
re-running inference; a new objective is one registry entry."""

import json
import shutil

import numpy as np
import optuna
import pandas as pd
import pytest

from sweep.cli import main
from sweep.cli.sweep_command import models_from_args, sweep_parser, sweep_settings
from sweep.data.bars import load_ohlcv
from sweep.data.windows import WindowSpec, gather_targets
from sweep.errors import ConfigError
from sweep.forecasters.config import ForecastConfig
from sweep.forecasters.garch import GarchForecaster
from sweep.forecasters.naive import PersistenceForecaster
from sweep.forecasters.registry import DEFAULT_MODELS, FAMILIES
from sweep.objectives import DEFAULT_OBJECTIVE, LATENCY, OBJECTIVES, Objective, get_objective, objective_of_run
from sweep.runs._candidate import comparisons
from sweep.runs.settings import SweepSettings
from sweep.scoring.cache import SampleCache
from sweep.scoring.evaluate import benchmark_losses, draw_samples, evaluate, persistence_errors
from sweep.search.objective import check_study_objective, pooled_objective
from sweep.search.space import default_config, space_of
from sweep.search.study import make_storage
from sweep.stats.metrics import QUANTILE_LEVELS, pct_return_errors, quantile_loss_windows

from conftest import REPO, assert_refused, run_cli, tree_digest

SMALL = ["--val-windows", "8", "--test-windows", "5", "--stride", "24"]
#: A candidate written by the release before ``--objective`` existed.
OLD_CANDIDATE = REPO / "tests" / "fixtures" / "candidate-0eb54ec" / "BTCUSD.json"
#: Real BTCUSD origins with the longest GARCH and random-walk contexts before them.
ORIGINS = np.arange(30_000, 30_240, 4)
MDE_KEYS = ("mde", "mde_relative", "origins_needed")
SYMBOLS = ("BTCUSD", "ETHUSD")


@pytest.fixture(scope="module")
def btc(shared_data):
    return load_ohlcv(shared_data, "BTCUSD")


# --- the registry ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_when_an_objective_is_registered_then_its_fields_agree(name):
    objective = OBJECTIVES[name]
    assert objective.name == name and objective.direction == "minimize" and name != LATENCY
    assert list(objective.references)[0] == objective.benchmark  # the benchmark is the first reference
    for family in (*objective.references.values(), *objective.default_models):
        assert family in FAMILIES and FAMILIES[family].default is not None, family
    assert objective.benchmark_key == f"{objective.benchmark}_{name}"
    assert bool(objective.levels) == (objective.window_hits is not None)
    assert objective.scores_distribution or not objective.levels  # quantile levels are scored off the distribution
    assert all(0 < a < 1 for a in objective.levels) and list(objective.levels) == sorted(set(objective.levels))
    assert set(objective.plots) <= {"reliability", "fan", "equity"} and objective.min_context_length >= 1
    assert objective.describe() == {"name": name, "units": objective.units, "direction": "minimize",
                                    "benchmark": objective.benchmark, "references": dict(objective.references)}
    assert DEFAULT_OBJECTIVE in OBJECTIVES


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_when_the_benchmark_is_scored_then_it_is_its_reference_familys_default_under_the_objective(name, btc):
    objective = OBJECTIVES[name]
    family = objective.references[objective.benchmark]
    assert family == "naive"  # scored without inference: the only family that needs none
    config = default_config(family, 2048, 0, name)
    assert config.context_length <= objective.min_context_length
    result = evaluate(PersistenceForecaster(), config, btc, ORIGINS, 3, objective=name)
    np.testing.assert_allclose(result.window_errors, benchmark_losses(btc, ORIGINS, 3, name), rtol=1e-12)


def test_when_an_objective_is_unknown_then_config_error_names_it_and_the_choices():
    with pytest.raises(ConfigError) as error:
        get_objective("nope")
    for named in ("'nope'", *OBJECTIVES):
        assert named in str(error.value)


def test_when_a_document_declares_no_objective_then_it_was_tuned_on_pct_return_mae():
    old = json.loads(OLD_CANDIDATE.read_text())
    assert "objective" not in old and objective_of_run(old) == "pct_return_mae" == DEFAULT_OBJECTIVE
    assert objective_of_run({}) == "pct_return_mae"
    assert objective_of_run({"objective": "quantile_loss"}) == "quantile_loss"
    assert objective_of_run({"objective": OBJECTIVES["quantile_loss"].describe()}) == "quantile_loss"


def _median_ae(scored):
    """Absolute return error of the 0.5 quantile."""
    return pct_return_errors(scored.predictive.quantiles([0.5])[:, 0, :], scored.targets, scored.last_close)


@pytest.fixture
def median_ae():
    """A toy objective registered for one test: the median's absolute return error, benchmark persistence."""
    OBJECTIVES["median_ae"] = Objective("median_ae", "return units (0.01 = 1 %)", "absolute error of the median",
                                        _median_ae, benchmark="persistence", benchmark_losses=persistence_errors,
                                        references={"persistence": "naive"})
    try:
        yield OBJECTIVES["median_ae"]
    finally:
        del OBJECTIVES["median_ae"]


def test_when_an_objective_is_added_to_the_registry_then_a_whole_sweep_runs_on_it(median_ae, shared_data, tmp_path,
                                                                                 capsys):
    assert sweep_parser().parse_args(["--symbols", "BTCUSD", "--objective", "median_ae"]).objective == "median_ae"
    result = run_cli(capsys, main, ["--symbols", "BTCUSD", "--models", "naive", "garch", "--objective", "median_ae",
                                    "--n-trials", "2", "--data-dir", shared_data, "--runs-dir", tmp_path / "runs",
                                    "--output-dir", tmp_path / "hp", "--run-id", "toy", *SMALL])
    assert result.code == 0, result
    candidate = json.loads((tmp_path / "hp/candidates/toy/BTCUSD.json").read_text())
    assert candidate["objective"] == "median_ae" and "median_ae" in candidate["validation"]
    assert candidate["test"]["persistence_median_ae"] == pytest.approx(candidate["baseline"]["test"]["median_ae"])
    assert set(candidate["comparisons"]) == {"persistence", "default"}
    assert json.loads((tmp_path / "runs/toy/run.json").read_text())["objective"] == "median_ae"
    storage = make_storage(tmp_path / "runs/toy/optuna.journal")
    for name in optuna.get_all_study_names(storage):
        assert optuna.load_study(study_name=name, storage=storage).user_attrs["objective"] == "median_ae", name


# --- declared once ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def quantile_run(shared_data, tmp_path_factory):
    """A small real ``--objective quantile_loss`` sweep of BTCUSD and ETHUSD over the random walk and GARCH."""
    root = tmp_path_factory.mktemp("quantile")
    argv = ["--symbols", *SYMBOLS, "--models", "naive", "garch", "--n-trials", "2", "--data-dir", str(shared_data),
            "--runs-dir", str(root / "runs"), "--output-dir", str(root / "hp"), "--run-id", "q", *SMALL]
    assert main([*argv, "--objective", "quantile_loss"]) == 0
    return root, argv


def _candidate(root, symbol="BTCUSD"):
    return json.loads((root / f"hp/candidates/q/{symbol}.json").read_text())


def test_when_a_sweep_declares_quantile_loss_then_the_run_every_study_and_the_candidate_record_it(quantile_run):
    root, _argv = quantile_run
    run = json.loads((root / "runs/q/run.json").read_text())
    assert run["objective"] == "quantile_loss" and run["objectives"] == ["quantile_loss"]
    storage = make_storage(root / "runs/q/optuna.journal")
    names = optuna.get_all_study_names(storage)
    assert sorted(names) == [f"{s}.{m}" for s in SYMBOLS for m in ("garch", "naive")]
    for name in names:
        study = optuna.load_study(study_name=name, storage=storage)
        assert study.user_attrs["objective"] == "quantile_loss", name
        trial = study.best_trial
        assert trial.value == pytest.approx(trial.user_attrs["validation"]["quantile_loss"])
    for symbol in SYMBOLS:
        candidate = _candidate(root, symbol)
        assert candidate["objective"] == "quantile_loss", symbol
        test = candidate["test"]
        assert test["skill"] == pytest.approx(1 - test["quantile_loss"] / test["random_walk_quantile_loss"], rel=1e-12)
        assert candidate["baseline"]["model"] == "random_walk"
        assert candidate["implicit_incumbent"]["comparison"] in ("random_walk", "garch")


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_when_a_quantile_loss_candidate_is_written_then_its_test_losses_hold_every_reference(quantile_run, symbol):
    root, _argv = quantile_run
    candidate = _candidate(root, symbol)
    assert candidate["test_losses"]["columns"] == ["selected", "default", "random_walk", "garch"]
    losses = pd.read_csv(root / "hp/candidates/q" / candidate["test_losses"]["file"])
    assert list(losses.columns) == ["origin", "origin_time", "selected", "default", "random_walk", "garch"]
    assert losses["selected"].mean() == pytest.approx(candidate["test"]["quantile_loss"], rel=1e-12)
    assert losses["random_walk"].mean() == pytest.approx(candidate["test"]["random_walk_quantile_loss"], rel=1e-12)
    assert losses["garch"].mean() == pytest.approx(candidate["references"]["garch"]["test"]["quantile_loss"],
                                                   rel=1e-12)
    assert losses["default"].mean() == pytest.approx(candidate["default"]["test"]["quantile_loss"], rel=1e-12)


def test_when_a_quantile_loss_candidate_is_written_then_it_is_compared_with_every_reference_and_its_power(
        quantile_run):
    compared = _candidate(quantile_run[0])["comparisons"]
    assert list(compared) == ["random_walk", "garch", "default"]
    for name, entry in compared.items():
        assert all(entry.get(key) is not None for key in MDE_KEYS), name
        assert set(entry["origins_needed"]) == {"5%", "10%"}


def test_when_the_run_is_resumed_with_another_objective_then_it_is_refused_and_no_file_changes(quantile_run, capsys):
    root, argv = quantile_run
    before = tree_digest(root / "runs/q", root / "hp")
    result = run_cli(capsys, main, [*argv, "--objective", "pct_return_mae"])
    assert_refused(result, "objective", "quantile_loss", "pct_return_mae")
    assert tree_digest(root / "runs/q", root / "hp") == before


def test_when_promote_names_another_objective_then_it_is_refused_and_writes_nothing(quantile_run, shared_data, capsys):
    root, _argv = quantile_run
    before = tree_digest(root / "runs/q", root / "hp")
    result = run_cli(capsys, main, ["promote", "--run", "q", "--objective", "pct_return_mae", "--data-dir",
                                    shared_data, "--output-dir", root / "hp", "--runs-dir", root / "runs"])
    assert_refused(result, "quantile_loss", "pct_return_mae")
    assert not (root / "hp/best").exists() and not (root / "hp/reviews").exists()
    assert not (root / "hp/.promote.lock").exists()
    assert tree_digest(root / "runs/q", root / "hp") == before


def test_when_promote_names_the_declared_objective_then_the_review_and_best_are_on_it(quantile_run, shared_data,
                                                                                     tmp_path, capsys):
    root, _argv = quantile_run
    shutil.copytree(root / "hp", tmp_path / "hp")
    result = run_cli(capsys, main, ["promote", "--run", "q", "--objective", "quantile_loss", "--data-dir",
                                    shared_data, "--output-dir", tmp_path / "hp", "--runs-dir", root / "runs"])
    assert result.code == 0, result
    for symbol in SYMBOLS:
        best = json.loads((tmp_path / f"hp/best/{symbol}.json").read_text())
        implicit = _candidate(root, symbol)["implicit_incumbent"]["comparison"]
        assert best["promotion"]["objective"] == "quantile_loss" and f"vs_{implicit}" in best["promotion"]
        assert best["objective"] == "quantile_loss"


def test_when_a_study_was_tuned_on_another_objective_then_reusing_it_is_refused():
    storage = optuna.storages.InMemoryStorage()
    fresh = optuna.create_study(study_name="fresh", storage=storage)
    check_study_objective(fresh, "quantile_loss")
    assert fresh.user_attrs["objective"] == "quantile_loss"
    check_study_objective(fresh, "quantile_loss")  # the declared one again: accepted
    with pytest.raises(ConfigError, match="tuned on --objective quantile_loss, not pct_return_mae"):
        check_study_objective(fresh, "pct_return_mae")
    old = optuna.create_study(study_name="old", storage=storage)  # trials from before --objective existed
    old.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=1)
    with pytest.raises(ConfigError, match="pct_return_mae, not quantile_loss"):
        check_study_objective(old, "quantile_loss")
    check_study_objective(old, "pct_return_mae")
    assert old.user_attrs["objective"] == "pct_return_mae"


def test_when_a_study_pools_symbols_then_its_relative_loss_is_named_after_the_objective():
    assert pooled_objective("pct_return_mae") == "relative_mae" == pooled_objective()
    assert pooled_objective("quantile_loss") == "relative_quantile_loss"


# --- the objective never re-runs inference ---------------------------------------------------------------------------

def _forecaster_and_config(family: str, request) -> tuple:
    """A loaded model of ``family`` and a config with a long context (the random walk's lookback, GARCH's fit
    window), or a tiny real Toto's sample paths."""
    if family == "toto":
        from sweep.forecasters.toto import TotoForecaster

        return TotoForecaster(str(request.getfixturevalue("tiny_toto_dir"))), \
            ForecastConfig("toto", 64, 16, "median", seed=1)
    forecaster = PersistenceForecaster() if family == "naive" else GarchForecaster()
    return forecaster, default_config(family, 2048, 0, "quantile_loss")


@pytest.mark.parametrize("family", ["naive", "garch", "toto"])
def test_when_the_objective_changes_then_the_cached_draws_are_scored_without_inference(family, btc, request):
    forecaster, config = _forecaster_and_config(family, request)
    assert config.context_length > 1
    cache, horizon = SampleCache(), 2
    point = evaluate(forecaster, config, btc, ORIGINS, horizon, cache, objective="pct_return_mae")
    misses, hits = cache.misses, cache.hits
    assert misses == 1
    distribution = evaluate(forecaster, config, btc, ORIGINS, horizon, cache, objective="quantile_loss")
    assert cache.misses == misses and cache.hits == hits + 1
    for metric in ("pct_return_mae", "crps", "coverage_90", "price_mae"):  # the same draws under both
        assert point.metrics[metric] == distribution.metrics[metric], metric
    batch, _ = draw_samples(forecaster, config, btc, ORIGINS, horizon, cache)
    assert cache.misses == misses
    predictive, last_close = batch.predictive, btc.close[ORIGINS - 1]
    targets = gather_targets(btc.close, ORIGINS, horizon)[:, -1:]  # both score the close horizon bars ahead
    np.testing.assert_array_equal(point.window_errors,
                                  pct_return_errors(predictive.point(config.aggregate)[:, -1:], targets, last_close))
    np.testing.assert_array_equal(distribution.window_errors, quantile_loss_windows(
        predictive.endpoint().quantiles(QUANTILE_LEVELS), QUANTILE_LEVELS, targets, last_close))


# --- settings --------------------------------------------------------------------------------------------------------

def _sweep_argv(shared_data, tmp_path, *flags):
    return ["--symbols", "BTCUSD", "--data-dir", shared_data, "--runs-dir", tmp_path / "runs", "--output-dir",
            tmp_path / "hp", "--run-id", "s", *flags]


def test_when_quantile_loss_has_too_short_a_context_then_the_sweep_is_refused_naming_721(shared_data, tmp_path,
                                                                                       capsys):
    result = run_cli(capsys, main, _sweep_argv(shared_data, tmp_path, "--models", "naive", "--objective",
                                               "quantile_loss", "--max-context-length", "512"))
    assert_refused(result, "quantile_loss", "721", "512")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "hp").exists()
    places = {"output_dir": tmp_path / "hp", "runs_dir": tmp_path / "runs"}
    with pytest.raises(ConfigError, match="721"):
        SweepSettings(("BTCUSD",), ("naive",), objectives=("quantile_loss",),
                      windows=WindowSpec(max_context_length=720), **places)
    assert SweepSettings(("BTCUSD",), ("naive",), objectives=("quantile_loss",),
                         windows=WindowSpec(max_context_length=721), **places).objective == "quantile_loss"


def test_when_objective_and_objectives_disagree_then_the_sweep_is_refused(shared_data, tmp_path, capsys):
    result = run_cli(capsys, main, _sweep_argv(shared_data, tmp_path, "--models", "naive", "--objective",
                                               "quantile_loss", "--objectives", "pct_return_mae", "latency_s"))
    assert_refused(result, "--objective quantile_loss", "--objectives pct_return_mae latency_s")
    assert not (tmp_path / "runs").exists()


def test_when_a_latency_budget_lacks_the_latency_objective_then_the_fix_named_keeps_the_declared_objective(
        shared_data, tmp_path, capsys):
    result = run_cli(capsys, main, _sweep_argv(shared_data, tmp_path, "--models", "naive", "--objective",
                                               "quantile_loss", "--latency-budget-s", "0.5"))
    assert_refused(result, "--latency-budget-s 0.5", "--objectives quantile_loss latency_s")


def test_when_objectives_name_quantile_loss_and_latency_then_they_are_the_runs_objectives(shared_data, tmp_path):
    for flags in (["--objectives", "quantile_loss", "latency_s"],
                  ["--objective", "quantile_loss", "--objectives", "quantile_loss", "latency_s"]):
        settings = sweep_settings(sweep_parser().parse_args([str(a) for a in _sweep_argv(shared_data, tmp_path,
                                                                                          *flags)]))
        assert settings.objectives == ("quantile_loss", "latency_s") and settings.objective == "quantile_loss"
        assert settings.models == (*DEFAULT_MODELS, "garch")


def test_when_no_models_are_named_then_the_objectives_own_references_join_the_defaults():
    def models(*flags):
        return models_from_args(sweep_parser().parse_args(["--symbols", "BTCUSD", *flags]))

    assert models() == DEFAULT_MODELS == models("--objective", "pct_return_mae")
    assert models("--objective", "quantile_loss") == (*DEFAULT_MODELS, "garch")
    assert models("--objective", "quantile_loss", "--models", "naive") == ("naive",)


# --- paired comparisons ----------------------------------------------------------------------------------------------

def test_when_compared_under_quantile_loss_then_the_random_walk_garch_and_default_each_have_an_mde(btc):
    naive = space_of("naive", "quantile_loss")(optuna.trial.FixedTrial({"lookback": 168}), 2048, 0)
    candidate = evaluate(PersistenceForecaster(), naive, btc, ORIGINS, 2, objective="quantile_loss")
    default = evaluate(PersistenceForecaster(), default_config("naive", 2048, 0, "quantile_loss"), btc, ORIGINS, 2,
                       objective="quantile_loss")
    garch = evaluate(GarchForecaster(), default_config("garch", 2048, 0, "quantile_loss"), btc, ORIGINS, 2,
                     objective="quantile_loss")
    compared = comparisons(candidate, default, 0.05, 0, origins_per_day=6.0, references={"garch": garch})
    assert list(compared) == ["random_walk", "garch", "default"]
    others = {"random_walk": candidate.baseline_loss, "garch": garch.loss, "default": default.loss}
    for name, other_loss in others.items():
        entry = compared[name]
        assert all(entry.get(key) is not None for key in MDE_KEYS), name
        assert entry["mean_diff"] == pytest.approx(candidate.loss - other_loss, rel=1e-9)
        assert entry["mde_relative"] == pytest.approx(entry["mde"] / other_loss, rel=1e-9)
        assert entry["days_needed"]["5%"] == pytest.approx(entry["origins_needed"]["5%"] / 6.0)
    # the benchmark is the naive default: the same losses, so the same verdict
    assert compared["random_walk"]["mean_diff"] == pytest.approx(compared["default"]["mean_diff"], rel=1e-12)
