"""``--horizons 1 4 24``: one run, every forecast drawn once at 24 bars, a selection, candidate, review and best
config per (symbol, horizon), served by ``predict --horizon`` exactly as evaluation scored it."""

import json

import numpy as np
import optuna
import pandas as pd
import pytest
from conftest import assert_refused, run_cli

from sweep.cli import main
from sweep.data.bars import load_ohlcv
from sweep.data.windows import WindowSpec, make_splits
from sweep.errors import ConfigError
from sweep.scoring.cache import SampleCache
from sweep.forecasters.registry import FAMILIES, draws_once
from sweep.scoring.evaluate import drawn_horizon, evaluate, score
from sweep.search.space import default_config
from sweep.search.horizon_trials import BY_HORIZON_ATTR
from sweep.search.study import make_storage
from sweep.serving.predict import Predictor
from sweep.stats.predictive import Predictive
from sweep.storage.store import horizon_slot, slot_parts

HORIZONS = (1, 4, 24)
WINDOWS = ["--val-windows", "8", "--test-windows", "3", "--max-context-length", "512"]
NAMES = {1: "BTCUSD", 4: "BTCUSD.h4", 24: "BTCUSD.h24"}


@pytest.fixture(scope="module")
def horizons_run(shared_data, tiny_toto_dir, tiny_quantile_dirs, tmp_path_factory):
    """A real sweep of tiny Toto 2.0 (whose shorter horizons equal a direct draw), tiny Toto (whose do not) and
    persistence on BTCUSD at 1, 4 and 24 bars, promoted."""
    root = tmp_path_factory.mktemp("horizons")
    argv = ["--symbols", "BTCUSD", "--models", "toto2", "toto", "naive", "--toto-model", str(tiny_toto_dir),
            "--toto2-model", str(tiny_quantile_dirs["toto2"]), "--n-trials", "3",
            "--horizons", *map(str, HORIZONS), "--data-dir", str(shared_data), "--runs-dir", str(root / "runs"),
            "--output-dir", str(root / "hp"), "--run-id", "h", *WINDOWS]
    assert main([*argv, "--promote"]) == 0
    return root, argv


def _candidate(root, horizon):
    path = root / "hp" / "candidates" / "h" / f"{NAMES[horizon]}.json"
    return path, json.loads(path.read_text())


def test_when_horizons_are_swept_then_each_gets_its_own_candidate_on_the_same_origins(horizons_run):
    root, _ = horizons_run
    origins = []
    for horizon in HORIZONS:
        path, document = _candidate(root, horizon)
        assert document["symbol"] == "BTCUSD" and document["windows"]["horizon"] == horizon
        assert document["windows"]["purge_gap_bars"] == 24  # laid out for the longest horizon
        losses = pd.read_csv(path.with_name(document["test_losses"]["file"]))
        origins.append((document["windows"]["first_validation_origin"], document["windows"]["last_validation_origin"],
                        tuple(losses["origin"])))
    assert origins[0] == origins[1] == origins[2]
    powers = [_candidate(root, h)[1].get("power_vs_persistence") for h in HORIZONS]
    assert any(powers)  # persistence kept somewhere: its power block names one alternative for every horizon
    assert all(p["chosen_over_horizons"] == list(HORIZONS) and p["overlap"] == h
               for p, h in zip(powers, HORIZONS) if p)
    for name in NAMES.values():
        assert (root / "hp" / "best" / f"{name}.json").is_file()
        assert len(list((root / "hp" / "reviews").glob(f"*-{name}.md"))) == 1


def test_when_horizons_are_swept_then_each_selects_from_the_same_trials_on_its_own_losses(horizons_run):
    root, _ = horizons_run
    study = optuna.load_study(study_name="BTCUSD.toto2", storage=make_storage(root / "runs" / "h" / "optuna.journal"))
    trials = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert all(sorted(map(int, t.user_attrs[BY_HORIZON_ATTR])) == list(HORIZONS) for t in trials)
    for horizon in HORIZONS:
        _, document = _candidate(root, horizon)
        studies = {s["study_name"]: s for s in document["selection"]["studies"]}
        best = min(trials, key=lambda t: (t.user_attrs[BY_HORIZON_ATTR][str(horizon)]["pct_return_mae"], t.number))
        assert studies["BTCUSD.toto2"]["best_trial"] == best.number  # the best trial at this horizon, not overall
        assert studies["BTCUSD.toto2"]["validation_pct_return_mae"] == \
            best.user_attrs[BY_HORIZON_ATTR][str(horizon)]["pct_return_mae"]
        provenance = document["provenance"]
        if provenance["study_name"] == "BTCUSD.toto2":  # the selected trial's own validation at this horizon
            chosen = next(t for t in trials if t.number == provenance["trial_number"])
            assert document["validation"] == {k: v for k, v in chosen.user_attrs[BY_HORIZON_ATTR][str(horizon)].items()
                                              if k in document["validation"]}
        assert document["selection"]["spa"]["n_models"] >= len(trials)  # the same trials at every horizon


