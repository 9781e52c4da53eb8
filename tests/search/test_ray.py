"""Ray actors as Optuna workers: a real local Ray instance, real kills of workers and of the driver."""

import os
import signal
import subprocess
import sys
import time
from functools import partial

import optuna
import pytest
from optuna.trial import TrialState

from sweep.data.bars import load_ohlcv
from sweep.errors import ModelLoadError
from sweep.forecasters import PersistenceForecaster
from sweep.forecasters.toto import TotoForecaster
from sweep.search.ray_executor import RayExecutor
from sweep.search.study import StudyJob, make_storage
from sweep.data.windows import WindowSpec, make_splits

from conftest import REPO
from test_study import _completed

SPEC = WindowSpec(val_windows=5, test_windows=5, stride=12, max_context_length=128)


@pytest.fixture(scope="session")
def slow_toto_dir(tmp_path_factory):
    """A random 11M-parameter Toto: trials take ~0.1 s, so kills land while trials are in flight."""
    import json

    from toto.model.toto import Toto

    from tototraining.train import PRESETS, save_checkpoint

    config = json.loads(json.dumps(PRESETS["small"]))
    config.update(embed_dim=384, num_layers=6, num_heads=6, mlp_hidden_dim=1536, spacewise_every_n_layers=6)
    return save_checkpoint(Toto(**config), config, tmp_path_factory.mktemp("ckpt") / "toto-slow")


def _jobs(data_dir, tmp_path, model_dir, n_trials):
    data = load_ohlcv(data_dir, "TEST")
    splits = make_splits(data.n_bars, SPEC)
    return [StudyJob(symbol="TEST", model=model, data=data, splits=splits,
                     # importable callables: Ray workers cannot import this test module
                     make_forecaster=partial(TotoForecaster, model_dir) if model == "toto" else PersistenceForecaster,
                     n_trials=n_trials, storage=str(tmp_path / "optuna.journal"), seed=0,
                     context_ceiling=SPEC.max_context_length if model == "toto" else 1,
                     cache_dir=str(tmp_path / "cache")) for model in ("toto", "naive")]


def test_when_two_actors_share_the_studies_then_each_study_reaches_its_target(ray_session, data_dir, tiny_toto_dir,
                                                                             tmp_path):
    jobs = _jobs(data_dir, tmp_path, str(tiny_toto_dir), n_trials=12)
    outcomes = RayExecutor(workers=2, run_label="t").run(jobs)
    assert [o.model for o in outcomes] == ["toto", "naive"]
    study = optuna.load_study(study_name="TEST.toto", storage=make_storage(jobs[0].storage))
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert 12 <= len(complete) <= 13  # at most one extra trial per worker in a race
    assert {t.user_attrs["worker"] for t in study.trials} <= {"t-w0-g0", "t-w1-g0"}
    assert outcomes[0].validation["pct_return_mae"] == min(t.value for t in complete)


def test_when_a_worker_cannot_load_its_model_then_model_load_error_reaches_the_driver(ray_session, data_dir,
                                                                                    tmp_path):
    jobs = _jobs(data_dir, tmp_path, str(tmp_path / "missing"), n_trials=3)
    with pytest.raises(ModelLoadError, match="--toto-model"):
        RayExecutor(workers=1).run(jobs[:1])


def _command(data_dir, tiny_toto_dir, tmp_path, n_trials):
    return [sys.executable, "-m", "sweep", "--symbols", "TEST", "--models", "toto", "--n-trials", str(n_trials),
            "--data-dir", str(data_dir), "--toto-model", str(tiny_toto_dir), "--runs-dir", str(tmp_path / "runs"),
            "--output-dir", str(tmp_path / "hp"), "--run-id", "r", "--val-windows", "40", "--test-windows", "5",
            "--stride", "6", "--max-context-length", "256", "--no-cache", "--executor", "ray", "--workers", "2"]


def _wait(condition, process, timeout_s=120):
    deadline = time.time() + timeout_s
    while not condition() and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)


