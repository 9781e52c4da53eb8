
import numpy as np
import pandas as pd
import pytest

from sweep.data.bars import check_ohlcv, load_ohlcv, validate_symbol
from sweep.errors import ConfigError, DataValidationError

from conftest import synthetic_frame, write_csv


def _corrupt(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    f = frame.copy()
    if kind == "timestamp":
        f.loc[5, "timestamp"] = "not a date"
    elif kind == "duplicate":
        f.loc[5, "timestamp"] = f.loc[4, "timestamp"]
    elif kind == "unsorted":
        f.loc[[5, 6]] = f.loc[[6, 5]].to_numpy()
    elif kind == "nonpositive":
        f.loc[5, "close"] = 0.0
        f.loc[5, "low"] = 0.0
    elif kind == "nonfinite":
        f.loc[5, "open"] = np.inf
    elif kind == "high":
        f.loc[5, "high"] = min(f.loc[5, "open"], f.loc[5, "close"]) * 0.99
    elif kind == "low":
        f.loc[5, "low"] = max(f.loc[5, "open"], f.loc[5, "close"]) * 1.01
    elif kind == "gap":
        f = f.drop(index=[5, 6]).reset_index(drop=True)
    elif kind == "column":
        f = f.drop(columns=["volume"])
    return f


@pytest.mark.parametrize("kind, match", [
    ("timestamp", r"TEST.csv, row 7: unparsable timestamp: timestamp='not a date'"),
    ("duplicate", r"row 7: duplicate timestamp"),
    ("unsorted", r"row 8: unsorted rows.*sort the file"),
    ("nonpositive", r"row 7: non-positive or non-finite price: .*=0.0"),
    ("nonfinite", r"row 7: non-positive or non-finite price: open=inf"),
    ("high", r"row 7: high < max\(open, close\)"),
    ("low", r"row 7: low > min\(open, close\)"),
    ("gap", r"row 7: gap larger than the frequency: 0 days 03:00:00.*--gap-policy ffill"),
    ("column", r"columns \['volume'\] are missing"),
])
def test_when_a_rule_is_violated_then_the_error_names_file_row_and_fix(tmp_path, kind, match):
    write_csv(tmp_path, "TEST", _corrupt(synthetic_frame(50), kind))
    with pytest.raises(DataValidationError, match=match):
        load_ohlcv(tmp_path, "TEST")


def test_when_the_file_is_missing_then_the_error_says_how_to_get_it(tmp_path):
    with pytest.raises(DataValidationError, match=r"NOPE.csv: file not found.*data download"):
        load_ohlcv(tmp_path, "NOPE")


def test_when_every_problem_is_listed_then_none_is_lost(tmp_path):
    frame = _corrupt(_corrupt(synthetic_frame(50), "high"), "nonfinite")
    _, problems = check_ohlcv(write_csv(tmp_path, "TEST", frame))
    assert {p.rule for p in problems} >= {"high < max(open, close)", "non-positive or non-finite price"}


def test_when_gap_policy_is_ffill_then_missing_bars_carry_the_last_close(tmp_path):
    write_csv(tmp_path, "TEST", _corrupt(synthetic_frame(50), "gap"))
    data = load_ohlcv(tmp_path, "TEST", gap_policy="ffill")
    assert data.n_bars == 50
    filled = data.frame.iloc[5]
    assert filled["close"] == data.frame.iloc[4]["close"] == filled["open"] == filled["high"] == filled["low"]
    assert filled["volume"] == 0.0


def test_when_gap_policy_is_drop_then_rows_are_kept_as_they_are(tmp_path):
    write_csv(tmp_path, "TEST", _corrupt(synthetic_frame(50), "gap"))
    assert load_ohlcv(tmp_path, "TEST", gap_policy="drop").n_bars == 48


def test_when_columns_use_aliases_and_case_then_they_parse(tmp_path):
    frame = synthetic_frame(30).rename(columns={"timestamp": "Open_Time", "close": "Close"})
    frame["Open_Time"] = pd.to_datetime(frame["Open_Time"]).astype("int64") // 10**6  # epoch milliseconds
    write_csv(tmp_path, "TEST", frame)
    data = load_ohlcv(tmp_path, "TEST")
    assert str(data.frame.index[0]) == "2024-01-01 00:00:00+00:00"
    assert data.frame.index.tz is not None


def test_when_formatting_differs_then_the_fingerprint_is_the_same(tmp_path):
    frame = synthetic_frame(30)
    a = load_ohlcv(write_csv(tmp_path / "a", "TEST", frame).parent, "TEST")
    frame2 = frame.copy()
    frame2["timestamp"] = pd.to_datetime(frame2["timestamp"]).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    b = load_ohlcv(write_csv(tmp_path / "b", "TEST", frame2).parent, "TEST")
    assert a.fingerprint == b.fingerprint


@pytest.mark.parametrize("symbol", ["btcusd", "../etc", "BTC/USD", "", ".."])
def test_when_a_symbol_is_unsafe_then_it_is_refused_before_touching_a_path(symbol):
    with pytest.raises(ConfigError, match="symbol"):
        validate_symbol(symbol)


def test_when_the_real_data_is_loaded_then_it_is_valid(shared_data):
    data = load_ohlcv(shared_data, "BTCUSD")
    assert data.n_bars == 37660
    assert data.date_range()["first_bar"].startswith("2020-01-01T00:00:00")


def test_when_only_a_gzip_file_exists_then_it_is_read_and_a_plain_file_takes_precedence(tmp_path):
    from sweep.data.bars import symbol_path

    frame = synthetic_frame(200)
    frame.to_csv(tmp_path / "GZ.csv.gz", index=False)
    assert symbol_path(tmp_path, "GZ").name == "GZ.csv.gz"
    zipped = load_ohlcv(tmp_path, "GZ")
    assert zipped.n_bars == 200 and zipped.path.name == "GZ.csv.gz"
    write_csv(tmp_path, "GZ", frame)
    plain = load_ohlcv(tmp_path, "GZ")
    assert plain.path.name == "GZ.csv" and plain.fingerprint == zipped.fingerprint


def test_when_a_gzip_file_is_truncated_then_the_error_names_it(tmp_path):
    frame = synthetic_frame(2000)
    frame.to_csv(tmp_path / "CUT.csv.gz", index=False)
    data = (tmp_path / "CUT.csv.gz").read_bytes()
    (tmp_path / "CUT.csv.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataValidationError, match=r"CUT.csv.gz: the compressed file is corrupt or truncated"):
        load_ohlcv(tmp_path, "CUT")


def test_when_the_shipped_data_is_loaded_then_it_matches_its_readme(shared_data):
    rows = {"BTCUSD": 37660, "ETHUSD": 37660, "SOLUSD": 31485, "UNIUSD": 29653}
    for symbol, n in rows.items():
        data = load_ohlcv(shared_data, symbol)
        assert data.n_bars == n and data.path.suffix == ".gz"
        assert f"| {symbol}.csv.gz |" in (shared_data / "README.md").read_text()


def test_when_data_is_downloaded_over_a_gzip_file_then_the_gzip_file_is_refreshed(tmp_path, monkeypatch):
    import sys
    import types

    from sweep.data.download import download_symbol

    hour = 3_600_000
    candles = [[1_700_000_000_000 + i * hour, 100.0, 101.0, 99.0, 100.5, 3.0] for i in range(30)]

    class FakeExchange:  # ccxt's exchange interface; the network is not reachable here
        def __init__(self, config):
            pass

        def fetch_ohlcv(self, pair, timeframe, since, limit):
            return [c for c in candles if c[0] >= since][:limit]

    fake = types.SimpleNamespace(binance=FakeExchange, NetworkError=OSError, BaseError=Exception)
    monkeypatch.setitem(sys.modules, "ccxt", fake)
    synthetic_frame(50).to_csv(tmp_path / "BTCUSD.csv.gz", index=False)
    path = download_symbol("BTCUSD", tmp_path, since="2023-11-01")
    assert path.name == "BTCUSD.csv.gz" and not (tmp_path / "BTCUSD.csv").exists()
    assert load_ohlcv(tmp_path, "BTCUSD").n_bars == 29  # the last, still-open candle is dropped
