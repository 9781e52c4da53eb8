"""Every model family behind one contract, the quantile families' parity with their own packages, and their loading."""

import json

import numpy as np
import pytest

from sweep.forecasters.checkpoints import is_hub_id
from sweep.cli import main
from sweep.errors import ConfigError, ModelLoadError
from sweep.forecasters import forecaster_from_identity
from sweep.forecasters.registry import FAMILIES, FRACAST_BUNDLED, get_family

RNG = np.random.default_rng(0)
CLOSE = 100 * np.exp(np.cumsum(RNG.normal(0, 0.01, (3, 128)), axis=1))
OHLCV = np.stack([CLOSE * 0.999, CLOSE * 1.004, CLOSE * 0.996, CLOSE, RNG.uniform(5, 50, CLOSE.shape)], axis=-1)
STAMPS = np.tile(1_700_000_000 + 3600 * np.arange(128), (3, 1))
QUANTILE_FAMILIES = [name for name, f in FAMILIES.items() if f.output == "quantiles"]
#: Families whose default checkpoint is a hub id (Fracast's ships in its package).
HUB_QUANTILE_FAMILIES = [name for name in QUANTILE_FAMILIES if is_hub_id(FAMILIES[name].default_model or "")]


@pytest.fixture(scope="module")
def checkpoints(tiny_toto_dir, tiny_kronos_dir, tiny_quantile_dirs):
    """What each family loads in these tests: tiny random checkpoints, and Fracast-0's real bundled weights."""
    return {"toto": tiny_toto_dir, "kronos": tiny_kronos_dir, **tiny_quantile_dirs, "fracast": FRACAST_BUNDLED}


@pytest.fixture(params=list(FAMILIES))
def forecaster(request, checkpoints):
    family = FAMILIES[request.param]
    return family.load(None if family.flag is None else str(checkpoints[family.name]))


def _forecast(forecaster, rows=slice(None), seed=0):
    return forecaster.forecast(CLOSE[rows], STAMPS[rows], horizon=3, num_samples=4, seed=seed, ohlcv=OHLCV[rows])


def test_when_any_family_forecasts_then_it_returns_its_kind_in_the_contract_shape(forecaster):
    batch = _forecast(forecaster)
    predictive = batch.predictive
    assert predictive.kind == forecaster.output == FAMILIES[forecaster.family].output
    assert predictive.values.shape[0] == 3 and predictive.values.shape[2] == 3 and np.isfinite(predictive.values).all()
    if predictive.kind == "quantiles":
        assert predictive.values.shape[1] == len(predictive.levels) and np.all(np.diff(predictive.levels) > 0)
    else:
        assert predictive.values.shape[1] == 4
    assert batch.latency_s() >= 0 and predictive.point("median").shape == (3, 3)


def test_when_any_family_forecasts_a_window_alone_then_it_equals_the_batched_forecast(forecaster):
    """Sample families draw per-window streams: exactly equal. Quantile families run float32 matrix products whose
    rounding depends on the batch size: equal to 1e-5 of the price (about 1e-7 for a trained model's outputs)."""
    batched = _forecast(forecaster, seed=5).predictive.values
    for row in range(3):
        alone = _forecast(forecaster, slice(row, row + 1), seed=5).predictive.values
        if forecaster.output == "samples":
            np.testing.assert_array_equal(alone[0], batched[row])
        else:
            np.testing.assert_allclose(alone[0], batched[row], rtol=0, atol=1e-5 * CLOSE[row, -1])


def test_when_any_family_is_reloaded_from_its_identity_then_it_forecasts_the_same(forecaster):
    identity = forecaster.identity()
    assert identity["family"] == forecaster.family and identity["model_id"]
    again = forecaster_from_identity(json.loads(json.dumps(identity)))
    np.testing.assert_array_equal(_forecast(again).predictive.values, _forecast(forecaster).predictive.values)


