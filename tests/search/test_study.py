import signal
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

from sweep.data.bars import load_ohlcv
from sweep.forecasters.toto import TotoForecaster
from sweep.search.study import StudyJob, make_storage, open_study, run_study
from sweep.data.windows import WindowSpec, make_splits

from conftest import REPO

SPEC = WindowSpec(val_windows=5, test_windows=5, stride=12, max_context_length=128)


class FlakyToto(TotoForecaster):
    """Fails whenever the context is 64 bars: a trial error the study must survive."""

    failing_context = 64

    def forecast(self, contexts, *args, **kwargs):
        if contexts.shape[1] == self.failing_context:
            raise RuntimeError("simulated out of memory")
        return super().forecast(contexts, *args, **kwargs)


class DefaultOomToto(FlakyToto):
    """Fails on 128-bar contexts: the family default's (at a 128-bar ceiling), a failure of the config itself."""

    failing_context = 128


def _job(data_dir, tmp_path, make, n_trials=12):
    data = load_ohlcv(data_dir, "TEST")
    return StudyJob(symbol="TEST", model="toto", data=data, splits=make_splits(data.n_bars, SPEC),
                    make_forecaster=make, n_trials=n_trials, storage=str(tmp_path / "optuna.journal"), seed=0,
                    context_ceiling=SPEC.max_context_length)


def test_when_a_trial_fails_then_it_is_recorded_fail_and_the_study_goes_on(data_dir, tiny_toto_dir, tmp_path):
    job = _job(data_dir, tmp_path, lambda: FlakyToto(str(tiny_toto_dir)), n_trials=15)
    outcome = run_study(job)
    study = optuna.load_study(study_name=job.name, storage=make_storage(job.storage))
    failed = study.get_trials(states=(TrialState.FAIL,))
    assert failed and all("simulated out of memory" in t.user_attrs["error"] for t in failed)
    assert all(t.params["context_length"] == 64 for t in failed)
    assert outcome.config.context_length == 128
    assert outcome.validation["pct_return_mae"] == min(t.value for t in study.get_trials(states=(TrialState.COMPLETE,)))


def test_when_a_trial_was_left_running_then_it_becomes_fail_and_the_study_completes(data_dir, tiny_toto_dir, tmp_path):
    job = _job(data_dir, tmp_path, lambda: TotoForecaster(str(tiny_toto_dir)), n_trials=4)
    study = open_study(make_storage(job.storage), job.name, seed=0)
    orphan = study.ask()  # a worker died holding this trial
    outcome = run_study(job)
    trials = optuna.load_study(study_name=job.name, storage=make_storage(job.storage)).get_trials()
    assert trials[orphan.number].state == TrialState.FAIL
    assert "interrupted" in trials[orphan.number].user_attrs["error"]
    assert outcome.n_complete == 4


def test_when_rerun_after_completion_then_no_trial_is_redone(data_dir, tiny_toto_dir, tmp_path):
    job = _job(data_dir, tmp_path, lambda: TotoForecaster(str(tiny_toto_dir)), n_trials=3)
    first = run_study(job)
    second = run_study(job)
    study = optuna.load_study(study_name=job.name, storage=make_storage(job.storage))
    assert len(study.trials) == 3 and second.trial_number == first.trial_number


def _completed(journal, name):
    try:
        study = optuna.load_study(study_name=name, storage=make_storage(journal))
    except KeyError:
        return {}
    return {t.number: t.value for t in study.get_trials(states=(TrialState.COMPLETE,))}


def test_when_the_sweep_process_is_killed_then_a_rerun_keeps_completed_trials(data_dir, tiny_toto_dir, tmp_path):
    n_trials = 150  # trials take milliseconds: enough of them that the kill lands mid-sweep
    command = [sys.executable, "-m", "sweep", "--symbols", "TEST", "--models", "toto", "--n-trials", str(n_trials),
               "--data-dir", str(data_dir), "--toto-model", str(tiny_toto_dir), "--runs-dir", str(tmp_path / "runs"),
               "--output-dir", str(tmp_path / "hp"), "--run-id", "killed", "--val-windows", "5", "--test-windows", "5",
               "--stride", "12", "--max-context-length", "64", "--no-cache"]
    journal = tmp_path / "runs" / "killed" / "optuna.journal"
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(_completed(journal, "TEST.toto")) < 3 and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = _completed(journal, "TEST.toto")
    assert 3 <= len(before) < n_trials, "the kill must land mid-sweep"

    rerun = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    after = _completed(journal, "TEST.toto")
    assert len(after) == n_trials
    assert all(after[number] == value for number, value in before.items())
    assert (tmp_path / "hp" / "candidates" / "killed" / "TEST.json").is_file()


