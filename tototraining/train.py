"""Fine-tune Toto with toto-ts' own Lightning module and loss, and save a checkpoint the sweep loads."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweep._version import __version__
from sweep.errors import ConfigError
from sweep.forecasters.overlap import TRAINING_METADATA, inherited_limits
from sweep.storage.store import staged_folder, utc_now, write_json_atomic
from sweep.training import seeded_preset

from .dataset import CausalWindows, FitSeries, collate_windows

__all__ = ["PRESETS", "TrainResult", "build_scratch", "load_init", "save_checkpoint", "train_toto"]

logger = logging.getLogger(__name__)

_SCALER = "<class 'model.scaler.CausalPatchStdMeanScaler'>"
_MIXTURE = "<class 'model.distribution.MixtureOfStudentTsOutput'>"

#: Architectures for training from scratch. ``tiny`` (~40k parameters) trains in
#: minutes on 2 CPU cores; it exists for demos and tests, not for trading.
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "patch_size": 16, "stride": 16, "embed_dim": 32, "num_layers": 2, "num_heads": 2, "mlp_hidden_dim": 64,
        "dropout": 0.0, "spacewise_every_n_layers": 2, "scaler_cls": _SCALER,
        "output_distribution_classes": [_MIXTURE], "output_distribution_kwargs": {"k_components": 4},
        "use_memory_efficient_attention": False,
    },
    "small": {
        "patch_size": 32, "stride": 32, "embed_dim": 128, "num_layers": 4, "num_heads": 4, "mlp_hidden_dim": 256,
        "dropout": 0.1, "spacewise_every_n_layers": 4, "scaler_cls": _SCALER,
        "output_distribution_classes": [_MIXTURE], "output_distribution_kwargs": {"k_components": 8},
        "use_memory_efficient_attention": False,
    },
    # The shape of Datadog/Toto-Open-Base-1.0 (its config.json: ~151M parameters), for
    # benchmarks with random weights and for training from scratch on a GPU.
    "base": {
        "patch_size": 64, "stride": 64, "embed_dim": 768, "num_layers": 12, "num_heads": 12, "mlp_hidden_dim": 3072,
        "dropout": 0.1, "spacewise_every_n_layers": 12, "scaler_cls": _SCALER,
        "output_distribution_classes": [_MIXTURE], "output_distribution_kwargs": {"k_components": 24},
        "use_memory_efficient_attention": False,
    },
}


@dataclass(frozen=True)
class TrainResult:
    """Where the checkpoint went and how training went.

    Attributes
    ----------
    output : Path
        Folder with ``config.json``, ``model.safetensors`` and ``training.json``.
    train_loss, val_loss : float or None
        Last epoch-mean losses (``None`` if not finite) (toto-ts ``CombinedLoss`` on scaled targets).
    steps : int
    """

    output: Path
    train_loss: float | None
    val_loss: float | None
    steps: int


def build_scratch(preset: str, seed: int = 0):
    """A randomly initialised Toto of a preset architecture.

    Returns
    -------
    module : toto.model.toto.Toto
    config : dict
        The constructor arguments (written as ``config.json``).

    Raises
    ------
    ConfigError
        If the preset is unknown.
    """
    from toto.model.toto import Toto

    config = json.loads(json.dumps(seeded_preset(PRESETS, preset, seed)))
    return Toto(**config), config


def load_init(init: str, flag: str = "--init"):
    """Pretrained Toto to fine-tune: a Hugging Face id or a checkpoint folder (as
    :func:`sweep.forecasters.toto.load_toto` loads it, with ``flag`` named in messages).

    Raises
    ------
    ModelLoadError
        If toto-ts is missing, or the checkpoint cannot be found or loaded.
    """
    from sweep.forecasters.checkpoints import resolve_checkpoint
    from sweep.errors import ModelLoadError
    from sweep.forecasters.toto import DEFAULT_TOTO_MODEL, INSTALL_HINT

    try:
        from toto.model.toto import Toto
    except ImportError as e:
        raise ModelLoadError(f"Toto needs the toto-ts package ({e}); install it with: {INSTALL_HINT}") from e
    folder, _identity = resolve_checkpoint(init, None, flag, DEFAULT_TOTO_MODEL, "'python -m tototraining'")
    try:
        module = Toto.load_from_checkpoint(str(folder), map_location="cpu")
        config = json.loads((folder / "config.json").read_text())
    except (RuntimeError, TypeError, KeyError, ValueError, json.JSONDecodeError) as e:
        raise ModelLoadError(f"{flag} {init!r}: {folder} is not a loadable Toto checkpoint ({e})") from e
    module.eval()
    return module, config


def save_checkpoint(module, config: dict[str, Any], output: str | Path) -> Path:
    """Write ``config.json`` and ``model.safetensors`` into ``output``, replacing it whole.

    Files are written into a temp folder beside ``output`` which then replaces it,
    so a crash never leaves a half-written checkpoint.
    """
    from safetensors.torch import save_model

    with staged_folder(output) as staging:
        save_model(module, str(staging / "model.safetensors"))
        (staging / "config.json").write_text(json.dumps(config, indent=2))
    return Path(output)


def _loss(trainer, name: str) -> float | None:
    value = trainer.callback_metrics.get(name)
    return float(value) if value is not None and math.isfinite(float(value)) else None


def train_toto(series: list[FitSeries], output: str | Path, init: str = "Datadog/Toto-Open-Base-1.0",
               preset: str = "tiny", context_length: int = 512, steps: int = 300, batch_size: int = 16,
               lr: float = 1e-3, seed: int = 0, metadata: dict[str, Any] | None = None) -> TrainResult:
    """Fine-tune (or train from scratch) Toto on pre-validation bars.

    Uses toto-ts' ``TotoForFinetuning`` (its ``CombinedLoss`` and warmup-stable-decay
    schedule). The last 10 % of each symbol's fit bars are held out as the
    fine-tuning validation set.

    Parameters
    ----------
    series : list of FitSeries
        Bars before the first validation origin, per symbol.
    output : str or Path
        Checkpoint folder (replaced atomically).
    init : str
        ``"scratch"`` or a Hugging Face id / checkpoint folder.
    preset : str
        Architecture for ``init="scratch"`` (see :data:`PRESETS`).
    context_length : int
        Bars per training input; rounded down to a multiple of the patch size.
    steps, batch_size : int
    lr : float
        Peak learning rate.
    seed : int
    metadata : dict, optional
        Extra keys for ``training.json`` (data ranges, windows).

    Returns
    -------
    TrainResult

    Raises
    ------
    ConfigError
        On an unknown preset or too little data.
    ModelLoadError
        If ``init`` cannot be loaded.
    """
    import lightning as L
    import torch
    from toto.model.lightning_module import TotoForFinetuning

    L.seed_everything(seed, workers=True, verbose=False)
    module, config = build_scratch(preset, seed) if init == "scratch" else load_init(init)
    patch = config["patch_size"]
    context_length = max(patch, context_length // patch * patch)
    try:
        train_set = CausalWindows(series, context_length, patch, 0.0, 0.9, steps * batch_size, seed)
        val_set = CausalWindows(series, context_length, patch, 0.9, 1.0, 4 * batch_size, seed + 1)
    except ValueError as e:
        raise ConfigError(str(e)) from e
    lightning_module = TotoForFinetuning(
        pretrained_backbone=module.model, val_prediction_len=patch, lr=lr, min_lr=lr / 10,
        warmup_steps=max(1, steps // 10), stable_steps=steps // 2, decay_steps=max(1, steps - steps // 10 - steps // 2))
    loaders = [torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=False, collate_fn=collate_windows)
               for ds in (train_set, val_set)]
    trainer = L.Trainer(max_steps=steps, max_epochs=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, accelerator="auto", devices=1,
                        gradient_clip_val=1.0, num_sanity_val_steps=0)
    trainer.fit(lightning_module, *loaders)
    module.model = lightning_module.model
    module.eval()
    result_dir = save_checkpoint(module, config, output)
    result = TrainResult(result_dir, _loss(trainer, "train_loss_epoch"), _loss(trainer, "val_loss"), trainer.global_step)
    write_json_atomic(result_dir / TRAINING_METADATA, {
        **(metadata or {}),
        "init": init, "preset": preset if init == "scratch" else None, "architecture": config,
        "context_length": context_length, "steps": result.steps, "batch_size": batch_size, "lr": lr, "seed": seed,
        "train_loss": result.train_loss, "val_loss": result.val_loss,
        "loss": "toto-ts CombinedLoss (NLL + robust loss) on scaled targets",
        "data": [{"symbol": s.symbol, "first_bar": s.first_bar, "last_bar": s.last_bar, "bars": len(s.close)}
                 for s in series],
        # what the weights have seen: the overlap checks of sweeps and backtests read these
        **inherited_limits(init, [s.last_bar for s in series]),
        "sweep_version": __version__, "created_at": utc_now(),
    })
    return result