def test_when_any_familys_requests_overlap_then_the_cache_draws_only_new_origins_and_serves_its_own_rows(
        forecaster, shared_data, monkeypatch):
    """The cache contract: a config drawn once is served again without inference (another point included), a
    request overlapping an earlier one draws only the origins it lacks (whole requests for a family whose
    windows depend on their batch), and the served rows equal a direct draw (to the batch-size rounding)."""
    from dataclasses import replace

    from sweep.scoring.cache import SampleCache
    from sweep.data.bars import load_ohlcv
    from sweep.scoring.evaluate import draw_samples
    from sweep.search.space import default_config

    data = load_ohlcv(shared_data, "BTCUSD")
    # garch fits on at least 500 returns: 501 bars is its smallest ceiling
    config = default_config(forecaster.family, 501 if forecaster.family == "garch" else 64)
    drawn = []
    real = forecaster.forecast
    monkeypatch.setattr(forecaster, "forecast", lambda contexts, *a, **k: drawn.append(len(contexts)) or
                        real(contexts, *a, **k))
    first, second = np.arange(3000, 3012), np.arange(3006, 3018)
    cache = SampleCache()
    draw_samples(forecaster, config, data, first, 1, cache)
    draw_samples(forecaster, replace(config, aggregate="mean"), data, first, 1, cache)
    served, _ = draw_samples(forecaster, config, data, second, 1, cache)
    assert drawn == [12, 6 if forecaster.rows_independent(1) else 12]
    direct, _ = draw_samples(forecaster, config, data, second, 1, SampleCache(enabled=False))
    np.testing.assert_allclose(served.predictive.values, direct.predictive.values, rtol=0,
                               atol=1e-5 * data.close[second].max())


def _package_quantiles(family, folder, close, ohlcv, horizon, sampling):
    """The package's own call on one window: ``[n_levels, horizon]``."""
    import torch

    inputs = sampling.get("inputs")
    if family == "timesfm":
        return _timesfm_package_quantiles(folder, close, horizon, sampling)
    if family == "tirex2":
        import tirex2

        series = tirex2.TimeseriesType(target=torch.tensor(close[None], dtype=torch.float32), past_covariates=None,
                                       future_covariates=None)
        return tirex2.load_model(str(folder), device="cpu").forecast([series], horizon, output_type="numpy",
                                                                      **sampling)[0][0]
    if family == "toto2":
        from toto2 import Toto2Model

        model = Toto2Model.from_pretrained(str(folder))
        values = ohlcv.T if inputs == "ohlcv" else close[None]
        target = torch.tensor(values[None], dtype=torch.float32)
        q = model.forecast({"target": target, "target_mask": torch.ones_like(target, dtype=torch.bool),
                            "series_ids": torch.zeros(1, len(values), dtype=torch.long)}, horizon,
                           decode_block_size=None)
        return q[:, 0, 3 if inputs == "ohlcv" else 0].numpy()
    from chronos import BaseChronosPipeline

    pipeline = BaseChronosPipeline.from_pretrained(str(folder))
    if family == "chronos2" and inputs == "covariates":
        task = [{"target": close, "past_covariates": {"high": ohlcv[:, 1], "low": ohlcv[:, 2], "volume": ohlcv[:, 4]}}]
    elif family == "chronos2":
        task = [torch.tensor(close, dtype=torch.float32)]
    else:
        task = torch.tensor(close[None], dtype=torch.float32)
    quantiles, _mean = pipeline.predict_quantiles(task, prediction_length=horizon, quantile_levels=pipeline.quantiles)
    return (quantiles[0][0] if family == "chronos2" else quantiles[0]).T.numpy()  # [levels, horizon]


def _timesfm_package_quantiles(folder, close, horizon, flags):
    """The package's module at the tiny preset's widths (named here, not read from the weights), its own
    ``load_checkpoint``, ``compile`` with the model card's flags and ``forecast``; levels 0.1 ... 0.9."""
    import timesfm
    from timesfm.timesfm_2p5 import timesfm_2p5_torch as package

    from sweep.forecasters.presets import PRESETS
    from sweep.forecasters.timesfm import resized_definition

    model = package.TimesFM_2p5_200M_torch.__new__(package.TimesFM_2p5_200M_torch)
    model.model = type("Tiny", (package.TimesFM_2p5_200M_torch_module,),
                       {"config": resized_definition(**PRESETS["timesfm"]["tiny"])})()
    model.model.load_checkpoint(str(folder / "model.safetensors"))
    model.compile(timesfm.ForecastConfig(max_context=len(close), max_horizon=horizon, use_continuous_quantile_head=True,
                                         infer_is_positive=True, **flags))
    return model.forecast(horizon, [close])[1][0, :, 1:].T


