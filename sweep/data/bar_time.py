"""Bar times given as flags: the bar frequency (``--freq``) and timestamps (``predict --at``, ``download --since``)."""

from __future__ import annotations

import pandas as pd

from ..errors import ConfigError

__all__ = ["parse_freq", "utc_timestamp"]


def utc_timestamp(value: str | pd.Timestamp, flag: str) -> pd.Timestamp:
    """A flag's date or timestamp as a UTC ``pandas.Timestamp`` (naive values are UTC).

    Raises
    ------
    ConfigError
        If pandas cannot parse ``value`` (naming the flag, the value and an ISO 8601 example).
    """
    try:
        when = pd.Timestamp(value)
    except (ValueError, TypeError) as e:  # pandas' DateParseError is a ValueError
        raise ConfigError(f"{flag} {value!r} is not a date or timestamp ({e}); pass ISO 8601, e.g. "
                          f"2026-11-27T13:00:00Z or 2020-01-01") from e
    if when is pd.NaT:
        raise ConfigError(f"{flag} {value!r} is not a date or timestamp; pass ISO 8601, e.g. 2026-11-27T13:00:00Z")
    return when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")


def parse_freq(freq: str) -> pd.Timedelta:
    """Parse a bar frequency such as ``"1h"`` or ``"15min"``.

    Raises
    ------
    ConfigError
        If pandas cannot parse it or it is not positive.
    """
    try:
        delta = pd.Timedelta(freq)
    except ValueError as e:
        raise ConfigError(f"--freq {freq!r} is not a frequency; use e.g. '1h' or '15min'") from e
    if delta is pd.NaT or not delta > pd.Timedelta(0):  # "nan" parses to NaT, which compares False to anything
        raise ConfigError(f"--freq must be a positive duration such as '1h' or '15min', got {freq!r}")
    return delta
