"""The model families: one entry each, read by configs, spaces, the CLI, candidates and ``predict``.

A family joins by adding one forecaster module and one :class:`Family` entry here.
Nothing in this module imports torch or a model package; :meth:`Family.load` imports
the family's module when a model is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any

from ..errors import ConfigError
from ..kronos.card import DEFAULT_KRONOS_MODEL

__all__ = ["Family", "FAMILIES", "DEFAULT_MODELS", "VARIANTS", "family_of", "get_family", "variant_label"]


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
        Hub id used when the flag is not given.
    inputs : tuple of str
        Choices of the config's ``sampling["inputs"]`` (which bars a quantile family reads); empty
        when the family has no such choice. The first is the default.
    trainer : str or None
        Package of its fine-tuning job (``--finetune``); None when the project has none.
    """

    name: str
    module: str
    class_name: str
    output: str = "samples"
    flag: str | None = None
    default_model: str | None = None
    inputs: tuple[str, ...] = ()
    trainer: str | None = None

    def forecaster_class(self):
        """The forecaster class (imports the family's module, and with it torch)."""
        return getattr(import_module(self.module), self.class_name)

    def load(self, model: str | None = None, **kwargs: Any):
        """Load ``model`` (hub id or folder; default :attr:`default_model`) as this family's forecaster.

        Raises
        ------
        ModelLoadError
            If the model cannot be loaded (the message names :attr:`flag`).
        """
        cls = self.forecaster_class()
        return cls() if self.flag is None else cls(model or self.default_model, **kwargs)

    def check_inputs(self, sampling: dict[str, Any]) -> None:
        """Check a non-Kronos config's ``sampling`` dict: only ``inputs``, and only for families that choose them.

        Raises
        ------
        ConfigError
            If a key is unknown or ``inputs`` is not one of :attr:`inputs`.
        """
        unknown = sorted(set(sampling) - ({"inputs"} if self.inputs else set()))
        if unknown:
            allowed = f"only 'inputs' ({list(self.inputs)})" if self.inputs else "none"
            raise ConfigError(f"config sampling keys {unknown} are unknown for {self.name}; it takes {allowed}")
        if self.inputs and sampling.get("inputs", self.inputs[0]) not in self.inputs:
            raise ConfigError(f"{self.name} inputs {sampling['inputs']!r} is unknown; use one of {list(self.inputs)}")


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("toto", "sweep.forecasters.toto", "TotoForecaster", flag="--toto-model",
           default_model="Datadog/Toto-Open-Base-1.0", trainer="tototraining"),
    Family("kronos", "sweep.forecasters.kronos", "KronosForecaster", flag="--kronos-model",
           default_model=DEFAULT_KRONOS_MODEL, trainer="kronostraining"),
    Family("toto2", "sweep.forecasters.toto2", "Toto2Forecaster", output="quantiles", flag="--toto2-model",
           default_model="Datadog/Toto-2.0-22m", inputs=("close", "ohlcv")),
    Family("chronos2", "sweep.forecasters.chronos", "Chronos2Forecaster", output="quantiles",
           flag="--chronos2-model", default_model="amazon/chronos-2", inputs=("close", "covariates"),
           trainer="chronostraining"),
    Family("chronos-bolt", "sweep.forecasters.chronos", "ChronosBoltForecaster", output="quantiles",
           flag="--chronos-bolt-model", default_model="amazon/chronos-bolt-base"),
    Family("naive", "sweep.forecasters.naive", "PersistenceForecaster"),
)}

#: ``--models`` when none is given: Toto, Kronos and the persistence baseline. A newer family joins when its
#: default-shaped study costs no more than Toto's on a CPU (``benchmarks/family_cost.py``); none does yet.
DEFAULT_MODELS: tuple[str, ...] = ("toto", "kronos", "naive")


def variant_label(family: str) -> str:
    """Study label of ``family``'s fine-tuned variant (``"toto"`` -> ``"toto-ft"``)."""
    return f"{family}-ft"


#: Fine-tuned variants: study label -> family (``--finetune``).
VARIANTS: dict[str, str] = {variant_label(name): name for name, f in FAMILIES.items() if f.trainer}


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
