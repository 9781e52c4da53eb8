"""Fine-tune Toto (or train a tiny one from scratch) on bars before the first validation origin."""

from .train import PRESETS, TrainResult, build_scratch, save_checkpoint, train_toto

__all__ = ["PRESETS", "TrainResult", "build_scratch", "save_checkpoint", "train_toto"]
