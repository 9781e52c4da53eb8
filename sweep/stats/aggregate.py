"""Sample paths -> point forecast, by aggregation name.

Names (DESIGN.md):

- ``mean``, ``median``
- ``trimmed_mean_<p>``: drop ``floor(n * p)`` samples from each tail, then average.
- ``winsorized_mean_<p>``: clip to the ``k``-th smallest and ``k``-th largest
  sample, ``k = floor(n * p)``, then average.
- ``quantile_<q>``: the ``q`` quantile (linear interpolation, numpy's default).

``p`` and ``q`` are fractions (``trimmed_mean_0.05``); whole numbers of 1 or more are
read as percent, the spelling of older configs (``trimmed_mean_5`` = 5 %). A number of 1 or
more that is not whole (``quantile_1.5``) is refused as ambiguous.

Quantile forecasts (:func:`aggregate_quantiles`) take ``mean`` (the mean of the
quantiles), ``median`` and ``quantile_<q>`` for a level ``q`` the model predicts;
trimming and winsorizing need samples and are refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import ConfigError

__all__ = ["Aggregation", "parse_aggregation", "aggregate", "aggregate_quantiles", "parse_quantile_aggregation"]

_PATTERN = re.compile(r"^(mean|median|trimmed_mean|winsorized_mean|quantile)(?:_(\d+(?:\.\d+)?))?$")


@dataclass(frozen=True)
class Aggregation:
    """A parsed aggregation: ``kind`` in {mean, median, trimmed_mean, winsorized_mean, quantile}
    and its fraction ``p`` (tail fraction or quantile level; ``None`` for mean and median)."""

    kind: str
    p: float | None = None

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """Aggregate ``[n_windows, n_samples, horizon]`` samples into ``[n_windows, horizon]``."""
        if samples.ndim != 3:
            raise ValueError(f"samples must be [n_windows, n_samples, horizon], got shape {samples.shape}")
        if self.kind == "mean":
            return samples.mean(axis=1)
        if self.kind == "median":
            return np.median(samples, axis=1)
        if self.kind == "quantile":
            return np.quantile(samples, self.p, axis=1)
        n = samples.shape[1]
        k = int(np.floor(n * self.p))
        ordered = np.sort(samples, axis=1)
        if self.kind == "trimmed_mean":
            return ordered[:, k:n - k].mean(axis=1)
        low, high = ordered[:, k:k + 1], ordered[:, n - 1 - k:n - k]
        return np.clip(samples, low, high).mean(axis=1)


@lru_cache(maxsize=None)
def parse_aggregation(name: str) -> Aggregation:
    """Parse an aggregation name.

    Raises
    ------
    ConfigError
        If the name is unknown, a fraction is missing, ambiguous (``quantile_1.5``) or out of
        range (tail fractions in ``[0, 0.5)``, quantiles in ``(0, 1)``).
    """
    match = _PATTERN.match(str(name))
    if not match:
        raise ConfigError(f"unknown aggregation {name!r}; use mean, median, trimmed_mean_<p>, "
                          f"winsorized_mean_<p> or quantile_<q> (e.g. trimmed_mean_0.1, quantile_0.5)")
    kind, number = match.groups()
    if kind in ("mean", "median"):
        if number is not None:
            raise ConfigError(f"aggregation {name!r}: {kind} takes no parameter; use {kind!r}")
        return Aggregation(kind)
    if number is None:
        raise ConfigError(f"aggregation {name!r} needs a fraction, e.g. {kind}_0.1")
    value = float(number)
    if value >= 1 and not value.is_integer():  # 1.5: a fraction out of range, or 1.5 %? Refuse to guess.
        raise ConfigError(f"aggregation {name!r} is ambiguous: write the fraction, e.g. {kind}_{value / 100:g} "
                          f"for {value:g} %, or a whole percent in older configs' spelling ({kind}_{round(value)})")
    p = value / 100.0 if value >= 1 else value
    if kind == "quantile" and not 0 < p < 1:
        raise ConfigError(f"aggregation {name!r}: the quantile must be in (0, 1), got {p}")
    if kind != "quantile" and not 0 <= p < 0.5:
        raise ConfigError(f"aggregation {name!r}: the tail fraction must be in [0, 0.5), got {p}")
    return Aggregation(kind, p)


def aggregate(samples: np.ndarray, name: str) -> np.ndarray:
    """Point forecast from sample paths.

    Parameters
    ----------
    samples : numpy.ndarray
        ``[n_windows, n_samples, horizon]`` sample paths in price units.
    name : str
        Aggregation name (see module docstring).

    Returns
    -------
    numpy.ndarray
        ``[n_windows, horizon]`` point forecasts in price units.

    Raises
    ------
    ConfigError
        If the name is invalid.
    ValueError
        If ``samples`` is not 3-dimensional.
    """
    return parse_aggregation(name)(samples)


def parse_quantile_aggregation(name: str) -> Aggregation:
    """Parse an aggregation a quantile forecast can honour: ``mean``, ``median`` or ``quantile_<q>``.

    Raises
    ------
    ConfigError
        If the name is invalid or needs sample paths (trimmed or winsorized means).
    """
    parsed = parse_aggregation(name)
    if parsed.kind not in ("mean", "median", "quantile"):
        raise ConfigError(f"aggregation {name!r} needs sample paths; a quantile forecast takes mean, median or "
                          f"quantile_<q> with q one of its levels")
    return parsed


def aggregate_quantiles(quantiles: np.ndarray, levels: np.ndarray, name: str) -> np.ndarray:
    """Point forecast from a quantile forecast.

    ``mean`` is the mean of the quantiles, an approximation of ``E[Y] = integral_0^1 F^-1(a) da``
    (the midpoint rule when the levels are ``(k - 0.5) / K``; levels 0.1 ... 0.9 leave out the outer
    5 % of each tail, so it is then about the 5 %-trimmed mean). ``median`` and ``quantile_<q>`` pick
    the model's own level (never interpolated, so a tuned point is a quantile the model predicts).

    Parameters
    ----------
    quantiles : numpy.ndarray
        ``[n_windows, n_levels, horizon]`` price quantiles.
    levels : numpy.ndarray
        ``[n_levels]`` quantile levels of ``quantiles``.
    name : str
        ``mean``, ``median`` or ``quantile_<q>``.

    Returns
    -------
    numpy.ndarray
        ``[n_windows, horizon]`` point forecasts in price units.

    Raises
    ------
    ConfigError
        If the name is invalid, needs samples (trimmed, winsorized) or names a level the model lacks.
    """
    parsed = parse_quantile_aggregation(name)
    if parsed.kind == "mean":
        return quantiles.mean(axis=1)
    q = 0.5 if parsed.kind == "median" else parsed.p
    match = np.flatnonzero(np.isclose(levels, q, atol=1e-9))
    if not len(match):
        raise ConfigError(f"aggregation {name!r}: the model predicts the levels {[round(float(x), 4) for x in levels]}, "
                          f"not {q}; use one of them")
    return quantiles[:, int(match[0])]
