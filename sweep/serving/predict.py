"""Serving: forecast with exactly the promoted config, through the code path that evaluation scored.

:func:`load_predictor` reads ``best/<SYMBOL>.json`` (one model, an ensemble or
persistence), loads its models once (refusing a local checkpoint whose hash
changed since it was recorded) and forecasts the ``horizon`` bars after an
origin from the bars before it only. The forecast goes through
:func:`sweep.scoring.ensemble.document_forecast`, the function promotion reviews and
``evaluate`` score, and every forecaster draws each window's paths from that
window's own random stream, so a one-origin forecast (its point and its quantiles,
read from the same :class:`~sweep.stats.predictive.Predictive`) equals, number for
number, what the batched evaluation scored at that origin (tested). So are the probability of up beside it
(:func:`sweep.objectives.up_probability`, what ``--objective direction`` scores) and, for a config tuned under
``--objective pnl``, the position its declared trading rule takes (:class:`sweep.objectives.TradingRule`), each
read off the same forecast by the function evaluation records. Context slicing,
aggregation and blending therefore cannot drift between tuning and serving; nor can the bars, which are read
at the frequency and gap policy the config was tuned on (:mod:`sweep.data.tuned_data`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..scoring.cache import SampleCache
from ..data.bar_time import parse_freq, utc_timestamp
from ..data.bars import OHLCVData, ohlcv_from_frame
from ..scoring.ensemble import document_forecast, document_members
from ..errors import ConfigError, DataValidationError
from ..forecasters import Forecaster, document_loader
from ..forecasters.config import ForecastConfig
from ..objectives import TradingRule, up_probability
from ..review.promote_files import read_promoted_best
from ..stats.metrics import QUANTILE_LEVELS as METRIC_LEVELS
from ..storage.store import best_path, horizon_slot, slot_parts
from ..data.tuned_data import tuned_data_settings

__all__ = ["Forecast", "Predictor", "load_predictor", "QUANTILE_LEVELS", "SCORED_LEVELS", "LEGACY_LEVELS"]

#: The levels ``--objective quantile_loss`` scores (:data:`sweep.stats.metrics.QUANTILE_LEVELS`, 0.1 ... 0.9).
SCORED_LEVELS = tuple(float(level) for level in METRIC_LEVELS)
#: The levels served before the scored ones existed; kept because a trading system may read 0.05 and 0.95.
LEGACY_LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)


def _served_levels(scored: tuple[float, ...], legacy: tuple[float, ...]) -> tuple[float, ...]:
    """Sorted union of ``scored`` and ``legacy``, each level once: a legacy level within 1e-9 of a scored one is
    the scored one (its exact float, so the served quantile is bit for bit the scored one)."""
    extra = [level for level in legacy if not np.any(np.isclose(level, scored, rtol=0, atol=1e-9))]
    return tuple(sorted((*scored, *extra)))


#: Quantile levels every forecast reports, the sorted union of :data:`SCORED_LEVELS` and :data:`LEGACY_LEVELS`
#: (13 levels, 0.05 ... 0.95): from the same :class:`sweep.stats.predictive.Predictive` evaluation scores, via
#: :meth:`~sweep.stats.predictive.Predictive.quantiles` (numpy's linear quantiles of the paths; a quantile
#: model's levels interpolated linearly, held at its outermost level beyond them; an ensemble's averaged
#: quantiles, :func:`sweep.scoring.ensemble.blend`).
QUANTILE_LEVELS = _served_levels(SCORED_LEVELS, LEGACY_LEVELS)


@dataclass(frozen=True)
class Forecast:
    """One forecast of the promoted config.

    Attributes
    ----------
    times : list of str
        ``[horizon]`` open times (UTC, ISO 8601) of the forecast bars; the first is the origin.
    last_bar_time : str
        The last bar the forecast saw.
    last_close : float
    point : numpy.ndarray
        ``[horizon]`` point forecast of the close, quote currency.
    point_return : numpy.ndarray
        ``[horizon]`` ``point / last_close - 1``.
    quantiles : dict
        ``{level: [horizon] close prices}`` at :data:`QUANTILE_LEVELS`, in increasing level order.
    model, config, provenance : dict
        As in the promoted file.
    up_probability : float
        Forecast probability that the close ``horizon`` bars after ``last_bar_time`` (the last of :attr:`times`) is
        above ``last_close``, in [0, 1] (:func:`sweep.objectives.up_probability`: the share of paths above it, ties
        counting half; for a quantile forecast, read off its interpolated quantile function).
    position : int or None
        The position the config's trading rule takes for the horizon: 1 long, 0 flat, -1 short
        (:meth:`sweep.objectives.TradingRule.positions` of :attr:`point`); None when the config declares no rule
        (it was not tuned under ``--objective pnl``).
    decision : dict
        The rule ``position`` comes from (the config's ``decision``: ``threshold_fees``, ``fee_bps``,
        ``long_only``); empty when there is none.

    The quantiles as returns from the last close are :attr:`quantile_returns`; the levels ``quantile_loss``
    scores are :attr:`scored_levels`.
    """

    symbol: str
    times: list[str]
    last_bar_time: str
    last_close: float
    point: np.ndarray
    point_return: np.ndarray
    quantiles: dict[float, np.ndarray]
    model: dict[str, Any]
    config: dict[str, Any]
    up_probability: float
    provenance: dict[str, Any] = field(default_factory=dict)
    position: int | None = None
    decision: dict[str, Any] = field(default_factory=dict)

    @property
    def quantile_returns(self) -> dict[float, np.ndarray]:
        """``{level: [horizon] returns}``: :attr:`quantiles` as ``price / last_close - 1``, return units."""
        return {level: prices / self.last_close - 1.0 for level, prices in self.quantiles.items()}

    @property
    def scored_levels(self) -> tuple[float, ...]:
        """The levels of :attr:`quantiles` that ``--objective quantile_loss`` scores (:data:`SCORED_LEVELS`)."""
        return tuple(level for level in self.quantiles if level in SCORED_LEVELS)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form.

        ``quantiles`` (prices) and ``quantile_returns`` (returns from ``last_close``) map a level written
        with ``f"{level:g}"`` (``"0.05"``, ``"0.1"``, ...) to its ``[horizon]`` values; ``scored_levels`` lists
        the keys of the levels ``quantile_loss`` scores (``"0.1"`` ... ``"0.9"``). ``up_probability`` is always
        there; ``position`` and the ``decision`` it came from only when the config declares a trading rule.
        """
        def keyed(by_level: dict[float, np.ndarray]) -> dict[str, list[float]]:
            return {_level_key(level): values.tolist() for level, values in by_level.items()}

        return {"symbol": self.symbol, "origin_time": self.times[0], "times": self.times,
                "last_bar_time": self.last_bar_time, "last_close": self.last_close,
                "point": self.point.tolist(), "point_return": self.point_return.tolist(),
                "quantiles": keyed(self.quantiles), "quantile_returns": keyed(self.quantile_returns),
                "scored_levels": [_level_key(level) for level in self.scored_levels],
                "up_probability": self.up_probability,
                **({"position": self.position, "decision": self.decision} if self.position is not None else {}),
                "model": self.model, "config": self.config, "provenance": self.provenance}


