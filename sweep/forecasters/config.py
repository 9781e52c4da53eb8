"""The inference config that a study searches and a candidate stores."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..stats.aggregate import parse_aggregation, parse_quantile_aggregation
from ..errors import ConfigError
from .registry import FAMILIES
from .kronos.card import KRONOS_SAMPLING_KEYS, check_kronos_sampling

__all__ = ["ForecastConfig", "KRONOS_SAMPLING_KEYS", "check_kronos_sampling"]


@dataclass(frozen=True)
class ForecastConfig:
    """Statistical settings of one forecaster (speed settings are chosen automatically elsewhere).

    Attributes
    ----------
    model : str
        Model family, a key of :data:`sweep.forecasters.registry.FAMILIES`.
    context_length : int
        Bars of history each forecast sees.
    num_samples : int
        Sample paths drawn per origin; 1 for quantile families (they draw no paths).
    aggregate : str
        Aggregation name turning samples or quantiles into a point forecast (see :mod:`sweep.stats.aggregate`).
    seed : int
        Sampling seed; sample ``i`` is the same for every ``num_samples > i``.
    sampling : dict
        Family-specific parameters: Kronos' ``temperature``, ``top_k``, ``top_p`` and ``clip`` (see
        :class:`sweep.forecasters.kronos.sampler.Sampling`); for quantile families, their declared choices
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
    decision: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.model not in FAMILIES:
            raise ConfigError(f"config model {self.model!r} is unknown; use one of {tuple(FAMILIES)}")
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
        family.check_sampling(self.sampling)
        if not isinstance(self.decision, dict) or not all(isinstance(k, str) for k in self.decision):
            raise ConfigError(f"config decision must be a JSON object, got {self.decision!r}")

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        if not self.decision:  # configs of the objectives without a decision keep their documents' shape
            del values["decision"]
        return values

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
        known = {"model", "context_length", "num_samples", "aggregate", "seed", "sampling", "decision"}
        unknown = sorted(set(values) - known)
        missing = sorted({"model", "context_length", "num_samples", "aggregate"} - set(values))
        if unknown or missing:
            raise ConfigError(f"{source}: config keys {unknown} are unknown and {missing} are missing; "
                              f"a config has {sorted(known)}")
        try:
            return cls(**values)
        except ConfigError as e:
            raise ConfigError(f"{source}: {e}") from e