#: A window with a strong linear trend, where TiRex-2's tta_diff takes its differencing path.
TREND = np.linspace(100.0, 130.0, 128) + RNG.normal(0, 0.2, 128)


@pytest.mark.parametrize("family,sampling", [
    ("toto2", {"inputs": "close"}), ("toto2", {"inputs": "ohlcv"}), ("chronos2", {"inputs": "close"}),
    ("chronos2", {"inputs": "covariates"}), ("chronos-bolt", {}),
    ("timesfm", {"normalize_inputs": True, "force_flip_invariance": True, "fix_quantile_crossing": True}),
    ("timesfm", {"normalize_inputs": False, "force_flip_invariance": False, "fix_quantile_crossing": False}),
    ("tirex2", {"tta_sign_flip": False, "tta_diff": True}), ("tirex2", {"tta_sign_flip": True, "tta_diff": False})])
def test_when_a_quantile_family_forecasts_then_it_equals_its_packages_own_call(family, sampling, tiny_quantile_dirs):
    folder = tiny_quantile_dirs[family]
    close, ohlcv = np.vstack([CLOSE, TREND]), np.concatenate([OHLCV, OHLCV[:1]])
    ours = FAMILIES[family].load(str(folder)).forecast(close, np.vstack([STAMPS, STAMPS[:1]]), 4, 1, 0, sampling,
                                                        ohlcv)
    for row in range(len(close)):
        theirs = _package_quantiles(family, folder, close[row], ohlcv[row], 4, sampling)
        np.testing.assert_allclose(ours.quantiles[row], theirs, rtol=0, atol=1e-5 * close[row, -1])


def test_when_tirex2_differences_a_trend_then_its_flag_changes_the_forecast(tiny_quantile_dirs):
    """tta_diff only acts on windows with a strong linear trend; the sweep searches it, so it must reach the model."""
    forecaster = FAMILIES["tirex2"].load(str(tiny_quantile_dirs["tirex2"]))
    on, off = (forecaster.forecast(TREND[None], STAMPS[:1], 4, 1, 0, {"tta_diff": flag}).quantiles
               for flag in (True, False))
    assert np.abs(on - off).max() > 1e-3 * TREND[-1]


@pytest.mark.parametrize("family", HUB_QUANTILE_FAMILIES)
def test_when_a_hub_id_is_given_then_it_downloads_through_snapshot_download(family, tiny_quantile_dirs, monkeypatch):
    import huggingface_hub

    calls = []

    def fake_download(repo_id, revision=None, allow_patterns=None):
        calls.append(repo_id)
        return str(tiny_quantile_dirs[family])

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    loaded = FAMILIES[family].load()
    assert calls == [FAMILIES[family].default_model] and loaded.identity()["model_id"] == FAMILIES[family].default_model


