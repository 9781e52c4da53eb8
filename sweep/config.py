"""The inference config that a study searches and a candidate stores."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .aggregate import parse_aggregation, parse_quantile_aggregation
from .errors import ConfigError
from .forecasters.registry import FAMILIES

__all__ = ["ForecastConfig", "MODEL_FAMILIES", "KRONOS_SAMPLING_KEYS", "check_kronos_sampling"]

MODEL_FAMILIES = tuple(FAMILIES)
#: Keys of a Kronos config's ``sampling`` dict.
KRONOS_SAMPLING_KEYS = ("temperature", "top_k", "top_p", "clip")


def check_kronos_sampling(sampling: dict[str, Any]) -> None:
    """Check a Kronos ``sampling`` dict: known keys, numbers in range, never both filters active.

    Raises
    ------
    ConfigError
        If a key is unknown, a value is out of range (``temperature > 0``, ``top_k >= 0``
        integer, ``0 < top_p <= 1``, ``clip > 0``), or ``top_k > 0`` and ``top_p < 1``
        are both set (upstream silently ignores ``top_p`` then).
    """
    unknown = sorted(set(sampling) - set(KRONOS_SAMPLING_KEYS))
    if unknown:
        raise ConfigError(f"Kronos sampling keys {unknown} are unknown; use {list(KRONOS_SAMPLING_KEYS)}")
    temperature, top_k = sampling.get("temperature", 1.0), sampling.get("top_k", 0)
    top_p, clip = sampling.get("top_p", 1.0), sampling.get("clip", 5.0)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
        raise ConfigError(f"Kronos top_k must be a non-negative integer (0 = off), got {top_k!r}")
    for name, value, ok in (("temperature", temperature, lambda v: v > 0), ("top_p", top_p, lambda v: 0 < v <= 1),
                            ("clip", clip, lambda v: v > 0)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(value):
            raise ConfigError(f"Kronos {name} {value!r} is out of range (temperature > 0, 0 < top_p <= 1, clip > 0)")
    if top_k > 0 and top_p < 1.0:
        raise ConfigError(f"Kronos sampling sets both top_k={top_k} and top_p={top_p}; top_k disables top_p, "
                          f"so set top_p to 1.0 or top_k to 0")


@dataclass(frozen=True)
class ForecastConfig:
    """Statistical settings of one forecaster (speed settings are chosen automatically elsewhere).

    Attributes
    ----------
    model : str
        Model family, one of :data:`MODEL_FAMILIES`.
    context_length : int
        Bars of history each forecast sees.
    num_samples : int
        Sample paths drawn per origin; 1 for quantile families (they draw no paths).
    aggregate : str
        Aggregation name turning samples or quantiles into a point forecast (see :mod:`sweep.aggregate`).
    seed : int
        Sampling seed; sample ``i`` is the same for every ``num_samples > i``.
    sampling : dict
        Family-specific parameters: Kronos' ``temperature``, ``top_k``, ``top_p`` and ``clip`` (see
        :class:`sweep.kronos.sampler.Sampling`); for quantile families, their declared choices
        (:attr:`sweep.forecasters.registry.Family.choices`: ``inputs``, ``weights``); empty otherwise.

    Raises
    ------
    ConfigError
        If a value is invalid.
    """

    model: str
    context_length: int
    num_samples: int
    aggregate: str
    seed: int = 0
    sampling: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.model not in MODEL_FAMILIES:
            raise ConfigError(f"config model {self.model!r} is unknown; use one of {MODEL_FAMILIES}")
        for name in ("context_length", "num_samples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"config {name} must be a positive integer, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"config seed must be a non-negative integer, got {self.seed!r}")
        parse_aggregation(self.aggregate)
        family = FAMILIES[self.model]
        if family.output == "quantiles" and self.num_samples != 1:
            raise ConfigError(f"config num_samples {self.num_samples}: {self.model} predicts quantiles, not paths; "
                              f"set num_samples to 1")
        if family.output == "quantiles":
            parse_quantile_aggregation(self.aggregate)
        if self.model == "kronos":
            check_kronos_sampling(self.sampling)
        else:
            family.check_sampling(self.sampling)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> "ForecastConfig":
        """Build from a JSON object, naming ``source`` (a file) in errors.

        Raises
        ------
        ConfigError
            If keys are missing or unknown, or a value is invalid.
        """
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: a config must be a JSON object, got {type(values).__name__}")
        known = {"model", "context_length", "num_samples", "aggregate", "seed", "sampling"}
        unknown = sorted(set(values) - known)
        missing = sorted({"model", "context_length", "num_samples", "aggregate"} - set(values))
        if unknown or missing:
            raise ConfigError(f"{source}: config keys {unknown} are unknown and {missing} are missing; "
                              f"a config has {sorted(known)}")
        try:
            return cls(**values)
        except ConfigError as e:
            raise ConfigError(f"{source}: {e}") from e
