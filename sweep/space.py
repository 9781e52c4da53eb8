"""Define-by-run Optuna search spaces, one function per model family.

Only statistical parameters are searched; speed settings (samples_per_batch,
batch size, dtype) are chosen by the forecaster and recorded. All choices are
categorical grids so that repeated configs hit the sample cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import optuna

from .config import ForecastConfig
from .errors import ConfigError
from .forecasters.registry import FAMILIES

__all__ = ["CONTEXT_LENGTHS", "NUM_SAMPLES", "KRONOS_NUM_SAMPLES", "TEMPERATURES", "TOP_KS", "TOP_PS", "CLIPS",
           "AGGREGATIONS", "QUANTILE_AGGREGATIONS", "SPACES", "quantile_space", "toto_space", "kronos_space",
           "naive_space", "n_max_samples", "FamilyDefault",
           "FAMILY_DEFAULTS", "default_config", "params_of"]

CONTEXT_LENGTHS = (64, 128, 256, 512, 1024, 2048, 4096)
NUM_SAMPLES = (16, 32, 64, 128, 256)
#: Kronos draws every path token by token, so its grid stops lower than Toto's. 1 is upstream's
#: default ``sample_count`` (``KronosPredictor.predict``), the family default below.
KRONOS_NUM_SAMPLES = (1, 8, 16, 32, 64, 128)
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
#: Point forecasts of quantile families: the mean of the quantiles, or one of the levels every quantile
#: family predicts (Toto 2.0 and Chronos-Bolt: 0.1 ... 0.9; Chronos-2 adds finer tails).
QUANTILE_AGGREGATIONS = ("mean", "median", "quantile_0.4", "quantile_0.6", "quantile_0.3", "quantile_0.7")


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


def quantile_space(family: str) -> Callable[[optuna.Trial, int, int], ForecastConfig]:
    """The space of a quantile family: ``context_length`` (up to the model's maximum), the point
    (:data:`QUANTILE_AGGREGATIONS`) and each of the family's declared choices
    (:attr:`~sweep.forecasters.registry.Family.choices`, e.g. ``inputs`` or ``weights``); no paths, so
    ``num_samples`` is 1 and no sampling parameter exists."""
    choices = FAMILIES[family].choices

    def space(trial: optuna.Trial, max_context_length: int, seed: int) -> ForecastConfig:
        return ForecastConfig(
            model=family,
            context_length=trial.suggest_categorical("context_length", context_choices(max_context_length)),
            num_samples=1,
            aggregate=trial.suggest_categorical("aggregate", list(QUANTILE_AGGREGATIONS)),
            seed=seed,
            sampling={key: trial.suggest_categorical(key, list(values)) for key, values in choices.items()},
        )

    space.__doc__ = f"{family}: ``context_length``, the point quantile or mean" + "".join(
        f", ``{key}``" for key in choices)
    return space


SPACES: dict[str, Callable[[optuna.Trial, int, int], ForecastConfig]] = {
    "toto": toto_space, "kronos": kronos_space, "naive": naive_space,
    **{name: quantile_space(name) for name, f in FAMILIES.items() if f.output == "quantiles"}}


def n_max_samples(family: str) -> int:
    """Paths the sample cache draws per inference: the largest ``num_samples`` the space can ask for."""
    if family == "naive" or FAMILIES[family].output == "quantiles":
        return 1
    return max(KRONOS_NUM_SAMPLES) if family == "kronos" else max(NUM_SAMPLES)


def space_size(family: str, max_context_length: int) -> int:
    """Number of distinct configs of a family's space (1 for persistence)."""
    if family == "naive":
        return 1
    contexts = len(context_choices(max_context_length))
    if FAMILIES[family].output == "quantiles":
        return contexts * len(QUANTILE_AGGREGATIONS) * len(FAMILIES[family].choice_grid())
    if family == "kronos":
        sampling = len(TEMPERATURES) * (len(TOP_KS) + len(TOP_PS)) * len(CLIPS)
        return contexts * sampling * len(KRONOS_NUM_SAMPLES) * len(AGGREGATIONS)
    return contexts * len(NUM_SAMPLES) * len(AGGREGATIONS)


@dataclass(frozen=True)
class FamilyDefault:
    """The untuned config a family's authors use, and where that is documented.

    Attributes
    ----------
    family : str
    context_length : int
        The authors' context; a study with a shorter maximum uses the longest grid value that fits.
    num_samples : int
    aggregate : str
    sampling : dict
    source : str
        The model card or upstream code the values come from.
    """

    family: str
    context_length: int
    num_samples: int
    aggregate: str
    source: str
    sampling: dict[str, Any] = field(default_factory=dict)


#: One documented default per family: every study is warm-started with it, and every candidate is
#: compared with it on the test windows.
FAMILY_DEFAULTS: dict[str, FamilyDefault] = {
    "toto": FamilyDefault(
        "toto", context_length=4096, num_samples=256, aggregate="median",
        source="Toto-Open-Base-1.0 model card, inference example: a 4096-step context, num_samples=256, "
               "the median of the samples as the point forecast"),
    "kronos": FamilyDefault(
        "kronos", context_length=512, num_samples=1, aggregate="mean",
        sampling={"temperature": 1.0, "top_k": 0, "top_p": 0.9, "clip": 5.0},
        source="upstream KronosPredictor defaults: max_context=512, clip=5, predict(T=1.0, top_k=0, top_p=0.9, "
               "sample_count=1), paths averaged"),
    "toto2": FamilyDefault(
        "toto2", context_length=512, num_samples=1, aggregate="median", sampling={"inputs": "close"},
        source="toto-2 2.0.0 README quick start: a 512-step univariate context, one forward pass "
               "(decode_block_size=None); the 0.5 quantile as the point"),
    "chronos2": FamilyDefault(
        "chronos2", context_length=8192, num_samples=1, aggregate="median", sampling={"inputs": "close"},
        source="chronos-forecasting 2.3 Chronos2Pipeline.predict defaults: the model's full context "
               "(8192 for amazon/chronos-2), a univariate target, cross_learning off; predict_quantiles "
               "returns the median as its point"),
    "chronos-bolt": FamilyDefault(
        "chronos-bolt", context_length=2048, num_samples=1, aggregate="median",
        source="chronos-forecasting 2.3 ChronosBoltPipeline.predict: the model's full context (2048 for "
               "amazon/chronos-bolt-base); predict_quantiles returns the median as its point"),
    "fracast": FamilyDefault(
        "fracast", context_length=2048, num_samples=1, aggregate="median", sampling={"weights": "w8"},
        source="fracast 0.1.0 README and FracastModel: from_pretrained() loads the bundled W8 weights by default; "
               "'the model uses the latest 2,048 observations' (weights/config.json W=2048); the only point the "
               "package uses is the median ('longer horizons append median blocks')"),
    "naive": FamilyDefault("naive", context_length=1, num_samples=1, aggregate="mean",
                           source="persistence: the last close for every step"),
}


def default_config(family: str, max_context_length: int, seed: int = 0) -> ForecastConfig:
    """The family's documented default as a config of its search space.

    The context is the default's, or the longest grid value within ``max_context_length``.

    Raises
    ------
    ConfigError
        If ``family`` has no documented default.
    """
    if family not in FAMILY_DEFAULTS:
        raise ConfigError(f"model family {family!r} has no documented default; known: {sorted(FAMILY_DEFAULTS)}")
    d = FAMILY_DEFAULTS[family]
    context = d.context_length if family == "naive" else max(
        c for c in context_choices(max_context_length) if c <= max(d.context_length, CONTEXT_LENGTHS[0]))
    return ForecastConfig(model=family, context_length=context, num_samples=d.num_samples, aggregate=d.aggregate,
                          seed=seed, sampling=dict(d.sampling))


def params_of(config: ForecastConfig, max_context_length: int) -> dict[str, Any]:
    """The Optuna parameters under which the family's space suggests ``config`` (for ``enqueue_trial``).

    Raises
    ------
    ConfigError
        If the config is not a point of the space (a value off its grid, or a context above
        ``max_context_length``), so a study could not try it.
    """
    params: dict[str, Any] = {}
    family = FAMILIES[config.model]
    quantiles = family.output == "quantiles"
    if config.model != "naive":
        params = {"context_length": config.context_length, "aggregate": config.aggregate,
                  **({"num_samples": config.num_samples} if not quantiles else {})}
    if quantiles:
        params.update({key: family.choice(config.sampling, key) for key in family.choices})
    if config.model == "kronos":
        s = config.sampling
        active = {"filter": "top_k", "top_k": s.get("top_k", 0)} if s.get("top_k", 0) > 0 else \
            {"filter": "top_p", "top_p": s.get("top_p", 1.0)}
        params.update(temperature=s.get("temperature", 1.0), clip=s.get("clip", 5.0), **active)
    grids = {"context_length": context_choices(max_context_length), "num_samples":
             KRONOS_NUM_SAMPLES if config.model == "kronos" else NUM_SAMPLES,
             "aggregate": QUANTILE_AGGREGATIONS if quantiles else AGGREGATIONS, **family.choices,
             "temperature": TEMPERATURES, "top_k": TOP_KS, "top_p": TOP_PS, "clip": CLIPS}
    off_grid = {k: v for k, v in params.items() if k in grids and v not in grids[k]}
    if off_grid or SPACES[config.model](optuna.trial.FixedTrial(params), max_context_length, config.seed) != config:
        raise ConfigError(f"config {config.to_dict()} is not in the {config.model} search space (off-grid values "
                          f"{off_grid}, max context {max_context_length}); a study cannot enqueue it")
    return params
