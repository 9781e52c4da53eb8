"""What a checkpoint flag's folder holds, and whether a family can forecast the horizon asked: checked before a run.

A folder given to a family's flag is refused (exit 2, before the run folder exists) when it holds
another family's checkpoint, naming the flag that fits it, or no checkpoint at all. A family is told
by its training job's folder (:func:`sweep.forecasters.checkpoint_output.checkpoint_kind_of`) or by its
forecaster's :attr:`~sweep.forecasters.base.Forecaster.checkpoint_signature`; what a folder must
hold is its forecaster's :attr:`~sweep.forecasters.base.Forecaster.checkpoint_files`. A horizon
past a family's :meth:`~sweep.forecasters.base.Forecaster.horizon_limit` is refused the same way,
since every trial of that family would fail. Nothing here loads weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .checkpoint_output import checkpoint_kind_of, checkpoint_kinds, has_signature
from ..errors import ConfigError
from .registry import FAMILIES

__all__ = ["checkpoint_family_of", "check_checkpoint_folder", "check_horizon"]


def _signed_family(folder: Path) -> str | None:
    """The family whose forecaster's signature ``folder`` matches (the first registered), or None."""
    for name, family in FAMILIES.items():
        signature = family.forecaster_class().checkpoint_signature
        if signature is not None and has_signature(folder, signature):
            return name
    return None


def checkpoint_family_of(folder: str | Path) -> str | None:
    """The family whose checkpoint ``folder`` holds: its training job's output, else its published layout.

    Parameters
    ----------
    folder : str or Path

    Returns
    -------
    str or None
        A key of :data:`sweep.forecasters.registry.FAMILIES`; None for a folder no family recognises (an empty
        one, a folder of other files, a family without a signature).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return None
    return checkpoint_kind_of(folder) or _signed_family(folder)


def check_checkpoint_folder(family: str | None, flag: str, folder: Path) -> None:
    """Refuse a folder ``flag`` cannot load: another family's checkpoint, or a folder without ``family``'s files.

    Parameters
    ----------
    family : str or None
        The family the flag loads; None for a further checkpoint of a family's (Kronos' ``--kronos-tokenizer``),
        which only refuses a training job's output.
    flag : str
        Named in messages.
    folder : Path
        An existing folder.

    Raises
    ------
    ConfigError
        If ``folder`` holds a training job's output or a published checkpoint of another family (naming the flag
        that fits it), or lacks a file of ``family``'s :attr:`~sweep.forecasters.base.Forecaster.checkpoint_files`.
    """
    kind = checkpoint_kind_of(folder)
    if kind is not None and kind != family:
        job = checkpoint_kinds()[kind]
        raise ConfigError(f"{flag} {folder} holds a {job.label} checkpoint written by {job.command}; pass it with "
                          f"{FAMILIES[kind].flag}, or give {flag} a checkpoint of its own family")
    if family is None or kind == family:
        return
    signed = _signed_family(folder)
    if signed not in (None, family):
        file, key, _value = FAMILIES[signed].forecaster_class().checkpoint_signature
        found = key if isinstance(key, str) else ".".join(key)
        raise ConfigError(f"{flag} {folder} holds a {signed} checkpoint (its {file} has {found}); pass it with "
                          f"{FAMILIES[signed].flag}, or give {flag} a checkpoint of its own family")
    missing = [name for name in FAMILIES[family].forecaster_class().checkpoint_files if not (folder / name).is_file()]
    if missing:
        what = "is an empty folder" if not any(folder.iterdir()) else f"lacks {', '.join(missing)}"
        raise ConfigError(f"{flag} {folder} {what}, so it holds no {family} checkpoint; pass a folder holding "
                          f"{', '.join(FAMILIES[family].forecaster_class().checkpoint_files)}, or a hub id like "
                          f"{FAMILIES[family].default_model!r}")


def check_horizon(family: str, horizon: int, model: str | None = None, **options: Any) -> None:
    """Refuse a horizon past the longest one checkpoint ``model`` of ``family`` forecasts, before any trial runs.

    Parameters
    ----------
    family : str
        A key of :data:`sweep.forecasters.registry.FAMILIES`.
    horizon : int
        ``--horizon``, bars.
    model : str, optional
        Hub id or folder (default: the family's).
    **options
        The family's further checkpoints (Kronos' ``tokenizer``).

    Raises
    ------
    ConfigError
        If ``horizon`` exceeds the family's :meth:`~sweep.forecasters.registry.Family.horizon_limit`.
    ModelLoadError
        If the checkpoint's config cannot be found or read.
    """
    entry = FAMILIES[family]
    limit = entry.horizon_limit(model, **options)
    if limit is not None and horizon > limit:
        source = f" ({entry.flag} {model or entry.default_model})" if entry.flag else ""
        raise ConfigError(f"--horizon {horizon} is longer than {family}{source} can forecast: {family} forecasts at "
                          f"most {limit} bars, so every {family} trial would fail; pass --horizon {limit} or less, or "
                          f"leave {family} out of --models")
