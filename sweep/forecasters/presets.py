"""Random-weight checkpoints of the quantile families, built offline by each family's own package.

Tests use the ``tiny`` shapes (``python -m sweep.forecasters.presets FAMILY tiny FOLDER`` writes one, to sweep
offline: ``--<family>-model FOLDER``); ``benchmarks/family_cost.py`` uses the ``default``
shapes, those of each family's default checkpoint (``amazon/chronos-2``: 120M
parameters, ``amazon/chronos-bolt-base``: 205M, ``Datadog/Toto-2.0-22m``: 22M,
``google/timesfm-2.5-200m-pytorch``: 231M, ``NX-AI/TiRex-2``: 82.5M).
The Chronos shapes are those of their T5 base encoders and decoders and TimesFM 2.5's is the
package's own ``TimesFM_2p5_200M_Definition``; Toto 2.0's card gives only the parameter count,
and TiRex-2's README only its total (38.4M univariate + 44.1M multivariate), so their
``default`` shapes are ones with that count (the benchmark prints the count it built; TiRex-2's
uses the widths of the package's own test model, ``conftest.py`` of NX-AI/tirex-2, with 12 blocks).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

__all__ = ["PRESETS", "save_random_checkpoint", "parameter_count", "main"]

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
    # model_dims=None: the package's own 200M definition, unchanged
    "timesfm": {
        "tiny": dict(model_dims=32, num_layers=2, num_heads=2),
        "default": dict(model_dims=None),
    },
    "tirex2": {
        "tiny": dict(embedding_dim=128, num_blocks=2, num_heads=4, input_ff_dim=64, h_expand=2, patch=32,
                     context_len=512, future_len=64),
        "default": dict(embedding_dim=512, num_blocks=12, num_heads=4, input_ff_dim=2048, h_expand=4, patch=32,
                        context_len=2048, future_len=320),
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
    builders = {"toto2": _toto2, "chronos2": _chronos2, "chronos-bolt": _chronos_bolt, "timesfm": _timesfm,
                "tirex2": _tirex2}
    builders[family](shape).save_pretrained(folder)
    return folder


def main(argv: list[str] | None = None) -> None:
    """``python -m sweep.forecasters.presets FAMILY PRESET FOLDER [--seed N]``: save a random checkpoint and print
    its folder and parameter count."""
    import argparse

    parser = argparse.ArgumentParser(description="Save a random-weight checkpoint of a quantile family, built "
                                                 "offline by the family's own package.")
    parser.add_argument("family", choices=sorted(PRESETS))
    parser.add_argument("preset", choices=("tiny", "default"))
    parser.add_argument("folder", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    folder = save_random_checkpoint(args.family, args.preset, args.folder, args.seed)
    print(f"{args.family} {args.preset}: {folder} ({parameter_count(folder):,} parameters)")


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


def _timesfm(shape: dict[str, Any]):
    """TimesFM 2.5 through the package's module class, at the package's definition with ``shape``'s widths.

    The package's ``RMSNorm`` scales start at zero (which silences every normalised layer), so they, and the
    attention's per-dimension scales, are drawn in [0.5, 1.5] like the rest of a random model's weights."""
    import torch

    from timesfm.timesfm_2p5.timesfm_2p5_base import TimesFM_2p5_200M_Definition

    from .timesfm import model_class, resized_definition

    definition = TimesFM_2p5_200M_Definition() if shape["model_dims"] is None else resized_definition(**shape)
    model = model_class(definition)(torch_compile=False)
    for name, parameter in model.model.named_parameters():
        if name.endswith("scale"):
            torch.nn.init.uniform_(parameter, 0.5, 1.5)
    return model


def _tirex2(shape: dict[str, Any]) -> "_TiRex2Checkpoint":
    """TiRex-2 through the package's ``TiRex2`` class with alternating mLSTM / sLSTM blocks, as the package's own
    test model is built (``conftest.py`` of NX-AI/tirex-2)."""
    shape = dict(shape)
    patch, width, heads = shape.pop("patch"), shape["embedding_dim"], shape.pop("num_heads")
    templates = {name: {"time_mixer": {"model_type": kind, "embedding_dim": width, "num_heads": heads,
                                       "num_slstm_heads": heads},
                        "variate_mixer": {"embedding_dim": width, "num_heads": heads}, "dropout": 0.0, "eps": 1e-7}
                 for name, kind in (("mlstm", "bi-mlstm"), ("slstm", "bi-slstm"))}
    config = dict(stack_config={"templates": templates,
                                "recipe": [("mlstm", "slstm")[i % 2] for i in range(shape["num_blocks"])]},
                  input_patch_size=patch, output_patch_size=patch, quantiles=NINE_LEVELS,
                  tokenizer_cfg={"output_patch_size": patch, "input_patch_size": patch, "input_patch_stride": patch},
                  scaler_cfg={"use_arcsinh": True, "binaryaware": True}, act_func="SiLU", dropout=0.0,
                  tta_sign_flip=False, tta_diff=True, stack_out_norm_config={"eps": 1e-7}, **shape)
    return _TiRex2Checkpoint(config)


class _TiRex2Checkpoint:
    """A random ``TiRex2`` and the ``config.json`` it was built from, saved as the hub holds it: ``config.json`` and
    ``model.safetensors`` with each shared tensor stored once (``safetensors.torch.save_model``), which
    ``tirex2.load_model`` reads back (restoring the aliases)."""

    def __init__(self, config: dict[str, Any]):
        from tirex2 import TiRex2

        self.config, self.model = config, TiRex2(**config, device="cpu").eval()

    def save_pretrained(self, folder: Path) -> None:
        import json

        from safetensors.torch import save_model

        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text(json.dumps(self.config, indent=1))
        save_model(self.model, str(folder / "model.safetensors"))


if __name__ == "__main__":
    main()
