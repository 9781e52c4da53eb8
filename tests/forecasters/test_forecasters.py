"""Contract tests run against every forecaster, plus Toto loading."""

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import ks_2samp

from sweep.errors import ModelLoadError
from sweep.forecasters import forecaster_from_identity
from sweep.forecasters.toto import TotoForecaster, load_toto

RNG = np.random.default_rng(0)
CONTEXTS = 100 * np.exp(np.cumsum(RNG.normal(0, 0.01, (3, 64)), axis=1))
STAMPS = np.tile(1_700_000_000 + 3600 * np.arange(64), (3, 1))


@pytest.fixture
def forecaster(tiny_toto_dir):
    """A sample-path family (Kronos' contract: tests/forecasters/test_kronos.py; persistence predicts quantiles:
    tests/forecasters/test_naive_distribution.py)."""
    return TotoForecaster(str(tiny_toto_dir))


def test_when_sampling_then_paths_have_the_contract_shape_and_are_finite(forecaster):
    batch = forecaster.forecast(CONTEXTS, STAMPS, horizon=3, num_samples=5, seed=0)
    assert batch.samples.shape == (3, 5, 3)
    assert np.isfinite(batch.samples).all()
    assert batch.latency_s() >= 0


def test_when_the_seed_is_the_same_then_the_paths_are_the_same(forecaster):
    a = forecaster.forecast(CONTEXTS, STAMPS, horizon=2, num_samples=4, seed=7).samples
    b = forecaster.forecast(CONTEXTS, STAMPS, horizon=2, num_samples=4, seed=7).samples
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("horizon", [2, 20])  # within Toto's 16-bar patch, and fed back across patches
def test_when_fewer_samples_are_asked_then_they_are_the_first_of_a_larger_run(forecaster, horizon):
    small = forecaster.forecast(CONTEXTS, STAMPS, horizon=horizon, num_samples=3, seed=1).samples
    large = forecaster.forecast(CONTEXTS, STAMPS, horizon=horizon, num_samples=40, seed=1).samples
    assert large.shape == (3, 40, horizon)
    np.testing.assert_array_equal(small, large[:, :3])


def test_when_a_window_is_drawn_alone_then_its_paths_equal_those_drawn_in_a_batch(forecaster):
    """Each window has its own random stream: serving one origin reproduces the batched evaluation."""
    batch = forecaster.forecast(CONTEXTS, STAMPS, horizon=3, num_samples=20, seed=4).samples
    for row in range(len(CONTEXTS)):
        alone = forecaster.forecast(CONTEXTS[row:row + 1], STAMPS[row:row + 1], horizon=3, num_samples=20, seed=4)
        np.testing.assert_array_equal(alone.samples[0], batch[row])


def test_when_the_horizon_fits_one_patch_then_paths_come_from_toto_ts_next_patch_distribution(tiny_toto_dir):
    import torch
    from toto.data.util.dataset import MaskedTimeseries
    from toto.inference.forecaster import TotoForecaster as TotoDecoder

    f = TotoForecaster(str(tiny_toto_dir))
    series = torch.as_tensor(CONTEXTS, dtype=torch.float32)[:, None, :]
    stamps = torch.as_tensor(STAMPS)[:, None, :]
    inputs = MaskedTimeseries(series=series, padding_mask=torch.ones_like(series, dtype=torch.bool),
                              id_mask=torch.zeros_like(series, dtype=torch.int), timestamp_seconds=stamps,
                              time_interval_seconds=torch.full((3, 1), 3600))
    with torch.inference_mode():
        reference_mean = TotoDecoder(f.backbone).forecast(inputs, prediction_length=4).mean[:, 0]
        ours = f.next_steps_distribution(inputs, 4)
    np.testing.assert_allclose(ours.mean[:, 0].numpy(), reference_mean.numpy(), rtol=1e-5)
    # same distribution as toto-ts' chain-by-chain decoding: two-sample KS test per window and step
    ours_paths = f.forecast(CONTEXTS, STAMPS, horizon=4, num_samples=2048, seed=0).samples
    with torch.inference_mode():
        torch.manual_seed(0)
        theirs = TotoDecoder(f.backbone).forecast(inputs, prediction_length=4, num_samples=2048,
                                                  samples_per_batch=256).samples[:, 0].permute(0, 2, 1).numpy()
    p_values = [ks_2samp(ours_paths[w, :, h], theirs[w, :, h]).pvalue for w in range(3) for h in range(4)]
    assert min(p_values) > 1e-4
    assert f.speed_settings(3, 64, 4)["decoder"] == "shared-context-per-window"
    assert f.speed_settings(3, 64, 17)["decoder"] == "toto-ts-kv-cache"