def _level_key(level: float) -> str:
    """The JSON key of a quantile level: ``0.05 -> "0.05"``."""
    return f"{level:g}"


def _declared_rule(members: list[tuple[str, dict[str, Any], ForecastConfig, float]],
                   source: Path) -> TradingRule | None:
    """The trading rule a single-model config declares in its ``decision`` (configs tuned under ``--objective
    pnl``); None for any other config, and for a blend of several members (``pnl`` refuses ``--ensemble``: a blend
    has no one rule).

    Raises
    ------
    ConfigError
        If the decision is not a valid rule (:meth:`sweep.objectives.TradingRule.from_decision`).
    """
    if len(members) != 1 or not members[0][2].decision:
        return None
    return TradingRule.from_decision(members[0][2].decision, str(source))


class Predictor:
    """Forecasts of one symbol's promoted config.

    Parameters
    ----------
    document : dict
        A ``best/<SYMBOL>.json`` (or candidate) document: ``symbol``, ``model``, ``config`` and
        ``windows.horizon``.
    source : Path
        The file it came from, for messages.
    load : callable, optional
        Loads a model from its ``model`` block (default :func:`sweep.forecasters.document_loader` of ``source``:
        relative checkpoint paths resolve against the hyperparams folder ``source`` lies in).
    freq, gap_policy : str, optional
        ``--freq`` and ``--gap-policy``: default the bar frequency and gap policy the document records
        (``provenance.freq``, ``provenance.gap_policy``), else ``"1h"`` and ``"error"``
        (:func:`sweep.data.tuned_data.tuned_data_settings`).

    Raises
    ------
    ConfigError
        If the document has no valid config, horizon or trading rule (``decision``), or ``freq`` or ``gap_policy``
        differs from the recorded one.
    ModelLoadError
        If a model cannot be loaded, or a local checkpoint's hash differs from the recorded one.
    """

    def __init__(self, document: dict[str, Any], source: Path,
                 load: Callable[[dict[str, Any]], Forecaster] | None = None, freq: str | None = None,
                 gap_policy: str | None = None):
        self.document, self.source = document, Path(source)
        self.freq, self.gap_policy = tuned_data_settings(document, source, freq, gap_policy)
        load = load or document_loader(source)
        try:
            self.members = document_members(document)
            self.horizon = int(document["windows"]["horizon"])
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"{source} is not a promoted config (missing {e}); promote a candidate first") from e
        #: The trading rule the config declares (``--objective pnl``), or None.
        self.rule = _declared_rule(self.members, self.source)
        self._loaded = {json.dumps(identity, sort_keys=True): load(identity)
                        for _, identity, _, weight in self.members if weight > 0}
        self.context_length = max(config.context_length for _, _, config, weight in self.members if weight > 0)

    @property
    def symbol(self) -> str:
        return self.document.get("symbol", self.source.stem)

    def _load(self, identity: dict[str, Any]) -> Forecaster:
        return self._loaded[json.dumps(identity, sort_keys=True)]

    def _origin(self, data: OHLCVData, at: str | pd.Timestamp | None) -> int:
        """Bar index of the first forecast bar: after the latest bar, or the bar at ``at``."""
        index, step = data.frame.index, parse_freq(self.freq)
        if at is None:
            origin = data.n_bars
        else:
            when = utc_timestamp(at, "--at")
            origin = int(index.searchsorted(when))
            known = origin < data.n_bars and index[origin] == when
            if not (known or (origin == data.n_bars and when == index[-1] + step)):
                nearest = index[min(origin, data.n_bars - 1)]
                raise ConfigError(f"--at {at}: --at must be the open time of a bar of {data.path} (bars every "
                                  f"{self.freq}, from {index[0]} to {index[-1]}) or of the bar after its last one "
                                  f"({index[-1] + step}); e.g. {nearest}")
        if origin < self.context_length:
            raise DataValidationError(f"{data.path}: the forecast at bar {origin} needs {self.context_length} bars "
                                      f"before it (the config's context_length); pass more history")
        return origin

    def forecast_origins(self, data: OHLCVData, origins: np.ndarray):
        """The config's forecasts at bar indices ``origins`` (the function evaluation scores); a
        :class:`sweep.scoring.ensemble.MemberForecast` with ``point`` ``[n_origins, horizon]``."""
        return document_forecast(self.document, data, np.asarray(origins, dtype=np.int64), self.horizon,
                                 SampleCache(), self._load)

    def predict(self, bars: OHLCVData | pd.DataFrame, at: str | pd.Timestamp | None = None,
                gap_policy: str | None = None) -> Forecast:
        """Forecast the ``horizon`` bars after the latest bar of ``bars`` (or from the bar at ``at``).

        Parameters
        ----------
        bars : OHLCVData or pandas.DataFrame
            Loaded data (read at the config's bar frequency, :attr:`freq`), or a frame in the CSV's columns
            (validated as a file would be).
        at : str or pandas.Timestamp, optional
            Open time of the first forecast bar: a bar of ``bars`` (only the bars before it are
            used) or the bar right after the last one. Default: after the last bar.
        gap_policy : str, optional
            For a DataFrame, as ``--gap-policy``: default, and the only value accepted, the config's
            (:attr:`gap_policy`).

        Raises
        ------
        DataValidationError
            If the bars break a data rule or are too few for the context.
        ConfigError
            If ``at`` is not a bar time, ``bars`` were read at another frequency than the config's, or
            ``gap_policy`` is not the config's.
        """
        if isinstance(bars, OHLCVData):
            if bars.freq != parse_freq(self.freq):
                raise ConfigError(f"{bars.path} was read with bars every {bars.freq}, but {self.source} was tuned on "
                                  f"{self.freq} bars; read it with freq={self.freq!r} (`predict --freq` default)")
            data = bars
        elif gap_policy not in (None, self.gap_policy):
            raise ConfigError(f"gap_policy {gap_policy!r} differs from {self.gap_policy!r}, the gap policy "
                              f"{self.source} is served with; leave gap_policy out")
        else:
            data = ohlcv_from_frame(bars, self.symbol, self.freq, self.gap_policy)
        origin = self._origin(data, at)
        forecast = self.forecast_origins(data, np.array([origin]))
        last_close = float(data.close[origin - 1])
        point = forecast.point[0]
        # read as evaluation records them: the same functions of the same forecast, a batch of one window
        closes = data.close[[origin - 1]]
        up = float(up_probability(forecast.predictive, closes)[0])
        position = None if self.rule is None else int(self.rule.positions(forecast.point, closes)[0])
        # the distribution evaluation scored, read at the served levels: [n_levels, horizon] prices
        quantiles = forecast.predictive.quantiles(QUANTILE_LEVELS)[0]
        first = data.frame.index[origin - 1] + parse_freq(self.freq)
        times = [str(first + k * parse_freq(self.freq)) for k in range(self.horizon)]
        return Forecast(symbol=self.symbol, times=times, last_bar_time=str(data.frame.index[origin - 1]),
                        last_close=last_close, point=point, point_return=point / last_close - 1.0,
                        quantiles=dict(zip(QUANTILE_LEVELS, quantiles)), model=self.document["model"],
                        config=self.document["config"], provenance={
                            **self.document.get("provenance", {}), "promoted_file": str(self.source),
                            "promotion": self.document.get("promotion", {}).get("review")},
                        up_probability=up, position=position,
                        decision=dict(self.members[0][2].decision) if self.rule is not None else {})


