"""Define-by-run Optuna search spaces, one function per model family.

Only statistical parameters are searched; speed settings (samples_per_batch,
batch size, dtype) are chosen by the forecaster and recorded. All choices are
categorical grids so that repeated configs hit the sample cache.
"""

from __future__ import annotations

from typing import Callable

import optuna

from .config import ForecastConfig

__all__ = ["CONTEXT_LENGTHS", "NUM_SAMPLES", "AGGREGATIONS", "SPACES", "toto_space", "naive_space", "n_max_samples"]

CONTEXT_LENGTHS = (64, 128, 256, 512, 1024, 2048, 4096)
NUM_SAMPLES = (16, 32, 64, 128, 256)
AGGREGATIONS = (
    "mean",
    "median",
    "trimmed_mean_0.1",
    "trimmed_mean_0.25",
    "winsorized_mean_0.1",
    "winsorized_mean_0.25",
    "quantile_0.45",
    "quantile_0.55",
)


def context_choices(max_context_length: int) -> list[int]:
    """Context lengths of the grid that fit ``max_context_length`` (at least the smallest)."""
    return [c for c in CONTEXT_LENGTHS if c <= max_context_length] or [CONTEXT_LENGTHS[0]]


def toto_space(trial: optuna.Trial, max_context_length: int, seed: int) -> ForecastConfig:
    """Toto: ``context_length``, ``num_samples`` and ``aggregate``."""
    return ForecastConfig(
        model="toto",
        context_length=trial.suggest_categorical("context_length", context_choices(max_context_length)),
        num_samples=trial.suggest_categorical("num_samples", list(NUM_SAMPLES)),
        aggregate=trial.suggest_categorical("aggregate", list(AGGREGATIONS)),
        seed=seed,
    )


def naive_space(trial: optuna.Trial, max_context_length: int, seed: int) -> ForecastConfig:
    """Persistence has nothing to tune: one fixed config."""
    return ForecastConfig(model="naive", context_length=1, num_samples=1, aggregate="mean", seed=seed)


SPACES: dict[str, Callable[[optuna.Trial, int, int], ForecastConfig]] = {"toto": toto_space, "naive": naive_space}


def n_max_samples(family: str) -> int:
    """Paths the sample cache draws per inference: the largest ``num_samples`` the space can ask for."""
    return 1 if family == "naive" else max(NUM_SAMPLES)


def space_size(family: str, max_context_length: int) -> int:
    """Number of distinct configs of a family's space (1 for persistence)."""
    if family == "naive":
        return 1
    return len(context_choices(max_context_length)) * len(NUM_SAMPLES) * len(AGGREGATIONS)
