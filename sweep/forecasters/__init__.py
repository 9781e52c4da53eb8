"""Model adapters behind one interface; torch loads only inside the adapters that need it."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError, ModelLoadError
from .base import Forecaster, QuantileBatch, QuantileForecaster, SampleBatch
from .naive import PersistenceForecaster
from .registry import FAMILIES, Family, family_of, get_family

__all__ = ["Forecaster", "QuantileForecaster", "SampleBatch", "QuantileBatch", "PersistenceForecaster", "FAMILIES",
           "Family", "family_of", "get_family", "forecaster_from_identity"]


def forecaster_from_identity(identity: dict[str, Any]) -> Forecaster:
    """Load the exact model an output file names (its ``model`` block).

    Parameters
    ----------
    identity : dict
        ``family`` and ``model_id``, plus ``revision`` (hub) or ``checkpoint_sha256`` (local folder);
        Kronos adds ``tokenizer_id`` (with its own revision or hash) and ``max_context``.

    Raises
    ------
    ModelLoadError
        If the family is unknown, the model cannot be loaded, or a local checkpoint
        no longer has the recorded hash (it was retrained or replaced since).
    """
    try:
        family = get_family(str(identity.get("family")))
    except ConfigError as e:
        raise ModelLoadError(f"{e} (in the model block {identity})") from e
    forecaster = family.forecaster_class().from_identity(identity)
    loaded = forecaster.identity()
    for key, name in (("checkpoint_sha256", identity.get("model_id")),
                      ("tokenizer_checkpoint_sha256", identity.get("tokenizer_id"))):
        recorded = identity.get(key)
        if recorded and recorded != loaded.get(key):
            raise ModelLoadError(f"checkpoint {name} changed since it was recorded (sha256 {recorded[:12]}… "
                                 f"now {str(loaded.get(key))[:12]}…); restore it or re-run the sweep that produced "
                                 f"this file")
    return forecaster
