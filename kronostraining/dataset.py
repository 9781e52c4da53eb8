"""Training windows for Kronos, cut only from bars before the first validation origin."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sweep.data import COLUMNS, OHLCVData
from sweep.kronos.sampler import bars_with_amount, calendar_features, normalise, scale
from sweep.windows import Splits

__all__ = ["FitBars", "fit_bars", "WindowSampler"]


@dataclass(frozen=True)
class FitBars:
    """The bars a training job may use for one symbol.

    Attributes
    ----------
    symbol : str
    bars : numpy.ndarray
        ``[n_fit_bars, 6]`` open, high, low, close, volume, amount of bars ``[0, first_validation_origin)``.
    timestamps_s : numpy.ndarray
        ``[n_fit_bars]`` bar open times, POSIX seconds.
    first_bar, last_bar : str
        ISO times of the first and last bar used.
    """

    symbol: str
    bars: np.ndarray
    timestamps_s: np.ndarray
    first_bar: str
    last_bar: str


def fit_bars(data: OHLCVData, splits: Splits) -> FitBars:
    """Bars before ``splits.first_validation_origin``: nothing a validation or test origin scores."""
    end = splits.first_validation_origin
    bars = bars_with_amount(data.frame[list(COLUMNS)].to_numpy(np.float64)[:end])
    return FitBars(data.symbol, bars, data.timestamps_s[:end], data.frame.index[0].isoformat(),
                   data.frame.index[end - 1].isoformat())


class WindowSampler:
    """Random windows of ``context_length + 1`` bars, normalised as the sampler normalises a context.

    Each window is normalised with the statistics of its first ``context_length``
    bars (what inference sees) and clipped; upstream's fine-tuning script uses the
    whole window's statistics, which lets the last bar leak into the scaling.

    Parameters
    ----------
    series : list of FitBars
    context_length : int
    start, stop : float
        Fraction of each series the windows are cut from (``0.9, 1.0`` for the held-out tail).
    clip : float
    seed : int

    Raises
    ------
    ValueError
        If a series is shorter than one window.
    """

    def __init__(self, series: list[FitBars], context_length: int, start: float, stop: float, clip: float,
                 seed: int):
        self.length, self.context_length, self.clip = context_length + 1, context_length, clip
        self.spans = []
        for s in series:
            lo, hi = int(len(s.bars) * start), int(len(s.bars) * stop)
            if hi - lo < self.length:
                raise ValueError(f"{s.symbol}: {hi - lo} fit bars in [{start}, {stop}) of the pre-validation data "
                                 f"but a window needs {self.length}; use a shorter --context-length")
            self.spans.append((s, lo, hi))
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """``[size, context_length + 1, 6]`` normalised bars and ``[size, context_length + 1, 5]`` calendar features."""
        bars, stamps = [], []
        for pick in self.rng.integers(0, len(self.spans), size=size):
            s, lo, hi = self.spans[pick]
            start = int(self.rng.integers(lo, hi - self.length + 1))
            window = s.bars[start:start + self.length]
            _, mean, std = normalise(window[None, :self.context_length], self.clip)
            bars.append(scale(window, mean[0], std[0], self.clip))
            stamps.append(s.timestamps_s[start:start + self.length])
        return np.stack(bars).astype(np.float32), calendar_features(np.stack(stamps))
