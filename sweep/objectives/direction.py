"""``--objective direction``: the Brier score of the forecast probability of up, against climatology."""

from __future__ import annotations

import numpy as np

from ..data.bars import OHLCVData
from ..data.windows import gather_contexts, gather_targets
from ..forecasters.naive import DEFAULT_LOOKBACK, empirical_quantiles
from ..stats.metrics import QUANTILE_LEVELS
from ..stats.predictive import Predictive
from ..stats.trading import accuracy_interval, pesaran_timmermann
from .scored import ScoredWindows
from .trading import brier_scores, realised_up, up_probability

__all__ = ["direction_losses", "direction_metrics", "climatology_losses", "direction_records", "direction_calls"]


def direction_calls(probability_up: np.ndarray, outcome: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(called up [k], realised up [k])`` booleans of the windows that call a direction (a probability of up other
    than one half; up called above it) and have an untied outcome (:func:`.trading.realised_up`)."""
    called = (probability_up != 0.5) & (outcome != 0.5)
    return probability_up[called] > 0.5, outcome[called] == 1.0


def direction_losses(scored: ScoredWindows) -> np.ndarray:
    """``[n_windows]`` Brier scores of the config's probability of up (:func:`.trading.up_probability`)."""
    return brier_scores(up_probability(scored.predictive, scored.last_close), scored.targets, scored.last_close)


def direction_records(scored: ScoredWindows) -> dict[str, np.ndarray]:
    """``{"up_probability", "realised_up": [n_windows]}``: what ``predict`` serves and the review judges."""
    return {"up_probability": up_probability(scored.predictive, scored.last_close),
            "realised_up": realised_up(scored.targets, scored.last_close)}


def direction_metrics(scored: ScoredWindows) -> dict[str, float]:
    """Direction accuracy (up called when the probability of up is above one half) with its Wilson interval at
    95 %, and the Pesaran-Timmermann (1992) test that the calls carry information about the direction beyond the
    base rates. Windows with a tied outcome or a probability of exactly one half call nothing and are left out."""
    p = up_probability(scored.predictive, scored.last_close)
    outcome = realised_up(scored.targets, scored.last_close)
    up, realised = direction_calls(p, outcome)
    if len(up) < 2:
        return {"accuracy_n": float(len(up))}
    low, high = accuracy_interval(up == realised)
    test = pesaran_timmermann(up, realised)
    return {"accuracy": float((up == realised).mean()), "accuracy_ci_low": float(low),
            "accuracy_ci_high": float(high), "accuracy_n": float(len(up)), "pt_statistic": float(test.statistic),
            "pt_p_value": float(test.p_value), "up_share": float((outcome == 1.0).mean()),
            "mean_up_probability": float(p.mean())}


def climatology_losses(data: OHLCVData, origins: np.ndarray, horizon: int) -> np.ndarray:
    """``[n_windows]`` Brier scores of climatology: the ``naive`` family's default, whose probability of up is the
    share of up ``horizon``-bar returns over its last :data:`~sweep.forecasters.naive.DEFAULT_LOOKBACK` bars, read
    through its 0.1 ... 0.9 empirical quantiles as every quantile forecast is."""
    last_close, targets = data.close[origins - 1], gather_targets(data.close, origins, horizon)
    quantiles = empirical_quantiles(gather_contexts(data.close, origins, DEFAULT_LOOKBACK + 1), horizon)
    probability = up_probability(Predictive(quantiles, np.asarray(QUANTILE_LEVELS)), last_close)
    return brier_scores(probability, targets, last_close)