def test_when_a_study_starts_then_the_warm_starts_run_first_and_a_rerun_does_not_enqueue_them_again(
        data_dir, tiny_toto_dir, tmp_path):
    from dataclasses import replace

    from sweep.forecasters.config import ForecastConfig
    from sweep.search.space import default_config, params_of
    from sweep.search.study import WINDOW_ERRORS_ATTR, WarmStart

    production = ForecastConfig(model="toto", context_length=64, num_samples=32, aggregate="trimmed_mean_0.1")
    warm = (WarmStart("default", params_of(default_config("toto", 128), 128)),
            WarmStart("production", params_of(production, 128), {"production": "best/TEST.json"}))
    job = replace(_job(data_dir, tmp_path, lambda: TotoForecaster(str(tiny_toto_dir)), n_trials=4), warm_start=warm)
    run_study(job)
    run_study(replace(job, n_trials=6))
    trials = optuna.load_study(study_name=job.name, storage=make_storage(job.storage)).get_trials()
    sources = [t.user_attrs["source"] for t in trials]
    assert sources == ["default", "production", "search", "search", "search", "search"]
    assert trials[0].user_attrs["config"] == default_config("toto", 128).to_dict()
    assert trials[1].user_attrs["config"] == production.to_dict()
    assert trials[1].user_attrs["production"] == "best/TEST.json"
    for t in trials:  # per-window validation losses are stored and are what the objective averaged
        assert len(t.user_attrs[WINDOW_ERRORS_ATTR]) == SPEC.val_windows
        assert abs(sum(t.user_attrs[WINDOW_ERRORS_ATTR]) / SPEC.val_windows - t.value) < 1e-12


def test_when_the_best_file_holds_a_config_of_the_model_then_it_is_the_production_warm_start(tmp_path):
    import json

    from sweep.runs.settings import SweepSettings
    from sweep.search.warm_start import warm_starts
    from sweep.data.windows import WindowSpec

    settings = SweepSettings(symbols=("BTCUSD",), output_dir=tmp_path, windows=WindowSpec(max_context_length=512))
    assert [w.source for w in warm_starts(settings, "BTCUSD", "toto", 512)] == ["default"]
    toto = {"model": "toto", "context_length": 128, "num_samples": 64, "aggregate": "median", "seed": 0, "sampling": {}}
    best = {"symbol": "BTCUSD", "model": {"family": "ensemble", "method": "lp"}, "config": {"members": [
        {"label": "toto", "model": {"family": "toto", "model_id": "x"}, "config": toto, "weight": 0.7},
        {"label": "naive", "model": {"family": "naive", "model_id": "persistence"},
         "config": {"model": "naive", "context_length": 1, "num_samples": 1, "aggregate": "mean"}, "weight": 0.3}]}}
    (tmp_path / "best").mkdir()
    (tmp_path / "best" / "BTCUSD.json").write_text(json.dumps(best))
    toto_warm = warm_starts(settings, "BTCUSD", "toto", 512)
    assert [w.source for w in toto_warm] == ["default", "production"]
    assert toto_warm[1].params == {"context_length": 128, "num_samples": 64, "aggregate": "median"}
    assert [w.source for w in warm_starts(settings, "BTCUSD", "kronos", 512)] == ["default"]
    # persistence's production config is its default: one trial, marked as production too
    (naive,) = warm_starts(settings, "BTCUSD", "naive", 512)
    assert naive.source == "default" and naive.user_attrs["production"].endswith("BTCUSD.json")


