"""Selection-aware significance over every trial of a symbol's studies (validation windows).

The best of N trials beats persistence on validation partly by luck. Hansen's
Superior Predictive Ability test asks whether *any* trial beats the benchmark
once the search over all of them is accounted for; the Model Confidence Set
(``arch.bootstrap.MCS``) lists the trials that cannot be told apart from the best.
Both work on per-window losses only: no new inference.

The SPA is computed here, not by ``arch.bootstrap.SPA``: in arch 8.0.0 ``SPA.compute`` compares the
*raw* mean differentials whatever ``studentize`` says (the flag only sets a label), so the noisiest
trials drive the maximum. Hansen's (2005) studentized SPA is arch's computation fed each trial's
differential divided by its own long-run standard deviation (:func:`stationary_bootstrap_variance`,
the kernel arch uses for its threshold); this module does that computation vectorised over blocks
and trials, with arch's resampling, and a test holds its p-values equal to arch fed the scaled
differentials.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._dependence import median_block_length
from ._stationary_bootstrap import (stationary_bootstrap_counts, stationary_bootstrap_draws,
                                    stationary_bootstrap_variance)
__all__ = ["TrialLosses", "SPAResult", "spa_test", "spa_blocks", "stationary_bootstrap_variance", "stationary_bootstrap_draws",
           "stationary_bootstrap_counts", "model_confidence_set", "selection_significance", "distinct_columns",
           "BOOTSTRAP_REPS", "BLOCK_RULE", "HAC_KERNEL"]

#: Bootstrap resamples of both tests.
BOOTSTRAP_REPS = 1000
#: How the SPA's block length is chosen (stored with every result).
BLOCK_RULE = ("median over the distinct trials of the Politis-White (2004, corrected 2009) stationary-bootstrap "
              "length of the benchmark-minus-trial loss differentials, rounded up")
#: The long-run variance that studentizes each trial (stored with every result).
HAC_KERNEL = ("stationary-bootstrap kernel of Politis & Romano (1994), q = 1 / block, all lags "
              "(Hansen 2005; the bootstrap's own variance of sqrt(n) times the mean)")


@dataclass(frozen=True)
class TrialLosses:
    """Per-window validation losses of one completed trial: what the SPA test and the MCS compare.

    Attributes
    ----------
    study_name : str
    trial_number : int
    source : str
        Where the trial's config came from (``"default"``, ``"production"`` or ``"search"``).
    losses : numpy.ndarray
        ``[n_validation_windows]`` absolute pct-return errors (return units); of a pooled trial, the
        symbols' errors relative to persistence's MAE, averaged window by window
        (:func:`sweep.search.objective.relative_window_losses`; unitless).
    config : dict or None
        The trial's config (JSON form), so that it can be scored again (the backtest's selection regret).
    """

    study_name: str
    trial_number: int
    source: str
    losses: np.ndarray
    config: dict[str, Any] | None = None


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


def spa_blocks(block: int, n: int) -> tuple[int, ...]:
    """Block lengths of the reported p-value range: 1 (no dependence), the chosen one and twice it.

    Twice the chosen length is capped at Politis & White's ``ceil(min(3 sqrt(n), n / 3))`` (but never
    below the chosen one); duplicates are dropped.
    """
    cap = max(int(np.ceil(min(3 * np.sqrt(n), n / 3))), block)
    return tuple(sorted({1, block, min(2 * block, cap)}))


def _spa_p_values(d: np.ndarray, block: int, resampled: np.ndarray,
                  studentize: bool) -> tuple[float, float, float, float]:
    """Hansen's lower, consistent and upper p-values and ``T`` at one block (needs ``max_k dbar_k > 0``).

    ``d`` is ``[n, n_models]``; ``resampled`` the ``[reps, n_models]`` means of ``d`` over that block's
    stationary-bootstrap resamples (scaling a column scales its resampled means alike).
    """
    n = d.shape[0]
    constant = np.ptp(d, axis=0) == 0
    omega = np.where(constant, 0.0, np.sqrt(stationary_bootstrap_variance(d, block)))
    mean = d.mean(axis=0)
    relevant = mean >= -omega * np.sqrt(2 * np.log(np.log(n)) / n)  # Hansen's consistent recentring rule
    if studentize:  # a constant column's bootstrap deviation is 0; if it is positive, it is certainly better
        scale = np.divide(1.0, omega, out=np.zeros_like(omega), where=omega > 0)
        centre, resampled = (d * scale).mean(axis=0), resampled * scale
        observed = np.inf if (constant & (mean > 0)).any() else float(centre.max())
    else:  # arch 8.0.0's statistic: the raw means (its threshold still uses omega, as arch's does)
        centre = mean
        observed = float(centre.max())
    lower, consistent, upper = (float(((resampled - recentre).max(axis=1) > observed).mean())
                                for recentre in (np.maximum(centre, 0.0), np.where(relevant, centre, 0.0), centre))
    return lower, consistent, upper, float(np.sqrt(n) * observed)


@dataclass(frozen=True)
class SPAResult:
    """Hansen's SPA test of all trials against the benchmark.

    Attributes
    ----------
    p_value : float
        The consistent p-value (Hansen, 2005) at ``block_size``; ``p_lower`` and ``p_upper`` bound it.
    n_models : int
        Trials tested; ``n_distinct`` of them have distinct losses.
    block_size : int
        Mean block length of the stationary bootstrap and bandwidth of the studentizing variance
        (:data:`BLOCK_RULE`).
    statistic : float
        ``T = max(0, max_k sqrt(n) dbar_k / omega_k)`` (``omega_k = 1`` when not studentized);
        infinite when a trial beats the benchmark by the same amount in every window.
    p_value_by_block : dict
        ``{block: consistent p-value}`` for every block of :func:`spa_blocks`, each the whole test
        (bootstrap and studentizing variance) at that block, from the same random draws.
    studentized : bool
    reps, seed : int
        Bootstrap resamples and their seed; with the stored per-window losses they reproduce every p-value.
    """

    p_value: float
    p_lower: float
    p_upper: float
    n_models: int
    n_distinct: int
    block_size: int
    statistic: float = 0.0
    p_value_by_block: dict[int, float] = field(default_factory=dict)
    studentized: bool = True
    reps: int = BOOTSTRAP_REPS
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON form.

        Keys: ``p_value``, ``p_lower``, ``p_upper``, ``n_models``, ``n_distinct``, ``block_size``,
        ``benchmark``, ``test`` (a description), ``studentized``, ``statistic`` (null when infinite),
        ``hac_kernel`` and ``hac_bandwidth`` (the studentizing variance and its block), ``block_rule``,
        ``p_value_by_block`` (``{"block": consistent p-value}``, string keys), ``p_value_range``
        (``[min, max]`` of those), ``reps`` and ``seed``.
        """
        by_block = {str(block): p for block, p in sorted(self.p_value_by_block.items())}
        scaling = "studentized by each trial's stationary-bootstrap HAC standard deviation" if self.studentized \
            else "raw mean differentials (not studentized, as arch 8.0.0's SPA.compute)"
        return {"p_value": self.p_value, "p_lower": self.p_lower, "p_upper": self.p_upper,
                "n_models": self.n_models, "n_distinct": self.n_distinct, "block_size": self.block_size,
                "benchmark": "persistence",
                "test": f"Hansen (2005) SPA, {scaling}, consistent p-value, stationary bootstrap "
                        f"(Politis-Romano, arch's resampling), {self.reps} reps",
                "studentized": self.studentized,
                "statistic": self.statistic if np.isfinite(self.statistic) else None,
                "hac_kernel": HAC_KERNEL, "hac_bandwidth": self.block_size, "block_rule": BLOCK_RULE,
                "p_value_by_block": by_block,
                "p_value_range": [min(by_block.values()), max(by_block.values())] if by_block else None,
                "reps": self.reps, "seed": self.seed}


