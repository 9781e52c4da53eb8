"""The model families: one entry each, read by configs, spaces, the CLI, candidates and ``predict``.

A family joins by adding one forecaster module and one :class:`Family` entry here.
Nothing in this module imports torch or a model package; :meth:`Family.load` imports
the family's module when a model is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product
from typing import Any, Callable

from ..errors import ConfigError
from ._moved import import_path
from .family_types import CheckpointKind, FamilyDefault
from .kronos.card import (DEFAULT_KRONOS_MODEL, MODEL_CARD as KRONOS_CARD, PRETRAINING as KRONOS_PRETRAINING,
                          check_kronos_sampling)

__all__ = ["Family", "FamilyDefault", "CheckpointKind", "FAMILIES", "register", "unregister", "NUM_SAMPLES",
           "KRONOS_NUM_SAMPLES", "DEFAULT_MODELS", "VARIANTS", "FRACAST_BUNDLED", "FRACAST_HUB_ID", "family_of",
           "get_family", "variant_label", "draws_once", "SHORTER_HORIZONS"]


#: Paths a sample family's search tries per forecast (Toto's grid).
NUM_SAMPLES = (16, 32, 64, 128, 256)
#: Kronos draws every path token by token, so its grid stops lower than Toto's. 1 is upstream's
#: default ``sample_count`` (``KronosPredictor.predict``), the family default.
KRONOS_NUM_SAMPLES = (1, 8, 16, 32, 64, 128)
#: What :attr:`Family.shorter_horizons` may be.
SHORTER_HORIZONS = ("exact", "approximate")


@dataclass(frozen=True)
class Family:
    """A model family.

    Attributes
    ----------
    name : str
        Family name in ``--models``, configs and outputs.
    module, class_name : str
        Where its :class:`~sweep.forecasters.base.Forecaster` lives.
    output : str
        ``"samples"`` or ``"quantiles"``.
    flag : str or None
        The CLI flag naming its checkpoint (``--toto-model``); None for persistence.
    default_model : str or None
        Hub id used when the flag is not given, or the name of weights its package ships
        (:data:`FRACAST_BUNDLED`).
    choices : dict
        ``{sampling key: choices}`` of a quantile family's config (``inputs``: which bars it reads;
        ``weights``: which of its weight files; a package's boolean flags, e.g. TimesFM's
        ``normalize_inputs``); each key is searched, and its first choice is the default. Empty when the
        family has none.
    pretraining_cutoffs : dict
        ``{model id: (cutoff, source)}`` of its published checkpoints: the last day of pretraining
        data (``YYYY-MM-DD``, UTC, inclusive), or None where the publisher documents none, and where
        that is documented (read by :mod:`sweep.forecasters.overlap`).
    trainer : str or None
        Package of its fine-tuning job (``--finetune``); None when the project has none.
    checkpoint : CheckpointKind or None
        The folder :attr:`trainer` writes (given with a trainer), so no other job overwrites it and no other
        family's flag loads it.
    default : FamilyDefault or None
        Its documented untuned config: every study is warm-started with it and every candidate is compared
        with it on the test windows.
    num_samples : tuple of int
        The path counts its search tries (a sample family's; quantile families draw no paths).
    space : str or None
        ``"module:Class"`` of a search space of its own (:mod:`sweep.search.space`); None: the generic space of
        its output (context, paths and point for samples; context, point and choices for quantiles).
    sampling_rules : callable or None
        Checks a config's ``sampling`` dict of a family with sampling parameters of its own (Kronos'
        temperature and filters); None: only the keys of :attr:`choices`.
    options : dict
        ``{name: (flag, help)}`` of further checkpoints its loader takes (Kronos' ``tokenizer``,
        ``--kronos-tokenizer``); passed to :meth:`load` as keyword arguments and recorded in a model block
        as ``<name>_id``.
    flag_help : str
        What :attr:`flag` accepts (shown by ``--help``).
    shorter_horizons : str
        ``"exact"``: the first ``h`` steps of a forecast drawn at a longer horizon equal a direct forecast at ``h``
        up to float32 rounding (rtol 1e-5, atol 1e-6 on prices), as autoregressive paths seeded per window and
        drawn step by step in order, and direct quantile heads whose steps do not depend on the requested length,
        give; a run with several ``--horizons`` then draws once, at the longest (:func:`draws_once`).
        ``"approximate"``: they only approximate it (output tokens that attend to each other, random numbers drawn
        per path for the whole horizon at once, a path block sized by the horizon), so such a run draws each
        horizon on its own (the default: a family registered without a measurement draws what it is asked).
        Measured for every family by ``tests/forecasters/test_horizon_prefix.py``.

    Raises
    ------
    ValueError
        If only one of :attr:`trainer` and :attr:`checkpoint` is given, the checkpoint names another trainer, or
        :attr:`shorter_horizons` is not one of :data:`SHORTER_HORIZONS`.
    """

    name: str
    module: str
    class_name: str
    output: str = "samples"
    flag: str | None = None
    default_model: str | None = None
    choices: dict[str, tuple[Any, ...]] = field(default_factory=dict, hash=False)
    pretraining_cutoffs: dict[str, tuple[str | None, str]] = field(default_factory=dict, hash=False)
    trainer: str | None = None
    checkpoint: CheckpointKind | None = field(default=None, hash=False)
    default: FamilyDefault | None = field(default=None, hash=False)
    num_samples: tuple[int, ...] = NUM_SAMPLES
    space: str | None = None
    sampling_rules: Callable[[dict[str, Any]], None] | None = field(default=None, hash=False, compare=False)
    options: dict[str, tuple[str, str]] = field(default_factory=dict, hash=False)
    flag_help: str = "hub id or checkpoint folder"
    shorter_horizons: str = "approximate"

    def __post_init__(self):
        if self.shorter_horizons not in SHORTER_HORIZONS:
            raise ValueError(f"family {self.name!r}: shorter_horizons {self.shorter_horizons!r} is neither "
                             f"{' nor '.join(map(repr, SHORTER_HORIZONS))}; measure it (tests/forecasters/"
                             "test_horizon_prefix.py) and set one")
        if (self.trainer is None) != (self.checkpoint is None) or (self.checkpoint and
                                                                    self.checkpoint.command != self.trainer):
            raise ValueError(f"family {self.name!r}: a trainer ({self.trainer!r}) and the checkpoint it writes "
                             f"({self.checkpoint!r}) go together, and the checkpoint names that trainer")

    def forecaster_class(self):
        """The forecaster class (imports the family's module, and with it torch)."""
        return getattr(import_path(self.module), self.class_name)

    def load(self, model: str | None = None, **kwargs: Any):
        """Load ``model`` (hub id or folder; default :attr:`default_model`) as this family's forecaster.

        Raises
        ------
        ModelLoadError
            If the model cannot be loaded (the message names :attr:`flag`).
        """
        cls = self.forecaster_class()
        return cls() if self.flag is None else cls(model or self.default_model, **kwargs)

    def context_limit(self, model: str | None = None, **options: Any) -> int:
        """The longest context (bars) of ``model`` (default :attr:`default_model`), read without loading weights
        (:meth:`sweep.forecasters.base.Forecaster.context_limit`; imports the family's module).

        Raises
        ------
        ModelLoadError
            If the checkpoint's config cannot be found or read.
        """
        return self._read_limit("context_limit", model, options)

    def horizon_limit(self, model: str | None = None, **options: Any) -> int | None:
        """The longest horizon (bars) of ``model``, or None: any; read as :meth:`context_limit` is, and raises as it
        does (:meth:`sweep.forecasters.base.Forecaster.horizon_limit`)."""
        return self._read_limit("horizon_limit", model, options)

    def _read_limit(self, name: str, model: str | None, options: dict[str, Any]) -> int | None:
        read = getattr(self.forecaster_class(), name)
        return read() if self.flag is None else read(model or self.default_model, **options)

    def choice(self, sampling: dict[str, Any], key: str) -> Any:
        """The config's choice for ``key`` (one of :attr:`choices`), or its default (the first)."""
        return sampling.get(key, self.choices[key][0])

    def choice_grid(self) -> list[dict[str, Any]]:
        """Every combination of :attr:`choices` as a ``sampling`` dict (``[{}]`` when there is none)."""
        return [dict(zip(self.choices, values)) for values in product(*self.choices.values())]

    def check_sampling(self, sampling: dict[str, Any]) -> None:
        """Check a config's ``sampling`` dict: by :attr:`sampling_rules`, else only the keys of :attr:`choices`,
        each one of its choices.

        Raises
        ------
        ConfigError
            If a key is unknown or a value is not one of its choices (or breaks the family's rules).
        """
        if self.sampling_rules is not None:
            self.sampling_rules(sampling)
            return
        unknown = sorted(set(sampling) - set(self.choices))
        if unknown:
            allowed = f"only {dict(self.choices)}" if self.choices else "none"
            raise ConfigError(f"config sampling keys {unknown} are unknown for {self.name}; it takes {allowed}")
        for key, values in self.choices.items():
            value = self.choice(sampling, key)
            if not any(value == v and type(value) is type(v) for v in values):  # 1 is not True here
                raise ConfigError(f"{self.name} {key} {sampling[key]!r} is unknown; use one of {list(values)}")


#: ``--fracast-model`` when none is given: the Fracast-0 weights the ``fracast`` package ships in its wheel
#: (``FracastModel.from_pretrained()`` without arguments; no download).
FRACAST_BUNDLED = "bundled:fracast-0"
#: The hub repository the fracast 0.1.0 README names for the same release.
FRACAST_HUB_ID = "ztxtech/fracast-0"
_FRACAST_PRETRAINING = (None, "fracast 0.1.0 README (PyPI METADATA): pretrained on Salesforce/GiftEvalPretrain, "
                              "Salesforce/lotsa_data, autogluon/chronos_datasets, Datadog/BOOM and "
                              "autogluon/fev_datasets at pinned hub revisions plus TinyCast synthetic shards; no "
                              "cutoff date in the README, METADATA or weights/config.json")
_TOTO_PRETRAINING = (None, "Toto-Open-Base-1.0 model card: Datadog observability metrics, GiftEvalPretrain, "
                           "Chronos datasets and synthetic data; no cutoff date")

FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("toto", "sweep.forecasters.toto", "TotoForecaster", flag="--toto-model",
           flag_help="Hugging Face id or local checkpoint folder",
           # a patch's steps are sampled in one draw laid out by the horizon; past one patch another decoder draws
           shorter_horizons="approximate",
           default_model="Datadog/Toto-Open-Base-1.0", trainer="tototraining",
           # the Toto constructor arguments (``scaler_cls`` is Toto's own) and training.json
           checkpoint=CheckpointKind("Toto", "tototraining", ("config.json", "model.safetensors", "training.json"),
                                     (), (), ("config.json", "scaler_cls", None)),
           pretraining_cutoffs={"Datadog/Toto-Open-Base-1.0": _TOTO_PRETRAINING},
           default=FamilyDefault(
               "toto", context_length=4096, num_samples=256, aggregate="median",
               source="Toto-Open-Base-1.0 model card, inference example: a 4096-step context, num_samples=256, "
                      "the median of the samples as the point forecast")),
    Family("kronos", "sweep.forecasters.kronos", "KronosForecaster", flag="--kronos-model",
           default_model=DEFAULT_KRONOS_MODEL, trainer="kronostraining",
           # path blocks (random layout) sized by the horizon's memory; near max_context the decode window slides
           shorter_horizons="approximate",
           # kronos.json beside the two modules' folders
           checkpoint=CheckpointKind("Kronos", "kronostraining", ("kronos.json",), ("tokenizer", "predictor"), (),
                                     ("kronos.json", "max_context", None)),
           pretraining_cutoffs={model: KRONOS_PRETRAINING for model in KRONOS_CARD},
           num_samples=KRONOS_NUM_SAMPLES, space="sweep.search.space:KronosSpace", sampling_rules=check_kronos_sampling,
           flag_help="Kronos predictor: hub id, checkpoint folder or kronostraining output",
           options={"tokenizer": ("--kronos-tokenizer", "Kronos tokenizer: hub id or folder (default: the model "
                                                        "card's, or the training output's)")},
           default=FamilyDefault(
               "kronos", context_length=512, num_samples=1, aggregate="mean",
               sampling={"temperature": 1.0, "top_k": 0, "top_p": 0.9, "clip": 5.0},
               source="upstream KronosPredictor defaults: max_context=512, clip=5, predict(T=1.0, top_k=0, "
                      "top_p=0.9, sample_count=1), paths averaged")),
    Family("toto2", "sweep.forecasters.toto2", "Toto2Forecaster", output="quantiles", flag="--toto2-model",
           default_model="Datadog/Toto-2.0-22m", choices={"inputs": ("close", "ohlcv")},
           shorter_horizons="exact",  # one pass, causal over time: later future patches never reach earlier ones
           default=FamilyDefault(
               "toto2", context_length=512, num_samples=1, aggregate="median", sampling={"inputs": "close"},
               source="toto-2 2.0.0 README quick start: a 512-step univariate context, one forward pass "
                      "(decode_block_size=None); the 0.5 quantile as the point")),
    Family("chronos2", "sweep.forecasters.chronos", "Chronos2Forecaster", output="quantiles",
           flag="--chronos2-model", default_model="amazon/chronos-2", choices={"inputs": ("close", "covariates")},
           shorter_horizons="approximate",  # its output patch tokens attend to each other: one more changes the first
           trainer="chronostraining",
           # Chronos2Pipeline.save_pretrained (weights possibly sharded) and training.json
           checkpoint=CheckpointKind("Chronos-2", "chronostraining", ("config.json", "training.json"), (),
                                     ("model*.safetensors", "model.safetensors.index.json"),
                                     ("config.json", "chronos_pipeline_class", "Chronos2Pipeline")),
           default=FamilyDefault(
               "chronos2", context_length=8192, num_samples=1, aggregate="median", sampling={"inputs": "close"},
               source="chronos-forecasting 2.3 Chronos2Pipeline.predict defaults: the model's full context "
                      "(8192 for amazon/chronos-2), a univariate target, cross_learning off; predict_quantiles "
                      "returns the median as its point")),
    Family("chronos-bolt", "sweep.forecasters.chronos", "ChronosBoltForecaster", output="quantiles",
           flag="--chronos-bolt-model", default_model="amazon/chronos-bolt-base",
           # its head always forecasts the model's prediction_length, then cut; longer ones roll on, appending
           shorter_horizons="exact",
           default=FamilyDefault(
               "chronos-bolt", context_length=2048, num_samples=1, aggregate="median",
               source="chronos-forecasting 2.3 ChronosBoltPipeline.predict: the model's full context (2048 for "
                      "amazon/chronos-bolt-base); predict_quantiles returns the median as its point")),
    # "w8" first: the package's own default (FracastModel.from_pretrained(weights="w8"))
    Family("fracast", "sweep.forecasters.fracast", "FracastForecaster", output="quantiles", flag="--fracast-model",
           default_model=FRACAST_BUNDLED, choices={"weights": ("w8", "fp32")},
           shorter_horizons="exact",  # fixed 48-step quantile blocks, then cut; longer horizons append median blocks
           pretraining_cutoffs={FRACAST_BUNDLED: _FRACAST_PRETRAINING, FRACAST_HUB_ID: _FRACAST_PRETRAINING},
           default=FamilyDefault(
               "fracast", context_length=2048, num_samples=1, aggregate="median", sampling={"weights": "w8"},
               source="fracast 0.1.0 README and FracastModel: from_pretrained() loads the bundled W8 weights by "
                      "default; 'the model uses the latest 2,048 observations' (weights/config.json W=2048); the "
                      "only point the package uses is the median ('longer horizons append median blocks')")),
    # the flags of the package's ForecastConfig; each first value is the quick start's
    Family("timesfm", "sweep.forecasters.timesfm", "TimesFMForecaster", output="quantiles", flag="--timesfm-model",
           default_model="google/timesfm-2.5-200m-pytorch",
           shorter_horizons="exact",  # causal decoder, whole output patches and a per-step quantile head, then cut
           choices={"normalize_inputs": (True, False), "force_flip_invariance": (True, False),
                    "fix_quantile_crossing": (True, False)},
           default=FamilyDefault(
               "timesfm", context_length=1024, num_samples=1, aggregate="median",
               sampling={"normalize_inputs": True, "force_flip_invariance": True, "fix_quantile_crossing": True},
               source="google-research/timesfm README code example for TimesFM 2.5 (timesfm 2.x): ForecastConfig("
                      "max_context=1024, max_horizon=256, normalize_inputs=True, use_continuous_quantile_head=True, "
                      "force_flip_invariance=True, infer_is_positive=True, fix_quantile_crossing=True); its "
                      "point_forecast is the 0.5 quantile")),
    # the package's test-time augmentations, passed on every call; each first value is TiRex2's own default
    Family("tirex2", "sweep.forecasters.tirex2", "TiRex2Forecaster", output="quantiles", flag="--tirex2-model",
           default_model="NX-AI/TiRex-2", choices={"tta_sign_flip": (False, True), "tta_diff": (True, False)},
           shorter_horizons="exact",  # one pass forecasts the checkpoint's whole future_len, then cut
           default=FamilyDefault(
               "tirex2", context_length=2048, num_samples=1, aggregate="median",
               sampling={"tta_sign_flip": False, "tta_diff": True},
               source="tirex-2 0.4.0 README quick start: load_model('NX-AI/TiRex-2') and model.forecast([ts], "
                      "prediction_length), the whole history padded or cut to the model's context_len (2048 in the "
                      "package's full-size test model; a checkpoint with less uses its own); TiRex2 defaults "
                      "tta_sign_flip=False ('opt-in', docs/how-to/forecasting.md) and tta_diff=True; the median "
                      "is forecast_df's 'prediction'")),
    Family("garch", "sweep.forecasters.garch", "GarchForecaster", output="quantiles",
           # step 1 is analytic, later steps simulated: arch draws each path's shocks for the whole horizon at once
           shorter_horizons="approximate",
           space="sweep.search.garch_space:GarchSpace", choices={"mean": ("zero", "constant"),
           "vol": ("garch", "gjr", "egarch"), "dist": ("t", "normal", "skewt"), "refit_every": (24, 168, 1)},
           default=FamilyDefault("garch", context_length=2024, num_samples=1, aggregate="median", sampling={
               "mean": "zero", "vol": "garch", "dist": "t", "refit_every": 24}, source=(
               "Hansen & Lunde (2005, J. Appl. Econometrics 20(7)): no ARCH-type model beats GARCH(1,1) on exchange "
               "rates (leverage ones do on a stock: gjr, egarch); Bollerslev (1987, Rev. Econ. Stat. 69(3)): t errors "
               "for fat tails; zero mean; ours: 2000 hourly returns refitted daily (context 2024); median as point"))),
    # its point is always the last close; its distribution is the empirical random walk of its context's returns
    Family("naive", "sweep.forecasters.naive", "PersistenceForecaster", output="quantiles",
           space="sweep.search.space:PersistenceSpace", num_samples=(1,),
           shorter_horizons="exact",  # step k's quantiles read the context's k-bar returns alone
           default=FamilyDefault("naive", context_length=1, num_samples=1, aggregate="mean",
                                 source="persistence: the last close for every step; under a distribution objective, "
                                        "the last close times (1 + the empirical quantiles of the last 720 hourly "
                                        "returns), the empirical random walk")),
)}

