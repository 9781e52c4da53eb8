"""The registry's ``shorter_horizons`` flag, measured: whether a family's forecast at horizon 24, cut to its first
``h`` steps, equals a direct forecast at ``h`` (1 and 4), on three windows of the shipped BTCUSD bars.

Every family in the registry is measured, in both directions, so neither a flag that turns wrong nor a family added
without a measured flag passes. Tiny random checkpoints stand in for the published ones (Fracast: its real bundled
weights): whether the first steps are exact follows from how a model computes its output, not from its weights.
Each family forecasts with its documented default sampling, the same seed and paths at every horizon.
"""

import numpy as np
import pytest

from sweep.data.bars import load_ohlcv
from sweep.errors import ConfigError
from sweep.forecasters.registry import FAMILIES, FRACAST_BUNDLED, VARIANTS, Family, draws_once

LONG_HORIZON = 24
SHORTER = (1, 4)
#: "Exact" allows float32 rounding only: the exact families differed by at most one float32 step of the price
#: (relative 1.4e-7: Toto 2.0, TimesFM, Fracast fp32); the approximate ones by at least relative 1.6e-4 (Chronos-2).
RTOL, ATOL = 1e-5, 1e-6
#: Bars per context: 64 (a multiple of Toto 2.0's patch, well inside every tiny checkpoint); GARCH fits 240 returns
#: before its daily refit bar; Kronos takes its default 512 (the tiny checkpoint's max_context), the context a run
#: uses, where a 24-step forecast draws its paths in a smaller block than a 4-step one.
CONTEXT = {"garch": 264, "kronos": 512}
DEFAULT_CONTEXT = 64
#: Last bar (exclusive) of each window: three origins months apart.
ENDS = np.array([5000, 9000, 13000])


@pytest.fixture(scope="module")
def checkpoints(tiny_toto_dir, tiny_kronos_dir, tiny_quantile_dirs):
    """What each family loads: tiny random checkpoints, and Fracast-0's real bundled weights."""
    return {"toto": tiny_toto_dir, "kronos": tiny_kronos_dir, **tiny_quantile_dirs, "fracast": FRACAST_BUNDLED}


@pytest.fixture(scope="module")
def btcusd(shared_data):
    return load_ohlcv(shared_data, "BTCUSD")


def _inputs(data, context_length: int) -> dict:
    rows = ENDS[:, None] + np.arange(-context_length, 0)
    ohlcv = data.frame[["open", "high", "low", "close", "volume"]].to_numpy()
    return {"contexts": data.close[rows], "timestamps_s": data.timestamps_s[rows], "ohlcv": ohlcv[rows]}


def _prefix_gaps(forecaster, sampling: dict, inputs: dict) -> dict[int, tuple[bool, float, float]]:
    """``{h: (within tolerance, max abs difference, max relative difference)}`` of the first ``h`` steps of the
    long forecast against a direct forecast at ``h``."""
    def values(horizon):
        return forecaster.forecast(horizon=horizon, num_samples=8, seed=3, sampling=sampling,
                                   **inputs).predictive.values

    long = values(LONG_HORIZON)
    gaps = {}
    for h in SHORTER:
        direct = values(h)
        difference = np.abs(long[..., :h] - direct)
        gaps[h] = (np.allclose(long[..., :h], direct, rtol=RTOL, atol=ATOL), float(difference.max()),
                   float((difference / np.abs(direct)).max()))
    return gaps


@pytest.mark.parametrize("name", list(FAMILIES))
def test_when_a_longer_horizon_is_cut_to_its_first_steps_then_they_equal_a_direct_forecast_as_the_flag_says(
        name, checkpoints, btcusd):
    family = FAMILIES[name]
    if family.flag is not None and name not in checkpoints:
        pytest.fail(f"family {name!r} has no checkpoint in this file: add a tiny one to `checkpoints` so its "
                    "shorter_horizons flag is measured")
    forecaster = family.load(None if family.flag is None else str(checkpoints[name]))
    sampling = dict(family.default.sampling) if family.default else {}
    gaps = _prefix_gaps(forecaster, sampling, _inputs(btcusd, CONTEXT.get(name, DEFAULT_CONTEXT)))
    measured = ", ".join(f"h={h}: max abs {a:.3g}, max rel {r:.3g}" for h, (_, a, r) in gaps.items())
    if family.shorter_horizons == "exact":
        assert all(close for close, _, _ in gaps.values()), f"{name} is marked exact, yet {measured}"
    else:
        assert not all(close for close, _, _ in gaps.values()), f"{name} is marked approximate, yet {measured}"


def test_when_asked_whether_a_family_draws_once_then_its_flag_answers_for_it_and_its_variant():
    for name, family in FAMILIES.items():
        assert draws_once(name) == (family.shorter_horizons == "exact")
    assert VARIANTS and all(draws_once(label) == draws_once(name) for label, name in VARIANTS.items())
    assert {draws_once(name) for name in FAMILIES} == {True, False}
    with pytest.raises(ConfigError, match="'nope' is unknown"):
        draws_once("nope")


def test_when_a_family_names_neither_exact_nor_approximate_then_it_is_refused_naming_both():
    with pytest.raises(ValueError, match="'exactly' is neither 'exact' nor 'approximate'"):
        Family("x", "sweep.forecasters.naive", "PersistenceForecaster", shorter_horizons="exactly")
