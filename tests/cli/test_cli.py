"""The CLI as a user runs it: candidate files, provenance, exit codes and messages."""

import json

import pytest

from sweep.cli import main
from sweep.data.download import candles_to_frame, exchange_pair
from sweep.data.bars import load_ohlcv
from sweep.errors import ConfigError

from conftest import SHIPPED_DATA, synthetic_frame, write_csv

SMALL = ["--val-windows", "8", "--test-windows", "8", "--stride", "24", "--max-context-length", "128"]


@pytest.fixture(scope="module")
def real_sweep(shared_data, tiny_toto_dir, tiny_kronos_dir, tmp_path_factory):
    """One small real sweep of the default models (Toto, Kronos, persistence) on BTCUSD and ETHUSD."""
    root = tmp_path_factory.mktemp("sweep")
    code = main(["--symbols", "BTCUSD", "ETHUSD", "--n-trials", "3", "--data-dir", str(shared_data),
                 "--toto-model", str(tiny_toto_dir), "--kronos-model", str(tiny_kronos_dir), "--runs-dir", str(root / "runs"),
                 "--output-dir", str(root / "hp"), "--run-id", "t1", *SMALL])
    return code, root


def test_when_the_sweep_runs_then_each_symbol_gets_a_complete_candidate(real_sweep, shared_data):
    code, root = real_sweep
    assert code == 0
    for symbol in ("BTCUSD", "ETHUSD"):
        doc = json.loads((root / "hp" / "candidates" / "t1" / f"{symbol}.json").read_text())
        assert list(doc)[:8] == ["symbol", "model", "config", "validation", "test", "baseline", "windows", "provenance"]
        assert doc["symbol"] == symbol and doc["config"]["model"] in ("toto", "kronos", "naive")
        prov = doc["provenance"]
        for key in ("sweep_version", "git_commit", "data_fingerprint", "data_range", "model_id", "study_name",
                    "trial_number", "seed", "created_at"):
            assert key in prov
        assert prov["data_fingerprint"] == load_ohlcv(shared_data, symbol).fingerprint
        assert prov["study_name"] == f"{symbol}.{doc['config']['model']}"
        w = doc["windows"]
        assert w["val_windows"] == 8 and w["first_test_origin"] >= w["last_validation_origin"] + w["horizon"]
        for split in ("validation", "test"):
            assert doc[split]["skill"] == pytest.approx(
                1 - doc[split]["pct_return_mae"] / doc[split]["persistence_pct_return_mae"])
        assert doc["baseline"]["test"]["pct_return_mae"] == doc["test"]["persistence_pct_return_mae"]
        assert {s["model"] for s in doc["selection"]["studies"]} == {"toto", "kronos", "naive"}
    assert not (root / "hp" / "best").exists()


def test_when_a_sweep_selects_under_the_default_rule_then_each_candidate_records_why(real_sweep):
    _code, root = real_sweep
    for symbol in ("BTCUSD", "ETHUSD"):
        doc = json.loads((root / "hp" / "candidates" / "t1" / f"{symbol}.json").read_text())
        selection = doc["selection"]
        rule = selection["rule"]
        assert selection["select"] == rule["rule"] == "significant" and selection["select_alpha"] == rule["alpha"] == 0.1
        assert rule["trials_tested"] >= 1 and rule["block_size"] >= 1 and 0 <= rule["spa_vs_default"]["p_value"] <= 1
        kept = (doc["provenance"]["study_name"], doc["provenance"]["trial_number"]) == (
            rule["reference"]["study"], rule["reference"]["trial"])
        assert kept == (rule["spa_vs_default"]["p_value"] > 0.1) and rule["kept_default"] == kept
        if kept:  # the kept default is its family's documented default
            assert doc["config"] == doc["default"]["config"]


