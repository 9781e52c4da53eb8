"""Size and power of the selection-aware SPA test (:func:`sweep.stats.significance.spa_test`) by simulation.

Design (one simulated validation set = 100 daily windows, 60 trials, persistence as benchmark):

* Returns ``r_t = sigma_t z_t`` with stochastic volatility, ``log sigma_t`` an AR(1) with
  coefficient 0.9 and stationary s.d. 0.5 around a 2 % daily volatility, so losses cluster
  as real returns do and the bootstrap's blocks matter.
* Persistence forecasts a zero return: its loss is ``|r_t|``, mean absolute error ``m``.
* Trial ``k``'s error is ``c_k sigma_t (rho_k z_t + sqrt(1 - rho_k^2) w_k,t)`` with
  ``w_k,t = sqrt(0.5) xi_t + sqrt(0.5) nu_k,t`` (trials share half their deviation from
  persistence, as configs of one model do). Given ``sigma_t`` the error is normal with
  s.d. ``c_k sigma_t``, so the trial's mean absolute error is exactly ``c_k m``: ``c_k = 1``
  under the null, ``1 - gain`` for the one better trial.
* ``rho = 0.99`` for a "quiet" trial (a forecaster whose predicted return is small next to the
  realised one: its errors are nearly persistence's). A "noisy" trial has the ``rho`` (about 0.62)
  that makes the s.d. of its loss differential ``|e_0| - |e_k|`` 5 times a quiet one's, at the same
  mean (``Var(|X| - |Y|) = 2 - (4 / pi) (sqrt(1 - rho^2) + rho arcsin rho)`` for unit normals).
* Designs: ``equal`` (60 quiet trials) and ``half-noisy`` (30 quiet, 30 noisy), and ``btc-like``
  (60 trials whose differential s.d. is 0.48 m given ``sigma_t``, about what the README's BTCUSD
  test windows show: a 12 % minimum detectable effect on 100 windows means
  ``2.49 sd / sqrt(100) = 0.12 m``). Given ``sigma_t`` a quiet trial's differential s.d. is
  0.17 m and a noisy one's 0.86 m (volatility clustering raises the measured values, printed in
  the ``diff s.d./m`` column, to about 0.19, 0.94 and 0.53 m); equal MAEs cap it at 1.07 m
  (independent errors), so 5 x noisier trials need quiet ones this close to persistence. The
  better trial, when there is one, is trial 0, a quiet one.

Prints the rejection rate at 0.05 of the studentized test (consistent p-value at the chosen block)
and of arch 8.0.0's unstudentized statistic (``spa_test(..., studentize=False)``, which a test holds
equal to ``arch.bootstrap.SPA``) on the same simulated data, with binomial standard errors:

    python benchmarks/spa_power.py                     # 2000 null / 1000 alternative simulations, 499 reps (~6 min)
    python benchmarks/spa_power.py --sims 500 --reps 299
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import optimize

from sweep.stats.significance import spa_test

#: Error correlation with persistence of a quiet trial.
RHO_QUIET = 0.99
#: Loss-differential s.d., relative to persistence's MAE, of the ``btc-like`` design's trials.
BTC_RELATIVE_SD = 0.48
#: How many times the loss differential's s.d. of a noisy trial exceeds a quiet one's.
NOISE_RATIO = 5.0
#: Share of a trial's deviation from persistence that all trials have in common.
SHARED = 0.5
DAILY_VOLATILITY = 0.02
VOLATILITY_PERSISTENCE = 0.9
VOLATILITY_SD = 0.5


def differential_sd(rho: float) -> float:
    """S.d. of ``|X| - |Y|`` for standard normals with correlation ``rho``."""
    return float(np.sqrt(2 - 4 / np.pi * (np.sqrt(1 - rho ** 2) + rho * np.arcsin(rho))))


def rho_for_sd(target: float) -> float:
    """The correlation whose ``|X| - |Y|`` has s.d. ``target`` (0 < target < ``differential_sd(0)``)."""
    return float(optimize.brentq(lambda rho: differential_sd(rho) - target, 0.0, 1.0))


def noisy_rho(rho_quiet: float = RHO_QUIET, ratio: float = NOISE_RATIO) -> float:
    """The correlation whose loss differential is ``ratio`` times as variable as ``rho_quiet``'s."""
    return rho_for_sd(ratio * differential_sd(rho_quiet))


#: ``{design: (rho of the quiet trials, whether half the trials are noisy)}``.
DESIGNS = {"equal": (RHO_QUIET, False), "half-noisy": (RHO_QUIET, True),
           "btc-like": (rho_for_sd(BTC_RELATIVE_SD * np.sqrt(2 / np.pi)), False)}


