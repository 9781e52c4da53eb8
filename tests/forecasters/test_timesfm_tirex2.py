"""TimesFM 2.5 and TiRex-2: loading any shape of their packages' layouts, their limits, and TiRex-2's compiler need.

The contract and parity tests every family gets are in ``tests/forecasters/test_families.py``.
"""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from sweep.errors import ConfigError, ModelLoadError
from sweep.forecasters.registry import FAMILIES


def test_when_timesfm_weights_are_read_then_their_shape_is_the_definition_they_were_built_from(tiny_quantile_dirs):
    from timesfm.timesfm_2p5.timesfm_2p5_base import TimesFM_2p5_200M_Definition

    from sweep.forecasters.presets import PRESETS
    from sweep.forecasters.timesfm import MAX_CONTEXT, definition_from_weights, resized_definition

    tiny = definition_from_weights(tiny_quantile_dirs["timesfm"] / "model.safetensors")
    assert tiny == resized_definition(**PRESETS["timesfm"]["tiny"]) != TimesFM_2p5_200M_Definition()
    assert MAX_CONTEXT == TimesFM_2p5_200M_Definition.context_limit - TimesFM_2p5_200M_Definition().output_patch_len


@pytest.mark.parametrize("damage", ["another family", "truncated"])
def test_when_timesfm_is_given_a_foreign_or_damaged_folder_then_the_error_names_the_flag(damage, tiny_quantile_dirs,
                                                                                         tmp_path):
    folder = tmp_path / "bad"
    shutil.copytree(tiny_quantile_dirs["tirex2" if damage == "another family" else "timesfm"], folder)
    if damage == "truncated":
        weights = folder / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:40])
    with pytest.raises(ModelLoadError, match=f"--timesfm-model '{folder}': .* is not a loadable TimesFM 2.5"):
        FAMILIES["timesfm"].load(str(folder))


def test_when_timesfm_context_and_horizon_pass_the_packages_limits_then_the_config_is_refused(tiny_quantile_dirs):
    forecaster = FAMILIES["timesfm"].load(str(tiny_quantile_dirs["timesfm"]))
    limit = forecaster.definition.output_quantile_len
    assert FAMILIES["timesfm"].horizon_limit(str(tiny_quantile_dirs["timesfm"])) == limit == 1024
    forecaster.model.compile(forecaster.forecast_config(16256, 128, 1, {}))  # the package takes the longest context
    with pytest.raises(ConfigError, match="plus the horizon rounded up to 256 exceeds the package's limit 16384"):
        forecaster.forecast_config(16256, 129, 1, {})
    forecaster.model.compile(forecaster.forecast_config(1024, 1024, 1, {}))
    with pytest.raises(ConfigError, match="continuous quantile head forecasts at most 1024 steps; --horizon 1025"):
        forecaster.forecast_config(1024, 1025, 1, {})


def test_when_timesfm_configs_alternate_on_one_model_then_each_forecast_is_its_own(tiny_quantile_dirs):
    """The package's ``compile`` keeps its config on the shared model: a config run after another equals itself."""
    forecaster = FAMILIES["timesfm"].load(str(tiny_quantile_dirs["timesfm"]))
    close = np.exp(np.cumsum(np.random.default_rng(4).normal(0, 0.01, (3, 256)), axis=1))
    a, b = {"force_flip_invariance": True}, {"force_flip_invariance": False, "fix_quantile_crossing": False}
    first, other, again = (forecaster.forecast(close, close.astype(np.int64), 2, 1, 0, s).quantiles for s in (a, b, a))
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).max() > 0


def test_when_tirex2_is_asked_past_its_future_len_then_the_config_is_refused(tiny_quantile_dirs):
    forecaster = FAMILIES["tirex2"].load(str(tiny_quantile_dirs["tirex2"]))
    assert FAMILIES["tirex2"].horizon_limit(str(tiny_quantile_dirs["tirex2"])) == forecaster.future_len == 64
    close = np.linspace(100, 101, 128)[None]
    assert forecaster.forecast(close, close.astype(np.int64), 64, 1, 0, {}).quantiles.shape == (1, 9, 64)
    with pytest.raises(ConfigError, match="at most future_len=64 steps; --horizon 65"):
        forecaster.forecast(close, close.astype(np.int64), 65, 1, 0, {})


def test_when_no_cpp_compiler_is_found_then_tirex2_is_refused_at_load_with_the_fix(tiny_quantile_dirs, tmp_path):
    """tirex-2 0.4.0 compiles its residual blocks with torch.compile; torch's inductor needs a C++ compiler on a CPU.
    A sweep without one must stop before any trial, naming the flag and what to install (an empty inductor cache
    and ``CXX`` naming no compiler make this machine one without)."""
    env = {**os.environ, "CXX": str(tmp_path / "no-such-compiler"), "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "ic")}
    code = ("import sys\nfrom sweep.errors import ModelLoadError\nfrom sweep.forecasters.registry import FAMILIES\n"
            "try:\n    FAMILIES['tirex2'].load(sys.argv[1])\nexcept ModelLoadError as e:\n    print(e)\n    sys.exit(3)\n")
    done = subprocess.run([sys.executable, "-c", code, str(tiny_quantile_dirs["tirex2"])], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 3, done.stderr[-2000:]
    assert "--tirex2-model" in done.stdout and "its first forecast failed on cpu" in done.stdout
    assert "install one (Debian/Ubuntu: apt install g++; or set CXX to a working compiler)" in done.stdout
