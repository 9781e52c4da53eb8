"""Chronos-2 training through chronos-forecasting's own ``Chronos2Pipeline.fit`` (full fine-tuning).

``init="scratch"`` starts from random weights of a :data:`sweep.forecasters.presets.PRESETS`
shape (what the demo trains offline); anything else is a hub id or a folder to fine-tune. The
series are each symbol's closes before its first validation origin, so nothing a validation or
test origin scores is trained on. The folder is replaced whole once training finished
(:func:`sweep.storage.store.staged_folder`), with a ``training.json`` beside the weights recording the
data, the steps and ``trained_until``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sweep.errors import ModelLoadError
from sweep.forecasters.presets import PRESETS
from sweep.forecasters.overlap import TRAINING_METADATA, inherited_limits
from sweep.storage.store import staged_folder, utc_now, write_json_atomic
from sweep.training import FitWindow, check_preset
from sweep.data.windows import WindowSpec

__all__ = ["DEFAULT_LR", "SCRATCH_LR", "TrainResult", "load_init", "window_options", "train_chronos2"]

#: ``Chronos2Pipeline.fit``'s own default learning rate (chronos-forecasting 2.3), for fine-tuning.
DEFAULT_LR = 1e-6
#: Learning rate from random weights (scratch): the pipeline's default barely moves them in a demo's steps.
SCRATCH_LR = 1e-3


@dataclass(frozen=True)
class TrainResult:
    """Where the checkpoint went and how training ended.

    Attributes
    ----------
    output : Path
        Folder with ``config.json``, ``model.safetensors`` and ``training.json`` (pass it as ``--chronos2-model``).
    steps : int
    """

    output: Path
    steps: int


def load_init(folder_or_id: str, init: str, flag: str = "--init"):
    """The ``Chronos2Pipeline`` to train, from a folder or hub id.

    Loaded as :class:`sweep.forecasters.chronos.Chronos2Forecaster` loads it, with ``flag`` and ``init``
    (the value given; ``folder_or_id`` is a random checkpoint's folder for ``scratch``) named in messages.

    Raises
    ------
    ModelLoadError
        If chronos-forecasting is missing, or the checkpoint cannot be found, loaded, or is not Chronos-2.
    """
    from sweep.forecasters.checkpoints import resolve_checkpoint
    from sweep.forecasters.chronos import INSTALL_HINT
    from sweep.forecasters.registry import FAMILIES

    try:
        from chronos import BaseChronosPipeline
    except ImportError as e:
        raise ModelLoadError(f"chronostraining needs chronos-forecasting: {INSTALL_HINT}") from e
    folder, _identity = resolve_checkpoint(folder_or_id, None, flag, FAMILIES["chronos2"].default_model,
                                           "'python -m chronostraining' or the pipeline's save_pretrained")
    try:
        pipeline = BaseChronosPipeline.from_pretrained(str(folder))
    except Exception as e:  # not a Chronos config, damaged weights: name the flag and the folder
        raise ModelLoadError(f"{flag} {init!r}: {folder} is not a loadable Chronos checkpoint "
                             f"({type(e).__name__}: {e})") from e
    if type(pipeline).__name__ != "Chronos2Pipeline":
        raise ModelLoadError(f"{flag} {init!r} holds a {type(pipeline).__name__} checkpoint, not Chronos2Pipeline; "
                             f"chronostraining fine-tunes Chronos-2 only (e.g. {FAMILIES['chronos2'].default_model!r})")
    return pipeline


def window_options(spec: WindowSpec) -> dict[str, Any]:
    """The keyword arguments of :func:`train_chronos2` that follow the sweep's windows: the longest context
    searched and the horizon."""
    return {"context_length": spec.max_context_length, "horizon": spec.horizon}


def train_chronos2(series: list[FitWindow], output: str | Path, init: str = "amazon/chronos-2", preset: str = "tiny",
                   context_length: int = 512, horizon: int = 1, steps: int = 300, batch_size: int = 32,
                   lr: float | None = None, seed: int = 0, metadata: dict[str, Any] | None = None) -> TrainResult:
    """Train or fine-tune Chronos-2 on ``series`` and write ``output/{config.json,model.safetensors,training.json}``.

    Parameters
    ----------
    series : list of FitWindow
        Pre-validation closes of each symbol.
    init : str
        ``"scratch"`` (shape ``preset``), or a hub id / folder to fine-tune.
    context_length : int
        Longest context per training input (capped at the model's maximum).
    horizon : int
        Bars predicted per training input (the sweep's ``--horizon``).
    steps, batch_size : int
    lr : float, optional
        Default :data:`DEFAULT_LR` when fine-tuning, :data:`SCRATCH_LR` from scratch.
    metadata : dict, optional
        Extra provenance for ``training.json`` (data files, windows).

    Raises
    ------
    ConfigError
        If the preset is unknown.
    ModelLoadError
        If ``init`` cannot be loaded or is not a Chronos-2 checkpoint.
    """
    import torch

    from sweep.forecasters.presets import save_random_checkpoint

    if init == "scratch":
        check_preset(PRESETS["chronos2"], preset)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=f".{output.name}.work.") as work:
        start = init if init != "scratch" else str(save_random_checkpoint("chronos2", preset, Path(work) / "init",
                                                                          seed=seed))
        pipeline = load_init(start, init)
        pipeline.model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
        context_length = min(context_length, int(pipeline.model_context_length))
        torch.manual_seed(seed)
        tuned = pipeline.fit([s.close.astype(np.float32) for s in series], prediction_length=horizon,
                             context_length=context_length, num_steps=steps, batch_size=batch_size,
                             learning_rate=lr or (SCRATCH_LR if init == "scratch" else DEFAULT_LR),
                             output_dir=Path(work) / "trainer", seed=seed, report_to="none")
        with staged_folder(output) as staging:
            tuned.save_pretrained(staging)
            write_json_atomic(staging / TRAINING_METADATA, {
                **(metadata or {}), "init": init, "preset": preset if init == "scratch" else None, "steps": steps,
                "seed": seed, "context_length": context_length, "horizon": horizon,
                "trainer": "chronos-forecasting Chronos2Pipeline.fit (full)", "created_at": utc_now(),
                "series": {s.symbol: {"first_bar": s.first_bar, "last_bar": s.last_bar} for s in series},
                **inherited_limits(init, [s.last_bar for s in series])})
    return TrainResult(output, steps)
