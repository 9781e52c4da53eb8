"""Loading the exact model an output file's ``model`` block names, refusing any change to its checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..errors import ConfigError, ModelLoadError
from .base import Forecaster
from .checkpoints import changed_files, recorded_files
from .model_paths import hyperparams_root, is_recorded_path, resolve_identity
from .registry import get_family

__all__ = ["forecaster_from_identity", "document_loader", "Loader"]

#: ``(hash key prefix, path key)`` of each checkpoint a ``model`` block names: the model, and Kronos' tokenizer.
CHECKPOINTS = (("", "model_id"), ("tokenizer_", "tokenizer_id"))
FIX = "re-run the sweep on the checkpoint as it is now and promote its candidate"
#: A function that loads the model a ``model`` block names.
Loader = Callable[[dict[str, Any]], Forecaster]


def _check_folder(identity: dict[str, Any], resolved: dict[str, Any], prefix: str, key: str,
                  root: str | Path | None) -> None:
    """Refuse a recorded local checkpoint folder that is gone, or whose fingerprinted files changed."""
    recorded = identity.get(key)
    if not is_recorded_path(recorded):
        return
    folder = Path(resolved[key]).expanduser()
    what = "tokenizer checkpoint" if prefix else "checkpoint"
    if not folder.is_dir():
        where = f" (resolved against the hyperparams folder {root} to {folder})" if resolved[key] != recorded else ""
        raise ModelLoadError(
            f"the model block records the {what} folder {recorded!r}{where}, which does not exist; restore that "
            f"folder (checkpoints inside the project folder are recorded relative to its hyperparams folder, so move "
            f"the project folder as a whole), or re-run the sweep and promote its candidate")
    changes = changed_files(folder, recorded_files(identity, prefix))
    if changes:
        raise ModelLoadError(f"{what} {recorded!r} ({folder}) changed since it was recorded: {'; '.join(changes)}. "
                             f"The config was tuned and tested on the recorded files: restore them, or {FIX}")


def _check_loaded(identity: dict[str, Any], loaded: dict[str, Any]) -> None:
    """Refuse a loaded model whose fingerprint differs from the recorded one (e.g. weights a package ships)."""
    for prefix, key in CHECKPOINTS:
        recorded, now = recorded_files(identity, prefix), loaded.get(f"{prefix}checkpoint_files") or {}
        changed = sorted(name for name, digest in recorded.items() if now.get(name) != digest)
        if not changed:
            continue
        version = identity.get("package_version")
        package = identity.get("package", identity["family"])  # recorded since TimesFM and TiRex-2 joined
        hint = (f" ({package} {version} was installed then, {loaded.get('package_version')} now: install "
                f"{package}=={version})" if version and version != loaded.get("package_version") else "")
        raise ModelLoadError(f"checkpoint files {changed} of {identity.get(key)!r} changed since it was recorded"
                             f"{hint}; restore them, or {FIX}")


def forecaster_from_identity(identity: dict[str, Any], root: str | Path | None = None) -> Forecaster:
    """Load the exact model an output file names (its ``model`` block), refusing any change to its checkpoint.

    Parameters
    ----------
    identity : dict
        ``family`` and ``model_id``, plus ``revision`` (hub) or ``checkpoint_files`` (local folder:
        ``{file: sha256}``; older files hold ``checkpoint_sha256``, the weights only); Kronos adds
        ``tokenizer_id`` (with ``tokenizer_revision`` or ``tokenizer_checkpoint_files``) and ``max_context``.
    root : str or Path, optional
        The hyperparams folder the document lies in: relative checkpoint paths are resolved against it
        (see :mod:`sweep.forecasters.model_paths`).

    Raises
    ------
    ModelLoadError
        If the family is unknown, a recorded checkpoint folder is gone, one of its recorded files
        changed since it was recorded (naming each file), or the model cannot be loaded.
    """
    try:
        family = get_family(str(identity.get("family")))
    except ConfigError as e:
        raise ModelLoadError(f"{e} (in the model block {identity})") from e
    resolved = resolve_identity(identity, root)
    for prefix, key in CHECKPOINTS:
        _check_folder(identity, resolved, prefix, key, root)
    forecaster = family.forecaster_class().from_identity(resolved)
    _check_loaded(identity, forecaster.identity())
    return forecaster


def document_loader(source: str | Path, root: str | Path | None = None, load: Loader | None = None) -> Loader:
    """The loader of the ``model`` blocks of the document at ``source``, whose errors name ``source``.

    Parameters
    ----------
    source : str or Path
        The candidate or best file.
    root : str or Path, optional
        Its hyperparams folder (default: :func:`sweep.forecasters.model_paths.hyperparams_root` of ``source``).
    load : callable, optional
        The loader to wrap (default: :func:`forecaster_from_identity` with ``root``).

    Returns
    -------
    callable
        ``load(identity) -> Forecaster``; a :class:`ModelLoadError` it raises starts with ``source``.
    """
    root = root if root is not None else hyperparams_root(source)
    inner = load or (lambda identity: forecaster_from_identity(identity, root))

    def named(identity: dict[str, Any]) -> Forecaster:
        try:
            return inner(identity)
        except ModelLoadError as e:
            raise ModelLoadError(f"{source}: {e}") from e

    return named
