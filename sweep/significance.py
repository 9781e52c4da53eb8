"""Selection-aware significance over every trial of a symbol's studies (validation windows).

The best of N trials beats persistence on validation partly by luck. Hansen's
Superior Predictive Ability test asks whether *any* trial beats the benchmark
once the search over all of them is accounted for; the Model Confidence Set
lists the trials that cannot be told apart from the best. Both come from
``arch.bootstrap`` and work on per-window losses only: no new inference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .stats import auto_block_length
from .study import TrialLosses

__all__ = ["SPAResult", "spa_test", "model_confidence_set", "selection_significance", "distinct_columns",
           "BOOTSTRAP_REPS"]

#: Bootstrap resamples of both tests.
BOOTSTRAP_REPS = 1000


def distinct_columns(losses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique loss columns and, for each original column, the index of its unique column.

    Trials of a categorical grid repeat configs; identical columns change neither the
    SPA statistic nor the MCS, but make the MCS' pairwise variances singular.

    Parameters
    ----------
    losses : numpy.ndarray
        ``[n_windows, n_models]``.

    Returns
    -------
    unique : numpy.ndarray
        ``[n_windows, n_unique]``.
    inverse : numpy.ndarray
        ``[n_models]``.
    """
    unique, inverse = np.unique(np.asarray(losses, dtype=float), axis=1, return_inverse=True)
    return unique, np.asarray(inverse).ravel()


@dataclass(frozen=True)
class SPAResult:
    """Hansen's SPA test of all trials against the benchmark.

    Attributes
    ----------
    p_value : float
        The consistent p-value (Hansen, 2005); ``p_lower`` and ``p_upper`` bound it.
    n_models : int
        Trials tested; ``n_distinct`` of them have distinct losses.
    block_size : int
        Mean block length of the stationary bootstrap.
    """

    p_value: float
    p_lower: float
    p_upper: float
    n_models: int
    n_distinct: int
    block_size: int

    def to_dict(self) -> dict[str, Any]:
        return {"p_value": self.p_value, "p_lower": self.p_lower, "p_upper": self.p_upper,
                "n_models": self.n_models, "n_distinct": self.n_distinct, "block_size": self.block_size,
                "benchmark": "persistence", "test": "Hansen (2005) SPA, arch.bootstrap.SPA, studentized, "
                                                    f"stationary bootstrap, {BOOTSTRAP_REPS} reps"}


def spa_test(benchmark: np.ndarray, models: np.ndarray, seed: int = 0) -> SPAResult:
    """Does any model have lower expected loss than the benchmark, accounting for the search?

    Hansen, P. R. (2005), "A Test for Superior Predictive Ability", JBES 23(4). H0: no
    model is better than the benchmark; a small p-value rejects it. Hansen's statistic is
    ``max(0, max_k t_k)``; ``arch`` compares the bootstrap maxima with ``max_k`` of the mean
    differentials without that floor, which gives p near 0.5 when every model is clearly
    worse. With the floor the statistic is then 0, its smallest value, so all three
    p-values are 1 (no evidence against H0) in that case; otherwise the floor changes nothing.

    Parameters
    ----------
    benchmark : numpy.ndarray
        ``[n_windows]`` benchmark losses (persistence).
    models : numpy.ndarray
        ``[n_windows, n_models]`` losses of every trial on the same windows.
    seed : int

    Raises
    ------
    ValueError
        If the shapes disagree or there is no model.
    """
    from arch.bootstrap import SPA

    benchmark = np.asarray(benchmark, dtype=float)
    models = np.asarray(models, dtype=float)
    if models.ndim != 2 or models.shape[0] != len(benchmark) or models.shape[1] == 0:
        raise ValueError(f"SPA needs [n_windows, n_models] losses on the benchmark's {len(benchmark)} windows, "
                         f"got shape {models.shape}")
    unique, _ = distinct_columns(models)
    best = unique[:, np.argmin(unique.mean(axis=0))]
    block = auto_block_length(best - benchmark, "stationary")
    if best.mean() >= benchmark.mean():  # no model beats the benchmark on average: T = 0
        return SPAResult(1.0, 1.0, 1.0, models.shape[1], unique.shape[1], block)
    spa = SPA(benchmark, unique, block_size=block, reps=BOOTSTRAP_REPS, seed=seed)
    spa.compute()
    p = spa.pvalues
    return SPAResult(float(p["consistent"]), float(p["lower"]), float(p["upper"]), models.shape[1],
                     unique.shape[1], block)


def model_confidence_set(losses: np.ndarray, alpha: float, seed: int = 0) -> np.ndarray:
    """Columns of ``losses`` in the Model Confidence Set at level ``alpha``.

    Hansen, Lunde & Nason (2011), "The Model Confidence Set", Econometrica 79(2), with
    the T_max statistic (``method="max"``: linear in the number of models, where the
    pairwise T_R needs memory quadratic in it). Duplicated columns share the fate of
    their first copy.

    Parameters
    ----------
    losses : numpy.ndarray
        ``[n_windows, n_models]``.
    alpha : float
        Size of the test; the set holds the best model with probability ``1 - alpha``.
    seed : int

    Returns
    -------
    numpy.ndarray
        Sorted indices of the included columns.
    """
    from arch.bootstrap import MCS

    unique, inverse = distinct_columns(losses)
    if unique.shape[1] == 1:
        return np.arange(losses.shape[1])
    best = unique[:, np.argmin(unique.mean(axis=0))]
    block = auto_block_length(unique.mean(axis=1) - best, "stationary")
    mcs = MCS(unique, size=alpha, reps=BOOTSTRAP_REPS, block_size=block, method="max", seed=seed)
    mcs.compute()
    included = {int(i) for i in mcs.included}
    return np.flatnonzero([i in included for i in inverse])


def selection_significance(trials: list[TrialLosses], benchmark: np.ndarray, benchmark_label: str, alpha: float,
                           seed: int = 0) -> dict[str, Any]:
    """The ``selection.spa`` and ``selection.mcs`` blocks of a candidate.

    Parameters
    ----------
    trials : list of TrialLosses
        Every completed trial of the symbol's studies with recorded validation losses.
        Trials of the benchmark's own study (``benchmark_label``) join the MCS, not the SPA.
    benchmark : numpy.ndarray
        ``[n_validation_windows]`` persistence losses.
    alpha : float
        Level of the MCS.

    Returns
    -------
    dict
        ``{"spa": {...} or None, "mcs": [{"study", "trial"}, ...], "mcs_alpha": alpha}``; ``spa`` is None
        when no trial other than the benchmark's recorded its losses (runs from before this was stored).
    """
    matching = [t for t in trials if len(t.losses) == len(benchmark)]
    models = [t for t in matching if not t.study_name.endswith(f".{benchmark_label}")]
    spa = spa_test(benchmark, np.column_stack([t.losses for t in models]), seed).to_dict() if models else None
    mcs: list[dict[str, Any]] = []
    if matching:
        included = model_confidence_set(np.column_stack([t.losses for t in matching]), alpha, seed)
        mcs = [{"study": matching[i].study_name, "trial": matching[i].trial_number} for i in included]
    return {"spa": spa, "mcs": mcs, "mcs_alpha": alpha}
