"""Facts about the published Kronos checkpoints and its sampling rules (torch-free, for the CLI, settings and
configs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...errors import ConfigError, ModelLoadError

__all__ = ["DEFAULT_KRONOS_MODEL", "DEFAULT_KRONOS_TOKENIZER", "MODEL_CARD", "DEFAULT_MAX_CONTEXT", "TRAINED_METADATA",
           "trained_record", "kronos_context_limit", "PRETRAINING", "KRONOS_SAMPLING_KEYS", "check_kronos_sampling"]

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


def trained_record(model: str, flag: str = "--kronos-model") -> dict[str, Any] | None:
    """The :data:`TRAINED_METADATA` of a ``python -m kronostraining`` folder ``model``, or None for anything else.

    Raises
    ------
    ModelLoadError
        If the file is not valid JSON (the message names ``flag``).
    """
    path = Path(model).expanduser() / TRAINED_METADATA
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ModelLoadError(f"{flag}: {path} is not valid JSON ({e}); re-run kronostraining") from e


def kronos_context_limit(model: str, flag: str = "--kronos-model") -> int:
    """The longest context (bars) of predictor ``model``: a trained folder's ``max_context``, the model card's,
    else :data:`DEFAULT_MAX_CONTEXT`; read without loading weights."""
    trained = trained_record(model, flag) or {}
    return int(trained.get("max_context") or MODEL_CARD.get(model, {}).get("max_context", DEFAULT_MAX_CONTEXT))


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
