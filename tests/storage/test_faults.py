"""Storage faults injected for real: a torn journal, a full disk, a corrupt cache entry, two drivers, a
restarted PostgreSQL. After each, the same command finishes its budget, keeps the trials completed
before the fault and prints no traceback."""

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from sweep.storage.journal import repair_journal, torn_tail_start
from sweep.search.study import make_storage

from conftest import REPO

WINDOWS = ["--val-windows", "5", "--test-windows", "5", "--stride", "12", "--max-context-length", "128"]


def _command(data_dir, toto_dir, root, n_trials, *extra):
    return [sys.executable, "-m", "sweep", "--symbols", "TEST", "--models", "toto", "naive", "--n-trials",
            str(n_trials), "--data-dir", str(data_dir), "--toto-model", str(toto_dir), "--runs-dir",
            str(root / "runs"), "--output-dir", str(root / "hp"), "--run-id", "f1", *WINDOWS, *extra]


def _run(command, **kwargs):
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, **kwargs)


def _said(process) -> str:
    """stdout and stderr as one line of words (rich wraps log lines at the terminal width)."""
    return " ".join((process.stdout + process.stderr).split())


def _complete(storage, name="TEST.toto"):
    study = optuna.load_study(study_name=name, storage=make_storage(storage))
    return {t.number: t.value for t in study.get_trials(states=(TrialState.COMPLETE,))}


def _states(storage, name="TEST.toto"):
    study = optuna.load_study(study_name=name, storage=make_storage(storage))
    return [t.state for t in study.get_trials()]


def test_when_the_journal_tail_is_whole_or_torn_then_only_the_torn_bytes_move(tmp_path):
    journal = tmp_path / "optuna.journal"
    records = [json.dumps({"op_code": i}).encode() + b"\n" for i in range(3)]
    journal.write_bytes(b"".join(records))
    assert repair_journal(journal) == 0 and journal.read_bytes() == b"".join(records)
    journal.write_bytes(b"".join(records) + b'{"op_code": 3, "wor')  # cut mid-record
    assert torn_tail_start(journal) == len(b"".join(records))
    assert repair_journal(journal) == len(b'{"op_code": 3, "wor')
    assert journal.read_bytes() == b"".join(records)
    (aside,) = tmp_path.glob("optuna.journal.torn-*")
    assert aside.read_bytes() == b'{"op_code": 3, "wor'
    journal.write_bytes(b"".join(records) + b'{"op_co\n')  # a terminated line that is no record
    assert repair_journal(journal) == len(b'{"op_co\n') and journal.read_bytes() == b"".join(records)