def spa_test(benchmark: np.ndarray, models: np.ndarray, seed: int = 0, reps: int = BOOTSTRAP_REPS,
             studentize: bool = True) -> SPAResult:
    """Does any model have lower expected loss than the benchmark, accounting for the search?

    Hansen, P. R. (2005), "A Test for Superior Predictive Ability", JBES 23(4), 365-380. With
    ``d_k,t = benchmark_t - model_k,t`` (positive = the model is better), H0: ``E d_k <= 0`` for
    every k; a small p-value rejects it. The statistic is ``T = max(0, max_k sqrt(n) dbar_k /
    omega_k)`` with ``omega_k^2`` each trial's long-run variance (:func:`stationary_bootstrap_variance`,
    Hansen's choice), so a noisy trial cannot dominate the maximum by its noise alone. Its
    distribution under H0 comes from a stationary bootstrap (Politis & Romano, 1994) of the
    windows, every trial resampled with the same indices: ``T* = max(0, max_k sqrt(n) (dbar*_k -
    g(dbar_k)) / omega_k)``, ``p = mean(T* > T)``, with Hansen's recentrings ``g_l(x) = max(x, 0)``,
    ``g_c(x) = x 1{x >= -omega_k sqrt(2 log log n / n)}`` (consistent, the reported ``p_value``)
    and ``g_u(x) = x``.

    The block length is :func:`sweep.stats.paired.median_block_length` of all distinct trials'
    differentials (never the winner's alone); the studentizing variance uses the same block as its
    bandwidth. ``p_value_by_block`` repeats the whole test at the blocks of :func:`spa_blocks`
    with the same random draws, so a reader sees how much the answer depends on that choice.

    When no model beats the benchmark on average, ``T = 0``, its smallest value, and all
    p-values are 1 (no evidence against H0); arch, which has no floor at 0, gives p near 0.5
    then. Otherwise the floor changes nothing. Duplicated columns are tested once.

    Parameters
    ----------
    benchmark : numpy.ndarray
        ``[n_windows]`` benchmark losses (persistence; return units, e.g. absolute pct-return errors).
    models : numpy.ndarray
        ``[n_windows, n_models]`` losses of every trial on the same windows.
    seed : int
        Seed of the bootstrap resamples (``numpy.random.default_rng``); the result is a deterministic
        function of the losses and the seed.
    reps : int
        Bootstrap resamples (default :data:`BOOTSTRAP_REPS`).
    studentize : bool
        False computes arch 8.0.0's unstudentized statistic instead (for comparison only; it equals
        ``arch.bootstrap.SPA(benchmark, models, block, reps, seed=seed)`` at each block, floor aside).

    Returns
    -------
    SPAResult

    Raises
    ------
    ValueError
        If the shapes disagree, there is no model, fewer than 3 windows (``log log n`` must be
        positive), a non-finite loss, or ``reps < 1``.

    Notes
    -----
    ``arch.bootstrap.SPA(..., studentize=True)`` is not this test: arch 8.0.0 ignores the flag in
    ``compute`` (see the module docstring). ``arch.bootstrap.SPA(zeros, -d / omega, block, reps,
    seed=seed)``, with ``omega`` from :func:`stationary_bootstrap_variance` at that block, is.
    """
    benchmark = np.asarray(benchmark, dtype=float)
    models = np.asarray(models, dtype=float)
    if benchmark.ndim != 1 or models.ndim != 2 or models.shape[0] != len(benchmark) or models.shape[1] == 0:
        raise ValueError(f"SPA needs [n_windows, n_models] losses on the benchmark's {len(benchmark)} windows, "
                         f"got shape {models.shape}")
    if len(benchmark) < 3 or not (np.isfinite(benchmark).all() and np.isfinite(models).all()):
        raise ValueError(f"SPA needs at least 3 windows of finite losses, got {len(benchmark)} windows; "
                         "drop windows with missing losses first")
    if reps < 1:
        raise ValueError(f"reps must be at least 1, got {reps}")
    unique, _ = distinct_columns(models)
    differentials = benchmark[:, None] - unique
    n = len(benchmark)
    block = median_block_length(differentials, "stationary")
    blocks = spa_blocks(block, n)
    common = {"n_models": models.shape[1], "n_distinct": unique.shape[1], "block_size": block,
              "studentized": studentize, "reps": reps, "seed": seed}
    if differentials.mean(axis=0).max() <= 0:  # no model beats the benchmark on average: T = 0
        return SPAResult(1.0, 1.0, 1.0, statistic=0.0, p_value_by_block={b: 1.0 for b in blocks}, **common)
    draws = stationary_bootstrap_draws(n, reps, seed)
    counts = np.concatenate([stationary_bootstrap_counts(draws, b) for b in blocks])  # [len(blocks) * reps, n]
    resampled = np.split(counts @ differentials / n, len(blocks))  # one product for every block and trial
    by_block = {b: _spa_p_values(differentials, b, means, studentize) for b, means in zip(blocks, resampled)}
    lower, consistent, upper, statistic = by_block[block]
    return SPAResult(consistent, lower, upper, statistic=statistic,
                     p_value_by_block={b: values[1] for b, values in by_block.items()}, **common)