def test_when_a_ray_worker_is_killed_then_the_sweep_replaces_it_and_completes(data_dir, slow_toto_dir, tmp_path):
    n_trials = 40
    journal = tmp_path / "runs" / "r" / "optuna.journal"
    process = subprocess.Popen(_command(data_dir, slow_toto_dir, tmp_path, n_trials), cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def running_trial():
        try:
            study = optuna.load_study(study_name="TEST.toto", storage=make_storage(journal))
        except KeyError:
            return None
        if len(study.get_trials(states=(TrialState.COMPLETE,))) < 3:
            return None
        return next(iter(study.get_trials(states=(TrialState.RUNNING,))), None)

    _wait(lambda: running_trial() is not None, process)
    victim = running_trial()
    assert victim is not None, "the sweep ended before a worker could be killed"
    before = _completed(journal, "TEST.toto")
    os.kill(victim.user_attrs["worker_pid"], signal.SIGKILL)
    _stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr

    study = optuna.load_study(study_name="TEST.toto", storage=make_storage(journal))
    after = _completed(journal, "TEST.toto")
    assert n_trials <= len(after) <= n_trials + 1
    assert all(after[number] == value for number, value in before.items())
    killed = study.trials[victim.number]
    assert killed.state == TrialState.COMPLETE or "died" in killed.user_attrs["error"]
    assert f"worker r-w{victim.user_attrs['worker'][-4]}-g0 died" in " ".join(stderr.split())  # and was replaced
    assert not study.get_trials(states=(TrialState.RUNNING,))


def _settled(journal, quiet_s=3.0, timeout_s=60):
    """Completed trials once none has been added for ``quiet_s`` (a killed driver's actors die within seconds)."""
    last, since, deadline = None, time.time(), time.time() + timeout_s
    while time.time() < deadline:
        now = _completed(journal, "TEST.toto")
        if now != last:
            last, since = now, time.time()
        elif time.time() - since >= quiet_s:
            break
        time.sleep(0.2)
    return last


def test_when_the_driver_is_killed_then_a_rerun_keeps_completed_trials(data_dir, slow_toto_dir, tmp_path):
    # enough trials that the actors, which outlive their killed driver by a few seconds, cannot finish the budget
    # (with 50 they once did under a loaded CI machine: 50 of 50 settled)
    n_trials = 200
    journal = tmp_path / "runs" / "r" / "optuna.journal"
    command = _command(data_dir, slow_toto_dir, tmp_path, n_trials)
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait(lambda: len(_completed(journal, "TEST.toto")) >= 3, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = _settled(journal)
    assert 3 <= len(before) < n_trials, "the kill must land mid-sweep"

    rerun = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    after = _completed(journal, "TEST.toto")
    assert n_trials <= len(after) <= n_trials + 1
    assert all(after[number] == value for number, value in before.items())
    study = optuna.load_study(study_name="TEST.toto", storage=make_storage(journal))
    assert not study.get_trials(states=(TrialState.RUNNING,))
    assert (tmp_path / "hp" / "candidates" / "r" / "TEST.json").is_file()


def test_when_a_task_runs_on_ray_then_it_runs_in_a_worker_process(ray_session):
    assert RayExecutor(workers=1).run_task(lambda: os.getpid()) != os.getpid()


def test_when_a_pooled_sweep_runs_on_ray_actors_then_every_symbol_gets_the_pooled_winner(ray_session, data_dir,
                                                                                        tiny_toto_dir, tmp_path):
    import json

    from conftest import synthetic_frame, write_csv
    from sweep.cli import main

    write_csv(data_dir, "TEST2", synthetic_frame(seed=1))
    argv = ["--symbols", "TEST", "TEST2", "--models", "toto", "naive", "--n-trials", "6", "--selection", "pooled",
            "--data-dir", str(data_dir), "--toto-model", str(tiny_toto_dir), "--runs-dir", str(tmp_path / "runs"),
            "--output-dir", str(tmp_path / "hp"), "--run-id", "pool-ray", "--val-windows", "5", "--test-windows", "5",
            "--stride", "12", "--max-context-length", "128", "--executor", "ray", "--workers", "2"]
    assert main(argv) == 0
    study = optuna.load_study(study_name="pooled.toto", storage=make_storage(tmp_path / "runs/pool-ray/optuna.journal"))
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert 6 <= len(complete) <= 7 and {t.user_attrs["worker"] for t in complete} <= {"pool-ray-w0-g0", "pool-ray-w1-g0"}
    assert all(set(t.user_attrs["validation_by_symbol"]) == {"TEST", "TEST2"} for t in complete)
    docs = [json.loads((tmp_path / f"hp/candidates/pool-ray/{s}.json").read_text()) for s in ("TEST", "TEST2")]
    assert docs[0]["config"] == docs[1]["config"] and {d["selection"]["scope"] for d in docs} == {"pooled"}


@pytest.fixture
def three_nodes():
    """A real three-node Ray cluster (``ray.cluster_utils.Cluster``): a head with no CPU for actors and two worker
    nodes of 2 CPUs each, whose loss the head notices within about a second."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "_system_config": {
        "health_check_initial_delay_ms": 0, "health_check_period_ms": 200, "health_check_failure_threshold": 3}})
    workers = [cluster.add_node(num_cpus=2) for _ in range(2)]
    cluster.wait_for_nodes()
    yield cluster, workers
    cluster.shutdown()


def test_node_loss_when_a_worker_node_is_lost_mid_sweep_then_its_actors_are_replaced_and_the_budget_completes(
        data_dir, slow_toto_dir, tmp_path, three_nodes):
    cluster, workers = three_nodes
    n_trials = 100  # enough left after the loss for the replacement actor to load its model and run trials
    journal = tmp_path / "runs" / "r" / "optuna.journal"
    command = [*_command(data_dir, slow_toto_dir, tmp_path, n_trials), "--ray-address", cluster.address]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def running_on_a_worker_node():
        try:
            study = optuna.load_study(study_name="TEST.toto", storage=make_storage(journal))
        except KeyError:
            return None
        trials = study.get_trials(deepcopy=False)
        if sum(t.state == TrialState.COMPLETE for t in trials) < 3:
            return None
        nodes = {t.user_attrs.get("worker_node") for t in trials}
        if not all(w.node_id in nodes for w in workers):  # SPREAD: both nodes have run trials
            return None
        return next((t for t in trials if t.state == TrialState.RUNNING), None)

    _wait(lambda: running_on_a_worker_node() is not None, process)
    victim = running_on_a_worker_node()
    assert victim is not None, "the sweep ended before a node could be removed"
    lost = next(w for w in workers if w.node_id == victim.user_attrs["worker_node"])
    survivor = next(w for w in workers if w is not lost)
    before = _completed(journal, "TEST.toto")
    cluster.remove_node(lost, allow_graceful=False)
    _stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr

    study = optuna.load_study(study_name="TEST.toto", storage=make_storage(journal))
    after = _completed(journal, "TEST.toto")
    assert n_trials <= len(after) <= n_trials + 2  # the budget, plus at most one race per worker
    assert all(after[number] == value for number, value in before.items())  # nothing completed was lost
    assert len(after) == len(set(after))
    interrupted = [t for t in study.trials if t.state == TrialState.FAIL and "died" in t.user_attrs.get("error", "")]
    assert interrupted and all(t.user_attrs["worker_node"] == lost.node_id for t in interrupted)
    retried = {t.user_attrs["retry_of"]: t for t in study.trials if "retry_of" in t.user_attrs}
    for trial in (t for t in interrupted if t.params):  # each re-run with the same parameters on the node left
        again = retried[trial.number]
        assert again.state == TrialState.COMPLETE and again.params == trial.params
        assert again.user_attrs["worker_node"] == survivor.node_id
    replacements = {t.user_attrs["worker"] for t in study.trials if t.user_attrs["worker"].endswith("-g1")}
    assert replacements, f"the lost actor was not replaced: {stderr}"
    assert {t.user_attrs["worker_node"] for t in study.trials if t.user_attrs["worker"] in replacements} == {
        survivor.node_id}
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    assert (tmp_path / "hp" / "candidates" / "r" / "TEST.json").is_file()
