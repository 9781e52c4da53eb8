"""Serving a config tuned under ``--objective pnl`` or ``direction``: the probability of up and the trading rule's
position ``predict`` serves at a test origin are exactly what evaluation recorded at that origin."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import PROMOTION
from drift_family import DRIFT, FLAG, write_checkpoint

from sweep.cli import main
from sweep.data.bars import load_ohlcv
from sweep.errors import ConfigError
from sweep.forecasters import document_loader
from sweep.forecasters.config import ForecastConfig
from sweep.forecasters.registry import register, unregister
from sweep.objectives import objective_of_run
from sweep.scoring.evaluate import evaluate
from sweep.serving.predict import Predictor

#: 96 test origins 3 bars apart (disjoint windows, as the trading objectives require); a 3-bar horizon, so the rule
#: and the probability read the last step, not the first (its files are named BTCUSD.h3).
WINDOWS = ["--val-windows", "8", "--test-windows", "12", "--test-stride", "3", "--stride", "24",
           "--max-context-length", "768", "--horizon", "3"]
#: 1 bp per side: an entry threshold of 2 bps, which the drift family's 3-bar point forecast crosses both ways, so
#: its rule goes long, short and flat on the test windows (at the default 10 bps it stays flat at most of them).
FEE_BPS = "1"
#: Each run's sweep: the drift family moves its point (persistence, the naive family, never trades); the naive
#: family under direction serves a quantile forecast, the drift family a sampled one.
RUNS = {"pnl": ["--models", "drift", "--fee-bps", FEE_BPS], "direction": ["--models", "naive"]}
#: Serve every 12th test origin (8 over the 4 test days) of a config without a rule.
EVERY = 12


@pytest.fixture(scope="module")
def trading_runs(shared_data, tmp_path_factory):
    """Real sweeps of BTCUSD under ``--objective pnl`` (run ``pnl``) and ``--objective direction`` (``direction``)."""
    root = tmp_path_factory.mktemp("trading")
    checkpoint = write_checkpoint(root / "drift-ckpt", max_context=256)
    register(DRIFT)
    try:
        for objective, models in RUNS.items():
            assert main(["--symbols", "BTCUSD", *models, FLAG, str(checkpoint), "--n-trials", "3", "--objective",
                         objective, "--data-dir", str(shared_data), "--runs-dir", str(root / "runs"),
                         "--output-dir", str(root / "hp"), "--run-id", objective, *WINDOWS]) == 0
        yield root / "hp"
    finally:
        unregister(DRIFT.name)


def _evaluated(candidate_file, data, objective):
    """The candidate's evaluation at the run's test origins under ``objective`` (its records), checked against the
    per-window test losses the sweep itself wrote beside it."""
    document = json.loads(candidate_file.read_text())
    written = pd.read_csv(candidate_file.with_name("BTCUSD.h3.test_losses.csv"), float_precision="round_trip")
    origins = written["origin"].to_numpy()
    result = evaluate(document_loader(candidate_file)(document["model"]), ForecastConfig.from_dict(document["config"]),
                      data, origins, document["windows"]["horizon"], objective=objective)
    if objective == objective_of_run(document):
        np.testing.assert_array_equal(result.window_errors, written["selected"].to_numpy())
    return document, origins, result


def test_when_a_pnl_config_is_served_at_test_origins_then_its_position_and_up_probability_are_what_evaluation_recorded(
        trading_runs, shared_data):
    data = load_ohlcv(shared_data, "BTCUSD")
    candidate_file = trading_runs / "candidates/pnl/BTCUSD.h3.json"
    document, origins, pnl = _evaluated(candidate_file, data, "pnl")
    _, _, direction = _evaluated(candidate_file, data, "direction")  # the same config's probability of up
    assert document["config"]["decision"] == {"threshold_fees": 1.0, "fee_bps": float(FEE_BPS), "long_only": False}
    recorded = pnl.window_records["position"]
    assert set(recorded) == {-1.0, 0.0, 1.0}  # the rule goes long, short and flat on the test windows
    # served at the first three test origins where evaluation recorded each position: every way the rule goes
    chosen = np.sort(np.concatenate([np.flatnonzero(recorded == side)[:3] for side in (-1.0, 0.0, 1.0)]))
    predictor = Predictor(document, candidate_file)
    served = [predictor.predict(data, at=data.frame.index[o]) for o in origins[chosen]]
    np.testing.assert_array_equal([f.position for f in served], recorded[chosen])
    up = direction.window_records["up_probability"]
    np.testing.assert_array_equal([f.up_probability for f in served], up[chosen])
    assert all(f.decision == document["config"]["decision"] for f in served)


def test_when_a_direction_config_is_served_at_test_origins_then_its_up_probability_is_what_evaluation_recorded(
        trading_runs, shared_data):
    data = load_ohlcv(shared_data, "BTCUSD")
    candidate_file = trading_runs / "candidates/direction/BTCUSD.h3.json"
    document, origins, direction = _evaluated(candidate_file, data, "direction")
    predictor = Predictor(document, candidate_file)
    assert predictor.rule is None and predictor.forecast_origins(data, origins[:1]).predictive.levels is not None
    served = [predictor.predict(data, at=data.frame.index[o]) for o in origins[::EVERY]]
    up = np.array([f.up_probability for f in served])
    np.testing.assert_array_equal(up, direction.window_records["up_probability"][::EVERY])
    assert len(np.unique(up)) > 1 and np.all((up > 0) & (up < 1))
    assert all(f.position is None and f.decision == {} for f in served)


@pytest.mark.parametrize("objective", ["pnl", "direction"])
def test_when_predict_json_runs_then_it_serves_the_up_probability_and_only_a_rules_position_and_decision(
        objective, trading_runs, shared_data, capsys):
    data = load_ohlcv(shared_data, "BTCUSD")
    candidate_file = trading_runs / f"candidates/{objective}/BTCUSD.h3.json"
    document, origins, result = _evaluated(candidate_file, data, objective)
    (trading_runs / "best").mkdir(exist_ok=True)  # promoted as it stands, whatever a review would decide
    (trading_runs / "best/BTCUSD.h3.json").write_text(json.dumps({**document, "promotion": PROMOTION}))
    first = int(np.argmax(result.window_records["position"] != 0)) if objective == "pnl" else 0
    capsys.readouterr()
    assert main(["predict", "--symbol", "BTCUSD", "--data-dir", str(shared_data), "--output-dir", str(trading_runs),
                 "--at", str(data.frame.index[origins[first]]), "--json", "--horizon", "3"]) == 0
    served = json.loads(capsys.readouterr().out)
    expected = Predictor(document, candidate_file).predict(data, at=data.frame.index[origins[first]])
    assert served["up_probability"] == expected.up_probability and 0 < served["up_probability"] < 1
    if objective == "pnl":
        assert served["position"] == result.window_records["position"][first] != 0
        assert served["decision"] == document["config"]["decision"]
    else:
        assert served["up_probability"] == result.window_records["up_probability"][first]
        assert "position" not in served and "decision" not in served


def test_when_a_served_config_declares_an_invalid_rule_then_the_predictor_refuses_it_naming_the_file(
        trading_runs):
    candidate_file = trading_runs / "candidates/pnl/BTCUSD.h3.json"
    document = json.loads(candidate_file.read_text())
    document["config"]["decision"] = {**document["config"]["decision"], "fee_bps": -1.0}
    with pytest.raises(ConfigError, match=r"BTCUSD.h3.json: decision fee_bps must be a finite number >= 0, got -1.0"):
        Predictor(document, candidate_file)