def test_when_a_candidate_is_evaluated_then_json_has_validation_and_test_metrics(real_sweep, shared_data, capsys):
    _code, root = real_sweep
    path = root / "hp" / "candidates" / "t1" / "BTCUSD.json"
    capsys.readouterr()
    assert main(["evaluate", "--symbol", "BTCUSD", "--config", str(path), "--data-dir", str(shared_data), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    doc = json.loads(path.read_text())
    assert out["validation"]["pct_return_mae"] == pytest.approx(doc["validation"]["pct_return_mae"])
    assert out["test"]["pct_return_mae"] == pytest.approx(doc["test"]["pct_return_mae"])


def test_when_an_ensemble_candidate_is_evaluated_then_its_test_metrics_are_reproduced(shared_data, tiny_toto_dir,
                                                                                    tiny_kronos_dir, tmp_path, capsys):
    assert main(["--symbols", "BTCUSD", "--n-trials", "3", "--data-dir", str(shared_data), "--toto-model",
                 str(tiny_toto_dir), "--kronos-model", str(tiny_kronos_dir), "--runs-dir", str(tmp_path / "runs"), "--output-dir", str(tmp_path / "hp"),
                 "--run-id", "ens", "--ensemble", "greedy", *SMALL]) == 0
    path = tmp_path / "hp/candidates/ens/ensemble/BTCUSD.json"
    capsys.readouterr()
    assert main(["evaluate", "--symbol", "BTCUSD", "--config", str(path), "--data-dir", str(shared_data), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    doc = json.loads(path.read_text())
    assert out["model"]["family"] == "ensemble"
    assert {m["label"] for m in doc["config"]["members"]} == {"toto", "kronos", "naive"}
    assert out["test"]["pct_return_mae"] == pytest.approx(doc["test"]["pct_return_mae"])


def test_when_a_bare_config_is_evaluated_then_windows_come_from_flags(shared_data, tmp_path, capsys):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"model": "naive", "context_length": 1, "num_samples": 1, "aggregate": "mean"}))
    capsys.readouterr()
    assert main(["evaluate", "--symbol", "ETHUSD", "--config", str(config), "--data-dir", str(shared_data),
                 "--json", *SMALL]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["test"]["skill"] == 0.0 and out["validation"]["n_windows"] == 8


def test_when_a_run_is_resumed_with_other_windows_then_it_is_refused(real_sweep, shared_data, tiny_toto_dir, capsys):
    _code, root = real_sweep
    code = main(["--symbols", "BTCUSD", "--n-trials", "3", "--data-dir", str(shared_data), "--toto-model",
                 str(tiny_toto_dir), "--models", "toto", "naive", "--runs-dir", str(root / "runs"),
                 "--output-dir", str(root / "hp"), "--run-id", "t1", *SMALL[:-1], "64"])
    assert code == 2
    assert "was started with different windows" in capsys.readouterr().err


def test_when_a_run_is_resumed_with_another_test_stride_then_it_is_refused(real_sweep, shared_data, tiny_toto_dir,
                                                                          capsys):
    _code, root = real_sweep
    code = main(["--symbols", "BTCUSD", "--n-trials", "3", "--data-dir", str(shared_data), "--toto-model",
                 str(tiny_toto_dir), "--models", "toto", "naive", "--runs-dir", str(root / "runs"),
                 "--output-dir", str(root / "hp"), "--run-id", "t1", *SMALL, "--test-stride", "24"])
    assert code == 2
    assert "was started with different windows" in capsys.readouterr().err


def test_when_a_run_json_predates_test_stride_then_it_resumes_only_with_test_origins_at_the_stride(tmp_path):
    from sweep.runs.settings import SweepSettings, check_run_settings
    from sweep.data.windows import WindowSpec

    data = {"BTCUSD": load_ohlcv(SHIPPED_DATA, "BTCUSD")}
    daily = SweepSettings(symbols=("BTCUSD",), runs_dir=tmp_path, run_id="old", windows=WindowSpec(test_stride=24))
    check_run_settings(daily, data)
    run_json = tmp_path / "old" / "run.json"
    stored = json.loads(run_json.read_text())
    del stored["windows"]["test_stride"]  # as written before the flag existed
    run_json.write_text(json.dumps(stored))
    check_run_settings(daily, data)  # same windows: resumes
    run_json.write_text(json.dumps(stored))
    with pytest.raises(ConfigError, match="different windows"):
        check_run_settings(SweepSettings(symbols=("BTCUSD",), runs_dir=tmp_path, run_id="old"), data)


@pytest.mark.parametrize("argv, code, message", [
    (["--symbols", "btc/usd"], 2, "symbol 'btc/usd' is invalid"),
    (["--symbols", "NOPE", "--data-dir", "{data}"], 2, "NOPE.csv: file not found"),
    (["--symbols", "TEST", "--data-dir", "{data}", "--n-trials", "0"], 2, "--n-trials must be at least 1"),
    (["--symbols", "TEST", "--data-dir", "{data}"], 2, "TEST.csv has 600 bars but the windows need"),
    (["--symbols", "TEST", "--data-dir", "{data}", "--toto-model", "/no/such/ckpt", *SMALL[:6],
      "--max-context-length", "64"], 2, "neither an existing checkpoint folder"),
    (["evaluate", "--symbol", "TEST", "--config", "{data}/missing.json", "--data-dir", "{data}"], 2,
     "config file .*missing.json does not exist"),
    (["data", "validate", "--symbols", "TEST", "BAD", "--data-dir", "{data}"], 2, "high < max"),
])
def test_when_input_is_bad_then_the_exit_code_and_message_say_so(argv, code, message, data_dir, tmp_path, capsys):
    frame = synthetic_frame(40)
    frame.loc[3, "high"] = 1.0
    write_csv(data_dir, "BAD", frame)
    argv = [a.replace("{data}", str(data_dir)) for a in argv]
    assert main([*argv, "--runs-dir", str(tmp_path / "r"), "--output-dir", str(tmp_path / "h")]
                if argv[0].startswith("--") else argv) == code
    captured = capsys.readouterr()
    import re
    assert re.search(message, " ".join((captured.err + captured.out).split())), captured.err


def test_when_data_is_valid_then_validate_exits_zero(shared_data, capsys):
    assert main(["data", "validate", "--symbols", "BTCUSD", "UNIUSD", "--data-dir", str(shared_data)]) == 0
    assert "37660" in capsys.readouterr().out


def test_when_an_exchange_response_is_parsed_then_it_is_a_valid_csv(tmp_path):
    # rows as ccxt's fetch_ohlcv returns them: [ms, open, high, low, close, volume]; one duplicate, out of order
    recorded = [[1577840400000, 7171.43, 7225.0, 7171.1, 7210.24, 3865.038],
                [1577836800000, 7189.43, 7190.52, 7170.15, 7171.55, 2449.049],
                [1577844000000, 7210.38, 7220.0, 7206.54, 7209.37, 1798.082],
                [1577844000000, 7210.38, 7220.0, 7206.54, 7209.37, 1798.082]]
    frame = candles_to_frame(recorded)
    frame.to_csv(tmp_path / "BTCUSD.csv", index=False)
    data = load_ohlcv(tmp_path, "BTCUSD")
    assert data.n_bars == 3 and data.frame["close"].iloc[0] == 7171.55
    assert str(data.frame.index[0]) == "2020-01-01 00:00:00+00:00"
    assert exchange_pair("BTCUSD") == "BTC/USDT"
    with pytest.raises(ConfigError, match="USD symbols"):
        exchange_pair("BTCEUR")


def test_when_offline_then_download_fails_with_a_network_message(tmp_path, capsys):
    code = main(["data", "download", "--symbols", "BTCUSD", "--data-dir", str(tmp_path)])
    assert code == 1
    assert "cannot reach binance" in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "BTCUSD.csv").exists()


def test_when_a_kronos_candidate_is_evaluated_then_it_reloads_the_same_checkpoints(shared_data, tiny_kronos_dir,
                                                                                   tmp_path, capsys):
    assert main(["--symbols", "ETHUSD", "--models", "kronos", "--n-trials", "3", "--data-dir", str(shared_data),
                 "--kronos-model", str(tiny_kronos_dir), "--runs-dir", str(tmp_path / "runs"),
                 "--output-dir", str(tmp_path / "hp"), "--run-id", "kr", *SMALL]) == 0
    path = tmp_path / "hp/candidates/kr/ETHUSD.json"
    doc = json.loads(path.read_text())
    sampling = doc["config"]["sampling"]
    assert doc["model"]["family"] == "kronos" and set(sampling) == {"temperature", "top_k", "top_p", "clip"}
    assert sampling["top_k"] == 0 or sampling["top_p"] == 1.0
    assert set(doc["model"]["tokenizer_checkpoint_files"]) == {"config.json", "model.safetensors"}
    assert set(doc["model"]["checkpoint_files"]) == {"kronos.json", "predictor/config.json",
                                                     "predictor/model.safetensors"}
    assert doc["model"]["max_context"] == 512
    capsys.readouterr()
    assert main(["evaluate", "--symbol", "ETHUSD", "--config", str(path), "--data-dir", str(shared_data), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["test"]["pct_return_mae"] == pytest.approx(doc["test"]["pct_return_mae"])


def test_when_a_candidate_is_written_then_the_default_and_persistence_comparisons_are_beside_it(real_sweep):
    from sweep.forecasters.registry import family_of
    from sweep.search.space import default_config

    _code, root = real_sweep
    for symbol in ("BTCUSD", "ETHUSD"):
        doc = json.loads((root / "hp" / "candidates" / "t1" / f"{symbol}.json").read_text())
        label = doc["model"].get("variant") or doc["config"]["model"]
        assert doc["default"]["config"] == default_config(family_of(label), 128).to_dict()
        assert doc["default"]["test"]["n_windows"] == doc["test"]["n_windows"] == doc["windows"]["n_test_origins"] == 8 * 24
        for name, other in (("persistence", doc["test"]["persistence_pct_return_mae"]),
                            ("default", doc["default"]["test"]["pct_return_mae"])):
            c = doc["comparisons"][name]
            assert {"mean_diff", "ci_low", "ci_high", "dm_stat", "p_value", "mde"} <= set(c)
            # horizon 1: the mean per-window differential is the difference of the MAEs
            assert c["mean_diff"] == pytest.approx(doc["test"]["pct_return_mae"] - other, abs=1e-12)
            assert c["ci_low"] <= c["mean_diff"] <= c["ci_high"] and 0 <= c["p_value"] <= 1
        selection = doc["selection"]
        trials = sum(s["n_complete"] for s in selection["studies"])
        assert selection["spa"]["n_models"] == trials - 1  # every trial but persistence, the benchmark
        assert 0 <= selection["spa"]["p_value"] <= 1 and selection["spa"]["block_size"] >= 1
        names = {s["study_name"] for s in selection["studies"]}
        assert selection["mcs"] and all(m["study"] in names for m in selection["mcs"])
        assert doc["pretraining_overlap"] is False and doc["training_overlap"] is False
