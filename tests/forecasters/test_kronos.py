"""Our Kronos against the reference implementation shipped by kronos-finance (upstream's model code).

Tiny random checkpoints are built with the reference classes, saved with their
``save_pretrained`` (the published layout), and loaded into ours.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from sweep.errors import ConfigError, ModelLoadError
from sweep.forecasters.kronos.checkpoint import load_kronos, load_module, save_module
from sweep.forecasters.kronos.model import Kronos
from sweep.forecasters.kronos.sampler import Sampling, decode_close, draw_tokens, encode_windows
from sweep.forecasters.kronos.tokenizer import KronosTokenizer

ref = pytest.importorskip("kronos_finance._vendor.kronos_model.kronos")

TOKENIZER = dict(d_in=6, d_model=32, n_heads=4, ff_dim=64, n_enc_layers=3, n_dec_layers=3, ffn_dropout_p=0.0,
                 attn_dropout_p=0.0, resid_dropout_p=0.0, s1_bits=4, s2_bits=4, beta=0.05, gamma0=1.0, gamma=1.1,
                 zeta=0.05, group_size=4)
PREDICTOR = dict(s1_bits=4, s2_bits=4, n_layers=2, d_model=32, n_heads=4, ff_dim=64, ffn_dropout_p=0.0,
                 attn_dropout_p=0.0, resid_dropout_p=0.0, token_dropout_p=0.0, learn_te=True)
MAX_CONTEXT = 64
TOL = 1e-5


@pytest.fixture(scope="module", params=[True, False], ids=["learned-time", "fixed-time"])
def pair(request, tmp_path_factory):
    """Reference (tokenizer, predictor), their saved folder, and ours loaded from it."""
    torch.manual_seed(0)
    ref_tok = ref.KronosTokenizer(**TOKENIZER).eval()
    ref_model = ref.Kronos(**{**PREDICTOR, "learn_te": request.param}).eval()
    folder = tmp_path_factory.mktemp("ref")
    ref_tok.save_pretrained(folder / "tokenizer")
    ref_model.save_pretrained(folder / "predictor")
    ours = load_kronos(str(folder / "predictor"), str(folder / "tokenizer"), max_context=MAX_CONTEXT)
    return ref_tok, ref_model, ours, folder


def bars(n_windows: int, length: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (n_windows, length)), axis=1))
    return np.stack([close * 1.001, close * 1.01, close * 0.99, close, rng.uniform(1, 10, (n_windows, length))], -1)


def test_tokenizer_codes_and_decoding_match_reference(pair):
    ref_tok, _, ours, _ = pair
    x = torch.randn(3, 40, 6)
    with torch.no_grad():
        ref_ids = ref_tok.encode(x, half=True)
        our_ids = ours.tokenizer.encode(x)
        assert torch.equal(ref_ids[0], our_ids[0]) and torch.equal(ref_ids[1], our_ids[1])
        decoded = ours.tokenizer.decode(*our_ids)
        assert (decoded - ref_tok.decode(ref_ids, half=True)).abs().max() < TOL
        # the prefix-cached decoder gives the same bars for the appended positions
        caches = ours.tokenizer.decode_prefix(our_ids[0][:, :30], our_ids[1][:, :30])
        tail = ours.tokenizer.decode_after(caches, our_ids[0][:, None, 30:], our_ids[1][:, None, 30:])
        assert (tail[:, 0] - decoded[:, 30:]).abs().max() < TOL


def test_next_token_logits_match_reference_with_and_without_cache(pair):
    _, ref_model, ours, _ = pair
    gen = torch.Generator().manual_seed(1)
    s1, s2 = torch.randint(0, 16, (2, 30), generator=gen), torch.randint(0, 16, (2, 30), generator=gen)
    stamps = torch.stack([torch.randint(0, n, (2, 30), generator=gen) for n in (60, 24, 7, 32, 13)], -1).float()
    with torch.no_grad():
        ref_s1, context = ref_model.decode_s1(s1, s2, stamps)
        logits, state = ours.model.encode_context(s1[:, :25], s2[:, :25], stamps[:, :25])
        assert (logits - ref_s1[:, :25]).abs().max() < TOL
        sibling = torch.randint(0, 16, (2, 1), generator=gen)
        ref_s2 = ref_model.decode_s2(context[:, :25], sibling)[:, -1]
        assert (ours.model.s2_logits(state, sibling)[:, 0] - ref_s2).abs().max() < TOL
        # feed tokens 25..29 one at a time through the cache
        for t in range(25, 30):
            step_logits = ours.model.append(state, s1[:, t:t + 1], s2[:, t:t + 1], stamps[:, t])
            assert (step_logits[:, 0] - ref_s1[:, t]).abs().max() < TOL
        ref_s2 = ref_model.decode_s2(context, sibling)[:, -1]
        assert (ours.model.s2_logits(state, sibling)[:, 0] - ref_s2).abs().max() < TOL


SAMPLINGS = [Sampling(temperature=1.0, top_k=0, top_p=0.9), Sampling(temperature=0.7, top_k=5, top_p=1.0),
             Sampling(temperature=1.3, top_k=0, top_p=1.0, clip=2.0)]


@pytest.mark.parametrize("sampling", SAMPLINGS, ids=["top_p", "top_k", "plain-clip2"])
def test_same_rng_stream_gives_reference_tokens_and_values(pair, monkeypatch, sampling):
    ref_tok, ref_model, ours, _ = pair
    n_windows, length, horizon, n_samples = 2, 24, 5, 3
    ohlcv = bars(n_windows, length)
    times = pd.date_range("2024-03-01", periods=length + horizon, freq="1h", tz="UTC")
    recorded = []
    original = ref.sample_from_logits

    def recording(*args, **kwargs):
        out = original(*args, **kwargs)
        recorded.append(out.squeeze(-1).clone())
        return out

    monkeypatch.setattr(ref, "sample_from_logits", recording)
    predictor = ref.KronosPredictor(ref_model, ref_tok, device="cpu", max_context=MAX_CONTEXT, clip=sampling.clip)
    frames = [pd.DataFrame(w, columns=["open", "high", "low", "close", "volume"]) for w in ohlcv]
    torch.manual_seed(7)
    expected = predictor.predict_batch(frames, [pd.Series(times[:length])] * n_windows,
                                       [pd.Series(times[length:])] * n_windows, pred_len=horizon,
                                       T=sampling.temperature, top_k=sampling.top_k, top_p=sampling.top_p,
                                       sample_count=n_samples, verbose=False)
    ref_s1 = torch.stack(recorded[0::2], -1).view(n_windows, n_samples, horizon)
    ref_s2 = torch.stack(recorded[1::2], -1).view(n_windows, n_samples, horizon)

    stamps_s = np.tile(times.asi8[:length] // 10**9, (n_windows, 1))
    windows = encode_windows(ours.model, ours.tokenizer, ohlcv, stamps_s, horizon, sampling.clip, MAX_CONTEXT)
    torch.manual_seed(7)
    s1, s2 = draw_tokens(ours.model, windows, n_samples, horizon, sampling)
    assert torch.equal(s1, ref_s1) and torch.equal(s2, ref_s2)
    paths = decode_close(ours.tokenizer, windows, s1, s2)
    assert paths.shape == (n_windows, n_samples, horizon)
    # upstream averages its paths; ours are kept, so compare their mean (normalised units)
    expected_close = np.stack([frame["close"].to_numpy() for frame in expected])
    scale = windows.std[:, 0, 3:4] + 1e-5
    assert np.abs((paths.mean(axis=1) - expected_close) / scale).max() < TOL


def test_sliding_window_regime_runs_and_first_token_matches(pair, monkeypatch):
    """Beyond max_context our cache keeps earlier states (documented); the first step is still upstream's."""
    ref_tok, ref_model, ours, _ = pair
    length, horizon = MAX_CONTEXT, 4
    ohlcv = bars(1, length, seed=3)
    times = pd.date_range("2024-03-01", periods=length + horizon, freq="1h", tz="UTC")
    stamps_s = (times.asi8[:length] // 10**9)[None]
    windows = encode_windows(ours.model, ours.tokenizer, ohlcv, stamps_s, horizon, 5.0, MAX_CONTEXT)
    torch.manual_seed(3)
    s1, s2 = draw_tokens(ours.model, windows, 2, horizon, Sampling())
    assert s1.shape == (1, 2, horizon) and np.isfinite(decode_close(ours.tokenizer, windows, s1, s2)).all()
    recorded = []
    monkeypatch.setattr(ref, "sample_from_logits",
                        lambda *a, _f=ref.sample_from_logits, **k: recorded.append(_f(*a, **k)) or recorded[-1])
    predictor = ref.KronosPredictor(ref_model, ref_tok, device="cpu", max_context=MAX_CONTEXT, clip=5.0)
    torch.manual_seed(3)
    predictor.predict_batch([pd.DataFrame(ohlcv[0], columns=["open", "high", "low", "close", "volume"])],
                            [pd.Series(times[:length])], [pd.Series(times[length:])], pred_len=horizon, T=1.0,
                            top_k=0, top_p=1.0, sample_count=2, verbose=False)
    assert torch.equal(recorded[0].view(2), s1[0, :, 0]) and torch.equal(recorded[1].view(2), s2[0, :, 0])


def test_mismatched_checkpoint_names_the_offending_keys(pair, tmp_path):
    from safetensors.torch import load_file, save_file

    _, _, _, folder = pair
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((folder / "predictor" / "config.json").read_text())
    state = load_file(str(folder / "predictor" / "model.safetensors"))
    state["head.proj_s1.weight"] = torch.zeros(3, 3)
    state["extra.weight"] = torch.zeros(1)
    del state["norm.weight"]
    save_file(state, str(broken / "model.safetensors"))
    with pytest.raises(ModelLoadError) as error:
        load_module(Kronos, broken, "--kronos-model")
    message = str(error.value)
    assert "norm.weight" in message and "extra.weight" in message and "head.proj_s1.weight: (3, 3)" in message


def test_config_with_unknown_keys_and_incompatible_tokenizer_are_refused(pair, tmp_path):
    _, _, _, folder = pair
    odd = tmp_path / "odd"
    odd.mkdir()
    config = json.loads((folder / "predictor" / "config.json").read_text())
    (odd / "config.json").write_text(json.dumps({**config, "n_experts": 4}))
    (odd / "model.safetensors").write_bytes((folder / "predictor" / "model.safetensors").read_bytes())
    with pytest.raises(ModelLoadError, match="n_experts"):
        load_module(Kronos, odd, "--kronos-model")
    other = save_module(KronosTokenizer(**{**TOKENIZER, "s1_bits": 5, "s2_bits": 5, "group_size": 5}), tmp_path / "t5")
    with pytest.raises(ModelLoadError, match="s1_bits"):
        load_kronos(str(folder / "predictor"), str(other))


def test_hub_ids_go_through_snapshot_download(monkeypatch, pair):
    """A hub id is fetched with huggingface_hub (mocked: no network here) and loads unchanged."""
    _, _, _, folder = pair
    calls = []

    def fake_snapshot_download(repo_id, revision=None, allow_patterns=None):
        calls.append(repo_id)
        return str(folder / ("tokenizer" if "Tokenizer" in repo_id else "predictor"))

    monkeypatch.setattr("huggingface_hub.snapshot_download", fake_snapshot_download)
    loaded = load_kronos("NeoQuasar/Kronos-small")
    assert calls == ["NeoQuasar/Kronos-small", "NeoQuasar/Kronos-Tokenizer-base"]
    assert loaded.max_context == 512 and loaded.identity["tokenizer_id"] == "NeoQuasar/Kronos-Tokenizer-base"


def test_forecaster_paths_follow_the_sample_contract(tiny_kronos_dir):
    from sweep.forecasters.kronos.forecaster import KronosForecaster

    # tiny: 4 blocks of 4 paths and windows one at a time (2**16 gave blocks of 2, twice the passes, to no purpose)
    forecaster = KronosForecaster(str(tiny_kronos_dir), memory_budget_bytes=2**17)
    ohlcv = bars(5, 48)
    stamps = np.tile(pd.date_range("2024-01-01", periods=48, freq="1h").asi8 // 10**9, (5, 1))
    sampling = {"temperature": 1.0, "top_k": 0, "top_p": 0.9, "clip": 5.0}
    spb = forecaster.samples_per_batch(5, 48, 3)
    assert spb < 16 and forecaster.window_batch(5, 48, 3) < 5
    full = forecaster.forecast(ohlcv[..., 3], stamps, 3, 16, seed=4, sampling=sampling, ohlcv=ohlcv)
    head = forecaster.forecast(ohlcv[..., 3], stamps, 3, spb, seed=4, sampling=sampling, ohlcv=ohlcv)
    other = forecaster.forecast(ohlcv[..., 3], stamps, 3, spb, seed=5, sampling=sampling, ohlcv=ohlcv)
    assert full.samples.shape == (5, 16, 3)
    np.testing.assert_array_equal(full.samples[:, :spb], head.samples)
    assert not np.array_equal(head.samples, other.samples)
    assert (full.samples > 0).all() and full.latency_s() > 0
    for row in (0, 4):  # a window's paths do not depend on its batch (chunks of the tiny budget, or alone)
        alone = forecaster.forecast(ohlcv[row:row + 1, :, 3], stamps[row:row + 1], 3, 16, seed=4, sampling=sampling,
                                  ohlcv=ohlcv[row:row + 1])
        np.testing.assert_array_equal(alone.samples[0], full.samples[row])
    with pytest.raises(ConfigError, match="top_k"):
        forecaster.forecast(ohlcv[..., 3], stamps, 3, 4, 0, {"top_k": 5, "top_p": 0.9}, ohlcv)


def test_kronos_space_never_activates_both_filters():
    import optuna

    from sweep.search.space import space_of

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(60):
        trial = study.ask()
        config = space_of("kronos")(trial, 256, 0)
        study.tell(trial, 0.0)
        sampling = config.sampling
        assert config.context_length <= 256
        assert sampling["top_k"] == 0 or sampling["top_p"] == 1.0
        assert ("top_k" in trial.params) != ("top_p" in trial.params)


def test_other_temperatures_reuse_the_encoded_context_without_changing_paths(tiny_kronos_dir):
    from sweep.forecasters.kronos.forecaster import KronosForecaster

    ohlcv = bars(4, 64, seed=2)
    stamps = np.tile(pd.date_range("2024-01-01", periods=64, freq="1h").asi8 // 10**9, (4, 1))
    warm = KronosForecaster(str(tiny_kronos_dir))
    warm.forecast(ohlcv[..., 3], stamps, 2, 8, seed=0, sampling={"temperature": 1.0}, ohlcv=ohlcv)
    reused = warm.forecast(ohlcv[..., 3], stamps, 2, 8, seed=0, sampling={"temperature": 0.5, "top_k": 5}, ohlcv=ohlcv)
    assert len(warm._encodings) == 1
    cold = KronosForecaster(str(tiny_kronos_dir)).forecast(ohlcv[..., 3], stamps, 2, 8, seed=0,
                                                         sampling={"temperature": 0.5, "top_k": 5}, ohlcv=ohlcv)
    np.testing.assert_array_equal(reused.samples, cold.samples)
    # a new clip changes the normalised inputs, so it is encoded anew
    warm.forecast(ohlcv[..., 3], stamps, 2, 8, seed=0, sampling={"clip": 2.0}, ohlcv=ohlcv)
    assert len(warm._encodings) == 2


def test_when_an_evicted_encoding_is_needed_again_then_it_is_read_from_disk_and_paths_are_unchanged(tiny_kronos_dir):
    from sweep.forecasters.kronos.forecaster import KronosForecaster

    ohlcv = bars(4, 64, seed=3)
    stamps = np.tile(pd.date_range("2024-01-01", periods=64, freq="1h").asi8 // 10**9, (4, 1))
    probe = KronosForecaster(str(tiny_kronos_dir))
    one = 2 * 4 * probe._bytes_per_window(64, 2, kept=True)  # a budget that keeps exactly one encoding
    spilling = KronosForecaster(str(tiny_kronos_dir), memory_budget_bytes=max(one, 8 * probe._bytes_per_window(64, 2)))
    first = spilling.forecast(ohlcv[..., 3], stamps, 2, 8, seed=0, sampling={"clip": 5.0}, ohlcv=ohlcv)
    spilling.forecast(ohlcv[..., 3], stamps, 2, 8, seed=0, sampling={"clip": 2.0}, ohlcv=ohlcv)
    assert len(spilling._encodings) == 1 and len(spilling._spilled._entries) == 1  # clip 5 went to disk
    encode = spilling._encode_chunks
    spilling._encode_chunks = lambda *a, **k: pytest.fail("a spilled encoding was encoded again")
    again = spilling.forecast(ohlcv[..., 3], stamps, 2, 8, seed=0, sampling={"clip": 5.0}, ohlcv=ohlcv)
    spilling._encode_chunks = encode
    np.testing.assert_array_equal(again.samples, first.samples)
    folder = spilling._spilled._folder
    del spilling, encode
    import gc

    gc.collect()
    assert not folder.exists()  # the private folder goes with the forecaster


def test_when_the_budget_limits_groups_then_a_window_alone_draws_exactly_what_it_draws_among_others(tiny_kronos_dir):
    from sweep.forecasters.kronos.forecaster import KronosForecaster

    probe = KronosForecaster(str(tiny_kronos_dir))
    # a budget whose quarter holds 4 windows: 9 windows make groups of 4, 4 and 1 (padded to 4)
    forecaster = KronosForecaster(str(tiny_kronos_dir), memory_budget_bytes=16 * probe._bytes_per_window(48, 3))
    ohlcv = bars(9, 48, seed=5)
    stamps = np.tile(pd.date_range("2024-01-01", periods=48, freq="1h").asi8 // 10**9, (9, 1))
    # group and block sizes never depend on the number of windows (the block size shapes the streams:
    # it was 8 for these 9 windows and 32 for one alone)
    assert {forecaster.window_batch(n, 48, 3) for n in (1, 9, 2400)} == {4}
    assert {forecaster.samples_per_batch(n, 48, 3) for n in (1, 9, 2400)} == {8}
    sampling = {"temperature": 1.0, "top_p": 0.9}
    batched = forecaster.forecast(ohlcv[..., 3], stamps, 3, 16, seed=2, sampling=sampling, ohlcv=ohlcv)
    alone = np.concatenate([forecaster.forecast(ohlcv[w:w + 1, :, 3], stamps[w:w + 1], 3, 16, seed=2,
                                                sampling=sampling, ohlcv=ohlcv[w:w + 1]).samples for w in range(9)])
    assert np.array_equal(alone, batched.samples)