#: ``--models`` when none is given: Toto, Kronos and the persistence baseline. A newer family joins when its
#: default-shaped study costs no more than Toto's on a CPU (``benchmarks/family_cost.py``); none does yet
#: (TimesFM 2.5 14x, TiRex-2 7.5x, Chronos-2 9x, Toto 2.0 2.7x, Chronos-Bolt 1.5x).
DEFAULT_MODELS: tuple[str, ...] = ("toto", "kronos", "naive")


def draws_once(family: str) -> bool:
    """Whether a run with several horizons draws ``family``'s forecasts once, at the longest, and scores each
    shorter horizon from its first steps: True when :attr:`Family.shorter_horizons` is ``"exact"``.

    Parameters
    ----------
    family : str
        A family name or a fine-tuned variant's label (``"toto-ft"``: its family's flag).

    Raises
    ------
    ConfigError
        If the family is unknown.
    """
    return get_family(family).shorter_horizons == "exact"


def variant_label(family: str) -> str:
    """Study label of ``family``'s fine-tuned variant (``"toto"`` -> ``"toto-ft"``)."""
    return f"{family}-ft"


#: Fine-tuned variants: study label -> family (``--finetune``).
VARIANTS: dict[str, str] = {variant_label(name): name for name, f in FAMILIES.items() if f.trainer}


