"""Find a model checkpoint folder: a local dir, or a Hugging Face hub id fetched with ``snapshot_download``."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError

__all__ = ["CHECKPOINT_FILES", "TRAINING_RECORD", "file_sha256", "fingerprint", "package_identity", "recorded_files",
           "changed_files",
           "is_hub_id", "resolve_checkpoint", "checkpoint_config"]

#: What ``PyTorchModelHubMixin.save_pretrained`` (and our training jobs) write.
CHECKPOINT_FILES = ("config.json", "model.safetensors")
#: The record ``tototraining`` and ``chronostraining`` write beside the weights
#: (:data:`sweep.forecasters.overlap.TRAINING_METADATA`): fingerprinted when present, since a candidate's overlap flags were
#: computed from it.
TRAINING_RECORD = "training.json"


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fingerprint(folder: Path, names: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``{name: sha256}`` of the files ``names`` (paths relative to ``folder``, ``/``-separated)."""
    return {name: file_sha256(Path(folder) / name) for name in names}


def recorded_files(identity: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """The per-file hashes a ``model`` block records for its model (``prefix=""``) or tokenizer (``"tokenizer_"``).

    Reads ``checkpoint_files`` (``{name: sha256}``) and, for documents written before it existed,
    ``checkpoint_sha256`` (the weights file ``model.safetensors`` only) and Fracast's ``weights_sha256``.

    Returns
    -------
    dict
        ``{file name relative to the checkpoint folder: sha256}``; empty when nothing was recorded (hub ids are
        pinned by ``revision`` instead).
    """
    files = identity.get(f"{prefix}checkpoint_files")
    if files:
        return dict(files)
    legacy = dict(identity.get("weights_sha256") or {}) if not prefix else {}
    if identity.get(f"{prefix}checkpoint_sha256"):
        legacy["model.safetensors"] = identity[f"{prefix}checkpoint_sha256"]
    return legacy


def changed_files(folder: Path, recorded: dict[str, str]) -> list[str]:
    """The files of ``recorded`` that are missing from ``folder`` or whose SHA-256 differs, each described.

    Returns
    -------
    list of str
        ``"config.json (sha256 1a2b3c4d5e6f... recorded, 9f8e7d6c5b4a... now)"`` or ``"kronos.json (missing)"``.
    """
    changes = []
    for name, digest in sorted(recorded.items()):
        path = Path(folder) / name
        if not path.is_file():
            changes.append(f"{name} (missing)")
        elif (now := file_sha256(path)) != digest:
            changes.append(f"{name} (sha256 {digest[:12]}... recorded, {now[:12]}... now)")
    return changes


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
        ``model_id`` plus ``revision`` (hub commit), or for a local folder its absolute path and
        ``checkpoint_files``: the SHA-256 of each of ``files`` and of :data:`TRAINING_RECORD` when present.

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
        present = [*files, *([TRAINING_RECORD] if (path / TRAINING_RECORD).is_file() else [])]
        return path, {"model_id": str(path.resolve()), "checkpoint_files": fingerprint(path, present)}
    if not is_hub_id(model):
        raise ModelLoadError(f"{flag} {model!r} is neither an existing checkpoint folder nor a Hugging Face id "
                             f"like {example!r}")
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(repo_id=model, revision=revision, allow_patterns=list(files)))
    except Exception as e:  # network, auth, missing repo: all mean "cannot load this id"
        cause = next((line.strip() for line in str(e).splitlines() if line.strip()), "no message")  # one line
        raise ModelLoadError(
            f"{flag} {model!r} could not be downloaded from the Hugging Face hub and is not in the local cache "
            f"({type(e).__name__}: {cause}); connect to the internet once to cache it, or pass a local checkpoint "
            f"folder with {flag} DIR") from e
    return folder, {"model_id": model, "revision": folder.name}


def checkpoint_config(model: str, revision: str | None, flag: str, example: str, written_by: str) -> dict[str, Any]:
    """The ``config.json`` of checkpoint ``model`` (a folder, or a hub id: only that file is downloaded), read
    without loading weights; how a family tells its context limit before a worker loads it.

    Raises
    ------
    ModelLoadError
        If the file is missing, cannot be downloaded, or is not JSON (the message names ``flag``).
    """
    folder, _identity = resolve_checkpoint(model, revision, flag, example, written_by, ("config.json",))
    path = folder / "config.json"
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelLoadError(f"{flag} {model!r}: {path} is not readable JSON ({e})") from e


def package_identity(found: dict[str, Any], folder: Path, files: tuple[str, ...], package: str) -> dict[str, Any]:
    """``found`` (from :func:`resolve_checkpoint`) with the installed ``package`` and its version, and
    ``checkpoint_files``: the SHA-256 of ``files`` in ``folder``, also for a download or weights a package ships, so
    a reload refuses any of them changed (another package version installed, a folder replaced)."""
    from importlib import metadata

    return {**found, "package": package, "package_version": metadata.version(package),
            "checkpoint_files": found.get("checkpoint_files") or fingerprint(folder, files)}
