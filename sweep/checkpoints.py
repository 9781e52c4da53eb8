"""Find a model checkpoint folder: a local dir, or a Hugging Face hub id fetched with ``snapshot_download``."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from .errors import ModelLoadError

__all__ = ["CHECKPOINT_FILES", "file_sha256", "is_hub_id", "resolve_checkpoint"]

#: What ``PyTorchModelHubMixin.save_pretrained`` (and our training jobs) write.
CHECKPOINT_FILES = ("config.json", "model.safetensors")


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_hub_id(model: str) -> bool:
    """Whether ``model`` looks like ``owner/name``."""
    return re.fullmatch(r"[\w-][\w.-]*/[\w.-]+", model) is not None


def resolve_checkpoint(model: str, revision: str | None, flag: str, example: str, written_by: str,
                       files: tuple[str, ...] = CHECKPOINT_FILES) -> tuple[Path, dict[str, Any]]:
    """The folder holding the checkpoint ``files`` of ``model`` (default: ``config.json``, ``model.safetensors``).

    Parameters
    ----------
    model : str
        A local folder, or a hub id (downloaded, or taken from the local hub cache offline).
    revision : str, optional
        Hub branch, tag or commit.
    flag, example, written_by : str
        The CLI flag, an example hub id and the command that writes such folders, for error messages.
    files : tuple of str
        The files a checkpoint folder holds (default :data:`CHECKPOINT_FILES`; one is ``model.safetensors``),
        and the only ones downloaded.

    Returns
    -------
    folder : Path
    identity : dict
        ``model_id`` plus ``revision`` (hub commit) or ``checkpoint_sha256`` (local weights file).

    Raises
    ------
    ModelLoadError
        If the folder lacks the files, or the id cannot be downloaded (offline and not cached).
    """
    path = Path(model).expanduser()
    if path.is_dir():
        missing = [name for name in files if not (path / name).is_file()]
        if missing:
            raise ModelLoadError(f"{flag} {model!r}: the folder lacks {missing}; a checkpoint folder holds "
                                 f"{list(files)} (as written by {written_by})")
        return path, {"model_id": str(path.resolve()), "checkpoint_sha256": file_sha256(path / "model.safetensors")}
    if not is_hub_id(model):
        raise ModelLoadError(f"{flag} {model!r} is neither an existing checkpoint folder nor a Hugging Face id "
                             f"like {example!r}")
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(repo_id=model, revision=revision, allow_patterns=list(files)))
    except Exception as e:  # network, auth, missing repo: all mean "cannot load this id"
        raise ModelLoadError(
            f"{flag} {model!r} could not be downloaded from the Hugging Face hub and is not in the local cache "
            f"({type(e).__name__}: {e}); connect to the internet once to cache it, or pass a local checkpoint "
            f"folder with {flag} DIR") from e
    return folder, {"model_id": model, "revision": folder.name}
