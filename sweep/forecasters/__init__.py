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
        ``family`` and ``model_id``, plus ``revision`` (hub) or ``checkpoint_sha256`` (local folder).

    Raises
    ------
    ModelLoadError
        If the family is unknown, the model cannot be loaded, or a local checkpoint
        no longer has the recorded hash (it was retrained or replaced since).
    """
    family = identity.get("family")
    if family == "naive":
        return PersistenceForecaster()
    if family != "toto":
        raise ModelLoadError(f"model family {family!r} in {identity} is unknown; expected 'toto' or 'naive'")
    from .toto import TotoForecaster

    forecaster = TotoForecaster(identity["model_id"], revision=identity.get("revision"))
    recorded, loaded = identity.get("checkpoint_sha256"), forecaster.identity().get("checkpoint_sha256")
    if recorded and recorded != loaded:
        raise ModelLoadError(f"checkpoint {identity['model_id']} changed since it was recorded (sha256 {recorded[:12]}… "
                             f"now {str(loaded)[:12]}…); restore it or re-run the sweep that produced this file")
    return forecaster