@pytest.mark.parametrize("family", ["toto2", "toto"])
def test_when_a_shorter_horizon_is_scored_then_a_family_that_draws_once_reads_the_24_bar_draw(
        horizons_run, shared_data, tiny_toto_dir, tiny_quantile_dirs, family):
    root, _ = horizons_run
    data = load_ohlcv(shared_data, "BTCUSD")
    _, document = _candidate(root, 4)
    origins = make_splits(data.n_bars, WindowSpec.from_document(document["windows"])).validation_origins
    checkpoint = {"toto": tiny_toto_dir, "toto2": tiny_quantile_dirs["toto2"]}[family]
    forecaster = FAMILIES[family].load(str(checkpoint))
    config = default_config(family, 512, 0)  # every study's first trial: drawn on validation
    cache = SampleCache(root / "runs" / "h" / "cache")
    from_run = evaluate(forecaster, config, data, origins, 4, cache, layout=24)
    assert cache.misses == 0 and cache.hits > 0  # the study drew it (at 24 bars, or at 4 where a family must)
    assert drawn_horizon(forecaster, 4, 24) == (24 if draws_once(family) else 4)
    direct = evaluate(forecaster, config, data, origins, 4, cache)
    assert cache.misses == (1 if draws_once(family) else 0)  # a direct 4-bar draw is new inference only if it drew once
    if draws_once(family):  # the registry's claim, as the study scored it
        np.testing.assert_allclose(from_run.window_errors, direct.window_errors, rtol=1e-5, atol=1e-9)


def test_when_a_horizon_is_scored_then_the_target_is_the_close_that_many_bars_ahead(shared_data):
    data = load_ohlcv(shared_data, "BTCUSD")
    origins = np.arange(3000, 3010)
    close, last = data.close, data.close[origins - 1]
    point = np.stack([last * 2.0, last * 3.0, close[origins + 3]], axis=1)[:, [0, 1, 1, 2]]  # wrong, then exact
    result = score(point, Predictive(point[:, None, :]), 0.0, data, origins, 4)
    assert result.loss == 0.0
    persistence = np.abs(close[origins + 3] / last - 1.0)
    np.testing.assert_array_equal(result.baseline_window_errors, persistence)


def test_when_the_4_bar_config_is_served_then_predict_gives_exactly_the_recorded_test_forecast(horizons_run,
                                                                                             shared_data):
    root, _ = horizons_run
    path, document = _candidate(root, 4)
    data = load_ohlcv(shared_data, "BTCUSD")
    recorded = pd.read_csv(path.with_name(document["test_losses"]["file"]), float_precision="round_trip")
    predictor = Predictor(document, path)
    batch = predictor.forecast_origins(data, recorded["origin"].to_numpy())
    for row in (0, 17, len(recorded) - 1):
        origin = int(recorded["origin"][row])
        served = predictor.predict(data, at=data.frame.index[origin])
        assert len(served.point) == 4
        np.testing.assert_array_equal(served.point, batch.point[row])
        error = abs(served.point_return[-1] - (data.close[origin + 3] / data.close[origin - 1] - 1.0))
        assert error == recorded["selected"][row]  # the loss the sweep recorded at that test origin, exactly


def test_when_predict_names_a_horizon_then_it_serves_that_best_file_and_refuses_one_without(horizons_run,
                                                                                           shared_data, capsys):
    root, _ = horizons_run
    argv = ["predict", "--symbol", "BTCUSD", "--data-dir", shared_data, "--output-dir", root / "hp", "--json"]
    served = run_cli(capsys, main, [*argv, "--horizon", "4"])
    assert served.code == 0 and len(json.loads(served.out)["times"]) == 4
    assert len(json.loads(run_cli(capsys, main, argv).out)["times"]) == 1
    assert_refused(run_cli(capsys, main, [*argv, "--horizon", "2"]), "BTCUSD.h2.json", "no promoted config at "
                   "--horizon 2", "promoted horizons: 1, 4, 24")


def test_when_horizons_are_exported_then_only_the_1_bar_config_is_written_and_the_rest_named(horizons_run, capsys,
                                                                                            tmp_path):
    root, _ = horizons_run
    result = run_cli(capsys, main, ["export", "--layout", "stock-prediction", "--output-dir", root / "hp", "--to",
                                    tmp_path / "out"])
    assert result.code == 0, result
    assert not list((tmp_path / "out").rglob("*.h*.json"))  # persistence at 1 bar writes no model file either
    flat = " ".join((result.err + result.out).split())
    assert "BTCUSD.h4.json (horizon 4 bars) is not exported" in flat and "--horizon 24" in flat


def test_when_a_run_is_resumed_with_other_horizons_then_it_is_refused(horizons_run, capsys):
    _, argv = horizons_run
    changed = [a for a in argv if a != "24"]  # --horizons 1 4
    assert_refused(run_cli(capsys, main, [*changed, "--horizon", "4"]), "horizons")


