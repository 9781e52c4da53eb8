"""Load and save Kronos checkpoints in the published layout (``config.json`` + ``model.safetensors``).

The published ``NeoQuasar/Kronos-*`` folders were written by
``PyTorchModelHubMixin.save_pretrained``: ``config.json`` holds the constructor
arguments, ``model.safetensors`` the state dict. Both load here unchanged, from a
hub id (``snapshot_download``) or a local folder. A folder written by
``python -m kronostraining`` holds ``tokenizer/``, ``predictor/`` and
``kronos.json``, and can be named as a whole.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..checkpoints import file_sha256, resolve_checkpoint
from ...errors import ModelLoadError
from ...storage.store import staged_folder
from .card import (DEFAULT_KRONOS_MODEL, DEFAULT_KRONOS_TOKENIZER, MODEL_CARD, TRAINED_METADATA, kronos_context_limit,
                   trained_record)
from .model import MODEL_CONFIG_KEYS, Kronos
from .tokenizer import TOKENIZER_CONFIG_KEYS, KronosTokenizer

__all__ = ["KronosCheckpoint", "load_kronos", "load_module", "save_module"]

#: Buffers computed from the config; a checkpoint may omit them.
DERIVED_BUFFERS = ("rotary.inv_freq", "bsq.basis", "bsq.group_basis")
WRITTEN_BY = "'python -m kronostraining'"


def _read_config(folder: Path, keys: tuple[str, ...], flag: str) -> dict[str, Any]:
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ModelLoadError(f"{flag}: {path} is not readable JSON ({e})") from e
    missing, unknown = sorted(set(keys) - set(config)), sorted(set(config) - set(keys))
    if missing or unknown:
        raise ModelLoadError(f"{flag}: {path} lacks {missing} and has unknown {unknown}; expected exactly "
                             f"{list(keys)} (is this the right kind of Kronos checkpoint?)")
    return config


def _check_state(module: nn.Module, state: dict[str, torch.Tensor], path: Path, flag: str) -> None:
    expected = module.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith(DERIVED_BUFFERS)]
    unknown = [k for k in state if k not in expected]
    mismatched = [f"{k}: {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
                  for k in state if k in expected and state[k].shape != expected[k].shape]
    if missing or unknown or mismatched:
        raise ModelLoadError(f"{flag}: {path} does not fit its config.json: missing {missing[:10]}"
                             f"{' …' if len(missing) > 10 else ''}, unknown {unknown[:10]}"
                             f"{' …' if len(unknown) > 10 else ''}, shape mismatches (file vs config) {mismatched[:10]}")


def load_module(cls: type[nn.Module], folder: Path, flag: str, device: str = "cpu") -> nn.Module:
    """Build ``cls`` (:class:`Kronos` or :class:`KronosTokenizer`) from a checkpoint folder, in eval mode.

    Raises
    ------
    ModelLoadError
        If ``config.json`` lacks or adds keys, or the weights' names or shapes do not fit it.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    keys = MODEL_CONFIG_KEYS if cls is Kronos else TOKENIZER_CONFIG_KEYS
    try:
        module = cls(**_read_config(folder, keys, flag))
    except (TypeError, ValueError) as e:
        raise ModelLoadError(f"{flag}: {folder / 'config.json'} has invalid values ({e})") from e
    path = folder / "model.safetensors"
    try:
        state = load_file(str(path))
    except (OSError, SafetensorError) as e:
        raise ModelLoadError(f"{flag}: {path} is not a readable safetensors file ({e})") from e
    _check_state(module, state, path, flag)
    module.load_state_dict(state, strict=False)
    return module.to(device).eval()


def save_module(module: Kronos | KronosTokenizer, folder: str | Path) -> Path:
    """Write ``config.json`` + ``model.safetensors`` as the published checkpoints are laid out (atomically)."""
    from safetensors.torch import save_file

    with staged_folder(folder) as staging:
        (staging / "config.json").write_text(json.dumps(module.config, indent=2, sort_keys=True))
        save_file({k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()},
                  str(staging / "model.safetensors"), metadata={"format": "pt"})
    return Path(folder)


