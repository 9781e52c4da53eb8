"""Shared fixtures: synthetic CSVs, the real data the project ships, and tiny real-architecture checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SHIPPED_DATA = REPO / "trainingdata"
#: The ``promotion`` block ``promote`` writes into a best file; ``predict`` and ``export`` serve only files that have
#: one, so a test that writes a best file by hand adds it.
PROMOTION = {"review": "hp/reviews/20240101T000000Z-BTCUSD.md", "reviewed_at": "2024-01-01T00:00:00+00:00",
             "alpha": 0.05, "decision": "promoted"}


def synthetic_frame(n_bars: int = 600, seed: int = 0, start: str = "2024-01-01") -> pd.DataFrame:
    """A valid hourly OHLCV random walk."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n_bars)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.005, n_bars))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.005, n_bars))
    stamps = pd.date_range(start, periods=n_bars, freq="1h", tz="UTC")
    return pd.DataFrame({"timestamp": stamps.astype(str), "open": open_, "high": high, "low": low,
                         "close": close, "volume": rng.uniform(1, 10, n_bars)})


def write_csv(folder: Path, symbol: str, frame: pd.DataFrame) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{symbol}.csv"
    frame.to_csv(path, index=False)
    return path


def garch_t_returns(simulations: int, n: int, seed: int, nu: int = 5, hourly_sd: float = 0.007,
                    burn: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """``[simulations, n]`` hourly returns of a GARCH(1,1) with unit-variance t(``nu``) shocks, and their conditional
    s.d.: the null and alternative worlds of the quantile-loss and calibration size and power tests.

    ``sigma2_t = omega + 0.1 r_{t-1}^2 + 0.88 sigma2_{t-1}`` (persistence 0.98, as GARCH fits to hourly returns give)
    around an unconditional s.d. of ``hourly_sd`` (0.7 % an hour); one simulation per row, all rows stepped at once.
    """
    rng = np.random.default_rng(seed)
    shocks = rng.standard_t(nu, (simulations, n + burn)) * np.sqrt((nu - 2) / nu)
    arch_term, garch_term = 0.10, 0.88
    variance = np.full(simulations, hourly_sd ** 2)
    returns, sigma = np.empty_like(shocks), np.empty_like(shocks)
    for t in range(n + burn):
        sigma[:, t] = np.sqrt(variance)
        returns[:, t] = sigma[:, t] * shocks[:, t]
        variance = hourly_sd ** 2 * (1 - arch_term - garch_term) + arch_term * returns[:, t] ** 2 \
            + garch_term * variance
    return returns[:, burn:], sigma[:, burn:]


@pytest.fixture(autouse=True, scope="session")
def crash_logs(tmp_path_factory) -> Path:
    """Tracebacks of unexpected errors go to a session folder, not the user's ``~/.local/state/sweep``."""
    import os

    folder = tmp_path_factory.mktemp("crash-logs")
    os.environ["SWEEP_LOG_DIR"] = str(folder)
    return folder


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A folder with a valid synthetic ``TEST.csv`` of 600 hourly bars."""
    folder = tmp_path / "data"
    write_csv(folder, "TEST", synthetic_frame())
    return folder


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real hourly BTCUSD, ETHUSD, SOLUSD and UNIUSD bars shipped in ``trainingdata/`` (``.csv.gz``)."""
    assert (SHIPPED_DATA / "BTCUSD.csv.gz").is_file(), f"the shipped data is missing from {SHIPPED_DATA}"
    return SHIPPED_DATA


@pytest.fixture(scope="session")
def tiny_toto_dir(tmp_path_factory) -> Path:
    """A randomly initialised tiny Toto saved as config.json + model.safetensors."""
    from tototraining.train import build_scratch, save_checkpoint

    module, config = build_scratch("tiny", seed=0)
    return save_checkpoint(module, config, tmp_path_factory.mktemp("ckpt") / "toto-tiny")


@pytest.fixture(scope="session")
def postgres_url():
    """A fresh database on a real PostgreSQL server, dropped afterwards.

    ``scripts/postgres-for-tests start`` starts the server and exports its URL; CI
    sets ``SWEEP_REQUIRE_POSTGRES`` so these tests fail rather than skip there.
    """
    import os
    import uuid

    import sqlalchemy

    url = os.environ.get("SWEEP_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("SWEEP_REQUIRE_POSTGRES"):
            pytest.fail("SWEEP_REQUIRE_POSTGRES is set but SWEEP_TEST_POSTGRES_URL is not; "
                        "run: eval \"$(scripts/postgres-for-tests start)\"")
        pytest.skip("no PostgreSQL server: eval \"$(scripts/postgres-for-tests start)\" to run these tests")
    server = sqlalchemy.engine.make_url(url)
    name = f"sweep_{uuid.uuid4().hex[:12]}"
    # pre-ping: the fault tests restart the server, which drops the pooled connection
    admin = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    yield server.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture(scope="session")
def tiny_kronos_dir(tmp_path_factory) -> Path:
    """A randomly initialised tiny Kronos laid out as ``python -m kronostraining`` writes it."""
    import json

    from kronostraining.train import build_scratch
    from sweep.forecasters.kronos.checkpoint import save_module

    tokenizer, model = build_scratch("tiny", seed=0)
    folder = tmp_path_factory.mktemp("ckpt") / "kronos-tiny"
    save_module(tokenizer, folder / "tokenizer")
    save_module(model, folder / "predictor")
    (folder / "kronos.json").write_text(json.dumps({"max_context": 512}))
    return folder


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray instance for the session (2 CPUs, no dashboard)."""
    ray = pytest.importorskip("ray")
    if ray.is_initialized():  # a CLI test in this process started its own instance
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def tiny_quantile_dirs(tmp_path_factory) -> dict[str, Path]:
    """Randomly initialised tiny Toto 2.0, Chronos-2, Chronos-Bolt, TimesFM 2.5 and TiRex-2, each saved by its own
    package."""
    from sweep.forecasters.presets import PRESETS, save_random_checkpoint

    root = tmp_path_factory.mktemp("ckpt")
    return {family: save_random_checkpoint(family, "tiny", root / family) for family in PRESETS}


def tree_digest(*roots: Path) -> dict[str, str]:
    """``{path: sha256}`` of every file under ``roots`` (a root that does not exist is recorded as absent).

    Hostile-input tests compare it before and after a refused command: a refused command changes nothing.
    """
    import hashlib

    digest: dict[str, str] = {}
    for root in roots:
        root = Path(root)
        if not root.exists():
            digest[str(root)] = "absent"
            continue
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            digest[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest


class CliResult:
    """Exit code, stdout and stderr of one in-process CLI call."""

    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err

    def __repr__(self) -> str:
        return f"CliResult(code={self.code}, err={self.err[-2000:]!r})"


def run_cli(capsys, main, argv: list[str]) -> CliResult:
    """Run ``main(argv)`` (``sweep.cli.main`` or a training job's) in-process and capture its output.

    Asserts the user-facing contract every command keeps: an int exit code and no Python traceback on stderr.
    """
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    result = CliResult(code, out, err)
    assert isinstance(code, int), result
    assert "Traceback" not in err and "Traceback" not in out, result
    return result


def assert_refused(result: CliResult, *named: str, code: int = 2) -> None:
    """The command exited with ``code`` (2: invalid input) and its message names every value in ``named``
    (on stderr, or on stdout for a report such as ``data validate``'s)."""
    assert result.code == code, result
    flat = " ".join((result.err + result.out).split())  # compare whitespace-insensitively
    for value in named:
        assert value in flat, f"{value!r} not named in: {result.err}"


def markdown_table(text: str, header_start: str) -> dict[str, list[str]]:
    """The rows of the first markdown table whose header line starts with ``header_start``, by their first cell."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows
