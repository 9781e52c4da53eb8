"""Fetch hourly OHLCV candles from an exchange with ccxt (for users who are online)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from .bar_time import utc_timestamp
from .bars import COLUMNS, symbol_path
from ..errors import ConfigError, SweepError
from ..storage.store import check_output_folder

__all__ = ["exchange_pair", "candles_to_frame", "download_symbol"]

logger = logging.getLogger(__name__)

QUOTE_FOR_USD = "USDT"
PAGE_LIMIT = 1000


def exchange_pair(symbol: str, quote_for_usd: str = QUOTE_FOR_USD) -> str:
    """ccxt market of a sweep symbol: ``BTCUSD`` -> ``BTC/USDT`` (USD is quoted in USDT on most exchanges).

    Raises
    ------
    ConfigError
        If the symbol does not end in USD.
    """
    if not symbol.endswith("USD") or len(symbol) <= 3:
        raise ConfigError(f"symbol {symbol!r}: download only knows <BASE>USD symbols such as BTCUSD")
    return f"{symbol[:-3]}/{quote_for_usd}"


def candles_to_frame(candles: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """ccxt ``fetch_ohlcv`` rows ``[ms, open, high, low, close, volume]`` -> the CSV frame.

    Rows are de-duplicated by timestamp and sorted; timestamps become ISO 8601 UTC.
    """
    frame = pd.DataFrame(list(candles), columns=["timestamp", *COLUMNS])
    frame = frame.drop_duplicates("timestamp").sort_values("timestamp")
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], unit="ms", utc=True)
    return frame.reset_index(drop=True)


def _fetch_all(exchange: Any, pair: str, timeframe: str, since_ms: int) -> list[list[Any]]:
    rows: list[list[Any]] = []
    while True:
        page = exchange.fetch_ohlcv(pair, timeframe=timeframe, since=since_ms, limit=PAGE_LIMIT)
        if not page:
            return rows
        rows.extend(page)
        next_since = int(page[-1][0]) + 1
        if next_since <= since_ms or len(page) < 2:
            return rows
        since_ms = next_since


def download_symbol(symbol: str, data_dir: str | Path, exchange_id: str = "binance", timeframe: str = "1h",
                    since: str = "2020-01-01") -> Path:
    """Download ``symbol`` candles since ``since`` and write ``<data_dir>/<SYMBOL>.csv`` atomically
    (refreshing ``<SYMBOL>.csv.gz`` instead when only that file is there).

    The last, still-open candle is dropped.

    Raises
    ------
    ConfigError
        If ``since`` is not a date, ``data_dir`` cannot be written, ccxt is missing, the exchange is
        unknown, or the symbol is not a USD pair.
    SweepError
        If the exchange cannot be reached or rejects the request.
    """
    since_ms = int(utc_timestamp(since, "--since").timestamp() * 1000)
    check_output_folder(data_dir, "--data-dir")
    try:
        import ccxt
    except ImportError as e:
        raise ConfigError("data download needs ccxt: pip install ccxt") from e
    if not hasattr(ccxt, exchange_id):
        raise ConfigError(f"--exchange {exchange_id!r} is not a ccxt exchange id; use e.g. binance, kraken")
    path = symbol_path(data_dir, symbol)
    exchange = getattr(ccxt, exchange_id)({"enableRateLimit": True})
    pair = exchange_pair(symbol)
    try:
        rows = _fetch_all(exchange, pair, timeframe, since_ms)
    except ccxt.NetworkError as e:
        raise SweepError(f"cannot reach {exchange_id} to download {pair} ({type(e).__name__}: {e}); "
                         f"check the network connection or copy <SYMBOL>.csv files into {data_dir}") from e
    except ccxt.BaseError as e:
        raise SweepError(f"{exchange_id} refused {pair} {timeframe} candles ({type(e).__name__}: {e})") from e
    frame = candles_to_frame(rows[:-1])
    if frame.empty:
        raise SweepError(f"{exchange_id} returned no {timeframe} candles for {pair} since {since}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    # keep the format already there: a shipped <SYMBOL>.csv.gz is refreshed in place
    frame.to_csv(tmp, index=False, compression="gzip" if path.name.endswith(".gz") else None)
    tmp.replace(path)
    logger.info("wrote %d bars of %s to %s", len(frame), pair, path)
    return path
