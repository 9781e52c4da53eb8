"""Random-weight checkpoints of the quantile families, built offline by each family's own package.

Tests use the ``tiny`` shapes; ``benchmarks/family_cost.py`` uses the ``default``
shapes, those of each family's default checkpoint (``amazon/chronos-2``: 120M
parameters, ``amazon/chronos-bolt-base``: 205M, ``Datadog/Toto-2.0-22m``: 22M).
The Chronos shapes are those of their T5 base encoders and decoders; Toto 2.0's
card gives only the parameter count, so its ``default`` shape is one with that
count (the benchmark prints the count it built).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

__all__ = ["PRESETS", "save_random_checkpoint", "parameter_count"]

#: Levels of amazon/chronos-2 (21: 0.01, 0.05, 0.1, ..., 0.95, 0.99) and of Chronos-Bolt / Toto 2.0 (9).
CHRONOS2_LEVELS = [0.01, *[round(0.05 * k, 2) for k in range(1, 20)], 0.99]
NINE_LEVELS = [round(0.1 * k, 1) for k in range(1, 10)]

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "toto2": {
        "tiny": dict(patch_size=16, d_model=32, num_heads=2, num_layers=2, layer_group_size=2),
        "default": dict(patch_size=16, d_model=384, num_heads=6, num_layers=12, layer_group_size=4),
    },
    "chronos2": {
        "tiny": dict(d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, context_length=2048),
        "default": dict(d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_heads=12, context_length=8192),
    },
    "chronos-bolt": {
        "tiny": dict(d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, context_length=2048),
        "default": dict(d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_heads=12, context_length=2048),
    },
}


def save_random_checkpoint(family: str, preset: str, folder: str | Path, seed: int = 0) -> Path:
    """Build a randomly initialised ``family`` model of shape ``preset`` and save it as the hub does.

    Returns
    -------
    Path
        ``folder``, holding ``config.json`` and ``model.safetensors``.

    Raises
    ------
    KeyError
        If the family or preset is unknown.
    """
    import torch

    shape = dict(PRESETS[family][preset])
    torch.manual_seed(seed)
    folder = Path(folder)
    {"toto2": _toto2, "chronos2": _chronos2, "chronos-bolt": _chronos_bolt}[family](shape).save_pretrained(folder)
    return folder


def parameter_count(folder: str | Path) -> int:
    """Parameters stored in ``folder/model.safetensors``."""
    from safetensors import safe_open

    with safe_open(str(Path(folder) / "model.safetensors"), "pt") as f:
        return sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())


def _toto2(shape: dict[str, Any]):
    from toto2 import Toto2Model, Toto2ModelConfig

    ratio = Toto2ModelConfig.compute_residual_attn_ratio(4096, shape["patch_size"])
    config = Toto2ModelConfig(num_variate_layers_per_group=1, variate_layer_first=False, residual_attn_ratio=ratio,
                              **shape)
    return Toto2Model(config).eval()


def _chronos2(shape: dict[str, Any]):
    from chronos.chronos2 import Chronos2Model, Chronos2Pipeline
    from chronos.chronos2.config import Chronos2CoreConfig

    context_length = shape.pop("context_length")
    config = Chronos2CoreConfig(**shape, chronos_config=dict(
        context_length=context_length, output_patch_size=16, input_patch_size=16, input_patch_stride=16,
        quantiles=CHRONOS2_LEVELS, use_reg_token=True, use_arcsinh=True, max_output_patches=64))
    config.architectures = ["Chronos2Model"]
    config.chronos_pipeline_class = "Chronos2Pipeline"
    return Chronos2Pipeline(Chronos2Model(config).eval())


def _chronos_bolt(shape: dict[str, Any]):
    from chronos.chronos_bolt import ChronosBoltModelForForecasting
    from transformers import T5Config

    context_length = shape.pop("context_length")
    config = T5Config(**shape, num_decoder_layers=shape["num_layers"], feed_forward_proj="relu",
                      decoder_start_token_id=0, pad_token_id=0, chronos_config=dict(
                          context_length=context_length, prediction_length=64, input_patch_size=16,
                          input_patch_stride=16, quantiles=NINE_LEVELS, use_reg_token=True))
    config.architectures = ["ChronosBoltModelForForecasting"]
    config.chronos_pipeline_class = "ChronosBoltPipeline"
    return ChronosBoltModelForForecasting(config).eval()
