"""The model families and their checkpoints: the registry (:mod:`.registry`), the ``Forecaster`` interface
(:mod:`.base`), one adapter module per family, our Kronos (:mod:`.kronos`), validated configs (:mod:`.config`),
checkpoint resolution and fingerprints (:mod:`.checkpoints`), paths relative to ``hyperparams/``
(:mod:`.model_paths`), where a training job may write (:mod:`.checkpoint_output`), checkpoint folders a flag refuses
(:mod:`.checkpoint_folders`), which windows a checkpoint has seen (:mod:`.overlap`), and loading the exact model an
output file names (:func:`forecaster_from_identity`). Torch loads only inside the adapters that need it."""

from ._identity import document_loader, forecaster_from_identity
from ._moved import MOVED_MODULES, import_path
from .base import Forecaster, QuantileBatch, QuantileForecaster, SampleBatch, concatenate_batches
from .naive import PersistenceForecaster
from .checkpoint_folders import check_checkpoint_folder, check_horizon
from .checkpoint_output import check_init, check_init_is_not_output, check_output
from .checkpoints import is_hub_id, resolve_checkpoint
from .config import ForecastConfig
from .model_paths import flag_path, portable_document
from .overlap import TRAINING_METADATA, inherited_limits, overlap_flags, overlaps, training_limits, warn_overlaps
from .registry import (DEFAULT_MODELS, FAMILIES, Family, FamilyDefault, KRONOS_NUM_SAMPLES, NUM_SAMPLES, family_of,
                       get_family, register, unregister, variant_label)

__all__ = ["document_loader", "forecaster_from_identity", "MOVED_MODULES", "import_path", "Forecaster", "QuantileBatch",
           "QuantileForecaster", "SampleBatch", "concatenate_batches", "PersistenceForecaster",
           "check_checkpoint_folder", "check_horizon", "check_init", "check_init_is_not_output", "check_output",
           "is_hub_id", "resolve_checkpoint", "ForecastConfig", "flag_path", "portable_document", "TRAINING_METADATA",
           "inherited_limits", "overlap_flags", "overlaps", "training_limits", "warn_overlaps", "DEFAULT_MODELS",
           "FAMILIES", "Family", "FamilyDefault", "KRONOS_NUM_SAMPLES", "NUM_SAMPLES", "family_of", "get_family",
           "register", "unregister", "variant_label"]
