"""Define-by-run Optuna search spaces, one function per model family.

Only statistical parameters are searched; speed settings (samples_per_batch,
batch size, dtype) are chosen by the forecaster and recorded. All choices are
categorical grids so that repeated configs hit the sample cache.
"""

from __future__ import annotations

from typing import Callable

import optuna

from .config import ForecastConfig

__all__ = ["CONTEXT_LENGTHS", "NUM_SAMPLES", "KRONOS_NUM_SAMPLES", "TEMPERATURES", "TOP_KS", "TOP_PS", "CLIPS",
           "AGGREGATIONS", "SPACES", "toto_space", "kronos_space", "naive_space", "n_max_samples"]

CONTEXT_LENGTHS = (64, 128, 256, 512, 1024, 2048, 4096)
NUM_SAMPLES = (16, 32, 64, 128, 256)
#: Kronos draws every path token by token, so its grid stops lower than Toto's.
KRONOS_NUM_SAMPLES = (8, 16, 32, 64, 128)
#: Sampling grids around upstream's defaults (``KronosPredictor.predict``: T=1.0, top_k=0,
#: top_p=0.9, clip=5). ``top_p`` 1.0 is plain sampling from the tempered distribution.
TEMPERATURES = (0.5, 0.7, 0.85, 1.0, 1.15, 1.3)
TOP_KS = (5, 10, 20, 50, 100)
TOP_PS = (0.8, 0.9, 0.95, 0.99, 1.0)
CLIPS = (2.0, 3.0, 5.0, 8.0)
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


def kronos_space(trial: optuna.Trial, max_context_length: int, seed: int) -> ForecastConfig:
    """Kronos: ``context_length`` (up to the checkpoint's max context), ``temperature``, either
    ``top_k`` or ``top_p`` (a conditional choice: the other is off, so never both active),
    ``clip``, ``num_samples`` and ``aggregate``; all on fixed grids so repeats hit the sample cache."""
    context_length = trial.suggest_categorical("context_length", context_choices(max_context_length))
    temperature = trial.suggest_categorical("temperature", list(TEMPERATURES))
    if trial.suggest_categorical("filter", ["top_k", "top_p"]) == "top_k":
        top_k, top_p = trial.suggest_categorical("top_k", list(TOP_KS)), 1.0
    else:
        top_k, top_p = 0, trial.suggest_categorical("top_p", list(TOP_PS))
    return ForecastConfig(
        model="kronos",
        context_length=context_length,
        num_samples=trial.suggest_categorical("num_samples", list(KRONOS_NUM_SAMPLES)),
        aggregate=trial.suggest_categorical("aggregate", list(AGGREGATIONS)),
        seed=seed,
        sampling={"temperature": temperature, "top_k": top_k, "top_p": top_p,
                  "clip": trial.suggest_categorical("clip", list(CLIPS))},
    )


def naive_space(trial: optuna.Trial, max_context_length: int, seed: int) -> ForecastConfig:
    """Persistence has nothing to tune: one fixed config."""
    return ForecastConfig(model="naive", context_length=1, num_samples=1, aggregate="mean", seed=seed)


SPACES: dict[str, Callable[[optuna.Trial, int, int], ForecastConfig]] = {
    "toto": toto_space, "kronos": kronos_space, "naive": naive_space}


def n_max_samples(family: str) -> int:
    """Paths the sample cache draws per inference: the largest ``num_samples`` the space can ask for."""
    return {"naive": 1, "kronos": max(KRONOS_NUM_SAMPLES)}.get(family, max(NUM_SAMPLES))


def space_size(family: str, max_context_length: int) -> int:
    """Number of distinct configs of a family's space (1 for persistence)."""
    if family == "naive":
        return 1
    contexts = len(context_choices(max_context_length))
    if family == "kronos":
        sampling = len(TEMPERATURES) * (len(TOP_KS) + len(TOP_PS)) * len(CLIPS)
        return contexts * sampling * len(KRONOS_NUM_SAMPLES) * len(AGGREGATIONS)
    return contexts * len(NUM_SAMPLES) * len(AGGREGATIONS)