class KronosCheckpoint:
    """A predictor, its tokenizer, their max context and identity.

    Attributes
    ----------
    model : Kronos
    tokenizer : KronosTokenizer
    max_context : int
        Longest token window the predictor attends to.
    identity : dict
        ``model_id`` and ``tokenizer_id``, each with its hub ``revision`` or, for a local folder, the
        ``checkpoint_files`` / ``tokenizer_checkpoint_files`` it was loaded from (``{file: sha256}``; a
        kronostraining folder named as a whole is the ``model_id``, with ``kronos.json`` and
        ``predictor/...`` among its files), and ``max_context``.
    """

    def __init__(self, model: Kronos, tokenizer: KronosTokenizer, max_context: int, identity: dict[str, Any]):
        self.model, self.tokenizer, self.max_context, self.identity = model, tokenizer, max_context, identity


def _trained_identity(base: Path, predictor: dict[str, Any]) -> dict[str, Any]:
    """The identity of a ``python -m kronostraining`` folder named as a whole: the folder, and the hashes of its
    ``kronos.json`` (max context) and of the predictor's files (``predictor/config.json``, ...)."""
    files = {TRAINED_METADATA: file_sha256(base / TRAINED_METADATA),
             **{f"predictor/{name}": digest for name, digest in predictor["checkpoint_files"].items()}}
    return {"model_id": str(base.resolve()), "checkpoint_files": files}


def load_kronos(model: str = DEFAULT_KRONOS_MODEL, tokenizer: str | None = None, revision: str | None = None,
                max_context: int | None = None, device: str = "cpu",
                flags: tuple[str, str] = ("--kronos-model", "--kronos-tokenizer")) -> KronosCheckpoint:
    """Load a Kronos predictor and tokenizer.

    Parameters
    ----------
    model : str
        Hub id (default ``NeoQuasar/Kronos-small``), a predictor folder, or a
        ``python -m kronostraining`` output folder (with ``kronos.json``).
    tokenizer : str, optional
        Hub id or folder; default: the model card's tokenizer, or the trained folder's.
    revision : str, optional
        Hub revision of the predictor.
    max_context : int, optional
        Default: the model card's (512 for Kronos-small/base, 2048 for Kronos-mini), the
        trained folder's, else 512 (``KronosPredictor``'s default).
    device : str
    flags : tuple of str
        The flags of ``model`` and ``tokenizer`` named in messages (kronostraining: ``--init``, ``--init-tokenizer``).

    Raises
    ------
    ModelLoadError
        If a checkpoint cannot be found or does not fit its config, or the tokenizer's
        token sizes differ from the predictor's.
    """
    model_flag, tokenizer_flag = flags
    trained = trained_record(model, model_flag)
    base = Path(model).expanduser()
    model_source = str(base / "predictor") if trained else model
    tokenizer = tokenizer or (str(base / "tokenizer") if trained else MODEL_CARD.get(model, {}).get("tokenizer"))
    if tokenizer is None:
        raise ModelLoadError(f"{model_flag} {model!r} has no known tokenizer; pass {tokenizer_flag} "
                             f"(e.g. {DEFAULT_KRONOS_TOKENIZER})")
    model_dir, model_identity = resolve_checkpoint(model_source, revision, model_flag, DEFAULT_KRONOS_MODEL,
                                                   WRITTEN_BY)
    tokenizer_dir, tokenizer_identity = resolve_checkpoint(tokenizer, None, tokenizer_flag,
                                                           DEFAULT_KRONOS_TOKENIZER, WRITTEN_BY)
    predictor = load_module(Kronos, model_dir, model_flag, device)
    codec = load_module(KronosTokenizer, tokenizer_dir, tokenizer_flag, device)
    sizes = (predictor.config["s1_bits"], predictor.config["s2_bits"])
    if sizes != (codec.s1_bits, codec.s2_bits):
        raise ModelLoadError(f"{tokenizer_flag} {tokenizer!r} makes (s1_bits, s2_bits) = {(codec.s1_bits, codec.s2_bits)} "
                             f"but {model_flag} {model!r} expects {sizes}; pass the tokenizer it was trained with")
    max_context = max_context or kronos_context_limit(model, model_flag)
    if trained:
        model_identity = _trained_identity(base, model_identity)
    identity = {"model_id": model_identity.pop("model_id"), **model_identity,
                "tokenizer_id": tokenizer_identity.pop("model_id"),
                **{f"tokenizer_{k}": v for k, v in tokenizer_identity.items()}, "max_context": int(max_context)}
    return KronosCheckpoint(predictor, codec, int(max_context), identity)


