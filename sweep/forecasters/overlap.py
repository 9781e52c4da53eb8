"""Has a model seen the bars it is scored on? Pretraining cutoffs and local training ranges.

A published checkpoint pretrained on data up to a date has, in effect, seen every
window before that date; a checkpoint trained here (``tototraining``,
``kronostraining``, ``--finetune``) has seen every bar up to the last one it was
trained on. Scores on such windows are not out of sample, so candidates flag
them and the walk-forward backtest refuses them unless told otherwise.

Torch-free: reads the model cards of the family registry and the training jobs' JSON records.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from .registry import FAMILIES
from .kronos.card import TRAINED_METADATA as KRONOS_METADATA

__all__ = ["PRETRAINING_CUTOFFS", "TRAINING_METADATA", "UNKNOWN", "pretraining_cutoff", "training_limits", "inherited_limits",
           "overlap_flags", "overlaps", "warn_overlaps"]

logger = logging.getLogger(__name__)

#: Metadata file a ``tototraining`` or ``chronostraining`` checkpoint folder holds beside its weights (written last).
TRAINING_METADATA = "training.json"

#: Last day of documented pretraining data per published checkpoint (inclusive, UTC), with its source;
#: ``None`` where the publisher documents no date (each family's card in the registry).
PRETRAINING_CUTOFFS: dict[str, tuple[str | None, str]] = {
    model_id: cutoff for family in FAMILIES.values() for model_id, cutoff in family.pretraining_cutoffs.items()}


#: The pretraining cutoff of a pretrained checkpoint whose publisher documents none: its overlap with any window is
#: unknown, never "no overlap".
UNKNOWN = "unknown"


def pretraining_cutoff(model_id: str) -> str:
    """Documented pretraining cutoff (``YYYY-MM-DD``) of a published checkpoint, or :data:`UNKNOWN`."""
    return PRETRAINING_CUTOFFS.get(model_id, (None, ""))[0] or UNKNOWN


def _metadata(folder: Path) -> dict[str, Any] | None:
    """The training record of a local checkpoint folder (Toto's, or a Kronos output's, also one level up)."""
    for path in (folder / TRAINING_METADATA, folder / KRONOS_METADATA, folder.parent / KRONOS_METADATA):
        if path.is_file():
            try:
                return json.loads(path.read_text())
            except json.JSONDecodeError:
                return None
    return None


def _last_bar(record: dict[str, Any]) -> str | None:
    """``trained_until``, or for records written before it existed, the latest ``last_bar`` they list."""
    if record.get("trained_until"):
        return record["trained_until"]
    rows = record.get("data") or list((record.get("symbols") or {}).values())
    bars = [r["last_bar"] for r in rows if isinstance(r, dict) and r.get("last_bar")]
    return max(bars, key=pd.Timestamp) if bars else None


def training_limits(model_id: str) -> dict[str, str | None]:
    """What a model has seen: ``pretraining_cutoff`` (day) and ``trained_until`` (last bar, ISO time).

    Parameters
    ----------
    model_id : str
        A hub id, or a local checkpoint folder written by a training job (its record is read).
    """
    folder = Path(model_id).expanduser()
    if folder.is_dir():
        record = _metadata(folder) or {}
        return {"pretraining_cutoff": record.get("pretraining_cutoff"), "trained_until": _last_bar(record)}
    return {"pretraining_cutoff": pretraining_cutoff(model_id), "trained_until": None}


def inherited_limits(init: str, last_bars: list[str]) -> dict[str, str | None]:
    """The limits a training job records: the init's pretraining cutoff, and the later of its
    ``trained_until`` and the last bar trained on now (``last_bars``, ISO times)."""
    limits = {"pretraining_cutoff": None, "trained_until": None} if init == "scratch" else training_limits(init)
    bars = [b for b in (*last_bars, limits["trained_until"]) if b]
    return {"pretraining_cutoff": limits["pretraining_cutoff"],
            "trained_until": max(bars, key=pd.Timestamp) if bars else None}


def overlaps(first_window_time: str, limits: dict[str, str | None]) -> dict[str, bool | str]:
    """Which limits a block of windows starting at ``first_window_time`` (an origin's bar time) breaks.

    Returns
    -------
    dict
        ``pretraining`` (the window starts on or before the cutoff day; :data:`UNKNOWN` for a pretrained model
        whose cutoff is undocumented) and ``training`` (on or before the last bar trained on); False where
        there is no limit (a model trained from scratch, or not trained here).
    """
    start = pd.Timestamp(first_window_time)
    start = start.tz_localize("UTC") if start.tzinfo is None else start
    out: dict[str, bool | str] = {"pretraining": False, "training": False}
    if limits.get("pretraining_cutoff") == UNKNOWN:
        out["pretraining"] = UNKNOWN
    elif limits.get("pretraining_cutoff"):
        out["pretraining"] = start.normalize() <= pd.Timestamp(limits["pretraining_cutoff"], tz="UTC")
    if limits.get("trained_until"):
        trained = pd.Timestamp(limits["trained_until"])
        out["training"] = start <= (trained.tz_localize("UTC") if trained.tzinfo is None else trained)
    return out


def overlap_flags(identities: list[dict[str, Any]], windows: dict[str, Any]) -> dict[str, Any]:
    """The overlap keys of a candidate whose members have ``identities``, scored on ``windows``.

    Pretraining overlap is judged on the test windows (the out-of-sample claim); training
    overlap on the first validation window (any scored window a checkpoint was trained on).

    Returns
    -------
    dict
        ``pretraining_overlap`` (True, False, or :data:`UNKNOWN` when a pretrained member's cutoff is undocumented
        and no member overlaps for sure), ``training_overlap`` (bool), ``pretraining_cutoff`` (the latest documented
        one of the members', else :data:`UNKNOWN` if a member's is undocumented, else None: nothing pretrained) and
        ``trained_until`` (the latest of the members', or None). Families without checkpoints (persistence, GARCH)
        have seen nothing.
    """
    flags: dict[str, Any] = {"pretraining_overlap": False, "pretraining_cutoff": None, "training_overlap": False,
                             "trained_until": None}
    seen = []
    for identity in identities:
        family = FAMILIES.get(identity.get("family"))
        if family is None or family.flag is None:
            continue
        limits = training_limits(identity["model_id"])
        for key in ("pretraining_cutoff", "trained_until"):
            known = [v for v in (flags[key], limits[key]) if v and v != UNKNOWN]
            flags[key] = max(known, key=pd.Timestamp) if known else flags[key] or limits[key]
        seen.append(overlaps(windows["first_test_origin_time"], limits)["pretraining"])
        flags["training_overlap"] |= overlaps(windows["first_validation_origin_time"], limits)["training"]
    flags["pretraining_overlap"] = True if True in seen else UNKNOWN if UNKNOWN in seen else False
    return flags


def warn_overlaps(sources: dict[str, str], datasets: dict[str, Any], splits: dict[str, Any]) -> None:
    """Warn, per model and symbol, when the test windows start before a model's pretraining cutoff or
    the validation windows before the last bar a local checkpoint was trained on.

    Parameters
    ----------
    sources : dict
        ``{model label: hub id or checkpoint folder}``.
    datasets, splits : dict
        Per symbol: :class:`sweep.data.bars.OHLCVData` and :class:`sweep.data.windows.Splits`.
    """
    for label, source in sources.items():
        limits = training_limits(source)
        for symbol, split in splits.items():
            index = datasets[symbol].frame.index
            test, validation = str(index[split.test_origins[0]]), str(index[split.first_validation_origin])
            if overlaps(test, limits)["pretraining"] is True:
                logger.warning("%s: %s (%s) was pretrained on data up to %s, after the first test window (%s): its "
                               "test scores are not out of sample", symbol, label, source,
                               limits["pretraining_cutoff"], test)
            if overlaps(validation, limits)["training"]:
                logger.warning("%s: %s (%s) was trained on bars up to %s, after the first validation window (%s): "
                               "its scores are not out of sample", symbol, label, source, limits["trained_until"],
                               validation)