def test_when_seeds_differ_then_toto_paths_differ(tiny_toto_dir):
    f = TotoForecaster(str(tiny_toto_dir))
    a = f.forecast(CONTEXTS, STAMPS, horizon=2, num_samples=4, seed=1).samples
    b = f.forecast(CONTEXTS, STAMPS, horizon=2, num_samples=4, seed=2).samples
    assert not np.array_equal(a, b)
    assert np.unique(a[0, :, 0]).size == 4  # independent paths, not copies


def test_when_memory_is_tight_then_samples_per_batch_shrinks_to_a_power_of_two_for_decoded_horizons(tiny_toto_dir):
    f = TotoForecaster(str(tiny_toto_dir))
    assert f.samples_per_batch(100, 512, 20) == 16  # tiny Toto's patch is 16 bars: 20 are decoded
    f.memory_budget_bytes = 100 * 4 * 40 * 32 * 20 * 3  # room for about 3 rows per window
    spb = f.samples_per_batch(100, 512, 20)
    assert spb in (1, 2) and f.speed_settings(100, 512, 20)["samples_per_batch"] == spb
    # one patch decodes nothing: the block (and with it each window's stream) never depends on the batch
    assert f.samples_per_batch(100, 512, 1) == f.samples_per_batch(100_000, 512, 1) == 16


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_when_a_local_checkpoint_is_loaded_then_every_file_that_defines_it_is_fingerprinted(tiny_toto_dir, tmp_path):
    folder = Path(shutil.copytree(tiny_toto_dir, tmp_path / "toto"))
    _module, identity = load_toto(str(folder))
    assert identity == {"model_id": str(folder.resolve()), "checkpoint_files": {
        name: _sha256(folder / name) for name in ("config.json", "model.safetensors")}}
    (folder / "training.json").write_text('{"trained_until": "2024-01-01"}')  # a training job's record, when present
    assert load_toto(str(folder))[1]["checkpoint_files"]["training.json"] == _sha256(folder / "training.json")


def test_when_a_document_recorded_only_the_weights_hash_then_it_loads_and_changed_weights_are_refused(tiny_toto_dir,
                                                                                                       tmp_path):
    folder = Path(shutil.copytree(tiny_toto_dir, tmp_path / "toto"))
    legacy = {"family": "toto", "model_id": str(folder.resolve()), "checkpoint_sha256": _sha256(
        folder / "model.safetensors")}  # as documents written before checkpoint_files recorded it
    assert forecaster_from_identity(legacy).identity()["model_id"] == str(folder.resolve())
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(ModelLoadError, match=r"changed since it was recorded: model.safetensors \(sha256 "):
        forecaster_from_identity(legacy)


def test_when_the_folder_lacks_files_then_model_load_error_lists_them(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match=r"lacks \['model.safetensors'\]"):
        load_toto(str(tmp_path))


def test_when_offline_and_not_cached_then_model_load_error_names_the_flag(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelLoadError, match=r"--toto-model 'Datadog/Toto-Open-Base-1.0' could not be downloaded"):
        load_toto("Datadog/Toto-Open-Base-1.0")


def test_when_a_hub_id_resolves_then_the_snapshot_commit_is_the_revision(tiny_toto_dir, tmp_path, monkeypatch):
    """The hub is unreachable here: stand in for the network with a local snapshot folder."""
    snapshot = tmp_path / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        (snapshot / name).write_bytes((Path(tiny_toto_dir) / name).read_bytes())
    calls = {}

    def fake_snapshot_download(repo_id, revision=None, allow_patterns=None):
        calls.update(repo_id=repo_id, allow_patterns=allow_patterns)
        return str(snapshot)

    monkeypatch.setattr("huggingface_hub.snapshot_download", fake_snapshot_download)
    _module, identity = load_toto("Datadog/Toto-Open-Base-1.0")
    assert identity == {"model_id": "Datadog/Toto-Open-Base-1.0", "revision": "0123abcd"}
    assert calls["allow_patterns"] == ["config.json", "model.safetensors"]


def test_when_the_id_is_neither_a_folder_nor_a_hub_id_then_model_load_error():
    with pytest.raises(ModelLoadError, match="neither an existing checkpoint folder nor a Hugging Face id"):
        load_toto("./no/such/dir")
