"""The bars a run used: where they are, and whether today's file still holds them unchanged.

``promote`` and ``report`` read a run long after it ended. They read the data folder the run recorded
(``run.json``'s ``data_dir``, or the folder of a candidate's ``provenance.data_path``) unless
``--data-dir`` says otherwise, and check that the bars the run used are still there, unchanged: new
bars appended since are expected (a promotion review scores today's data), but a changed bar or other
data would review or report on something the run never saw. The check compares the SHA-256 fingerprint
(:func:`sweep.data.bars.fingerprint`) of today's bars up to the run's last bar with the one the run recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from .bars import OHLCVData, fingerprint
from ..errors import ConfigError

__all__ = ["DEFAULT_DATA_DIR", "RecordedBars", "data_record", "run_data_dir", "run_bars"]

#: Where a run that recorded no folder read its data (the ``--data-dir`` default).
DEFAULT_DATA_DIR = Path("trainingdata")


def data_record(data_dir: str | Path, datasets: dict[str, OHLCVData]) -> dict[str, Any]:
    """What ``run.json`` records of a run's data besides each symbol's fingerprint.

    Returns
    -------
    dict
        ``data_dir`` (as given, like a candidate's ``provenance.data_path``: a relative folder keeps working when
        the whole project folder moves) and ``data_spans``: ``{symbol: {path, first_bar, last_bar, n_bars}}``.
    """
    return {"data_dir": str(data_dir),
            "data_spans": {s: {"path": str(d.path), **d.date_range(), "n_bars": d.n_bars} for s, d in datasets.items()}}


def run_data_dir(given: str | Path | None, recorded: str | Path | None, record: str | Path = "run.json") -> Path:
    """Where a command reads a finished run's bars.

    Parameters
    ----------
    given : str or Path or None
        ``--data-dir`` (None: not given).
    recorded : str or Path or None
        The folder the run read (``run.json``'s ``data_dir``, or a candidate's data path's folder).
    record : str or Path
        The file that recorded it, for the message.

    Returns
    -------
    Path
        ``given``, else ``recorded``, else :data:`DEFAULT_DATA_DIR` (a run that recorded no folder).

    Raises
    ------
    ConfigError
        If the recorded folder is used and no longer exists (a run moved to another machine), naming it, the file
        that recorded it and ``--data-dir``.
    """
    if given is not None:
        return Path(given)
    if not recorded:
        return DEFAULT_DATA_DIR
    if not Path(recorded).is_dir():
        raise ConfigError(f"the data folder the run swept, {recorded} (recorded in {record}), is not there any more; "
                          f"pass --data-dir with the folder that holds the run's <SYMBOL>.csv files now")
    return Path(recorded)


@dataclass(frozen=True)
class RecordedBars:
    """One symbol's bars as a run recorded them.

    Attributes
    ----------
    symbol : str
    fingerprint : str
        SHA-256 of the bars the run read (:func:`sweep.data.bars.fingerprint`).
    last_bar : str or None
        Open time of the run's last bar (ISO 8601, UTC); None for runs that recorded only the fingerprint.
    n_bars : int or None
    first_bar : str or None
    source : str
        The file that records them (``run.json`` or a candidate), for messages.
    """

    symbol: str
    fingerprint: str
    last_bar: str | None
    n_bars: int | None
    first_bar: str | None
    source: str

    @classmethod
    def from_run(cls, recorded: dict[str, Any], symbol: str, source: str | Path) -> "RecordedBars":
        """From a run's settings (``run.json``): its ``data`` fingerprint and, when recorded, ``data_spans``."""
        span = (recorded.get("data_spans") or {}).get(symbol) or {}
        return cls(symbol, recorded["data"][symbol], span.get("last_bar"), span.get("n_bars"), span.get("first_bar"),
                   str(source))

    @classmethod
    def from_provenance(cls, provenance: dict[str, Any], symbol: str, source: str | Path) -> "RecordedBars":
        """From a candidate's ``provenance`` (``data_fingerprint``, ``data_range``, ``data_rows``)."""
        span = provenance.get("data_range") or {}
        return cls(symbol, provenance["data_fingerprint"], span.get("last_bar"), provenance.get("data_rows"),
                   span.get("first_bar"), str(source))

    def describe(self) -> str:
        """The recorded span and fingerprint in words, e.g. ``2024-01-01T00:00:00+00:00 to ..., 1500 bars,
        fingerprint fc2501c2eb35``."""
        span = f"{self.first_bar} to {self.last_bar}, {self.n_bars} bars, " if self.last_bar else ""
        return f"{span}fingerprint {self.fingerprint[:12]}"


def run_bars(data: OHLCVData, recorded: RecordedBars, fix: str) -> OHLCVData:
    """Today's ``data`` cut to the bars the run used, after checking they are unchanged.

    Parameters
    ----------
    data : OHLCVData
        The symbol's bars as read today (possibly with bars appended after the run).
    recorded : RecordedBars
    fix : str
        The end of the refusal: what to pass instead (e.g. ``"pass --data-dir with the folder the run read"``).

    Returns
    -------
    OHLCVData
        The bars up to ``recorded.last_bar`` (all of ``data`` for a run that recorded only the fingerprint), with
        the recorded fingerprint.

    Raises
    ------
    ConfigError
        If the run's last bar is not in ``data``, or the bars up to it differ from the run's (or, for a run that
        recorded only the fingerprint, the whole file differs); the message names the file, the recorded span and
        ``fix``.
    """
    if recorded.last_bar is None:
        used = data.frame
    else:
        last = pd.Timestamp(recorded.last_bar)
        used = data.frame.loc[:last]
        if not len(used) or used.index[-1] != last:
            _refuse(data, recorded, f"it has no bar at {recorded.last_bar}, the run's last", fix)
    now = fingerprint(used)
    if now != recorded.fingerprint:
        what = f"the bars up to {recorded.last_bar}" if recorded.last_bar else "its bars"
        _refuse(data, recorded, f"{what} differ from the run's (fingerprint {now[:12]} now)", fix)
    return data if len(used) == data.n_bars else replace(data, frame=used, fingerprint=now)


def _refuse(data: OHLCVData, recorded: RecordedBars, why: str, fix: str) -> None:
    raise ConfigError(f"{data.path} does not hold the {recorded.symbol} bars the run used ({recorded.source} records "
                      f"{recorded.describe()}): {why}. Bars appended after the run are fine; changed or other "
                      f"data is not. {fix[:1].upper()}{fix[1:]}")
