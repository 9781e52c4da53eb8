"""Training windows for Toto, cut only from bars before the first validation origin."""

from __future__ import annotations

import numpy as np

from sweep.training import FitWindow, fit_spans, fit_window

__all__ = ["FitSeries", "fit_series", "CausalWindows", "collate_windows"]

#: The bars a fine-tuning job may use for one symbol (:class:`sweep.training.FitWindow`): Toto reads the closes.
FitSeries = FitWindow
#: Bars before ``splits.first_validation_origin`` (:func:`sweep.training.fit_window`).
fit_series = fit_window


class CausalWindows:
    """Random windows of ``context_length + patch_size`` bars as toto-ts ``CausalMaskedTimeseries``.

    The input is the first ``context_length`` bars and the target the same span
    shifted by one patch, as toto-ts' fine-tuning data module builds them.

    Parameters
    ----------
    series : list of FitSeries
    context_length, patch_size : int
    start, stop : float
        Fraction of each series the windows are cut from (``0.9, 1.0`` for a
        held-out tail used as fine-tuning validation).
    n_windows : int
        Windows per epoch.
    seed : int

    Raises
    ------
    ValueError
        If a series is shorter than one window.
    """

    def __init__(self, series: list[FitSeries], context_length: int, patch_size: int, start: float, stop: float,
                 n_windows: int, seed: int):
        import torch

        self.length = context_length + patch_size
        self.context_length, self.patch_size = context_length, patch_size
        spans = fit_spans(series, start, stop, self.length)
        rng = np.random.default_rng(seed)
        picks = rng.integers(0, len(spans), size=n_windows)
        self.windows = [(spans[i][0], int(rng.integers(spans[i][1], spans[i][2] - self.length + 1))) for i in picks]
        self._torch = torch

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int):
        from toto.data.util.dataset import CausalMaskedTimeseries

        torch = self._torch
        s, begin = self.windows[index]
        values = torch.as_tensor(s.close[begin:begin + self.length], dtype=torch.float32)[None, :]
        stamps = torch.as_tensor(s.timestamps_s[begin:begin + self.length], dtype=torch.int64)[None, :]
        return CausalMaskedTimeseries(
            series=values, padding_mask=torch.ones_like(values, dtype=torch.bool),
            id_mask=torch.zeros_like(values, dtype=torch.int), timestamp_seconds=stamps,
            time_interval_seconds=stamps[:, 1] - stamps[:, 0],
            input_slice=slice(0, self.context_length),
            target_slice=slice(self.patch_size, self.context_length + self.patch_size))


def collate_windows(batch: list):
    """Stack ``CausalMaskedTimeseries`` windows of equal slices into one batch."""
    import torch
    from toto.data.util.dataset import CausalMaskedTimeseries

    first = batch[0]
    stacked = {name: torch.stack([getattr(b, name) for b in batch])
               for name in ("series", "padding_mask", "id_mask", "timestamp_seconds", "time_interval_seconds")}
    return CausalMaskedTimeseries(**stacked, input_slice=first.input_slice, target_slice=first.target_slice)
