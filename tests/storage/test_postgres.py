"""Optuna RDB storage on a real PostgreSQL server: Ray workers, resume, run namespaces, heartbeats."""

import sqlalchemy
import optuna
from optuna.trial import TrialState

from sweep.cli import main
from sweep.search.study import make_storage, open_study


def _sweep(postgres_url, data_dir, tiny_toto_dir, tmp_path, run_id, *extra):
    return main(["--symbols", "TEST", "--models", "toto", "--n-trials", "6", "--data-dir", str(data_dir),
                 "--toto-model", str(tiny_toto_dir), "--runs-dir", str(tmp_path / "runs"),
                 "--output-dir", str(tmp_path / "hp"), "--run-id", run_id, "--storage", postgres_url,
                 "--val-windows", "5", "--test-windows", "5", "--stride", "12", "--max-context-length", "128", *extra])


def _study(postgres_url, name):
    return optuna.load_study(study_name=name, storage=make_storage(postgres_url))


def test_when_ray_workers_share_a_postgres_study_then_the_run_completes_and_resumes(postgres_url, data_dir,
                                                                                   tiny_toto_dir, tmp_path):
    args = (postgres_url, data_dir, tiny_toto_dir, tmp_path, "pg-ray")
    assert _sweep(*args, "--executor", "ray", "--workers", "2") == 0
    study = _study(postgres_url, "pg-ray/TEST.toto")
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert 6 <= len(complete) <= 7
    assert {t.user_attrs["worker"] for t in complete} <= {"pg-ray-w0-g0", "pg-ray-w1-g0"}
    assert (tmp_path / "hp/candidates/pg-ray/TEST.json").is_file()
    assert _sweep(*args) == 0  # resume with the local executor: nothing left to run
    assert len(_study(postgres_url, "pg-ray/TEST.toto").trials) == len(study.trials)
    assert main(["report", "--run", "pg-ray", "--storage", postgres_url, "--data-dir", str(data_dir),
                 "--output-dir", str(tmp_path / "hp"), "--runs-dir", str(tmp_path / "runs")]) == 0
    assert (tmp_path / "runs/pg-ray/report/TEST.toto-history.png").is_file()


def test_when_two_runs_share_the_database_then_their_studies_are_separate(postgres_url, data_dir, tiny_toto_dir,
                                                                         tmp_path):
    for run_id in ("pg-a", "pg-b"):
        assert _sweep(postgres_url, data_dir, tiny_toto_dir, tmp_path, run_id) == 0
    for run_id in ("pg-a", "pg-b"):
        assert len(_study(postgres_url, f"{run_id}/TEST.toto").get_trials(states=(TrialState.COMPLETE,))) == 6


def test_when_a_worker_stops_beating_then_its_trial_fails_and_is_retried(postgres_url):
    storage = make_storage(postgres_url)
    assert storage.get_heartbeat_interval() is not None and storage.get_heartbeat_stale_trial_callback() is not None
    study = open_study(storage, "pg-heartbeat/TEST.toto", seed=0)
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    storage.record_heartbeat(trial._trial_id)
    engine = sqlalchemy.create_engine(postgres_url)
    with engine.begin() as connection:  # the worker died an hour ago
        connection.execute(sqlalchemy.text("UPDATE trial_heartbeats SET heartbeat = heartbeat - interval '1 hour' "
                                           "WHERE trial_id = :id"), {"id": trial._trial_id})
    optuna.storages.fail_stale_trials(study)
    trials = study.get_trials()
    assert trials[trial.number].state == TrialState.FAIL
    retry = [t for t in trials if t.state == TrialState.WAITING]
    assert len(retry) == 1 and retry[0].params == trials[trial.number].params


def test_when_a_pooled_run_shares_the_database_then_it_resumes_and_promotes_and_never_meets_a_per_symbol_run(
        postgres_url, data_dir, tiny_toto_dir, tmp_path):
    from conftest import synthetic_frame, write_csv

    write_csv(data_dir, "TEST2", synthetic_frame(seed=1))
    pooled = ("--symbols", "TEST", "TEST2", "--selection", "pooled")
    assert _sweep(postgres_url, data_dir, tiny_toto_dir, tmp_path, "pg-pool", *pooled) == 0
    assert _sweep(postgres_url, data_dir, tiny_toto_dir, tmp_path, "pg-per", "--symbols", "TEST", "TEST2") == 0
    names = set(optuna.get_all_study_names(make_storage(postgres_url)))
    assert {"pg-pool/pooled.toto", "pg-per/TEST.toto", "pg-per/TEST2.toto"} <= names
    assert not any(n.startswith("pg-pool/TEST") or n.startswith("pg-per/pooled") for n in names)
    before = len(_study(postgres_url, "pg-pool/pooled.toto").trials)
    assert _sweep(postgres_url, data_dir, tiny_toto_dir, tmp_path, "pg-pool", *pooled) == 0  # resume: nothing to run
    assert len(_study(postgres_url, "pg-pool/pooled.toto").trials) == before
    assert main(["promote", "--run", "pg-pool", "--data-dir", str(data_dir), "--output-dir", str(tmp_path / "hp"),
                 "--runs-dir", str(tmp_path / "runs")]) == 0
    assert (tmp_path / "hp/best/TEST.json").is_file() and (tmp_path / "hp/best/TEST2.json").is_file()