def simulate_losses(rng: np.random.Generator, n_windows: int = 100, n_trials: int = 60, gain: float = 0.0,
                    design: str = "equal") -> tuple[np.ndarray, np.ndarray]:
    """One simulated validation set: persistence's and every trial's absolute errors.

    Parameters
    ----------
    rng : numpy.random.Generator
    n_windows, n_trials : int
    gain : float
        Trial 0's mean absolute error is ``1 - gain`` times persistence's (0: the null).
    design : str
        A key of :data:`DESIGNS`.

    Returns
    -------
    benchmark : numpy.ndarray
        ``[n_windows]`` persistence losses (absolute return errors).
    models : numpy.ndarray
        ``[n_windows, n_trials]``.
    """
    log_vol = np.empty(n_windows)
    log_vol[0] = rng.normal(0, VOLATILITY_SD)
    shocks = rng.normal(0, VOLATILITY_SD * np.sqrt(1 - VOLATILITY_PERSISTENCE ** 2), n_windows)
    for t in range(1, n_windows):
        log_vol[t] = VOLATILITY_PERSISTENCE * log_vol[t - 1] + shocks[t]
    sigma = DAILY_VOLATILITY * np.exp(log_vol)
    z = rng.standard_normal(n_windows)
    rho_quiet, noisy = DESIGNS[design]
    rho = np.full(n_trials, rho_quiet)
    if noisy:
        rho[n_trials // 2:] = noisy_rho()
    scale = np.ones(n_trials)
    scale[0] = 1 - gain
    deviation = np.sqrt(SHARED) * rng.standard_normal(n_windows)[:, None] \
        + np.sqrt(1 - SHARED) * rng.standard_normal((n_windows, n_trials))
    errors = scale * sigma[:, None] * (rho * z[:, None] + np.sqrt(1 - rho ** 2) * deviation)
    return np.abs(sigma * z), np.abs(errors)


def rejection_rates(sims: int, gain: float, design: str, reps: int, seed: int, alpha: float = 0.05,
                    raw: bool = True) -> tuple[float, float]:
    """Share of ``sims`` simulated sets where the studentized (and the raw) consistent p-value is below ``alpha``."""
    rng = np.random.default_rng(seed)
    studentized = unstudentized = 0
    for sim in range(sims):
        benchmark, models = simulate_losses(rng, gain=gain, design=design)
        studentized += spa_test(benchmark, models, seed=sim, reps=reps).p_value < alpha
        if raw:
            unstudentized += spa_test(benchmark, models, seed=sim, reps=reps, studentize=False).p_value < alpha
    return studentized / sims, (unstudentized / sims if raw else float("nan"))


def relative_differential_sd(design: str, sims: int = 200, seed: int = 0) -> tuple[float, float]:
    """Mean s.d. of a quiet and of a noisy trial's differential over ``sims`` simulated sets, relative to ``m``."""
    rng = np.random.default_rng(seed)
    quiet, noisy = [], []
    for _ in range(sims):
        benchmark, models = simulate_losses(rng, design=design)
        sd = (benchmark[:, None] - models).std(axis=0) / benchmark.mean()
        quiet.append(sd[1:30].mean())
        noisy.append(sd[30:].mean())
    return float(np.mean(quiet)), float(np.mean(noisy))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sims", type=int, default=2000, help="simulations under the null (default 2000)")
    parser.add_argument("--power-sims", type=int, default=1000, help="simulations per alternative (default 1000)")
    parser.add_argument("--reps", type=int, default=499, help="bootstrap resamples per test (default 499)")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--designs", nargs="+", default=list(DESIGNS), choices=list(DESIGNS))
    args = parser.parse_args()
    print(f"100 windows, 60 trials, alpha 0.05, consistent p-value at the chosen block, {args.reps} bootstrap reps; "
          f"rho: quiet {RHO_QUIET}, noisy {noisy_rho():.3f}, btc-like {DESIGNS['btc-like'][0]:.3f}")
    print(f"{'design':<11} {'diff s.d./m':>12} {'gain':>5} {'sims':>5} {'studentized':>15} {'arch 8 raw':>15}")
    started = time.perf_counter()
    for number, design in enumerate(args.designs):
        quiet, noisy = relative_differential_sd(design)
        spread = f"{quiet:.2f}/{noisy:.2f}" if DESIGNS[design][1] else f"{quiet:.2f}"
        for gain in (0.0, 0.05, 0.10):
            sims = args.sims if gain == 0 else args.power_sims
            rate, raw = rejection_rates(sims, gain, design, args.reps, args.seed + 1000 * number + int(100 * gain))
            se = np.sqrt(np.array([rate, raw]) * (1 - np.array([rate, raw])) / sims)
            print(f"{design:<11} {spread:>12} {gain:>5.0%} {sims:>5} {rate:>7.3f} ± {se[0]:.3f} "
                  f"{raw:>7.3f} ± {se[1]:.3f}", flush=True)
    print(f"({time.perf_counter() - started:.0f} s; ± is the binomial standard error)")
    rng = np.random.default_rng(0)
    for n_trials in (90, 400):
        benchmark, models = simulate_losses(rng, n_trials=n_trials, design="half-noisy", gain=0.1)
        result = spa_test(benchmark, models)
        started = time.perf_counter()
        for seed in range(20):
            spa_test(benchmark, models, seed=seed)
        blocks = len(result.p_value_by_block)
        print(f"spa_test, 100 windows x {n_trials} trials, 1000 reps, p-values at {blocks} blocks: "
              f"{(time.perf_counter() - started) / 20 * 1000:.0f} ms per call")


if __name__ == "__main__":
    main()