def model_confidence_set(losses: np.ndarray, alpha: float, seed: int = 0) -> np.ndarray:
    """Columns of ``losses`` in the Model Confidence Set at level ``alpha``.

    Hansen, Lunde & Nason (2011), "The Model Confidence Set", Econometrica 79(2), with
    the T_max statistic (``method="max"``: linear in the number of models, where the
    pairwise T_R needs memory quadratic in it). Duplicated columns share the fate of
    their first copy. The block length is :func:`sweep.stats.paired.median_block_length` of every
    distinct column's loss minus the cross-sectional mean loss (the differentials T_max is
    built on), the same rule as the SPA's.

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
    block = median_block_length(unique - unique.mean(axis=1, keepdims=True), "stationary")
    mcs = MCS(unique, size=alpha, reps=BOOTSTRAP_REPS, block_size=block, method="max", seed=seed)
    mcs.compute()
    included = {int(i) for i in mcs.included}
    return np.flatnonzero([i in included for i in inverse])


def selection_significance(trials: list[TrialLosses], benchmark: np.ndarray, benchmark_label: str, alpha: float,
                           seed: int = 0, benchmark_name: str = "persistence") -> dict[str, Any]:
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
    benchmark_name : str
        What the benchmark is (the objective's: ``persistence``, ``random_walk``, ``climatology``, ``flat``).

    Returns
    -------
    dict
        ``{"spa": {...} or None, "mcs": [{"study", "trial"}, ...], "mcs_alpha": alpha}``; ``spa`` is None
        when no trial other than the benchmark's recorded its losses (runs from before this was stored).
    """
    matching = [t for t in trials if len(t.losses) == len(benchmark)]
    models = [t for t in matching if not t.study_name.endswith(f".{benchmark_label}")]
    spa = {**spa_test(benchmark, np.column_stack([t.losses for t in models]), seed).to_dict(),
           "benchmark": benchmark_name} if models else None
    mcs: list[dict[str, Any]] = []
    if matching:
        included = model_confidence_set(np.column_stack([t.losses for t in matching]), alpha, seed)
        mcs = [{"study": matching[i].study_name, "trial": matching[i].trial_number} for i in included]
    return {"spa": spa, "mcs": mcs, "mcs_alpha": alpha}
