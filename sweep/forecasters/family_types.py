"""The small records a :class:`~sweep.forecasters.registry.Family` entry holds: its documented untuned config
(:class:`FamilyDefault`) and the checkpoint folder its training job writes (:class:`CheckpointKind`).

Imported and re-exported by :mod:`sweep.forecasters.registry`, so ``from sweep.forecasters.registry import
FamilyDefault`` keeps working.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatch
from typing import Any

__all__ = ["FamilyDefault", "CheckpointKind"]


@dataclass(frozen=True)
class FamilyDefault:
    """The untuned config a family's authors use, and where that is documented.

    Attributes
    ----------
    family : str
    context_length : int
        The authors' context; a study with a shorter maximum uses the longest grid value that fits.
    num_samples : int
    aggregate : str
    source : str
        The model card or upstream code the values come from.
    sampling : dict
    """

    family: str
    context_length: int
    num_samples: int
    aggregate: str
    source: str
    sampling: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckpointKind:
    """The folder a family's training job writes (read by :mod:`sweep.forecasters.checkpoint_output`).

    Attributes
    ----------
    label : str
        Name in messages, e.g. ``"Toto"``.
    command : str
        The job that writes it, e.g. ``"tototraining"`` (the family's :attr:`Family.trainer`).
    files, folders : tuple of str
        Entries every such checkpoint has.
    extra : tuple of str
        Glob patterns of further entries the job may write (e.g. sharded weights).
    signature : tuple of (str, str, object)
        ``(json file, key, value)``: the file holds ``key``, equal to ``value`` unless ``value`` is ``None``.
    """

    label: str
    command: str
    files: tuple[str, ...]
    folders: tuple[str, ...]
    extra: tuple[str, ...]
    signature: tuple[str, str, object]

    def owns(self, name: str) -> bool:
        """Whether the job writes an entry called ``name``."""
        return name in self.files or name in self.folders or any(fnmatch(name, p) for p in self.extra)