@pytest.mark.parametrize("family", HUB_QUANTILE_FAMILIES)
def test_when_offline_then_the_error_names_the_flag(family, monkeypatch):
    import huggingface_hub

    def offline(**_kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(ModelLoadError, match=f"{FAMILIES[family].flag} .*could not be downloaded"):
        FAMILIES[family].load()


def test_when_a_checkpoint_of_another_chronos_family_is_given_then_the_error_says_so(tiny_quantile_dirs):
    with pytest.raises(ModelLoadError, match="--chronos2-model .*ChronosBoltPipeline"):
        FAMILIES["chronos2"].load(str(tiny_quantile_dirs["chronos-bolt"]))


def test_when_toto2_context_is_not_a_multiple_of_its_patch_then_the_trial_config_is_refused(tiny_quantile_dirs):
    forecaster = FAMILIES["toto2"].load(str(tiny_quantile_dirs["toto2"]))
    with pytest.raises(ConfigError, match="multiple of the checkpoint's patch size 16"):
        forecaster.forecast(CLOSE[:, :100], STAMPS[:, :100], 1, 1, 0, {}, OHLCV[:, :100])


def test_when_a_variant_or_unknown_family_is_named_then_the_registry_resolves_or_refuses():
    assert get_family("toto-ft").name == "toto" and get_family("kronos-ft").name == "kronos"
    with pytest.raises(ConfigError, match="model family 'prophet' is unknown"):
        get_family("prophet")


def test_when_the_quantile_families_are_swept_then_a_candidate_and_an_ensemble_are_written(
        shared_data, tiny_quantile_dirs, tiny_toto_dir, tmp_path):
    """The tiny random checkpoints (Fracast-0's real weights cost 0.1 s per window; python -m sweep sweeps them)."""
    families = list(tiny_quantile_dirs)
    flags = [arg for family in families for arg in (FAMILIES[family].flag, str(tiny_quantile_dirs[family]))]
    windows = ["--val-windows", "20", "--test-windows", "20", "--stride", "24", "--max-context-length", "256"]
    assert main(["--symbols", "BTCUSD", "--models", *families, "toto", "naive", "--n-trials", "20",
                 "--toto-model", str(tiny_toto_dir), *flags, "--data-dir", str(shared_data), "--runs-dir",
                 str(tmp_path / "runs"), "--output-dir", str(tmp_path / "hp"), "--run-id", "q", "--ensemble", "lp",
                 *windows]) == 0
    doc = json.loads((tmp_path / "hp/candidates/q/BTCUSD.json").read_text())
    studies = {s["model"]: s["n_complete"] for s in doc["selection"]["studies"]}
    assert all(studies[f] == 20 for f in families) and studies["naive"] == 1
    ensemble = json.loads((tmp_path / "hp/candidates/q/ensemble/BTCUSD.json").read_text())
    members = {m["label"]: m for m in ensemble["config"]["members"]}
    assert {*families, "toto", "naive"} == set(members)
    assert all(members[f]["config"]["num_samples"] == 1 for f in families)
    assert 0 <= ensemble["test"]["crps"] and 0 < ensemble["test"]["coverage_nominal"] <= 0.9


@pytest.mark.parametrize("values, match", [
    ({"model": "chronos-bolt", "num_samples": 8}, "predicts quantiles, not paths; set num_samples to 1"),
    ({"model": "toto2", "aggregate": "trimmed_mean_0.1"}, "needs sample paths"),
    ({"model": "chronos2", "sampling": {"inputs": "ohlcv"}}, "chronos2 inputs 'ohlcv' is unknown"),
    ({"model": "chronos-bolt", "sampling": {"inputs": "close"}}, "it takes none"),
    ({"model": "timesfm", "sampling": {"normalize_inputs": 1}}, "timesfm normalize_inputs 1 is unknown"),
    ({"model": "tirex2", "sampling": {"tta_sign_flip": "yes"}}, "tirex2 tta_sign_flip 'yes' is unknown"),
])
def test_when_a_quantile_config_breaks_a_rule_then_it_is_refused(values, match):
    from sweep.forecasters.config import ForecastConfig

    with pytest.raises(ConfigError, match=match):
        ForecastConfig(**{"context_length": 64, "num_samples": 1, "aggregate": "median", **values})


@pytest.mark.parametrize("family", QUANTILE_FAMILIES)
def test_when_a_quantile_config_is_served_then_each_point_equals_the_evaluated_one(family, checkpoints,
                                                                                  shared_data, tmp_path):
    from sweep.scoring.cache import SampleCache
    from sweep.data.bars import load_ohlcv
    from sweep.scoring.ensemble import document_forecast
    from sweep.serving.predict import QUANTILE_LEVELS, Predictor

    data = load_ohlcv(shared_data, "ETHUSD")
    origins = np.arange(data.n_bars - 6, data.n_bars)
    identity = FAMILIES[family].load(str(checkpoints.get(family))).identity()  # garch and naive load no checkpoint
    document = {"symbol": "ETHUSD", "model": identity, "windows": {"horizon": 1}, "config": {
        "model": family, "context_length": 128, "num_samples": 1, "aggregate": "quantile_0.6",
        "sampling": FAMILIES[family].choice_grid()[-1]}}
    scored = document_forecast(document, data, origins, 1, SampleCache(), forecaster_from_identity)
    predictor = Predictor(document, tmp_path / "best.json")
    for row, origin in enumerate(origins):
        served = predictor.predict(data, at=data.frame.index[origin])
        # equal up to float32 rounding that depends on the batch size (see the batch-invariance test above)
        np.testing.assert_allclose(served.point, scored.point[row], rtol=0, atol=1e-5 * data.close[origin - 1])
        assert list(served.quantiles) == list(QUANTILE_LEVELS)


def test_when_a_quantile_candidate_is_reviewed_then_it_is_scored_on_test_and_compared_with_persistence(
        shared_data, tiny_quantile_dirs, tmp_path):
    folders = ["--runs-dir", str(tmp_path / "runs"), "--output-dir", str(tmp_path / "hp")]
    windows = ["--val-windows", "12", "--test-windows", "12", "--stride", "24", "--max-context-length", "128"]
    assert main(["--symbols", "ETHUSD", "--models", "chronos-bolt", "--n-trials", "3", "--chronos-bolt-model",
                 str(tiny_quantile_dirs["chronos-bolt"]), "--data-dir", str(shared_data), "--run-id", "b",
                 *windows, *folders]) == 0
    assert main(["promote", "--run", "b", "--data-dir", str(shared_data), *folders]) == 0
    review = next((tmp_path / "hp/reviews").glob("*ETHUSD.md")).read_text()
    assert "chronos-bolt" in review
    best = json.loads((tmp_path / "hp/best/ETHUSD.json").read_text())
    assert best["model"]["family"] == "naive"  # a random model does not beat persistence
    comparison = best["promotion"]["vs_persistence"]
    assert comparison["mean_diff"] > 0 and not comparison["significant"]


def test_when_a_family_states_its_context_limit_then_it_equals_the_loaded_models(forecaster, checkpoints):
    """The ceiling a study is built with is read without loading weights; it must be what the loaded model takes."""
    family = FAMILIES[forecaster.family]
    source = None if family.flag is None else str(checkpoints[family.name])
    assert family.context_limit(source) == forecaster.max_context_length


def test_when_the_model_takes_less_context_than_the_flag_then_every_trial_and_the_default_fit_it(
        shared_data, tiny_quantile_dirs, tmp_path):
    """A Chronos-2 checkpoint of 256 bars under --max-context-length 512: the warm-started default (8,192 bars on
    its card) is tried at 256 and completes, no trial searches past 256, and the candidate's default fits too."""
    import shutil

    folder = tmp_path / "chronos2-256"
    shutil.copytree(tiny_quantile_dirs["chronos2"], folder)
    config = json.loads((folder / "config.json").read_text())
    config["chronos_config"]["context_length"] = 256
    (folder / "config.json").write_text(json.dumps(config))
    assert FAMILIES["chronos2"].context_limit(str(folder)) == 256
    assert main(["--symbols", "BTCUSD", "--models", "chronos2", "--chronos2-model", str(folder), "--n-trials", "6",
                 "--data-dir", str(shared_data), "--runs-dir", str(tmp_path / "runs"), "--output-dir",
                 str(tmp_path / "hp"), "--run-id", "c", "--val-windows", "20", "--test-windows", "20", "--stride",
                 "24", "--max-context-length", "512"]) == 0
    import optuna

    from sweep.search.study import make_storage

    study = optuna.load_study(study_name="BTCUSD.chronos2", storage=make_storage(str(tmp_path / "runs/c/optuna.journal")))
    trials = study.get_trials(deepcopy=False)
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials) and len(trials) == 6
    default = next(t for t in trials if t.user_attrs["source"] == "default")
    assert default.params["context_length"] == 256
    assert max(t.params["context_length"] for t in trials) <= 256
    doc = json.loads((tmp_path / "hp/candidates/c/BTCUSD.json").read_text())
    assert doc["default"]["config"]["context_length"] == 256
