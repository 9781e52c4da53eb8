"""Train the Kronos tokenizer (optional) and predictor on pre-validation bars; write a folder the sweep loads.

Objectives follow upstream's fine-tuning scripts (shiyu-coder/Kronos ``finetune/``):

- tokenizer: ``(mse(recon_s1, x) + mse(recon_full, x) + bsq_loss) / 2``, where
  ``recon_s1`` decodes from the coarse bits only and ``bsq_loss`` is the
  quantiser's commitment + entropy penalty;
- predictor: next-token cross-entropy, the mean of the ``s1`` and ``s2`` heads'.
  The ``s2`` head is conditioned on the true next ``s1`` (teacher forcing), which is
  the conditional ``p(s2 | s1)`` that sampling uses; upstream's script conditions it
  on an ``s1`` sampled from the model instead.

AdamW (betas 0.9/0.95, weight decay 0.1), a one-cycle learning-rate schedule and
gradient-norm clipping at 3.0, as upstream's configuration.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from sweep._version import __version__
from sweep.errors import ConfigError
from sweep.forecasters.kronos.card import DEFAULT_KRONOS_MODEL, DEFAULT_MAX_CONTEXT, TRAINED_METADATA
from sweep.forecasters.overlap import inherited_limits
from sweep.storage.store import staged_folder, utc_now, write_json_atomic
from sweep.training import seeded_preset

from .dataset import FitBars, WindowSampler

__all__ = ["PRESETS", "TrainResult", "build_scratch", "train_kronos", "DEFAULT_LR"]

logger = logging.getLogger(__name__)

_DROPOUT_FREE = {"ffn_dropout_p": 0.0, "attn_dropout_p": 0.0, "resid_dropout_p": 0.0}
_BSQ = {"beta": 0.05, "gamma0": 1.0, "gamma": 1.1, "zeta": 0.05}
#: Architectures for ``--init scratch``. ``tiny`` trains in a minute on 2 CPU cores and exists for demos
#: and tests; ``small`` is the shape of NeoQuasar/Kronos-small with Kronos-Tokenizer-base (their config.json).
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "tiny": {
        "tokenizer": {"d_in": 6, "d_model": 32, "n_heads": 2, "ff_dim": 64, "n_enc_layers": 2, "n_dec_layers": 2,
                      "s1_bits": 6, "s2_bits": 6, "group_size": 4, **_DROPOUT_FREE, **_BSQ},
        "predictor": {"s1_bits": 6, "s2_bits": 6, "n_layers": 2, "d_model": 32, "n_heads": 2, "ff_dim": 64,
                      "token_dropout_p": 0.0, "learn_te": True, **_DROPOUT_FREE},
    },
    "small": {
        "tokenizer": {"d_in": 6, "d_model": 256, "n_heads": 4, "ff_dim": 512, "n_enc_layers": 4, "n_dec_layers": 4,
                      "s1_bits": 10, "s2_bits": 10, "group_size": 4, **_DROPOUT_FREE, **_BSQ},
        "predictor": {"s1_bits": 10, "s2_bits": 10, "n_layers": 8, "d_model": 512, "n_heads": 8, "ff_dim": 1024,
                      "ffn_dropout_p": 0.25, "attn_dropout_p": 0.1, "resid_dropout_p": 0.25, "token_dropout_p": 0.1,
                      "learn_te": True},
    },
}
#: Learning rates: upstream's fine-tuning config (tokenizer 2e-4, predictor 4e-5); 1e-3 from scratch.
DEFAULT_LR = {"scratch": {"tokenizer": 1e-3, "predictor": 1e-3}, "pretrained": {"tokenizer": 2e-4, "predictor": 4e-5}}
GRAD_CLIP = 3.0
VAL_BATCHES = 8


@dataclass(frozen=True)
class TrainResult:
    """Where the checkpoint went and how training went.

    Attributes
    ----------
    output : Path
        Folder with ``tokenizer/``, ``predictor/`` and ``kronos.json`` (pass it as ``--kronos-model``).
    losses : dict
        ``{"tokenizer": {...}, "predictor": {...}}`` last train and held-out losses (``None`` where not trained).
    """

    output: Path
    losses: dict[str, dict[str, float | None]]


def build_scratch(preset: str, seed: int = 0):
    """A randomly initialised tokenizer and predictor of a preset architecture.

    Raises
    ------
    ConfigError
        If the preset is unknown.
    """
    from sweep.forecasters.kronos.model import Kronos
    from sweep.forecasters.kronos.tokenizer import KronosTokenizer

    shape = seeded_preset(PRESETS, preset, seed)
    return KronosTokenizer(**shape["tokenizer"]), Kronos(**shape["predictor"])


def _tokenizer_loss(tokenizer, x):
    import torch.nn.functional as F

    (recon_s1, recon), bsq_loss, _ids = tokenizer(x)
    return (F.mse_loss(recon_s1, x) + F.mse_loss(recon, x) + bsq_loss) / 2


def _predictor_loss(model, tokenizer, x, stamps):
    import torch
    import torch.nn.functional as F

    with torch.no_grad():
        s1, s2 = tokenizer.encode(x)
    s1_logits, s2_logits = model(s1[:, :-1], s2[:, :-1], stamps[:, :-1], s1_targets=s1[:, 1:])
    return (F.cross_entropy(s1_logits.flatten(0, 1), s1[:, 1:].flatten())
            + F.cross_entropy(s2_logits.flatten(0, 1), s2[:, 1:].flatten())) / 2


def _fit(module, loss_of: Callable, train: WindowSampler, val: WindowSampler, steps: int, batch_size: int,
         lr: float, device: str, what: str) -> dict[str, float | None]:
    """AdamW + one-cycle schedule for ``steps`` batches; returns the last train loss and the held-out loss."""
    import torch

    def tensors(sampler: WindowSampler):
        x, stamps = sampler.batch(batch_size)
        return torch.from_numpy(x).to(device), torch.from_numpy(stamps).to(device)

    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.95), weight_decay=0.1)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.03)
    module.train()
    train_loss = None
    for step in range(steps):
        loss = loss_of(*tensors(train))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, GRAD_CLIP)
        optimizer.step()
        schedule.step()
        train_loss = float(loss.detach())
        if step % max(1, steps // 10) == 0:
            logger.info("%s step %d/%d loss %.4f", what, step, steps, train_loss)
    module.eval()
    with torch.no_grad():
        val_loss = sum(float(loss_of(*tensors(val))) for _ in range(VAL_BATCHES)) / VAL_BATCHES
    finite = [v if v is not None and math.isfinite(v) else None for v in (train_loss, val_loss)]
    return {"train_loss": finite[0], "val_loss": finite[1]}


def train_kronos(series: list[FitBars], output: str | Path, init: str = DEFAULT_KRONOS_MODEL,
                 init_tokenizer: str | None = None, preset: str = "tiny", train_tokenizer: bool | None = None,
                 context_length: int = 256, max_context: int | None = None, steps: int = 300,
                 tokenizer_steps: int | None = None, batch_size: int = 16, lr: float | None = None, clip: float = 5.0,
                 seed: int = 0, metadata: dict[str, Any] | None = None, device: str | None = None) -> TrainResult:
    """Train (``init="scratch"``) or fine-tune Kronos and write ``output/{tokenizer,predictor,kronos.json}``.

    Parameters
    ----------
    series : list of FitBars
        Pre-validation bars of each symbol; the last 10 % of each is held out for the validation loss.
    init : str
        ``"scratch"`` (architecture ``preset``), or a hub id / folder to fine-tune.
    init_tokenizer : str, optional
        Tokenizer to start from when fine-tuning (default: the model card's).
    train_tokenizer : bool, optional
        Default: True from scratch (required), False when fine-tuning.
    context_length : int
        Bars per training input (each window holds one more bar, the last target).
    max_context : int, optional
        Recorded as the checkpoint's max context; default 512 from scratch, else the init's.
    steps, tokenizer_steps : int
        Optimiser steps of the predictor and the tokenizer (default: ``steps``).
    lr : float, optional
        Peak learning rate of both; default :data:`DEFAULT_LR`.
    clip : float
        Clip of the normalised inputs (as the sampler's default).
    metadata : dict, optional
        Extra provenance for ``kronos.json`` (data files, windows).

    Raises
    ------
    ConfigError
        If the preset is unknown, ``context_length`` exceeds ``max_context``, or the tokenizer
        is not trained from scratch.
    ModelLoadError
        If ``init`` cannot be loaded.
    ValueError
        If a series is shorter than one window.
    """
    import torch

    from sweep.forecasters.kronos.checkpoint import load_kronos, save_module

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    scratch = init == "scratch"
    if scratch:
        tokenizer, model = build_scratch(preset, seed)
        max_context = max_context or DEFAULT_MAX_CONTEXT
        if train_tokenizer is False:
            raise ConfigError("--init scratch needs the tokenizer trained too; drop --no-train-tokenizer")
        train_tokenizer = True
    else:
        checkpoint = load_kronos(init, init_tokenizer, max_context=max_context, device="cpu",
                                 flags=("--init", "--init-tokenizer"))
        tokenizer, model, max_context = checkpoint.tokenizer, checkpoint.model, checkpoint.max_context
        train_tokenizer = bool(train_tokenizer)
    if context_length > max_context:
        raise ConfigError(f"--context-length {context_length} exceeds the model's max context {max_context}")
    tokenizer.to(device)
    model.to(device)
    rates = DEFAULT_LR["scratch" if scratch else "pretrained"]
    train = WindowSampler(series, context_length, 0.0, 0.9, clip, seed)
    val = WindowSampler(series, context_length, 0.9, 1.0, clip, seed + 1)
    torch.manual_seed(seed)
    losses: dict[str, dict[str, float | None]] = {"tokenizer": {"train_loss": None, "val_loss": None}}
    if train_tokenizer:
        losses["tokenizer"] = _fit(tokenizer, lambda x, _stamps: _tokenizer_loss(tokenizer, x), train, val,
                                   tokenizer_steps or steps, batch_size, lr or rates["tokenizer"], device, "tokenizer")
    tokenizer.eval().requires_grad_(False)
    losses["predictor"] = _fit(model, lambda x, stamps: _predictor_loss(model, tokenizer, x, stamps), train, val,
                               steps, batch_size, lr or rates["predictor"], device, "predictor")
    with staged_folder(output) as staging:
        save_module(tokenizer.cpu(), staging / "tokenizer")
        save_module(model.cpu(), staging / "predictor")
        write_json_atomic(staging / TRAINED_METADATA, {
            **(metadata or {}), "max_context": max_context, "init": init, "init_tokenizer": init_tokenizer,
            "preset": preset if scratch else None, "trained_tokenizer": train_tokenizer,
            "context_length": context_length, "steps": steps, "tokenizer_steps": tokenizer_steps or steps,
            "batch_size": batch_size, "seed": seed, "clip": clip, "losses": losses,
            "symbols": {s.symbol: {"first_bar": s.first_bar, "last_bar": s.last_bar, "bars": len(s.bars)}
                        for s in series},
            # what the weights have seen: the overlap checks of sweeps and backtests read these
            **inherited_limits(init, [s.last_bar for s in series]),
            "sweep_version": __version__, "created_at": utc_now()})
    logger.info("wrote %s (%s)", output, json.dumps(losses))
    return TrainResult(Path(output), losses)