@pytest.mark.parametrize("flags, named", [
    (["--horizon", "4", "--horizons", "1", "24"], "--horizon 4 and --horizons 1 24 disagree"),
    (["--horizons", "1", "24", "--selection", "pooled", "--symbols", "ETHUSD"], "drop --selection pooled"),
])
def test_when_horizons_are_given_badly_then_the_sweep_refuses_them(flags, named, shared_data, tmp_path, capsys):
    argv = ["--symbols", "BTCUSD", "--models", "naive", "--data-dir", shared_data, "--runs-dir", tmp_path,
            "--output-dir", tmp_path / "hp", *WINDOWS, *flags]
    assert_refused(run_cli(capsys, main, argv), named)
    assert not (tmp_path / "hp").exists()


def test_when_a_horizon_is_not_a_positive_whole_number_then_the_parser_refuses_it(shared_data, tmp_path, capsys):
    with pytest.raises(SystemExit) as refused:
        main(["--symbols", "BTCUSD", "--data-dir", str(shared_data), "--runs-dir", str(tmp_path), "--horizons", "0",
              "24"])
    assert refused.value.code == 2 and "argument --horizons: got 0" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_when_names_carry_a_horizon_then_they_parse_back_and_1_bar_keeps_todays_name():
    assert horizon_slot("BTCUSD", 1) == "BTCUSD" and horizon_slot("BTC.USD", 24) == "BTC.USD.h24"
    for symbol in ("BTCUSD", "BTC.USD", "A-B_C", "X.H4"):
        for horizon in (1, 4, 24):
            assert slot_parts(horizon_slot(symbol, horizon)) == (symbol, horizon)


def test_when_a_spec_is_scored_at_a_shorter_horizon_then_its_origins_stay_and_a_longer_one_is_refused():
    spec = WindowSpec(horizon=24, val_windows=8, test_windows=3, max_context_length=512)
    splits = make_splits(5000, spec)
    for horizon in (1, 4, 24):
        shorter = make_splits(5000, spec.at_horizon(horizon))
        np.testing.assert_array_equal(shorter.validation_origins, splits.validation_origins)
        np.testing.assert_array_equal(shorter.test_origins, splits.test_origins)
        assert shorter.spec.horizon == horizon and shorter.spec.purge_gap == 24
        recorded = make_splits(5000, WindowSpec.from_document(shorter.describe()))  # what a review lays out again
        np.testing.assert_array_equal(recorded.test_origins, splits.test_origins)
    with pytest.raises(ConfigError, match="at least the horizon"):
        spec.at_horizon(48)


def test_when_a_horizons_run_is_reported_then_skill_by_horizon_is_drawn_and_recomputes_from_the_stored_losses(
        horizons_run, capsys):
    root, _ = horizons_run
    result = run_cli(capsys, main, ["report", "--run", "h", "--runs-dir", root / "runs", "--output-dir", root / "hp"])
    assert result.code == 0, result
    folder = root / "runs" / "h" / "report"
    text = (folder / "report.md").read_text()
    assert "## Skill by horizon" in text and (folder / "BTCUSD-skill-by-horizon.png").is_file()
    for horizon in HORIZONS:
        path, document = _candidate(root, horizon)
        losses = pd.read_csv(path.with_name(document["test_losses"]["file"]), float_precision="round_trip")
        skill = 1.0 - losses["selected"].mean() / losses["persistence"].mean()
        assert f"| BTCUSD | {horizon} | {document['model']['family']} | {skill:+.4f} [" in text
        if "power_vs_persistence" in document:  # persistence kept: the strongest other model is drawn by horizon
            other = 1.0 - losses["alternative"].mean() / losses["persistence"].mean()
            family = document["power_vs_persistence"]["config_of"].rpartition(".")[2]
            assert f"| {family} | {other:+.4f} [" in text
        assert document["comparisons"]["persistence"]["overlap"] == horizon  # at test stride 1, h windows share a bar


def test_when_horizons_are_backtested_then_each_fold_and_horizon_has_a_row_and_a_gain(shared_data, tmp_path,
                                                                                      capsys):
    argv = ["backtest", "--symbols", "BTCUSD", "--models", "naive", "--horizons", "1", "4", "--folds", "2",
            "--data-dir", shared_data, "--runs-dir", tmp_path / "runs", "--output-dir", tmp_path / "hp",
            "--run-id", "b", *WINDOWS]
    result = run_cli(capsys, main, argv)
    assert result.code == 0, result
    document = json.loads((tmp_path / "runs" / "b" / "backtest.json").read_text())
    assert sorted((r["fold"], r["horizon"]) for r in document["folds"]) == [(0, 1), (0, 4), (1, 1), (1, 4)]
    assert set(document["summary_by_horizon"]) == {"1", "4"}
    assert document["summary_by_horizon"]["1"] == document["summary"]
    flat = " ".join((result.err + result.out).split())
    assert "at 4 bar(s), per-symbol tuning, --select significant, vs default" in flat and "BTCUSD.h4" in flat
