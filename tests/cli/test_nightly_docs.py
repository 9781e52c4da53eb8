"""docs/nightly.md is run as written: a cluster started with ``ray start --head``, the nightly command submitted
through the Ray Jobs API (``ray job submit``), on PostgreSQL when a server is up (as in CI), else on a journal."""

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO

NIGHTLY = REPO / "docs" / "nightly.md"
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bash_blocks(markdown: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", markdown, flags=re.S)


def _submit_block() -> str:
    """The first block of the page that submits the nightly job."""
    return next(block for block in _bash_blocks(NIGHTLY.read_text()) if block.lstrip().startswith("RUN_ID="))


@pytest.fixture
def nightly_storage(request, tmp_path):
    """``$SWEEP_STORAGE``: a fresh PostgreSQL database when a server is up, else a journal file."""
    if os.environ.get("SWEEP_TEST_POSTGRES_URL") or os.environ.get("SWEEP_REQUIRE_POSTGRES"):
        return request.getfixturevalue("postgres_url")
    return str(tmp_path / "studies.journal")


def _wait_for_job_agent(head: subprocess.Popen, env: dict[str, str], dashboard: int, timeout_s: float = 180) -> None:
    """Wait until the head accepts jobs: its dashboard answers before its job agent has started, and until then
    ``ray job submit`` fails with "No available agent to submit job" (docs/nightly.md says so too)."""
    deadline, probe = time.time() + timeout_s, None
    while time.time() < deadline and head.poll() is None:
        probe = subprocess.run([str(BIN / "ray"), "job", "submit", "--address", f"http://127.0.0.1:{dashboard}",
                                "--", "true"], env=env, capture_output=True, text=True, timeout=120)
        if probe.returncode == 0:
            return
        time.sleep(1)
    assert head.poll() is None, head.stderr.read()
    pytest.fail(f"the head never accepted a job: {probe.stdout[-2000:] if probe else ''}"
                f"{probe.stderr[-2000:] if probe else ''}")


@pytest.fixture
def head_node(tmp_path):
    """``ray start --head`` as docs/nightly.md starts it (token authentication on), every port free (another Ray
    instance of this test session holds the defaults); ``--block`` keeps it a child of this test, so stopping it
    stops only this cluster."""
    gcs, dashboard = _free_port(), _free_port()
    ports = {flag: str(_free_port()) for flag in ("--ray-client-server-port", "--dashboard-agent-listen-port",
                                                  "--dashboard-agent-grpc-port", "--runtime-env-agent-port",
                                                  "--metrics-export-port")}
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    env.pop("RAY_ADDRESS", None)
    head = subprocess.Popen([str(BIN / "ray"), "start", "--head", "--block", "--num-cpus", "2", "--port", str(gcs),
                             "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard),
                             *(arg for item in ports.items() for arg in item), "--disable-usage-stats"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        _wait_for_job_agent(head, env, dashboard)
        yield env, dashboard
    finally:
        _stop(head, gcs)


def _stop(head: subprocess.Popen, gcs: int) -> None:
    """Stop the head and remove the address file it leaves (as `ray stop` does), or a later ``ray.init()``
    would wait for this cluster."""
    from ray._common.utils import reset_ray_address
    from ray._private.utils import read_ray_address

    head.terminate()
    try:
        head.wait(timeout=60)
    except subprocess.TimeoutExpired:
        head.kill()
    if (read_ray_address() or "").endswith(f":{gcs}"):
        reset_ray_address()


def test_jobs_api_when_the_nightly_command_is_submitted_as_documented_then_both_symbols_get_candidates(
        head_node, nightly_storage, tiny_toto_dir, tiny_kronos_dir, tmp_path):
    env, dashboard = head_node
    block = (_submit_block().replace("http://127.0.0.1:8265", f"http://127.0.0.1:{dashboard}")
             .replace("/tmp/e2e/toto", str(tiny_toto_dir)).replace("/tmp/e2e/kronos", str(tiny_kronos_dir))
             .replace("/tmp/nightly", str(tmp_path / "nightly")))
    assert "--storage \"$SWEEP_STORAGE\"" in block and "--executor ray --ray-address auto" in block
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=REPO, capture_output=True, text=True,
                          timeout=900, env={**env, "SWEEP_STORAGE": nightly_storage})
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "succeeded" in done.stdout + done.stderr
    (run,) = (tmp_path / "nightly/hyperparams/candidates").iterdir()
    assert sorted(p.name for p in run.glob("*.json")) == ["BTCUSD.json", "ETHUSD.json"]
    assert sorted(p.name for p in (tmp_path / "nightly/hyperparams/best").glob("*.json")) == ["BTCUSD.json",
                                                                                              "ETHUSD.json"]
    shutil.rmtree(tmp_path / "nightly")  # the cluster's job logs stay under its own temp folder
