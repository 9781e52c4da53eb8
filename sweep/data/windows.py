"""Rolling-origin splits and the one convention for context and target bars.

A forecast at origin ``t`` (a bar index) sees the bars ``[t - context_length, t)``
and is scored on the bars ``[t, t + horizon)``. :func:`context_slice` and
:func:`target_slice` own that convention; everything else calls them.

Layout of a series of ``n_bars`` bars (indices grow to the right)::

    | fit (fine-tuning only) | validation origins | purge gap | test origins |
    0                        first_validation_origin             ... n_bars - horizon

Test origins end at the last bar that still has ``horizon`` bars to score;
validation origins end so that ``purge_gap_bars`` bars separate the last
validation target bar from the first test origin. Validation origins are
used for selection, test origins only for reporting and promotion review.
Fine-tuning jobs train only on bars before ``first_validation_origin``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ConfigError, DataValidationError
from ..stats.paired import MIN_PERIOD_ORIGINS

if TYPE_CHECKING:  # only for annotations
    from .bars import OHLCVData

__all__ = ["MIN_ORIGINS", "FEW_ORIGINS", "WindowSpec", "Splits",
           "context_slice", "target_slice", "make_splits", "walk_forward_splits",
           "gather_contexts", "gather_targets", "check_moving_closes"]

#: Fewest origins in the validation or test period: below 5 the paired test's long-run variance has at most
#: 1 degree of freedom (:func:`sweep.stats._dependence.ewc_degrees_of_freedom`) and the SPA's bootstrap almost nothing
#: to resample (the DM and SPA code refuse fewer than 3).
MIN_ORIGINS = MIN_PERIOD_ORIGINS
#: Below this many validation origins a sweep warns that selection is mostly luck (the rule of thumb for
#: a mean's normal approximation; the SPA's power at 100 windows is in benchmarks/spa_power.py).
FEW_ORIGINS = 30


def _flag(field_name: str) -> str:
    """The CLI flag of a spec field (``val_windows`` -> ``--val-windows``)."""
    return "--purge-gap" if field_name == "purge_gap_bars" else "--" + field_name.replace("_", "-")


@dataclass(frozen=True)
class WindowSpec:
    """How many rolling origins to score and where.

    Attributes
    ----------
    horizon : int
        Bars forecast and scored per origin (``horizon_steps``). Default 1 bar.
    val_windows : int
        Number of validation origins. Default 100: with fewer, selection noise
        dominates (the predecessor selected on 20 points).
    test_windows : int
        Length of the test period in units of ``stride`` bars (test days at the default stride 24).
        Default 100: the last 100 days. The period is scored every ``test_stride`` bars, so it holds
        ``test_windows * stride // test_stride`` test origins (:attr:`n_test_origins`).
    stride : int
        Bars between consecutive validation origins. Default 24 (one origin per day of
        hourly bars), so 100 origins span 100 days and neighbouring targets are
        less correlated than with stride 1.
    test_stride : int
        Bars between consecutive test origins. Default 1 (every hour): only the compared configs
        score the test origins and selection never sees them, so their number buys power at no
        selection cost; 2,400 hourly origins see a 5 % gain where 100 daily ones need 12-16 %.
        Must divide ``stride``. Documents written before this field existed used ``stride``.
    max_context_length : int
        Longest context any config may use; the first validation origin is at
        least this many bars into the series.
    purge_gap_bars : int or None
        Bars between the last validation target bar and the first test origin;
        ``None`` means the layout horizon. Must be at least the layout horizon.
    layout_horizon : int or None
        Bars kept after every origin when the origins are laid out; ``None`` means ``horizon``. A run of several
        ``--horizons`` lays every horizon's origins out for the longest, so the horizons share their validation and
        test origins, purge gap and walk-forward folds; its shorter horizons record ``layout_horizon`` (the
        longest) beside their own ``horizon``. Must be at least ``horizon``.

    Raises
    ------
    ConfigError
        If any value is out of range, or the validation or test period holds fewer than
        :data:`MIN_ORIGINS` origins.
    """

    horizon: int = 1
    val_windows: int = 100
    test_windows: int = 100
    stride: int = 24
    max_context_length: int = 2048
    purge_gap_bars: int | None = None
    test_stride: int = 1
    layout_horizon: int | None = None

    def __post_init__(self) -> None:
        for name in ("horizon", "val_windows", "test_windows", "stride", "max_context_length", "test_stride"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{_flag(name)} must be a positive integer, got {value!r}")
        if self.stride % self.test_stride:
            raise ConfigError(f"--test-stride {self.test_stride} must divide --stride {self.stride} (e.g. 1, or "
                              f"{self.stride} for one test origin per validation stride)")
        self._check_origin_counts()
        if not isinstance(self.layout, int) or self.layout < self.horizon:
            raise ConfigError(f"layout_horizon {self.layout_horizon!r} must be an integer of at least the horizon "
                              f"({self.horizon}): the origins are laid out for the longest horizon of the run")
        if self.purge_gap_bars is not None and self.purge_gap_bars < self.layout:
            raise ConfigError(f"--purge-gap must be >= --horizon ({self.layout}, the longest horizon), got "
                              f"{self.purge_gap_bars}; a smaller gap lets validation and test targets overlap")

    def _check_origin_counts(self) -> None:
        if self.val_windows < MIN_ORIGINS:
            raise ConfigError(f"--val-windows {self.val_windows}: selection needs at least {MIN_ORIGINS} validation "
                              f"origins for its SPA and Model Confidence Set (the default is 100)")
        if self.n_test_origins < MIN_ORIGINS:
            raise ConfigError(
                f"--test-windows {self.test_windows} holds {self.n_test_origins} test origin(s) at --stride "
                f"{self.stride} and --test-stride {self.test_stride}; the paired tests need at least {MIN_ORIGINS}: "
                f"raise --test-windows or lower --test-stride (the default, 1, scores every bar)")

    def power_warnings(self) -> list[str]:
        """Warnings for counts that are valid but leave the tests little power (see :data:`FEW_ORIGINS`)."""
        return [] if self.val_windows >= FEW_ORIGINS else [
            f"--val-windows {self.val_windows}: selection compares trials on only {self.val_windows} validation "
            f"origins, so its SPA and Model Confidence Set can tell almost nothing apart (at 100 windows and "
            f"real noise the SPA finds a 10 % gain about 1 time in 5, benchmarks/spa_power.py); the winner "
            f"is then mostly luck. Use the default 100 or more for decisions"]

    @property
    def layout(self) -> int:  # bars kept after every origin: layout_horizon, else horizon
        return self.horizon if self.layout_horizon is None else self.layout_horizon

    def at_horizon(self, horizon: int) -> "WindowSpec":
        """This layout scored at ``horizon`` bars (one of a run's ``--horizons``): the same origins, purge gap and
        folds. A ConfigError says ``horizon`` is longer than the layout."""
        layout = self.layout
        return replace(self, horizon=horizon, layout_horizon=None if horizon == layout else layout)

    @property
    def purge_gap(self) -> int:
        return self.layout if self.purge_gap_bars is None else self.purge_gap_bars

    @property
    def overlap(self) -> int:  # test windows sharing a target bar: the paired tests' overlap, ceil(h / test_stride)
        return -(-self.horizon // self.test_stride)

    @property
    def n_test_origins(self) -> int:
        """Test origins: the ``test_windows * stride`` bars of the test period, every ``test_stride`` bars."""
        return self.test_windows * self.stride // self.test_stride

    @property
    def test_span_bars(self) -> int:
        """Bars from the first to one past the last test origin; walk-forward folds move back by this much."""
        return self.test_windows * self.stride

    def test_origins_per_day(self, bar_seconds: float) -> float:
        """Test origins per day of bars ``bar_seconds`` long (24 for hourly bars at test stride 1)."""
        return 86400.0 / (bar_seconds * self.test_stride)

    def bars_needed(self) -> int:
        """Bars a series needs for this spec."""
        return (self.max_context_length + (self.val_windows - 1) * self.stride + self.layout + self.purge_gap
                + (self.n_test_origins - 1) * self.test_stride + self.layout)

    @classmethod
    def from_document(cls, windows: dict) -> "WindowSpec":
        """The spec a candidate's or run's ``windows`` block records (before ``test_stride``: every ``stride`` bars).

        Raises
        ------
        KeyError, TypeError
            If a field other than ``test_stride`` and ``purge_gap_bars`` is missing.
        ConfigError
            If a value is out of range.
        """
        values = {f: windows[f] for f in ("horizon", "val_windows", "test_windows", "stride", "max_context_length")}
        return cls(**values, purge_gap_bars=windows.get("purge_gap_bars"),
                   test_stride=windows.get("test_stride", values["stride"]),
                   layout_horizon=windows.get("layout_horizon"))


@dataclass(frozen=True)
class Splits:
    """Origins of one series, as bar indices.

    Attributes
    ----------
    validation_origins : numpy.ndarray
        ``[val_windows]`` int64, increasing.
    test_origins : numpy.ndarray
        ``[test_windows]`` int64, increasing, all after the purge gap.
    spec : WindowSpec
    n_bars : int
    calendar : dict or None
        Set when the origins were laid out on the bar times several symbols share
        (:func:`sweep.data.common_calendar.aligned_splits`): ``symbols`` and the common bars' ``first_bar``,
        ``last_bar`` and ``n_bars``. ``None`` for one series' own layout.
    """

    validation_origins: np.ndarray
    test_origins: np.ndarray
    spec: WindowSpec
    n_bars: int
    calendar: dict | None = None

    @property
    def first_validation_origin(self) -> int:
        """Bars before this index are the only ones fine-tuning may use."""
        return int(self.validation_origins[0])

    @property
    def test_origins_at_stride(self) -> np.ndarray:
        """The test origins one ``stride`` apart, ending at the last: the daily layout, for diagnostics that score
        every trial (scoring all of them at every hour would cost 24 times the inference and add no selection)."""
        step = self.spec.stride // self.spec.test_stride  # by position: aligned origins may skip a symbol's own bars
        return self.test_origins[::-1][::step][::-1]

    def at_horizon(self, horizon: int) -> "Splits":
        """The same origins scored at ``horizon`` bars (:meth:`WindowSpec.at_horizon`)."""
        return replace(self, spec=self.spec.at_horizon(horizon))

    def origins(self, split: str) -> np.ndarray:
        """Origins of ``"validation"`` or ``"test"``."""
        if split == "validation":
            return self.validation_origins
        if split == "test":
            return self.test_origins
        raise ValueError(f"split must be 'validation' or 'test', got {split!r}")

    def describe(self, timestamps: np.ndarray | None = None) -> dict:
        """JSON-ready description (spec, origin counts and, given bar timestamps, their dates)."""
        out = {**asdict(self.spec), "purge_gap_bars": self.spec.purge_gap, "n_bars": self.n_bars,
               "n_validation_origins": len(self.validation_origins), "n_test_origins": len(self.test_origins),
               "first_validation_origin": self.first_validation_origin,
               "last_validation_origin": int(self.validation_origins[-1]),
               "first_test_origin": int(self.test_origins[0]), "last_test_origin": int(self.test_origins[-1])}
        if timestamps is not None:
            for key in ("first_validation_origin", "last_validation_origin", "first_test_origin", "last_test_origin"):
                out[key.replace("origin", "origin_time")] = str(timestamps[out[key]])
        if self.calendar is not None:
            out["calendar"] = dict(self.calendar)
        return out


def context_slice(origin: int, context_length: int) -> slice:
    """Bars a forecast at ``origin`` may see: ``[origin - context_length, origin)``."""
    return slice(origin - context_length, origin)


def target_slice(origin: int, horizon: int) -> slice:
    """Bars a forecast at ``origin`` is scored on: ``[origin, origin + horizon)``."""
    return slice(origin, origin + horizon)


def make_splits(n_bars: int, spec: WindowSpec, source: str = "the series") -> Splits:
    """Place validation and test origins at the end of a series of ``n_bars`` bars.

    Parameters
    ----------
    n_bars : int
        Length of the series.
    spec : WindowSpec
    source : str
        Name of the data (a file path) for error messages.

    Returns
    -------
    Splits

    Raises
    ------
    DataValidationError
        If the series is too short for the requested windows.
    """
    if n_bars < spec.bars_needed():
        raise DataValidationError(
            f"{source} has {n_bars} bars but the windows need {spec.bars_needed()} "
            f"(max context {spec.max_context_length} + {spec.val_windows} validation origins at stride "
            f"{spec.stride} + {spec.n_test_origins} test origins at test stride {spec.test_stride}, horizon "
            f"{spec.layout}, purge gap {spec.purge_gap}); "
            f"lower --val-windows/--test-windows/--stride/--max-context-length or use more data")
    last_test = n_bars - spec.layout
    test = last_test - spec.test_stride * np.arange(spec.n_test_origins - 1, -1, -1, dtype=np.int64)
    last_val = int(test[0]) - spec.purge_gap - spec.layout
    validation = last_val - spec.stride * np.arange(spec.val_windows - 1, -1, -1, dtype=np.int64)
    return Splits(validation_origins=validation, test_origins=test, spec=spec, n_bars=n_bars)


def walk_forward_splits(n_bars: int, spec: WindowSpec, folds: int, source: str = "the series") -> list[Splits]:
    """Splits of ``folds`` walk-forward folds, oldest first; the last is :func:`make_splits`' (today's split).

    Each fold is today's layout (validation block, purge gap, test block) moved back by
    whole test blocks (``test_windows * stride`` bars, :attr:`WindowSpec.test_span_bars`), so the folds' test blocks are
    consecutive and never overlap, and fold ``k`` sees no bar after its own test block::

        fold 0: | validation | gap | test |
        fold 1:              | validation | gap | test |
        fold 2:                           | validation | gap | test |   (today's split)

    Raises
    ------
    ConfigError
        If ``folds`` is below 1.
    DataValidationError
        If the series is too short for the oldest fold.
    """
    if not isinstance(folds, int) or folds < 1:
        raise ConfigError(f"--folds must be a positive integer, got {folds!r}")
    shift = spec.test_span_bars
    needed = spec.bars_needed() + (folds - 1) * shift
    if n_bars < needed:
        raise DataValidationError(
            f"{source} has {n_bars} bars but {folds} walk-forward folds need {needed} (one split of "
            f"{spec.bars_needed()} bars plus {folds - 1} test blocks of {shift}); lower --folds, --test-windows, "
            f"--val-windows, --stride or --max-context-length")
    return [make_splits(n_bars - (folds - 1 - k) * shift, spec, source) for k in range(folds)]


def gather_contexts(values: np.ndarray, origins: np.ndarray, context_length: int) -> np.ndarray:
    """Context of every origin.

    Parameters
    ----------
    values : numpy.ndarray
        ``[n_bars]`` series (e.g. close prices or timestamps).
    origins : numpy.ndarray
        ``[n_windows]`` bar indices, each ``>= context_length``.
    context_length : int

    Returns
    -------
    numpy.ndarray
        ``[n_windows, context_length]``; row ``i`` is ``values[context_slice(origins[i], context_length)]``.

    Raises
    ------
    ValueError
        If an origin has fewer than ``context_length`` bars before it.
    """
    if len(origins) and int(np.min(origins)) < context_length:
        raise ValueError(f"origin {int(np.min(origins))} has fewer than context_length={context_length} bars before it")
    return np.stack([values[context_slice(int(t), context_length)] for t in origins])


def gather_targets(values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """Scored bars of every origin, ``[n_windows, horizon]``.

    Raises
    ------
    ValueError
        If an origin has fewer than ``horizon`` bars after it.
    """
    if len(origins) and int(np.max(origins)) + horizon > len(values):
        raise ValueError(f"origin {int(np.max(origins))} has fewer than horizon={horizon} bars after it")
    return np.stack([values[target_slice(int(t), horizon)] for t in origins])


def check_moving_closes(data: OHLCVData, *splits: Splits) -> None:
    """Refuse windows over which ``data``'s close never moves, before any work starts.

    Persistence forecasts the last close before each origin, so its error on a span of origins
    (``evaluate.persistence_metrics``: the mean of ``|target / last_close - 1|``) is exactly 0 when the
    scored close (``horizon`` bars ahead) of every origin equals that last close, and the skill and relative losses
    (``evaluate.score``, ``objective.pooled_validation``) would divide by it. The spans scored are each
    split's validation origins, test origins and the test origins one stride apart (``report`` scores them).

    Parameters
    ----------
    data : OHLCVData
        The validated bars, indexed as the splits' origins are.
    *splits : Splits
        Today's split, or every walk-forward fold.

    Raises
    ------
    DataValidationError
        Naming the symbol, the file and the span, when persistence's error is 0 on one.
    """
    close, index = data.close, data.frame.index
    for k, split in enumerate(splits):
        horizon, fold = split.spec.horizon, f" of walk-forward fold {k} (0 is the oldest)" if len(splits) > 1 else ""
        for span, origins in (("validation windows", split.validation_origins), ("test windows", split.test_origins),
                              ("test windows one --stride apart (report scores them)", split.test_origins_at_stride)):
            # the same quotient persistence's error takes, so the rule is exactly "that error is 0"
            if (gather_targets(close, origins, horizon)[:, -1:] / close[origins - 1, None] != 1.0).any():
                continue
            first, last = index[int(origins[0]) - 1], index[int(origins[-1]) + horizon - 1]
            raise DataValidationError(
                f"{data.path}: {data.symbol}'s close never moves over the {span}{fold} ({first} to {last}, "
                f"{len(origins)} origins): persistence's error there is 0 and every skill and relative loss "
                f"divides by it; use bars on which {data.symbol} trades (fix or drop the flat stretch, or the "
                f"symbol) or other windows (--test-windows, --val-windows, --stride)")
