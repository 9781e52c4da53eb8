"""Training windows for Kronos, cut only from bars before the first validation origin."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sweep.data.bars import COLUMNS, OHLCVData
from sweep.training import FitWindow, fit_spans, fit_window
from sweep.data.windows import Splits

__all__ = ["FitBars", "fit_bars", "WindowSampler"]


@dataclass(frozen=True)
class FitBars(FitWindow):
    """The bars a training job may use for one symbol (:class:`sweep.training.FitWindow`), as Kronos reads them.

    Attributes
    ----------
    bars : numpy.ndarray
        ``[n_fit_bars, 6]`` open, high, low, close, volume, amount of the same bars.
    """

    bars: np.ndarray


def fit_bars(data: OHLCVData, splits: Splits) -> FitBars:
    """Bars before ``splits.first_validation_origin`` (:func:`sweep.training.fit_window`), with the amount column."""
    from sweep.forecasters.kronos.sampler import bars_with_amount  # torch: kept out of ``import kronostraining``

    window = fit_window(data, splits)
    ohlcv = data.frame[list(COLUMNS)].to_numpy(np.float64)[:len(window.close)]
    return FitBars(**vars(window), bars=bars_with_amount(ohlcv))


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
        self.spans = fit_spans(series, start, stop, self.length)
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """``[size, context_length + 1, 6]`` normalised bars and ``[size, context_length + 1, 5]`` calendar features."""
        from sweep.forecasters.kronos.sampler import calendar_features, normalise, scale

        bars, stamps = [], []
        for pick in self.rng.integers(0, len(self.spans), size=size):
            s, lo, hi = self.spans[pick]
            start = int(self.rng.integers(lo, hi - self.length + 1))
            window = s.bars[start:start + self.length]
            _, mean, std = normalise(window[None, :self.context_length], self.clip)
            bars.append(scale(window, mean[0], std[0], self.clip))
            stamps.append(s.timestamps_s[start:start + self.length])
        return np.stack(bars).astype(np.float32), calendar_features(np.stack(stamps))