def register(family: Family) -> Family:
    """Add ``family`` to :data:`FAMILIES` (and its fine-tuned variant to :data:`VARIANTS`) at run time: a family
    defined outside this module (a plugin, a test) then has its ``--models`` choice, its flags, its space,
    its default and its loading, as the built-in ones do (they all read the registry live).

    Raises
    ------
    ConfigError
        If a family or variant of that name is registered already, or ``family.output`` is neither
        ``"samples"`` nor ``"quantiles"``.
    """
    if family.name in FAMILIES or family.name in VARIANTS:
        raise ConfigError(f"model family {family.name!r} is registered already")
    if family.output not in ("samples", "quantiles"):
        raise ConfigError(f"model family {family.name!r}: output {family.output!r} is neither 'samples' nor "
                          "'quantiles'")
    FAMILIES[family.name] = family
    if family.trainer:
        VARIANTS[variant_label(family.name)] = family.name
    return family


def unregister(name: str) -> None:
    """Remove family ``name`` (and its variant) from the registry; the inverse of :func:`register`."""
    FAMILIES.pop(name, None)
    VARIANTS.pop(variant_label(name), None)


def family_of(label: str) -> str:
    """Model family of a study's model label (``"toto-ft"`` -> ``"toto"``; families map to themselves)."""
    return VARIANTS.get(label, label)


def get_family(name: str) -> Family:
    """The registry entry of family (or variant label) ``name``.

    Raises
    ------
    ConfigError
        If it is unknown.
    """
    family = FAMILIES.get(family_of(name))
    if family is None:
        raise ConfigError(f"model family {name!r} is unknown; choose from {list(FAMILIES)}")
    return family
