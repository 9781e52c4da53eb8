"""Windows that line up in calendar time across symbols: one layout on the bar times every symbol shares.

A symbol's own layout (:func:`sweep.data.windows.make_splits`) counts its origins back from its own last bar.
Anything that compares or averages windows across symbols (a pooled study's relative losses, its SPA,
the backtest's verdict over symbols) needs window ``i`` to be the same hour for every symbol; a symbol
that ends five weeks early would otherwise be validated on the others' later bars, which is look-ahead.

:func:`aligned_splits` lays the windows out once, on the common calendar (the intersection of the
symbols' bar open times), and maps each origin to every symbol's own bar index, so every symbol's
origins carry identical timestamps. Contexts and targets are still each symbol's own bars before and
from the origin (:func:`sweep.data.windows.context_slice`). A symbol that cannot be lined up is refused
before any work: it ends more than one ``--stride`` before the symbol that ends last (the others' test
periods would silently move back to its last bar), or it shares too few bar times with the others (its
bars fall on other times, or start too late for the windows).
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import pandas as pd

from .bars import OHLCVData
from ..errors import ConfigError
from .windows import Splits, WindowSpec, make_splits, walk_forward_splits

__all__ = ["aligned_splits", "sweep_splits", "require_same_origin_times"]

logger = logging.getLogger(__name__)


def _span(index: pd.DatetimeIndex) -> str:
    return f"{index[0]:%Y-%m-%d %H:%M} to {index[-1]:%Y-%m-%d %H:%M}" if len(index) else "no bars"


def aligned_splits(datasets: dict[str, OHLCVData], spec: WindowSpec, folds: int = 1,
                   fix: str = "drop it from --symbols", warn: bool = True) -> dict[str, list[Splits]]:
    """Every symbol's walk-forward splits (oldest fold first), laid out on the bar times all symbols share.

    Parameters
    ----------
    datasets : dict
        ``{symbol: OHLCVData}``, read with one ``--freq`` and ``--gap-policy``.
    spec : WindowSpec
    folds : int
        Walk-forward folds (:func:`sweep.data.windows.walk_forward_splits`); 1 is today's split.
    fix : str
        What else the user can do besides dropping the symbol (named in the refusal), e.g.
        ``"use --selection per-symbol"``.
    warn : bool
        Log a warning naming each symbol whose latest bars the common layout leaves out.

    Returns
    -------
    dict
        ``{symbol: [Splits per fold]}``; fold ``k``'s origins have identical open times for every symbol, and
        each :class:`~sweep.data.windows.Splits` records the common span in ``calendar``.

    Raises
    ------
    ConfigError
        If a symbol ends more than ``spec.stride`` bars before the symbol that ends last, or the symbols share too
        few bar times for the windows; the message names the symbol, both spans and the fix.
    DataValidationError
        If the last-ending symbol's own bars are too short for the windows (as for one symbol alone).
    """
    indexes = {symbol: data.frame.index for symbol, data in datasets.items()}
    _refuse_early_ends(datasets, spec, folds, fix)
    common = _common_times(indexes)
    calendar_splits = _calendar_layout(common, indexes, spec, folds, fix)
    if warn:
        _warn_left_out(indexes, common)
    calendar = {"symbols": list(datasets), "first_bar": common[0].isoformat(), "last_bar": common[-1].isoformat(),
                "n_bars": len(common)}
    return {symbol: [_on_own_bars(fold, common, index, calendar) for fold in calendar_splits]
            for symbol, index in indexes.items()}


def sweep_splits(datasets: dict[str, OHLCVData], spec: WindowSpec, pooled: bool) -> dict[str, Splits]:
    """A sweep's windows: each symbol's own latest bars (per-symbol selection), or, when one pooled study averages
    several symbols' windows, the bar times they share (:func:`aligned_splits`).

    Parameters
    ----------
    datasets : dict
        ``{symbol: OHLCVData}``.
    spec : WindowSpec
    pooled : bool
        Whether one study averages the symbols' windows (``--selection pooled``).

    Returns
    -------
    dict
        ``{symbol: Splits}`` of today's split.

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
    """Refuse a symbol that ends more than one ``--stride`` (a day of hourly bars by default) before the symbol
    that ends last: the common layout would end there, and silently move every other symbol's test period back
    by the difference. A shorter lag (a feed a few hours behind, bars shifted by hours) is lined up and said."""
    latest = max(datasets.values(), key=lambda d: d.frame.index[-1])
    own = walk_forward_splits(latest.n_bars, spec, folds, source=str(latest.path))[-1]
    allowed = latest.frame.index[max(latest.n_bars - 1 - spec.stride, 0)]
    for data in datasets.values():
        if data.frame.index[-1] < allowed:
            raise ConfigError(
                f"{data.symbol} cannot be lined up with {latest.symbol} in calendar time: {data.symbol}'s bars "
                f"({data.path}) span {_span(data.frame.index)} and end more than --stride {spec.stride} bars before "
                f"{latest.symbol}'s ({_span(latest.frame.index)}), whose test period is "
                f"{latest.frame.index[own.test_origins[0]]:%Y-%m-%d %H:%M} to "
                f"{latest.frame.index[own.test_origins[-1]]:%Y-%m-%d %H:%M}. Windows compared across symbols must be "
                f"the same hours, and on the hours both have {latest.symbol}'s test period would move back to "
                f"{data.symbol}'s last bar; so {fix}")


def _warn_left_out(indexes: dict[str, pd.DatetimeIndex], common: pd.DatetimeIndex) -> None:
    """Say which symbols' latest bars the common layout leaves out (it ends at the earliest-ending symbol)."""
    for symbol, index in indexes.items():
        later = int((index > common[-1]).sum())
        if later:
            logger.warning("%s: its last %d bar(s) (after %s) are left out: windows compared across symbols end at "
                           "the last bar every symbol has", symbol, later, f"{common[-1]:%Y-%m-%d %H:%M}")


def _calendar_layout(common: pd.DatetimeIndex, indexes: dict[str, pd.DatetimeIndex], spec: WindowSpec,
                     folds: int, fix: str) -> list[Splits]:
    needed = spec.bars_needed() + (folds - 1) * spec.test_span_bars
    if len(common) >= needed:
        return walk_forward_splits(len(common), spec, folds, source="the common bars")
    # the culprit: the symbol whose absence would leave the most common bar times (only on this error path)
    worst = max(indexes, key=lambda s: len(_common_times({o: i for o, i in indexes.items() if o != s} or indexes)))
    others = _common_times({o: i for o, i in indexes.items() if o != worst} or indexes)
    raise ConfigError(
        f"{worst} cannot be lined up with the other symbols in calendar time: its bars span {_span(indexes[worst])} "
        f"and share only {len(others.intersection(indexes[worst]))} bar times with the {len(others)} the others share "
        f"({_span(others)}): its bars fall on other times, or start too late. Every symbol shares {len(common)} "
        f"({_span(common)}) and the windows need {needed} on the same hours. Windows compared across symbols must "
        f"be the same hours, so {fix}")


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
                                 "sweep.data.common_calendar.aligned_splits")
