"""Windows that line up in calendar time across symbols: one layout on the bar times every symbol shares.

A symbol's own layout (:func:`sweep.windows.make_splits`) counts its origins back from its own last bar.
Anything that compares or averages windows across symbols (a pooled study's relative losses, its SPA,
the backtest's verdict over symbols) needs window ``i`` to be the same hour for every symbol; a symbol
that ends five weeks early would otherwise be validated on the others' later bars, which is look-ahead.

:func:`aligned_splits` lays the windows out once, on the common calendar (the intersection of the
symbols' bar open times), and maps each origin to every symbol's own bar index, so every symbol's
origins carry identical timestamps. Contexts and targets are still each symbol's own bars before and
from the origin (:func:`sweep.windows.context_slice`). A symbol that cannot be lined up is refused
before any work: it ends before the test period of the symbol that ends last, or it shares too few bar
times with the others (its bars fall on other times, or start too late for the windows).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from .data import OHLCVData
from .errors import ConfigError
from .windows import Splits, WindowSpec, make_splits, walk_forward_splits

__all__ = ["aligned_splits", "sweep_splits", "require_same_origin_times"]


def _span(index: pd.DatetimeIndex) -> str:
    return f"{index[0]:%Y-%m-%d %H:%M} to {index[-1]:%Y-%m-%d %H:%M}" if len(index) else "no bars"


def aligned_splits(datasets: dict[str, OHLCVData], spec: WindowSpec, folds: int = 1,
                   fix: str = "drop it from --symbols") -> dict[str, list[Splits]]:
    """Every symbol's walk-forward splits (oldest fold first), laid out on the bar times all symbols share.

    Parameters
    ----------
    datasets : dict
        ``{symbol: OHLCVData}``, read with one ``--freq`` and ``--gap-policy``.
    spec : WindowSpec
    folds : int
        Walk-forward folds (:func:`sweep.windows.walk_forward_splits`); 1 is today's split.
    fix : str
        What else the user can do besides dropping the symbol (named in the refusal), e.g.
        ``"use --selection per-symbol"``.

    Returns
    -------
    dict
        ``{symbol: [Splits per fold]}``; fold ``k``'s origins have identical open times for every symbol, and
        each :class:`~sweep.windows.Splits` records the common span in ``calendar``.

    Raises
    ------
    ConfigError
        If a symbol ends before the test period of the symbol that ends last (its windows would lie weeks
        earlier than the others'), or the symbols share too few bar times for the windows; the message names the
        symbol, both spans and the fix.
    DataValidationError
        If the last-ending symbol's own bars are too short for the windows (as for one symbol alone).
    """
    indexes = {symbol: data.frame.index for symbol, data in datasets.items()}
    _refuse_early_ends(datasets, spec, folds, fix)
    common = _common_times(indexes)
    calendar_splits = _calendar_layout(common, indexes, spec, folds, fix)
    calendar = {"symbols": list(datasets), "first_bar": common[0].isoformat(), "last_bar": common[-1].isoformat(),
                "n_bars": len(common)}
    return {symbol: [_on_own_bars(fold, common, index, calendar) for fold in calendar_splits]
            for symbol, index in indexes.items()}


def sweep_splits(datasets: dict[str, OHLCVData], spec: WindowSpec, pooled: bool) -> dict[str, Splits]:
    """A sweep's windows: each symbol's own latest bars (per-symbol selection), or, when one pooled study averages
    several symbols' windows, the bar times they share (:func:`aligned_splits`).

    Raises
    ------
    DataValidationError
        If a series is too short for the windows.
    ConfigError
        Pooled, if a symbol cannot be lined up with the others in calendar time.
    """
    if pooled and len(datasets) > 1:
        aligned = aligned_splits(datasets, spec, fix="drop it from --symbols, or use --selection per-symbol (each "
                                 "symbol selected on its own latest bars)")
        return {symbol: folds[-1] for symbol, folds in aligned.items()}
    return {s: make_splits(d.n_bars, spec, source=str(d.path)) for s, d in datasets.items()}


def _common_times(indexes: dict[str, pd.DatetimeIndex]) -> pd.DatetimeIndex:
    common = None
    for index in indexes.values():
        common = index if common is None else common.intersection(index)
    return common.sort_values()


def _refuse_early_ends(datasets: dict[str, OHLCVData], spec: WindowSpec, folds: int, fix: str) -> None:
    """Refuse a symbol whose last bar is before the latest-ending symbol's own test period starts."""
    latest = max(datasets.values(), key=lambda d: d.frame.index[-1])
    own = walk_forward_splits(latest.n_bars, spec, folds, source=str(latest.path))[-1]
    test_start = latest.frame.index[own.test_origins[0]]
    for data in datasets.values():
        if data.frame.index[-1] < test_start:
            raise ConfigError(
                f"{data.symbol} cannot be lined up with {latest.symbol} in calendar time: {data.symbol}'s bars "
                f"({data.path}) span {_span(data.frame.index)}, and end before {latest.symbol}'s test period "
                f"({test_start:%Y-%m-%d %H:%M} to {latest.frame.index[own.test_origins[-1]]:%Y-%m-%d %H:%M}) "
                f"starts; windows compared across symbols must be the same hours, so {fix}")


def _calendar_layout(common: pd.DatetimeIndex, indexes: dict[str, pd.DatetimeIndex], spec: WindowSpec,
                     folds: int, fix: str) -> list[Splits]:
    needed = spec.bars_needed() + (folds - 1) * spec.test_span_bars
    if len(common) >= needed:
        return walk_forward_splits(len(common), spec, folds, source="the common bars")
    first = max(indexes, key=lambda s: indexes[s][-1])  # the last-ending symbol, as in _refuse_early_ends
    others = [s for s in indexes if s != first] or [first]
    worst = min(others, key=lambda s: len(indexes[s].intersection(indexes[first])))
    shared = len(indexes[worst].intersection(indexes[first]))
    raise ConfigError(
        f"{worst} cannot be lined up with {first} in calendar time: {worst}'s bars span {_span(indexes[worst])} and "
        f"{first}'s {_span(indexes[first])}, but they share only {shared} bar times (its bars fall on other times, "
        f"or start too late); every symbol shares {len(common)} ({_span(common)}) and the windows need {needed} "
        f"on the same hours. Windows compared across symbols must be the same hours, so {fix}")


def _on_own_bars(fold: Splits, common: pd.DatetimeIndex, index: pd.DatetimeIndex, calendar: dict) -> Splits:
    """Calendar origins as ``index``'s own bar positions (every calendar time is one of its bars)."""
    def own(origins: np.ndarray) -> np.ndarray:
        return index.get_indexer(common[origins]).astype(np.int64)

    return Splits(validation_origins=own(fold.validation_origins), test_origins=own(fold.test_origins),
                  spec=fold.spec, n_bars=len(index), calendar=calendar)


def require_same_origin_times(named: Sequence[tuple[str, pd.DatetimeIndex, Splits]]) -> None:
    """Check that symbols' windows are the same hours before anything averages them window by window.

    Parameters
    ----------
    named : sequence of (str, pandas.DatetimeIndex, Splits)
        Each symbol, its bar open times and its splits.

    Raises
    ------
    ValueError
        If two symbols' validation or test origins differ in number or in open time (the layout was not
        built by :func:`aligned_splits`).
    """
    (first, first_index, first_splits), *others = named
    for split in ("validation", "test"):
        times = first_index[first_splits.origins(split)]
        for symbol, index, splits in others:
            other = index[splits.origins(split)]
            if len(other) != len(times) or not (other == times).all():
                raise ValueError(f"{symbol}'s {split} origins are not {first}'s hours ({_span(other)} vs "
                                 f"{_span(times)}); windows averaged across symbols must be laid out by "
                                 "sweep.common_calendar.aligned_splits")
