"""The stationary bootstrap as the SPA test uses it: resampled index counts and the bootstrap's own variance.

Politis & Romano (1994), "The stationary bootstrap", JASA 89(428): blocks of geometric length with
mean ``block`` wrap around the series. Drawing the blocks' starts and lengths once and turning them
into per-observation counts lets one set of draws serve every block length and every trial
(:func:`sweep.stats.significance.spa_test`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["stationary_bootstrap_variance", "stationary_bootstrap_draws", "stationary_bootstrap_counts"]


def stationary_bootstrap_variance(x: np.ndarray, block: float) -> np.ndarray:
    """Long-run variance of each column: the stationary bootstrap's own variance of ``sqrt(n)`` times the mean.

    ``omega^2 = g_0 + 2 sum_{i=1}^{n-1} kappa(n, i) g_i`` with ``kappa(n, i) = (1 - i/n) (1 - q)^i
    + (i/n) (1 - q)^(n - i)``, ``q = 1 / block`` and ``g_i = n^-1 sum_t x_t x_{t+i}`` the (demeaned)
    autocovariances: Politis & Romano (1994), JASA 89(428), the estimator Hansen (2005), JBES 23(4),
    uses to studentize the SPA and the one arch's ``SPA`` computes for its threshold. It is the
    exact variance of ``sqrt(n)`` times the mean of a stationary-bootstrap resample, so it is never
    negative, is 0 only for a constant column, and its bandwidth is the bootstrap's block.

    Parameters
    ----------
    x : numpy.ndarray
        ``[n, n_columns]`` series (loss differentials, return units).
    block : float
        Mean block length (``>= 1``); 1 gives the sample variance (iid).

    Returns
    -------
    numpy.ndarray
        ``[n_columns]``, in squared units of ``x``.
    """
    x = np.asarray(x, dtype=float)
    n = x.shape[0]
    centred = x - x.mean(axis=0)
    spectrum = np.fft.rfft(centred, 2 * n, axis=0)  # zero-padded: the non-circular autocovariances
    autocovariance = np.fft.irfft(np.abs(spectrum) ** 2, 2 * n, axis=0)[:n] / n
    lag = np.arange(1, n)
    q = 1.0 / block
    kappa = (1 - lag / n) * (1 - q) ** lag + (lag / n) * (1 - q) ** (n - lag)
    return np.maximum(autocovariance[0] + 2 * kappa @ autocovariance[1:], 0.0)


def stationary_bootstrap_draws(n: int, reps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The random numbers of ``reps`` stationary-bootstrap resamples of ``n`` windows.

    Drawn rep by rep as ``arch.bootstrap.StationaryBootstrap(block, ..., seed=seed)`` draws them
    (``integers(n, size=n)`` then ``random(n)`` from ``numpy.random.default_rng(seed)``), so with
    :func:`stationary_bootstrap_counts` the resamples equal arch's for every block length; the draws
    themselves do not depend on the block, so the blocks of one test share them.

    Parameters
    ----------
    n, reps, seed : int
        Windows, resamples, seed.

    Returns
    -------
    starts : numpy.ndarray
        ``[reps, n]`` uniform window indices (int64), where a new block would start.
    uniforms : numpy.ndarray
        ``[reps, n]`` uniforms on [0, 1) deciding whether it does.
    """
    generator = np.random.default_rng(seed)
    starts, uniforms = np.empty((reps, n), dtype=np.int64), np.empty((reps, n))
    for rep in range(reps):
        starts[rep] = generator.integers(n, size=n, dtype=np.int64)
        uniforms[rep] = generator.random(n)
    return starts, uniforms


def stationary_bootstrap_counts(draws: tuple[np.ndarray, np.ndarray], block: float) -> np.ndarray:
    """How often each window appears in each stationary-bootstrap resample (Politis & Romano, 1994).

    Window ``t`` of a resample starts a new block (at a uniformly drawn window) with probability
    ``1 / block``, else continues the previous one circularly: arch's ``stationary_bootstrap_sample``.
    The resampled means of every column are then one product, ``counts @ x / n``.

    Parameters
    ----------
    draws : tuple of numpy.ndarray
        ``(starts, uniforms)``, ``[reps, n]`` each (:func:`stationary_bootstrap_draws`).
    block : float
        Mean block length.

    Returns
    -------
    numpy.ndarray
        ``[reps, n]`` counts (float), each row summing to ``n``.
    """
    starts, uniforms = draws
    reps, n = starts.shape
    new_block = uniforms <= 1.0 / block
    new_block[:, 0] = True
    position = np.arange(n)
    begins = np.maximum.accumulate(np.where(new_block, position, 0), axis=1)
    index = (np.take_along_axis(starts, begins, axis=1) + position - begins) % n
    flat = (index + n * np.arange(reps)[:, None]).ravel()
    return np.bincount(flat, minlength=reps * n).reshape(reps, n).astype(float)
