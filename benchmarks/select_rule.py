"""Size and power of ``--select significant`` (:func:`sweep.runs._select_rule.apply_rule`) by simulation.

Each simulated validation set is ``benchmarks/spa_power.py``'s ``btc-like`` design: stochastic volatility and 30
trials whose loss differentials against the family default have BTCUSD's measured spread. The default is trial 0
of one study (its losses are the design's benchmark column); trial 1 is the design's first trial, ``gain`` better
than the default (0: the null). Prints how often the rule keeps the default under the null and finds trial 1
under 5 % and 10 % gains, at 100, 300, 600 and 2,400 validation origins, with binomial standard errors:

    python benchmarks/select_rule.py                 # the README's table (about 2 minutes)
    python benchmarks/select_rule.py --null-sims 500
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from sweep.runs._select_rule import SIGNIFICANT, apply_rule
from sweep.search.space import default_config
from sweep.search.study import StudyOutcome, TrialLosses

_SPEC = importlib.util.spec_from_file_location("spa_power", Path(__file__).with_name("spa_power.py"))
spa_power = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(spa_power)

#: Level of the SPA against the default (the CLI's default ``--select-alpha``).
ALPHA = 0.10
#: Bootstrap resamples per simulated test.
REPS = 299


def study(default_losses: np.ndarray, trial_losses: np.ndarray, name: str = "BTCUSD.toto") -> StudyOutcome:
    """A study whose trial 0 is the family default and trials 1.. have ``trial_losses`` ``[n_windows, n_trials]``,
    as :func:`sweep.search.study.outcome_of` returns it (its best trial, with ``default_trial`` set)."""
    config = default_config("toto", 512)
    columns = [default_losses, *trial_losses.T]
    trials = [TrialLosses(name, k, "default" if k == 0 else "search", losses, config.to_dict())
              for k, losses in enumerate(columns)]

    def outcome(k: int) -> StudyOutcome:
        return StudyOutcome("BTCUSD", "toto", name, k, config, {"pct_return_mae": float(columns[k].mean())},
                            len(columns), 0, trials=trials)

    best = outcome(min(range(len(columns)), key=lambda k: columns[k].mean()))
    best.default_trial = outcome(0)
    return best


def simulated_study(rng: np.random.Generator, n_windows: int, gain: float) -> StudyOutcome:
    """One simulated study of 30 trials and the default on ``n_windows`` validation origins."""
    default, trials = spa_power.simulate_losses(rng, n_windows=n_windows, n_trials=30, gain=gain, design="btc-like")
    return study(default, trials)


def keep_rate(sims: int, n_windows: int, seed: int) -> float:
    """Share of null sets (no trial better) where the rule keeps the default."""
    rng = np.random.default_rng(seed)
    return float(np.mean([apply_rule(SIGNIFICANT, [simulated_study(rng, n_windows, 0.0)], ALPHA, seed=k,
                                     reps=REPS).record["kept_default"] for k in range(sims)]))


def find_rate(sims: int, n_windows: int, gain: float, seed: int) -> float:
    """Share of sets with trial 1 ``gain`` better where the rule selects exactly trial 1."""
    rng = np.random.default_rng(seed)
    return float(np.mean([apply_rule(SIGNIFICANT, [simulated_study(rng, n_windows, gain)], ALPHA, seed=k,
                                     reps=REPS).chosen.trial_number == 1 for k in range(sims)]))


def _cell(rate: float, sims: int) -> str:
    return f"{rate:.3f} ± {np.sqrt(rate * (1 - rate) / sims):.3f} ({sims})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--null-sims", type=int, default=200)
    parser.add_argument("--power-sims", type=int, nargs=4, default=[100, 60, 40, 20],
                        help="alternative sets at 100, 300, 600 and 2,400 origins (default 100 60 40 20)")
    args = parser.parse_args()
    table = Table(title=f"--select significant at alpha {ALPHA} (btc-like noise, 30 trials, {REPS} reps)")
    for column in ("validation origins", "keeps the default (null)", "finds a 10 % better trial",
                   "finds a 5 % better trial"):
        table.add_column(column, justify="right")
    for n, sims in zip((100, 300, 600, 2400), args.power_sims):
        null = _cell(keep_rate(args.null_sims, n, seed=5), args.null_sims) if n == 100 else "-"
        table.add_row(f"{n:,}", null, _cell(find_rate(sims, n, 0.10, seed=6), sims),
                      _cell(find_rate(sims, n, 0.05, seed=8), sims))
    Console().print(table)


if __name__ == "__main__":
    main()