def load_predictor(symbol: str, hyperparams_dir: str | Path = "hyperparams",
                   load: Callable[[dict[str, Any]], Forecaster] | None = None,
                   freq: str | None = None, gap_policy: str | None = None, horizon: int | None = None) -> Predictor:
    """The :class:`Predictor` of ``<hyperparams_dir>/best/<SYMBOL>.json``, or of the config promoted for ``horizon``
    (``best/<SYMBOL>.h<H>.json`` beyond 1 bar; :func:`sweep.storage.store.horizon_slot`).

    Parameters
    ----------
    symbol : str
    hyperparams_dir : str or Path
        The sweep's ``--output-dir``.
    load : callable, optional
        Loads a ``model`` block (default :func:`sweep.forecasters.document_loader`).
    freq, gap_policy : str, optional
        Default: the ones the best file records (``provenance.freq``, ``provenance.gap_policy``), else
        ``"1h"`` and ``"error"``; a value that differs from the recorded one is refused.
    horizon : int, optional
        ``predict --horizon``: serve the config promoted for this many bars; None: ``best/<SYMBOL>.json``
        whatever horizon it was tuned at.

    Returns
    -------
    Predictor

    Raises
    ------
    ConfigError
        If the symbol has no promoted config (at ``horizon``: naming the file, the horizons it has and the promote
        command), its file is not a
        best config that promote wrote (:func:`sweep.review.promote_files.read_promoted_best`), or ``freq`` or
        ``gap_policy`` differs from the one it was tuned on (naming both values and the file).
    ModelLoadError
        If a model cannot be loaded, its recorded checkpoint folder is gone, or a file of it changed since it
        was recorded (the message names the best file, the recorded path and the changed files). Checkpoint
        paths recorded relative to the hyperparams folder resolve against ``hyperparams_dir``.
    """
    path = best_path(hyperparams_dir, horizon_slot(symbol, horizon or 1))
    if not path.is_file():
        held = sorted(slot_parts(p.stem)[1] for p in path.parent.glob(f"{symbol}*.json")
                      if slot_parts(p.stem)[0] == symbol)
        at = f" at --horizon {horizon}" if horizon else ""
        raise ConfigError(f"{path} does not exist: {symbol} has no promoted config{at} (promoted horizons: "
                          f"{', '.join(map(str, held)) or 'none'}); sweep that horizon (--horizons) and run "
                          f"`python -m sweep promote --run RUN_ID` first")
    predictor = Predictor(read_promoted_best(path), path, load or document_loader(path, hyperparams_dir), freq,
                          gap_policy)
    if horizon is not None and predictor.horizon != horizon:  # a 1-bar name may hold an older run's longer horizon
        raise ConfigError(f"{path} was tuned at --horizon {predictor.horizon}, not {horizon}; serve it with --horizon "
                          f"{predictor.horizon}, or sweep and promote --horizons {horizon}")
    return predictor
