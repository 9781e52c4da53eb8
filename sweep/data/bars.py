"""Read and validate OHLCV CSV files once, into one canonical frame.

The file format is ``<SYMBOL>.csv`` (or gzip-compressed ``<SYMBOL>.csv.gz``; the
plain file wins when both exist) with the columns ``timestamp, open, high,
low, close, volume`` (case-insensitive; ``date`` or ``open_time`` are accepted
for the timestamp). Timestamps are bar open times and are converted to UTC;
naive timestamps are taken as UTC.

Every rule of DESIGN.md is checked and each problem names the file, the row
(the line number in the file, the header being line 1), the value and the fix.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from .bar_time import parse_freq
from ..errors import ConfigError, DataValidationError

__all__ = [
    "GAP_POLICIES",
    "OHLCVData",
    "Problem",
    "check_ohlcv",
    "fingerprint",
    "ohlcv_from_frame",
    "load_ohlcv",
    "symbol_path",
    "validate_symbol",
]

PRICE_COLUMNS = ("open", "high", "low", "close")
COLUMNS = (*PRICE_COLUMNS, "volume")
TIMESTAMP_ALIASES = ("timestamp", "date", "open_time")
GAP_POLICIES = ("error", "ffill", "drop")
GapPolicy = Literal["error", "ffill", "drop"]
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9._-]+$")
MAX_PROBLEMS_IN_MESSAGE = 5
#: Forward filling may at most double the bars: more than half made up means --freq is not the bars' spacing.
MAX_INVENTED_SHARE_INVERSE = 2


@dataclass(frozen=True)
class Problem:
    """One violated data rule.

    Attributes
    ----------
    row : int or None
        Line number in the file (header = line 1); ``None`` for file-level problems.
    rule : str
        Short rule name, e.g. ``"duplicate timestamp"``.
    detail : str
        The offending value and how to fix it.
    """

    row: int | None
    rule: str
    detail: str

    def describe(self, path: Path) -> str:
        where = f"{path}" if self.row is None else f"{path}, row {self.row}"
        return f"{where}: {self.rule}: {self.detail}"


@dataclass(frozen=True)
class OHLCVData:
    """A validated OHLCV series in canonical form.

    Attributes
    ----------
    symbol : str
        Validated symbol, e.g. ``"BTCUSD"``.
    path : Path
        The CSV file it was read from.
    frame : pandas.DataFrame
        ``[n_bars, 5]`` float64 columns ``open, high, low, close, volume`` (prices in
        quote currency, volume in base units), indexed by a sorted, unique UTC
        ``DatetimeIndex`` of bar open times named ``timestamp``.
    freq : pandas.Timedelta
        The declared bar frequency.
    fingerprint : str
        SHA-256 (hex) of the canonical timestamps and values; identical data
        gives the identical fingerprint whatever the CSV formatting.
    """

    symbol: str
    path: Path
    frame: pd.DataFrame
    freq: pd.Timedelta
    fingerprint: str

    @property
    def n_bars(self) -> int:
        return len(self.frame)

    @property
    def close(self) -> np.ndarray:
        """Close prices, ``[n_bars]`` float64."""
        return self.frame["close"].to_numpy(dtype=np.float64)

    @property
    def timestamps_s(self) -> np.ndarray:
        """Bar open times as POSIX seconds, ``[n_bars]`` int64."""
        return (self.frame.index.asi8 // 1_000_000_000).astype(np.int64)

    def date_range(self) -> dict[str, str]:
        """First and last bar open time (ISO 8601, UTC)."""
        return {"first_bar": self.frame.index[0].isoformat(), "last_bar": self.frame.index[-1].isoformat()}


def validate_symbol(symbol: str) -> str:
    """Return ``symbol`` if it is safe to use in a path.

    Raises
    ------
    ConfigError
        If the symbol does not match ``[A-Z0-9._-]+`` (e.g. lower case or a path separator).
    """
    if not SYMBOL_PATTERN.match(symbol) or symbol in (".", ".."):
        # 'btc/usd' -> 'BTCUSD'; an empty value or a path ('../x') gets an example, never '' or '..X'
        cleaned = re.sub(r"[^A-Z0-9._-]", "", symbol.upper()).strip("._-")
        path_like = ".." in symbol or symbol.startswith(("/", "\\", "~"))
        example = cleaned if cleaned and not path_like and SYMBOL_PATTERN.match(cleaned) else "BTCUSD"
        raise ConfigError(
            f"symbol {symbol!r} is invalid: symbols must match [A-Z0-9._-]+ "
            f"(upper case, no path separators); use e.g. {example!r}"
        )
    return symbol


#: File names a symbol's bars may have, in order of preference.
SUFFIXES = (".csv", ".csv.gz")


def symbol_path(data_dir: str | Path, symbol: str) -> Path:
    """``<data_dir>/<SYMBOL>.csv``, else ``<SYMBOL>.csv.gz`` if only that exists (the symbol validated first).

    When neither exists the plain ``.csv`` path is returned, for the "file not found" message.
    """
    stem = Path(data_dir) / validate_symbol(symbol)
    for suffix in SUFFIXES:
        if stem.with_name(stem.name + suffix).is_file():
            return stem.with_name(stem.name + suffix)
    return stem.with_name(stem.name + SUFFIXES[0])


def _read_raw(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataValidationError(
            f"{path}: file not found (nor {path.name}.gz); put <SYMBOL>.csv or <SYMBOL>.csv.gz files in "
            f"--data-dir or fetch them with 'python -m sweep data download --symbols {path.name.split('.')[0]}'"
        )
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (zlib.error, EOFError) as e:  # a corrupt or truncated .gz (gzip.BadGzipFile is an OSError)
        raise DataValidationError(f"{path}: the compressed file is corrupt or truncated ({type(e).__name__}: {e}); "
                                  f"restore it, or download it again with 'python -m sweep data download'") from e
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as e:
        raise DataValidationError(f"{path}: not a readable CSV file ({e}); expected a header line "
                                  f"'timestamp,open,high,low,close,volume'") from e
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    return raw


def _column_problems(raw: pd.DataFrame) -> list[Problem]:
    problems = []
    if not any(alias in raw.columns for alias in TIMESTAMP_ALIASES):
        problems.append(Problem(None, "missing column", f"no timestamp column (one of {TIMESTAMP_ALIASES}); "
                                f"found {list(raw.columns)}; rename the time column to 'timestamp'"))
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        problems.append(Problem(None, "missing column", f"columns {missing} are missing; found "
                                f"{list(raw.columns)}; the header must be timestamp,open,high,low,close,volume"))
    return problems


def _parse(raw: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame, list[Problem]]:
    """Parse timestamps and numbers; return them with per-row parse problems."""
    problems = []
    ts_column = next(alias for alias in TIMESTAMP_ALIASES if alias in raw.columns)
    text = raw[ts_column].str.strip()
    numeric = pd.to_numeric(text, errors="coerce")
    if numeric.notna().all() and len(text) > 0:  # epoch numbers: milliseconds if large, else seconds
        unit = "ms" if numeric.abs().max() > 1e11 else "s"
        timestamps = pd.to_datetime(numeric, unit=unit, utc=True)
    else:
        timestamps = pd.to_datetime(text, utc=True, errors="coerce", format="mixed")
    for i in np.flatnonzero(timestamps.isna().to_numpy()):
        problems.append(Problem(int(i) + 2, "unparsable timestamp",
                                f"{ts_column}={raw[ts_column].iloc[i]!r}; use ISO 8601, e.g. 2024-01-01 00:00:00+00:00"))
    values = raw[list(COLUMNS)].apply(lambda col: pd.to_numeric(col.str.strip(), errors="coerce")).astype(np.float64)
    return timestamps, values, problems


def _value_problems(values: pd.DataFrame) -> list[Problem]:
    problems = []
    for column in COLUMNS:
        col = values[column].to_numpy()
        bad = ~np.isfinite(col) | ((col <= 0) if column in PRICE_COLUMNS else (col < 0))
        rule = "non-positive or non-finite price" if column in PRICE_COLUMNS else "negative or non-finite volume"
        for i in np.flatnonzero(bad):
            problems.append(Problem(int(i) + 2, rule, f"{column}={float(col[i])}; fix or remove the row"))
    o, h, l, c = (values[k].to_numpy() for k in PRICE_COLUMNS)
    with np.errstate(invalid="ignore"):
        for i in np.flatnonzero(h < np.maximum(o, c)):
            problems.append(Problem(int(i) + 2, "high < max(open, close)",
                                    f"high={h[i]}, open={o[i]}, close={c[i]}; the bar is corrupt, fix or remove it"))
        for i in np.flatnonzero(l > np.minimum(o, c)):
            problems.append(Problem(int(i) + 2, "low > min(open, close)",
                                    f"low={l[i]}, open={o[i]}, close={c[i]}; the bar is corrupt, fix or remove it"))
    return problems


def _order_problems(timestamps: pd.Series, freq: pd.Timedelta, gap_policy: GapPolicy) -> list[Problem]:
    problems = []
    ts = timestamps.to_numpy()
    valid = ~pd.isna(ts)
    idx = np.flatnonzero(valid)
    t = timestamps.iloc[idx]
    dup = t.duplicated(keep="first").to_numpy()
    for i in idx[dup]:
        problems.append(Problem(int(i) + 2, "duplicate timestamp",
                                f"{timestamps.iloc[i]} appears more than once; keep one row per bar"))
    steps = t.diff().iloc[1:]
    for j, step in zip(idx[1:], steps):
        if step < pd.Timedelta(0):
            problems.append(Problem(int(j) + 2, "unsorted rows",
                                    f"{timestamps.iloc[j]} comes after a later bar; sort the file by timestamp"))
        elif step > freq and gap_policy == "error":
            problems.append(Problem(int(j) + 2, "gap larger than the frequency",
                                    f"{step} before {timestamps.iloc[j]} (frequency {freq}); fill the data or "
                                    f"pass --gap-policy ffill (carry the last close) or --gap-policy drop"))
    return problems


def check_ohlcv(path: str | Path, freq: str = "1h", gap_policy: GapPolicy = "error") -> tuple[pd.DataFrame | None, list[Problem]]:
    """Read a CSV and list every violated data rule.

    Parameters
    ----------
    path : str or Path
        The ``<SYMBOL>.csv`` file.
    freq : str
        Declared bar frequency (pandas offset, e.g. ``"1h"``).
    gap_policy : {"error", "ffill", "drop"}
        ``"error"`` reports gaps larger than ``freq``; ``"ffill"`` inserts the missing
        bars with open = high = low = close = previous close and volume 0;
        ``"drop"`` keeps the rows as they are (windows then span the gap).

    Returns
    -------
    frame : pandas.DataFrame or None
        The canonical frame (see :class:`OHLCVData`) when there is no problem, else ``None``.
    problems : list of Problem
        Every violated rule, in file order.

    Raises
    ------
    DataValidationError
        If the file is missing or not a CSV.
    ConfigError
        If ``freq`` or ``gap_policy`` is invalid.
    """
    if gap_policy not in GAP_POLICIES:
        raise ConfigError(f"--gap-policy must be one of {GAP_POLICIES}, got {gap_policy!r}")
    parse_freq(freq)
    return _check_raw(_read_raw(Path(path)), freq, gap_policy)


def _check_raw(raw: pd.DataFrame, freq: str, gap_policy: GapPolicy) -> tuple[pd.DataFrame | None, list[Problem]]:
    """Every data rule on a frame of string columns read from a file (or a caller's frame)."""
    delta = parse_freq(freq)
    problems = _column_problems(raw)
    if problems:
        return None, problems
    if raw.empty:
        return None, [Problem(None, "no rows", "the file has a header but no bars")]
    timestamps, values, problems = _parse(raw)
    problems += _value_problems(values)
    problems += _order_problems(timestamps, delta, gap_policy)
    if problems:
        return None, sorted(problems, key=lambda p: (p.row or 0))
    frame = values.set_index(pd.DatetimeIndex(timestamps, name="timestamp"))
    if gap_policy == "ffill":
        invented = _invented_bars(frame.index, delta, freq)
        if invented:
            return None, [invented]
        frame = _forward_fill(frame, delta)
    return frame, []


def _invented_bars(index: pd.DatetimeIndex, delta: pd.Timedelta, freq: str) -> Problem | None:
    """A problem when forward-filling at ``freq`` would make up most bars (a ``--freq`` finer than the data's),
    before any of them is allocated (``--freq 1ns`` would ask for petabytes)."""
    n_full = (index[-1] - index[0]) // delta + 1
    if n_full <= MAX_INVENTED_SHARE_INVERSE * len(index):
        return None
    spacing = pd.Series(index).diff().median()
    return Problem(None, "frequency", f"--freq {freq} with --gap-policy ffill would make up {n_full - len(index):,} "
                                      f"of {n_full:,} bars; the bars are every {spacing}: pass that --freq")


def _forward_fill(frame: pd.DataFrame, freq: pd.Timedelta) -> pd.DataFrame:
    full = pd.date_range(frame.index[0], frame.index[-1], freq=freq, name="timestamp")
    filled = frame.reindex(full)
    missing = filled["close"].isna()
    filled["close"] = filled["close"].ffill()
    for column in ("open", "high", "low"):
        filled.loc[missing, column] = filled.loc[missing, "close"]
    filled.loc[missing, "volume"] = 0.0
    return filled


def fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 (hex) of the canonical index and values of an OHLCV frame."""
    digest = hashlib.sha256()
    digest.update(frame.index.asi8.tobytes())
    digest.update(np.ascontiguousarray(frame[list(COLUMNS)].to_numpy(dtype=np.float64)).tobytes())
    return digest.hexdigest()


def load_ohlcv(data_dir: str | Path, symbol: str, freq: str = "1h", gap_policy: GapPolicy = "error") -> OHLCVData:
    """Load and validate ``<data_dir>/<SYMBOL>.csv`` (or ``<SYMBOL>.csv.gz``, see :func:`symbol_path`).

    Parameters
    ----------
    data_dir : str or Path
        Folder holding ``<SYMBOL>.csv`` or ``<SYMBOL>.csv.gz``.
    symbol : str
        Symbol, validated against ``[A-Z0-9._-]+`` before it touches a path.
    freq, gap_policy
        See :func:`check_ohlcv`.

    Returns
    -------
    OHLCVData

    Raises
    ------
    ConfigError
        If the symbol, frequency or gap policy is invalid.
    DataValidationError
        If any data rule is violated; the message lists the first problems, each
        with file, row, value and fix.
    """
    path = symbol_path(data_dir, symbol)
    return _canonical(symbol, path, *check_ohlcv(path, freq=freq, gap_policy=gap_policy), freq)


def ohlcv_from_frame(frame: pd.DataFrame, symbol: str, freq: str = "1h", gap_policy: GapPolicy = "error",
                     source: str = "<DataFrame>") -> OHLCVData:
    """Validate bars a caller already holds (e.g. trading code) exactly as a CSV file is validated.

    Parameters
    ----------
    frame : pandas.DataFrame
        The CSV's columns (``timestamp, open, high, low, close, volume``, any case; ``date`` or
        ``open_time`` for the timestamp), or the five value columns on a ``DatetimeIndex``.
    symbol : str
    freq, gap_policy
        See :func:`check_ohlcv`.
    source : str
        Named in error messages in place of a file.

    Raises
    ------
    ConfigError, DataValidationError
        As :func:`load_ohlcv`.
    """
    if gap_policy not in GAP_POLICIES:
        raise ConfigError(f"--gap-policy must be one of {GAP_POLICIES}, got {gap_policy!r}")
    table = frame.reset_index() if isinstance(frame.index, pd.DatetimeIndex) else frame.copy()
    if isinstance(frame.index, pd.DatetimeIndex) and "timestamp" not in {str(c).lower() for c in frame.columns}:
        table = table.rename(columns={table.columns[0]: "timestamp"})
    table.columns = [str(c).strip().lower() for c in table.columns]
    raw = table.astype(str)
    return _canonical(validate_symbol(symbol), Path(source), *_check_raw(raw, freq, gap_policy), freq)


def _canonical(symbol: str, path: Path, frame: pd.DataFrame | None, problems: list[Problem],
               freq: str) -> OHLCVData:
    """The validated data, or the error listing the first problems."""
    if problems:
        shown = "\n  ".join(p.describe(path) for p in problems[:MAX_PROBLEMS_IN_MESSAGE])
        more = len(problems) - MAX_PROBLEMS_IN_MESSAGE
        suffix = f"\n  ... and {more} more (run 'python -m sweep data validate' for all)" if more > 0 else ""
        raise DataValidationError(f"{path} has {len(problems)} problem(s):\n  {shown}{suffix}")
    assert frame is not None
    return OHLCVData(symbol=symbol, path=path, frame=frame, freq=parse_freq(freq), fingerprint=fingerprint(frame))
