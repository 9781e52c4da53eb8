"""Ensemble weights that minimise the quantile loss of the blended quantiles, fitted on validation windows.

The blend's quantile at level ``a`` is the weighted average of the members' quantiles at ``a`` (Vincentization;
Ratcliff 1979; Lichtendahl, Grushka-Cockayne & Winkler 2013, "Is it better to average probabilities or
quantiles?", Management Science 59(7)), so its pinball loss is piecewise linear in the weights and its minimum
over ``w >= 0, sum(w) = 1`` is a linear program: quantile regression averaging with the weights constrained to a
convex combination (Nowotarski & Weron 2015, Computational Statistics 30(3), section 2.3).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

__all__ = ["fit_pinball_lp_weights", "fit_pinball_greedy_weights", "pinball_loss"]


def pinball_loss(forecast: np.ndarray, target: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Mean pinball loss ``mean_p (1{y_p < q_p} - a_p)(q_p - y_p)`` of each row of ``forecast``.

    Parameters
    ----------
    forecast : numpy.ndarray
        ``[..., n_points]`` forecast quantile returns.
    target, levels : numpy.ndarray
        ``[n_points]`` realised returns and the level of each point.
    """
    return (((target < forecast).astype(float) - levels) * (forecast - target)).mean(axis=-1)


def fit_pinball_lp_weights(member_quantiles: np.ndarray, target: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Weights minimising the blend's mean pinball loss exactly (scipy's HiGHS).

    Minimise ``mean_p a_p u_p + (1 - a_p) v_p`` over ``w >= 0, sum(w) = 1, u, v >= 0`` with
    ``Q w + u - v = y`` (``u``: the target above the blend, ``v``: below it).

    Parameters
    ----------
    member_quantiles : numpy.ndarray
        ``[n_members, n_points]`` each member's quantile returns, one point per (window, level, step).
    target : numpy.ndarray
        ``[n_points]`` realised returns.
    levels : numpy.ndarray
        ``[n_points]`` the level of each point.

    Returns
    -------
    numpy.ndarray
        ``[n_members]`` weights.

    Raises
    ------
    RuntimeError
        If the solver fails (it cannot on this feasible, bounded problem).
    """
    n_members, n_points = member_quantiles.shape
    cost = np.concatenate([np.zeros(n_members), levels / n_points, (1.0 - levels) / n_points])
    identity = sparse.identity(n_points, format="csr")
    equality = sparse.vstack([
        sparse.hstack([sparse.csr_matrix(member_quantiles.T), identity, -identity]),
        sparse.hstack([sparse.csr_matrix(np.ones((1, n_members))), sparse.csr_matrix((1, 2 * n_points))])])
    result = linprog(cost, A_eq=equality.tocsr(), b_eq=np.concatenate([target, [1.0]]),
                     bounds=[(0, None)] * (n_members + 2 * n_points), method="highs")
    if not result.success:
        raise RuntimeError(f"quantile ensemble LP failed: {result.message}")
    weights = np.clip(result.x[:n_members], 0.0, None)
    return weights / weights.sum()


def fit_pinball_greedy_weights(member_quantiles: np.ndarray, target: np.ndarray, levels: np.ndarray,
                               n_iterations: int) -> np.ndarray:
    """Caruana et al. (2004) ensemble selection with replacement on the pinball loss: each round adds the member
    whose inclusion gives the running average of quantiles the lowest loss (ties to the first); weights are the
    selection counts over ``n_iterations`` rounds. Shapes as :func:`fit_pinball_lp_weights`."""
    counts = np.zeros(len(member_quantiles))
    running_sum = np.zeros_like(target, dtype=float)
    for round_number in range(1, n_iterations + 1):
        losses = pinball_loss((running_sum[None, :] + member_quantiles) / round_number, target, levels)
        choice = int(np.argmin(losses))
        counts[choice] += 1
        running_sum += member_quantiles[choice]
    return counts / n_iterations
