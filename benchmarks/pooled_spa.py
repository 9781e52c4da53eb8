"""Size and power of the SPA test over pooled trials (``--selection pooled``), by simulation.

A pooled trial's per-window loss is each symbol's error over that symbol's persistence MAE,
averaged window by window (:func:`sweep.search.objective.relative_window_losses`). This script checks
that the studentized SPA test (:func:`sweep.stats.significance.spa_test`) keeps its size on those losses
when the symbols move together, as crypto pairs do, and shows what the other way of stacking
them, one symbol's windows after another's, would do.

Design (one simulated validation set: S symbols x 100 daily windows, 20 trials, persistence as
benchmark; the one-symbol construction of ``benchmarks/spa_power.py``, made multi-symbol):

* Symbol ``s``'s standardised return ``z_s,t = sqrt(c) g_t + sqrt(1 - c) h_s,t`` (cross-symbol
  correlation ``c``, 0.8 by default: hourly BTCUSD and ETHUSD returns correlate about that much),
  with volatility ``sigma_s,t = v_s exp(x_t)``: a common AR(1) log-volatility ``x_t`` (coefficient 0.9,
  stationary s.d. 0.5) and per-symbol levels ``v_s`` 1 %, 3 %, 9 % ... so the symbols' scales differ
  ninefold and more (relative losses make them comparable).
* Persistence's loss is ``|sigma z|``. Trial ``k``'s error is ``a_k sigma (rho z + sqrt(1 - rho^2) w_k)``,
  ``rho = 0.99`` (a quiet trial, near persistence), with the trial's deviation ``w_k,s,t`` shared half
  with the other trials and correlated ``c`` across symbols (the same config on moving-together
  symbols). Its MAE is exactly ``a_k`` times persistence's: ``a_k = 1`` under the null, ``1 - gain`` for
  trial 0 under the alternative (better by ``gain`` on every symbol).
* Pooled losses: the average over symbols (what sweep uses) and, for comparison, the
  concatenation of the symbols' relative losses (``S x 100`` windows treated as one series).

Prints the rejection rate at 0.05 of the studentized SPA on each, with binomial standard errors,
and a single symbol's rate for the power comparison:

    python benchmarks/pooled_spa.py                 # 1000 null / 500 alternative simulations, 299 reps (~3 min)
    python benchmarks/pooled_spa.py --sims 300 --power-sims 200
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from sweep.search.objective import relative_window_losses
from sweep.stats.significance import spa_test

RHO_QUIET = 0.99
SHARED = 0.5
VOLATILITY_PERSISTENCE = 0.9
VOLATILITY_SD = 0.5
BASE_VOLATILITY = 0.01


def _correlated(rng: np.random.Generator, shape: tuple[int, ...], n_symbols: int, correlation: float) -> np.ndarray:
    """``[n_symbols, *shape]`` standard normals with ``correlation`` between any two symbols."""
    common = rng.standard_normal(shape)
    own = rng.standard_normal((n_symbols, *shape))
    return np.sqrt(correlation) * common + np.sqrt(1 - correlation) * own


def simulate_symbols(rng: np.random.Generator, n_symbols: int = 3, n_windows: int = 100, n_trials: int = 20,
                     gain: float = 0.0, correlation: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """Persistence's and every trial's absolute errors on ``n_symbols`` symbols that move together.

    Returns
    -------
    benchmark : numpy.ndarray
        ``[n_symbols, n_windows]`` (return units, each symbol at its own scale).
    models : numpy.ndarray
        ``[n_symbols, n_windows, n_trials]``.
    """
    log_vol = np.empty(n_windows)
    log_vol[0] = rng.normal(0, VOLATILITY_SD)
    shocks = rng.normal(0, VOLATILITY_SD * np.sqrt(1 - VOLATILITY_PERSISTENCE ** 2), n_windows)
    for t in range(1, n_windows):
        log_vol[t] = VOLATILITY_PERSISTENCE * log_vol[t - 1] + shocks[t]
    levels = BASE_VOLATILITY * 3.0 ** np.arange(n_symbols)
    sigma = levels[:, None] * np.exp(log_vol)[None, :]
    z = _correlated(rng, (n_windows,), n_symbols, correlation)
    deviation = np.sqrt(SHARED) * _correlated(rng, (n_windows, 1), n_symbols, correlation) \
        + np.sqrt(1 - SHARED) * _correlated(rng, (n_windows, n_trials), n_symbols, correlation)
    scale = np.ones(n_trials)
    scale[0] = 1 - gain
    errors = scale * sigma[..., None] * (RHO_QUIET * z[..., None] + np.sqrt(1 - RHO_QUIET ** 2) * deviation)
    return np.abs(sigma * z), np.abs(errors)


def pooled_losses(benchmark: np.ndarray, models: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray]:
    """Relative losses of persistence ``[n]`` and the trials ``[n, n_trials]``, ``how`` = "average" or "concatenate"."""
    scale = benchmark.mean(axis=1)  # each symbol's persistence MAE, as the sweep divides by
    if how == "average":
        bench = relative_window_losses(list(benchmark), list(scale))
        trials = np.column_stack([relative_window_losses(list(models[:, :, k]), list(scale))
                                  for k in range(models.shape[2])])
        return bench, trials
    return (benchmark / scale[:, None]).reshape(-1), (models / scale[:, None, None]).reshape(-1, models.shape[2])


def rejection_rates(sims: int, gain: float, reps: int, seed: int, n_symbols: int = 3, correlation: float = 0.8,
                    alpha: float = 0.05, hows: tuple[str, ...] = ("average", "concatenate", "one symbol")
                    ) -> dict[str, float]:
    """Share of ``sims`` simulated sets where the SPA p-value is below ``alpha``, per way of pooling."""
    rng = np.random.default_rng(seed)
    rejected = dict.fromkeys(hows, 0)
    for sim in range(sims):
        benchmark, models = simulate_symbols(rng, n_symbols, gain=gain, correlation=correlation)
        for how in hows:
            if how == "one symbol":
                bench, trials = benchmark[0], models[0]
            else:
                bench, trials = pooled_losses(benchmark, models, how)
            rejected[how] += spa_test(bench, trials, seed=sim, reps=reps).p_value < alpha
    return {how: count / sims for how, count in rejected.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sims", type=int, default=1000, help="simulations under the null (default 1000)")
    parser.add_argument("--power-sims", type=int, default=500, help="simulations per alternative (default 500)")
    parser.add_argument("--reps", type=int, default=299, help="bootstrap resamples per test (default 299)")
    parser.add_argument("--symbols", type=int, default=3)
    parser.add_argument("--correlation", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    print(f"{args.symbols} symbols x 100 windows, 20 trials, cross-symbol correlation {args.correlation}, alpha 0.05, "
          f"studentized SPA, {args.reps} bootstrap reps")
    print(f"{'gain':>5} {'sims':>5} {'average (sweep)':>17} {'concatenate':>15} {'one symbol':>15}")
    started = time.perf_counter()
    for gain in (0.0, 0.03, 0.05):
        sims = args.sims if gain == 0 else args.power_sims
        rates = rejection_rates(sims, gain, args.reps, args.seed + int(100 * gain), args.symbols, args.correlation)
        cells = [f"{r:.3f} ± {np.sqrt(r * (1 - r) / sims):.3f}" for r in rates.values()]
        print(f"{gain:>5.0%} {sims:>5} {cells[0]:>17} {cells[1]:>15} {cells[2]:>15}", flush=True)
    print(f"({time.perf_counter() - started:.0f} s; ± is the binomial standard error)")


if __name__ == "__main__":
    main()
