"""Where a sweep's models come from: each family's checkpoint (its flag's, else its default) and the check that
each named one exists (read by :mod:`sweep.runs.settings`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..forecasters.checkpoint_folders import check_checkpoint_folder
from ..forecasters.checkpoints import is_hub_id
from ..forecasters.registry import FAMILIES

__all__ = ["checkpoint_sources", "model_sources", "checkpoint_keys", "check_checkpoint_flags"]


def checkpoint_sources(settings) -> dict[str, str]:
    """Checkpoint (hub id or folder) of every family (its flag's, else its default) and every fine-tuned variant."""
    sources = {name: f.default_model for name, f in FAMILIES.items() if f.default_model}
    return sources | {**settings.model_ids, **settings.variants}


def model_sources(settings) -> dict[str, str]:
    """Checkpoint (hub id or folder) of each swept model label that has one."""
    sources = checkpoint_sources(settings)
    return {label: sources[label] for label in settings.labels if label in sources}


def checkpoint_keys(settings) -> dict[str, Any]:
    """``toto_model``, ``kronos_model`` and ``kronos_tokenizer``: run.json's first checkpoint keys, kept so that
    every reader of older runs and of new ones finds them (the other families' are in ``model_ids``)."""
    sources = checkpoint_sources(settings)
    return {"toto_model": sources["toto"], "kronos_model": sources["kronos"],
            "kronos_tokenizer": settings.model_options.get("kronos", {}).get("tokenizer")}


def check_checkpoint_flags(settings) -> None:
    """Each swept family's checkpoint is a folder, a hub id or bundled weights: a typo, another family's folder or
    one without the family's files fails now, not after the run folder is made (whether a folder of the family's
    holds a loadable checkpoint is the loader's to say)."""
    named = [(label, FAMILIES[label].flag, source) for label, source in checkpoint_sources(settings).items()
             if label in settings.models]
    named += [(None, FAMILIES[family].options[option][0], source)  # no kind check: a tokenizer has none
              for family, options in settings.model_options.items() if family in settings.models
              for option, source in options.items()]
    for family, flag, source in named:
        folder = Path(source).expanduser()
        if folder.is_dir():
            check_checkpoint_folder(family, flag, folder)
        elif not (source.startswith("bundled:") or is_hub_id(source)):
            raise ConfigError(f"{flag} {source!r} is neither an existing checkpoint folder nor a Hugging Face id "
                              f"(owner/name); pass the folder a training job wrote, or a hub id")
