"""Checkpoint paths in output documents: relative inside the project, absolute outside it.

A ``model`` block names a local checkpoint folder by path (``model_id``, and
Kronos' ``tokenizer_id``). The rule:

* the *hyperparams folder* is the sweep's ``--output-dir`` (it holds
  ``candidates/``, ``best/`` and ``reviews/``), and the *project folder* is the
  folder that holds it;
* a checkpoint inside the project folder is recorded relative to the
  hyperparams folder, ``/``-separated and always starting with ``./`` or
  ``../`` (so it is never mistaken for a hub id ``owner/name``), e.g.
  ``../runs/r1/finetune/toto-ft`` for ``runs/`` beside ``hyperparams/``;
* a checkpoint outside it stays absolute; hub ids stay as they are.

Every reader resolves a relative path against the hyperparams folder the
document lies in (:func:`hyperparams_root`), so moving the project folder as a
whole keeps every candidate and best config loadable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError

__all__ = ["PATH_KEYS", "is_recorded_path", "portable_path", "portable_identity", "portable_document",
           "resolve_path", "resolve_identity", "hyperparams_root", "flag_path"]

#: Keys of a ``model`` block (and of a candidate's ``provenance``) that may name a local folder.
PATH_KEYS = ("model_id", "tokenizer_id")
_RELATIVE = ("./", "../")


def is_recorded_path(model_id: Any) -> bool:
    """Whether a recorded ``model_id`` names a local folder (relative ``./``, ``../`` or absolute), not a hub id."""
    return isinstance(model_id, str) and (model_id.startswith((*_RELATIVE, "~")) or Path(model_id).is_absolute())


def portable_path(model_id: str, root: str | Path) -> str:
    """``model_id`` as recorded in a document under the hyperparams folder ``root`` (see the module rule)."""
    if not (isinstance(model_id, str) and Path(model_id).is_absolute()):
        return model_id
    base = Path(root).resolve()
    folder = Path(model_id).resolve()
    if not folder.is_relative_to(base.parent):
        return model_id
    relative = Path(os.path.relpath(folder, base)).as_posix()
    return relative if relative.startswith("../") or relative == ".." else f"./{relative}"


def portable_identity(identity: dict[str, Any], root: str | Path) -> dict[str, Any]:
    """A copy of ``identity`` with its :data:`PATH_KEYS` made :func:`portable_path`."""
    return {k: portable_path(v, root) if k in PATH_KEYS else v for k, v in identity.items()}


def portable_document(document: dict[str, Any], root: str | Path) -> dict[str, Any]:
    """A copy of a candidate document whose ``model``, ``provenance`` and ensemble members' ``model`` blocks
    record checkpoints as :func:`portable_path` relative to the hyperparams folder ``root``."""
    out = dict(document)
    for key in ("model", "provenance"):
        if isinstance(out.get(key), dict):
            out[key] = portable_identity(out[key], root)
    config = out.get("config")
    if isinstance(config, dict) and isinstance(config.get("members"), list):
        out["config"] = {**config, "members": [{**m, "model": portable_identity(m["model"], root)}
                                               if isinstance(m, dict) and isinstance(m.get("model"), dict) else m
                                               for m in config["members"]]}
    return out


def resolve_path(model_id: str, root: str | Path | None) -> str:
    """The absolute folder a recorded relative ``model_id`` names; anything else unchanged.

    Raises
    ------
    ModelLoadError
        If ``model_id`` is relative and no hyperparams folder ``root`` is known.
    """
    if not (isinstance(model_id, str) and model_id.startswith(_RELATIVE)):
        return model_id
    if root is None:
        raise ModelLoadError(f"the model block records the checkpoint {model_id!r} relative to the hyperparams "
                             f"folder it was written in, but this file does not lie in one; load it from its place "
                             f"under the hyperparams folder (candidates/<run_id>/ or best/)")
    return str((Path(root) / model_id).resolve())


def resolve_identity(identity: dict[str, Any], root: str | Path | None) -> dict[str, Any]:
    """A copy of ``identity`` whose relative :data:`PATH_KEYS` are absolute (see :func:`resolve_path`)."""
    return {k: resolve_path(v, root) if k in PATH_KEYS else v for k, v in identity.items()}


def hyperparams_root(path: str | Path) -> Path | None:
    """The hyperparams folder a document at ``path`` lies in, from the layout of :mod:`sweep.storage.store`.

    ``<root>/candidates/<run_id>/<SYMBOL>.json``, ``<root>/candidates/<run_id>/ensemble/<SYMBOL>.json`` and
    ``<root>/best/<SYMBOL>.json`` give ``<root>``; a file anywhere else gives None.
    """
    parents = Path(path).parents
    if len(parents) > 2 and parents[1].name == "candidates":
        return parents[2]
    if len(parents) > 3 and parents[0].name == "ensemble" and parents[2].name == "candidates":
        return parents[3]
    if len(parents) > 1 and parents[0].name == "best":
        return parents[1]
    return None


def flag_path(model: str | None) -> str | None:
    """A checkpoint flag's value, made absolute when it names an existing folder (relative to the working
    directory), so a document built from it never resolves it against a hyperparams folder."""
    if model and Path(model).expanduser().is_dir():
        return str(Path(model).expanduser().resolve())
    return model