def test_when_the_last_journal_record_is_cut_in_half_then_the_rerun_completes_without_traceback(
        data_dir, tiny_toto_dir, tmp_path):
    command = _command(data_dir, tiny_toto_dir, tmp_path, 6)
    assert _run(command).returncode == 0
    journal = tmp_path / "runs/f1/optuna.journal"
    data = journal.read_bytes()
    last = data.rstrip(b"\n").rfind(b"\n") + 1
    journal.write_bytes(data[: last + (len(data) - last) // 2])  # the last record torn, as a crash leaves it
    repaired_view = journal.read_bytes()[:last]
    journal.with_name("view.journal").write_bytes(repaired_view)
    before = _complete(journal.with_name("view.journal"))
    rerun = _run(_command(data_dir, tiny_toto_dir, tmp_path, 8))  # resume with a larger budget: trials get added
    assert rerun.returncode == 0, rerun.stderr
    assert "Traceback" not in rerun.stderr + rerun.stdout
    assert "torn record" in _said(rerun)
    after = _complete(journal)
    assert len(after) == 8 and all(after[n] == v for n, v in before.items())
    assert TrialState.RUNNING not in _states(journal)
    assert len(list(journal.parent.glob("optuna.journal.torn-*"))) == 1


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs for the full-disk test needs root")


@pytest.fixture
def small_disk(tmp_path):
    """A real 1 MiB tmpfs filesystem, unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk, leave_bytes):
    filler = disk / "filler"
    free = shutil.disk_usage(disk).free
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free - leave_bytes))
    return filler


@needs_root
def test_when_the_disk_fills_up_then_the_sweep_stops_cleanly_and_resumes_once_space_is_freed(
        data_dir, tiny_toto_dir, small_disk):
    command = _command(data_dir, tiny_toto_dir, small_disk, 30)
    filler = _fill(small_disk, 48 * 1024)
    full = _run(command)
    assert full.returncode == 1
    assert "Traceback" not in full.stderr + full.stdout
    said = _said(full)
    assert "no space left on the device holding" in said and "MiB free" in said
    assert str(small_disk) in said and "rerun the same command" in said
    for path in (small_disk / "hp").rglob("*.json"):  # nothing half-written: every JSON there parses
        json.loads(path.read_text())
    assert not list(small_disk.rglob("*.tmp")) and not list(small_disk.rglob(".*.npz"))
    journal = small_disk / "runs/f1/optuna.journal"
    filler.unlink()
    repair_journal(journal)  # what the rerun does first, to read the trials kept before the fault
    before = _complete(journal)
    assert before, "the disk should fill up mid-sweep, after some trials completed"
    rerun = _run(command)
    assert rerun.returncode == 0, rerun.stderr
    assert "Traceback" not in rerun.stderr
    after = _complete(journal)
    assert len(after) == 30 and all(after[n] == v for n, v in before.items())
    assert TrialState.RUNNING not in _states(journal)
    json.loads((small_disk / "hp/candidates/f1/TEST.json").read_text())


def test_when_a_cache_entry_is_truncated_or_foreign_then_it_is_recomputed_with_a_warning(data_dir, tiny_toto_dir,
                                                                                          tmp_path, caplog):
    from sweep.scoring.cache import SampleCache
    from sweep.forecasters.config import ForecastConfig
    from sweep.data.bars import load_ohlcv
    from sweep.scoring.evaluate import evaluate
    from sweep.forecasters.toto import TotoForecaster

    data = load_ohlcv(data_dir, "TEST")
    forecaster = TotoForecaster(str(tiny_toto_dir))
    config = ForecastConfig(model="toto", context_length=64, num_samples=32, aggregate="median")
    origins = np.arange(300, 500, 20)
    first = evaluate(forecaster, config, data, origins, 1, SampleCache(tmp_path))
    (entry,) = tmp_path.glob("*/*.npz")
    for damage in ("truncate", "foreign"):
        if damage == "truncate":
            entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])
        else:
            np.savez(entry, something_else=np.zeros(3))
        caplog.clear()
        with caplog.at_level("WARNING", logger="sweep.scoring.cache"):
            again = evaluate(forecaster, config, data, origins, 1, SampleCache(tmp_path))
        assert "recomputing" in caplog.text and entry.name in caplog.text
        assert again.metrics["pct_return_mae"] == first.metrics["pct_return_mae"]
        with np.load(entry) as f:  # rewritten whole
            assert f["samples"].shape[0] == len(origins)


def test_when_a_second_driver_starts_on_a_running_run_then_it_refuses_at_once(data_dir, tiny_toto_dir, tmp_path,
                                                                            capsys):
    from sweep.cli import main

    from conftest import run_cli

    # the second and third drivers run in this process (main() is what ``python -m sweep`` runs; the lock is an OS
    # file lock, so this process is as much another driver as a new one): no second Python, torch and Toto start-up
    first = subprocess.Popen(_command(data_dir, tiny_toto_dir, tmp_path, 400), cwd=REPO, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        driver = tmp_path / "runs/f1/driver.json"
        deadline = time.time() + 120
        while not driver.is_file() and time.time() < deadline:
            time.sleep(0.1)
        assert first.poll() is None, "the first driver ended before the second started"
        started = time.time()
        second = run_cli(capsys, main, _command(data_dir, tiny_toto_dir, tmp_path, 400)[3:])  # asserts no traceback
        assert time.time() - started < 30
        assert second.code == 2
        message = " ".join((second.out + second.err).split())
        assert f"run folder {tmp_path / 'runs/f1'}" in message and f"pid {first.pid}" in message
        assert "--executor ray" in message
    finally:
        first.kill()
        first.wait()
    # the lock dies with its process: the same command resumes at once
    assert run_cli(capsys, main, _command(data_dir, tiny_toto_dir, tmp_path, 6)[3:]).code == 0


def test_when_postgres_restarts_mid_sweep_then_the_sweep_finishes_and_no_trial_stays_running(
        postgres_url, data_dir, tiny_toto_dir, tmp_path):
    command = _command(data_dir, tiny_toto_dir, tmp_path, 150, "--storage", postgres_url)
    sweep = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    name = "f1/TEST.toto"
    deadline = time.time() + 120
    before: dict = {}
    while len(before) < 5 and time.time() < deadline:
        time.sleep(0.2)
        try:
            before = _complete(postgres_url, name)
        except KeyError:  # the study is not created yet
            continue
    assert sweep.poll() is None and len(before) >= 5, f"the restart must land mid-sweep: {sweep.poll()}, {before}"
    subprocess.run([str(REPO / "scripts/postgres-for-tests"), "restart", "3"], check=True)
    out, err = sweep.communicate(timeout=600)
    if sweep.returncode != 0:  # allowed: a clear message, then the rerun resumes
        assert sweep.returncode == 1 and "rerun the same command" in " ".join(err.split()), err[-3000:]
        assert "Traceback" not in err, err[-3000:]
        rerun = _run(command)
        assert rerun.returncode == 0, rerun.stderr
    else:
        assert "Traceback" not in err, err[-3000:]
    after = _complete(postgres_url, name)
    assert len(after) >= 150 and all(after[n] == v for n, v in before.items())
    assert TrialState.RUNNING not in _states(postgres_url, name)


def test_when_a_sweep_is_interrupted_mid_trial_then_it_says_how_to_resume_without_a_traceback(data_dir, tiny_toto_dir,
                                                                                            tmp_path):
    import signal

    # --no-cache: every trial runs inference, so 400 of them outlast the wait (cached repeats take no time)
    # a shell runs background jobs with SIGINT ignored, and Python keeps an ignored SIGINT: restore the default
    sweep = subprocess.Popen(_command(data_dir, tiny_toto_dir, tmp_path, 400, "--no-cache"), cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    journal = tmp_path / "runs/f1/optuna.journal"
    deadline = time.time() + 120
    while time.time() < deadline and not (journal.is_file() and journal.read_text().count('"op_code":6') >= 2):
        time.sleep(0.1)  # op_code 6 sets a trial's state: trials are running
    sweep.send_signal(signal.SIGINT)
    out, err = sweep.communicate(timeout=120)
    assert sweep.returncode == 130, err[-2000:]
    assert "Traceback" not in out + err and "rerun the same command" in " ".join(err.split())