def test_when_a_journal_is_opened_again_then_its_storage_is_reused_and_sees_other_writers(tmp_path):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = tmp_path / "optuna.journal"
    first = make_storage(path)
    optuna.create_study(study_name="a", storage=first)
    assert make_storage(path) is first  # no replay of the whole file per study
    optuna.create_study(study_name="b", storage=JournalStorage(JournalFileBackend(str(path))))  # another writer
    assert {s.study_name for s in make_storage(path).get_all_studies()} == {"a", "b"}
    path.unlink()  # another journal at the same path: a fresh storage
    optuna.create_study(study_name="c", storage=JournalStorage(JournalFileBackend(str(path))))
    fresh = make_storage(path)
    assert fresh is not first and [s.study_name for s in fresh.get_all_studies()] == ["c"]


class CtrlCToto(TotoForecaster):
    """Ctrl-C lands in its first forecast: inside the study's first trial, the family default's."""

    def forecast(self, *args, **kwargs):
        raise KeyboardInterrupt


def _default_warm_start():
    from sweep.search.space import default_config, params_of
    from sweep.search.study import WarmStart

    return (WarmStart("default", params_of(default_config("toto", 128), 128)),)


@pytest.mark.parametrize("interruption", ["ctrl-c", "killed worker"])
def test_when_the_first_trial_is_interrupted_then_the_resume_scores_the_default_once_and_no_config_twice_in_a_row(
        interruption, data_dir, tiny_toto_dir, tmp_path):
    from dataclasses import replace

    from sweep.search.space import default_config, space_of
    from sweep.search.study import open_job_study

    # --seed 14: the resumed sampler's seed is 15 (seed + stored trials), whose first two start-up draws are one
    # config, as seed 1's are at 512 bars for toto2, chronos2 and fracast (every study of a --seed 0 run resumed
    # after one trial)
    job = replace(_job(data_dir, tmp_path, lambda: TotoForecaster(str(tiny_toto_dir)), n_trials=4), seed=14,
                  warm_start=_default_warm_start())
    if interruption == "ctrl-c":
        with pytest.raises(KeyboardInterrupt):
            run_study(replace(job, make_forecaster=lambda: CtrlCToto(str(tiny_toto_dir))))
    else:
        orphan = open_job_study(job).ask()  # a worker died scoring the default: its trial is left RUNNING
        assert space_of("toto")(orphan, 128, job.seed) == default_config("toto", 128, seed=14)
    outcome = run_study(job)
    trials = optuna.load_study(study_name=job.name, storage=make_storage(job.storage)).get_trials()
    assert trials[0].state == TrialState.FAIL and trials[0].user_attrs["source"] == "default"
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    defaults = [t for t in complete if t.user_attrs["source"] == "default"]
    assert len(defaults) == 1 and defaults[0].user_attrs["config"] == default_config("toto", 128, seed=14).to_dict()
    assert all(a.params != b.params for a, b in zip(complete, complete[1:])), [t.params for t in complete]
    assert outcome.n_complete == 4


def test_when_the_default_fails_on_its_config_then_a_resume_does_not_enqueue_it_again(data_dir, tiny_toto_dir,
                                                                                     tmp_path):
    from dataclasses import replace

    job = replace(_job(data_dir, tmp_path, lambda: DefaultOomToto(str(tiny_toto_dir)), n_trials=3),
                  warm_start=_default_warm_start())
    run_study(job)
    run_study(replace(job, n_trials=5))
    trials = optuna.load_study(study_name=job.name, storage=make_storage(job.storage)).get_trials()
    (default,) = [t for t in trials if t.user_attrs.get("source") == "default"]
    assert default.state == TrialState.FAIL and "simulated out of memory" in default.user_attrs["error"]


def test_when_trials_are_drawn_from_a_small_grid_then_no_config_is_drawn_twice_in_a_row(tmp_path):
    from sweep.search.space import AGGREGATIONS, space_of

    space = space_of("toto")  # 80 configs at 128 bars; seed 15's first two start-up draws are one config

    def objective(trial):
        config = space(trial, 128, 0)
        return AGGREGATIONS.index(config.aggregate) + config.num_samples / 256 + config.context_length / 128

    study = open_study(make_storage(tmp_path / "optuna.journal"), "grid", seed=15)
    study.optimize(objective, n_trials=40)  # 10 random start-up trials, then TPE, which returns to its best
    params = [t.params for t in study.get_trials()]
    assert all(a != b for a, b in zip(params, params[1:])), params
    assert len({tuple(sorted(p.items())) for p in params}) < len(params)  # repeats later are allowed
