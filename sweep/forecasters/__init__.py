"""Model adapters behind one interface; torch loads only inside the adapters that need it."""

from __future__ import annotations

from typing import Any

from ..errors import ModelLoadError
from .base import Forecaster, SampleBatch
from .naive import PersistenceForecaster

__all__ = ["Forecaster", "SampleBatch", "PersistenceForecaster", "forecaster_from_identity"]


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
    family = identity.get("family")
    if family == "naive":
        return PersistenceForecaster()
    if family == "toto":
        from .toto import TotoForecaster

        forecaster: Forecaster = TotoForecaster(identity["model_id"], revision=identity.get("revision"))
    elif family == "kronos":
        from .kronos import KronosForecaster

        forecaster = KronosForecaster(identity["model_id"], identity.get("tokenizer_id"),
                                      revision=identity.get("revision"), max_context=identity.get("max_context"))
    else:
        raise ModelLoadError(f"model family {family!r} in {identity} is unknown; expected 'toto', 'kronos' or 'naive'")
    loaded = forecaster.identity()
    for key, name in (("checkpoint_sha256", identity.get("model_id")),
                      ("tokenizer_checkpoint_sha256", identity.get("tokenizer_id"))):
        recorded = identity.get(key)
        if recorded and recorded != loaded.get(key):
            raise ModelLoadError(f"checkpoint {name} changed since it was recorded (sha256 {recorded[:12]}… "
                                 f"now {str(loaded.get(key))[:12]}…); restore it or re-run the sweep that produced "
                                 f"this file")
    return forecaster
