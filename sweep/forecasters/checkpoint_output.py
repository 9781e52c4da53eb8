"""Where a training job may write its checkpoint (``--output`` of tototraining, kronostraining, chronostraining).

A job writes into a path that does not exist or an empty folder. It replaces a folder that holds a
checkpoint of its own kind, and nothing else, only when ``--overwrite`` is given. Everything else (a
file, a folder of other content, another job's checkpoint, a checkpoint with files the job did not
write) is refused before any data is loaded, so a refusal changes nothing on disk. The checkpoint
itself is written beside the target and renamed into place (:func:`sweep.storage.store.staged_folder`).

What a job starts from (``--init``, kronostraining's ``--init-tokenizer``) is checked here too
(:func:`check_init`): ``scratch``, a checkpoint folder or a Hugging Face id, never another job's checkpoint.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

from ..errors import ConfigError
from .registry import FAMILIES, CheckpointKind
from ..storage.store import check_output_folder

__all__ = ["CheckpointKind", "checkpoint_kinds", "checkpoint_kind_of", "has_signature", "check_output",
           "check_init_is_not_output", "check_init"]

#: How many entries of a refused folder its message lists.
LISTED_ENTRIES = 5
#: The largest ``.safetensors`` header read (the format's own limit is 100 MB).
MAX_HEADER_BYTES = 100_000_000


def checkpoint_kinds() -> dict[str, CheckpointKind]:
    """``{family: the folder its training job writes}`` of every registered family with a trainer
    (:attr:`sweep.forecasters.registry.Family.checkpoint`), read live."""
    return {name: f.checkpoint for name, f in FAMILIES.items() if f.checkpoint is not None}


def _document(path: Path) -> object:
    """The JSON of ``path``; of a ``.safetensors`` file, its header (an 8-byte little-endian length, then JSON, as
    the safetensors format defines it), so no weights are read. None if it cannot be read."""
    try:
        if path.suffix != ".safetensors":
            return json.loads(path.read_text())
        with open(path, "rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            return json.loads(f.read(size)) if size <= MAX_HEADER_BYTES else None
    except (OSError, UnicodeDecodeError, ValueError, struct.error):  # JSONDecodeError is a ValueError
        return None


def has_signature(folder: str | Path, signature: tuple[str, str | tuple[str, ...], object]) -> bool:
    """Whether ``folder`` matches ``signature``: ``(file, key, value)``, the JSON ``file`` (of a ``.safetensors`` file,
    its header) holds ``key`` (a tuple: a nested key), equal to ``value`` unless ``value`` is None.

    Parameters
    ----------
    folder : str or Path
    signature : tuple
        ``(file name, key or tuple of nested keys, value or None)``.

    Returns
    -------
    bool
        False also when the file is missing or not readable JSON (or safetensors header).
    """
    file, key, value = signature
    document = _document(Path(folder) / file)
    for part in (key,) if isinstance(key, str) else key:
        if not isinstance(document, dict) or part not in document:
            return False
        document = document[part]
    return value is None or document == value


def _holds(folder: Path, kind: CheckpointKind) -> bool:
    if not all((folder / f).is_file() for f in kind.files) or not all((folder / d).is_dir() for d in kind.folders):
        return False
    return has_signature(folder, kind.signature)


def checkpoint_kind_of(folder: str | Path) -> str | None:
    """Which training job's checkpoint ``folder`` holds (a key of :func:`checkpoint_kinds`), or ``None``.

    Parameters
    ----------
    folder : str or Path

    Returns
    -------
    str or None
        ``"toto"``, ``"kronos"`` or ``"chronos2"``; ``None`` for anything else (files beside the
        checkpoint are not looked at here).
    """
    folder = Path(folder)
    if folder.is_symlink() or not folder.is_dir():
        return None
    return next((name for name, kind in checkpoint_kinds().items() if _holds(folder, kind)), None)


def _listing(names: list[str]) -> str:
    shown = ", ".join(sorted(names)[:LISTED_ENTRIES])
    return shown + (f" and {len(names) - LISTED_ENTRIES} more" if len(names) > LISTED_ENTRIES else "")


def _check_parent(path: Path, flag: str) -> None:
    """The staging folder can be made beside ``path`` and renamed to it (its parent can be written).

    Raises
    ------
    ConfigError
        If the nearest existing ancestor of ``path`` is a file, a broken link or not writable.
    """
    check_output_folder(path.parent, f"{flag} {path}: its folder")


def _check_folder(path: Path, name: str, overwrite: bool, flag: str) -> None:
    """The existing folder ``path`` is empty, or holds only a checkpoint of ``name`` and ``overwrite`` is set.

    Raises
    ------
    ConfigError
        Otherwise, naming what is there and the fix.
    """
    kind = checkpoint_kinds()[name]
    try:
        names = [p.name for p in path.iterdir()]
    except OSError as e:
        raise ConfigError(f"{flag} {path} is a folder that cannot be listed ({e.strerror}); choose a new {flag}") from e
    if not names:
        return
    found = checkpoint_kind_of(path)
    fresh = f"choose a new or empty {flag} (--overwrite replaces only a checkpoint written by {kind.command})"
    if found is None:
        raise ConfigError(f"{flag} {path} is a folder of {len(names)} entries ({_listing(names)}), not a "
                          f"{kind.label} checkpoint written by {kind.command}; nothing was written: {fresh}")
    if found != name:
        other = checkpoint_kinds()[found]
        raise ConfigError(f"{flag} {path} holds a {other.label} checkpoint written by {other.command}, not a "
                          f"{kind.label} one; nothing was written: {fresh}")
    foreign = [n for n in names if not kind.owns(n)]
    if foreign:
        raise ConfigError(f"{flag} {path} holds a {kind.label} checkpoint and also {_listing(foreign)}, which "
                          f"{kind.command} did not write and --overwrite would delete; move them out of {path} "
                          f"or choose a new {flag}")
    if not overwrite:
        raise ConfigError(f"{flag} {path} already holds a {kind.label} checkpoint written by {kind.command}; "
                          f"pass --overwrite to replace it, or choose a new {flag}")


def check_output(output: str | Path, kind: str, overwrite: bool = False, flag: str = "--output") -> Path:
    """Refuse an ``--output`` a training job must not write, before any work is done.

    Parameters
    ----------
    output : str or Path
        Checkpoint folder the job is asked to write.
    kind : str
        The job's checkpoint kind, a key of :func:`checkpoint_kinds`.
    overwrite : bool
        ``--overwrite``: replace a checkpoint of ``kind`` already there.
    flag : str
        Flag named in messages.

    Returns
    -------
    Path
        ``output`` made absolute (``.`` and ``..`` resolved, symbolic links not).

    Raises
    ------
    ConfigError
        If ``output`` is a file or a link, a folder that is neither empty nor a checkpoint of ``kind``,
        a checkpoint of ``kind`` with other files in it or without ``overwrite``, or if its parent
        is a file or not writable. Nothing on disk is changed.
    """
    spec = checkpoint_kinds()[kind]
    path = Path(os.path.abspath(Path(output).expanduser()))
    if path == path.parent:
        raise ConfigError(f"{flag} {output} is the root folder; choose a new folder for the checkpoint")
    _check_parent(path, flag)
    if path.is_symlink():
        raise ConfigError(f"{flag} {path} is a symbolic link to {os.readlink(path)}; pass the folder it points "
                          f"to, or choose a new {flag}")
    if path.exists() and not path.is_dir():
        size = f"a file of {path.stat().st_size} bytes" if path.is_file() else "not a folder"
        raise ConfigError(f"{flag} {path} is {size}, and {spec.command} writes a checkpoint folder; nothing was "
                          f"written: choose a new {flag} (--overwrite never replaces a file)")
    if path.is_dir():
        _check_folder(path, kind, overwrite, flag)
    return path


def check_init_is_not_output(init: str | None, output: Path, flag: str = "--init") -> None:
    """Refuse to train from a checkpoint inside the folder the result replaces.

    Parameters
    ----------
    init : str or None
        ``--init`` (or ``--init-tokenizer``): ``"scratch"``, a hub id or a folder.
    output : Path
        The absolute ``--output`` (:func:`check_output`).
    flag : str
        Flag named in messages.

    Raises
    ------
    ConfigError
        If ``init`` is ``output`` or lies inside it.
    """
    if not init or init == "scratch" or not Path(init).expanduser().exists():
        return
    start, target = Path(os.path.realpath(Path(init).expanduser())), Path(os.path.realpath(output))
    if start == target or target in start.parents:
        raise ConfigError(f"{flag} {init} lies in --output {output}, which the new checkpoint replaces; copy the "
                          f"starting checkpoint elsewhere or choose a new --output")


def _refuse_start(value: str, flag: str, fix: str, kind: str | None) -> None:
    """Refuse ``value`` of ``flag`` if no loader can start from it; ``kind`` is the job's (``None``: a Kronos
    tokenizer), ``fix`` ends every message."""
    from .checkpoints import CHECKPOINT_FILES, is_hub_id

    if not value.strip():
        raise ConfigError(f"{flag} is empty; {fix}")
    path = Path(value).expanduser()
    if not path.exists():
        if is_hub_id(value):
            return  # found (downloaded or cached) when the model loads
        broken = " (a symbolic link to nothing)" if path.is_symlink() else ""
        raise ConfigError(f"{flag} {value} is neither an existing folder{broken} nor a Hugging Face id "
                          f"(owner/name); {fix}")
    if not path.is_dir():
        raise ConfigError(f"{flag} {value} is a file, not a checkpoint folder; {fix}")
    found = checkpoint_kind_of(path.resolve())
    if found is not None and found != kind:
        other = checkpoint_kinds()[found]
        inside = f" such as its {path / 'tokenizer'}" if found == "kronos" else ""
        wanted = f"a {checkpoint_kinds()[kind].label} checkpoint" if kind else f"a tokenizer folder{inside}"
        raise ConfigError(f"{flag} {value} holds a {other.label} checkpoint written by {other.command}, not "
                          f"{wanted}; {fix}")
    missing = [name for name in CHECKPOINT_FILES if not (path / name).is_file()]
    if found is None and missing:
        raise ConfigError(f"{flag} {value} is a folder without {', '.join(missing)}, so it holds no checkpoint; "
                          f"{fix}")


def check_init(init: str, kind: str, tokenizer: str | None = None) -> None:
    """Refuse what a training job cannot start from, before any data is loaded.

    Parameters
    ----------
    init : str
        ``--init``: ``"scratch"``, a checkpoint folder or a Hugging Face id (``owner/name``; it is
        downloaded, or found in the cache, when the model loads).
    kind : str
        The job's checkpoint kind, a key of :func:`checkpoint_kinds`. A folder holding another job's checkpoint
        is refused; a folder of the job's own kind, or of ``config.json`` and ``model.safetensors``
        (a published checkpoint), is accepted.
    tokenizer : str, optional
        kronostraining's ``--init-tokenizer``: a tokenizer folder or a hub id, and only when
        fine-tuning (from scratch the tokenizer is trained from random weights).

    Raises
    ------
    ConfigError
        Naming the flag, the value and the fix: an empty value, a path that does not exist and is no
        hub id, a file, a folder with no checkpoint or with another job's, or ``--init-tokenizer``
        with ``--init scratch``.
    """
    from .kronos.card import DEFAULT_KRONOS_TOKENIZER

    spec = checkpoint_kinds()[kind]
    if init != "scratch":
        _refuse_start(init, "--init", f"pass 'scratch', a {spec.label} checkpoint folder (as {spec.command} writes) "
                                      f"or a Hugging Face id like {FAMILIES[kind].default_model!r}", kind)
    if tokenizer is None:
        return
    _refuse_start(tokenizer, "--init-tokenizer", "pass a Kronos tokenizer folder (config.json, model.safetensors) "
                                                 f"or a Hugging Face id like {DEFAULT_KRONOS_TOKENIZER!r}", None)
    if init == "scratch":
        raise ConfigError(f"--init-tokenizer {tokenizer} has no effect with --init scratch: {spec.command} then "
                          f"trains the tokenizer from random weights (--preset); drop --init-tokenizer, or pass "
                          f"--init a Kronos model to fine-tune beside it")
