"""Facts about the published Kronos checkpoints (torch-free, for the CLI and settings)."""

from __future__ import annotations

from typing import Any

__all__ = ["DEFAULT_KRONOS_MODEL", "DEFAULT_KRONOS_TOKENIZER", "MODEL_CARD", "DEFAULT_MAX_CONTEXT", "TRAINED_METADATA",
           "PRETRAINING"]

DEFAULT_KRONOS_MODEL = "NeoQuasar/Kronos-small"
DEFAULT_KRONOS_TOKENIZER = "NeoQuasar/Kronos-Tokenizer-base"
#: Tokenizer and max context of each published predictor (model cards of NeoQuasar/Kronos-mini, -small, -base).
MODEL_CARD: dict[str, dict[str, Any]] = {
    "NeoQuasar/Kronos-mini": {"tokenizer": "NeoQuasar/Kronos-Tokenizer-2k", "max_context": 2048},
    "NeoQuasar/Kronos-small": {"tokenizer": DEFAULT_KRONOS_TOKENIZER, "max_context": 512},
    "NeoQuasar/Kronos-base": {"tokenizer": DEFAULT_KRONOS_TOKENIZER, "max_context": 512},
}
#: Pretraining cutoff of every published predictor (last day, UTC, inclusive) and its source.
PRETRAINING = ("2024-06-30", "Kronos paper (Shi et al., 2025, 'Kronos: A Foundation Model for the Language of "
                             "Financial Markets'): pretraining data run to June 2024 and include Binance crypto "
                             "hourly bars")
#: ``KronosPredictor``'s default ``max_context``, used for folders that do not state one.
DEFAULT_MAX_CONTEXT = 512
#: Metadata file of a ``python -m kronostraining`` output folder (beside ``tokenizer/`` and ``predictor/``).
TRAINED_METADATA = "kronos.json"
