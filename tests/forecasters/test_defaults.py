"""Documented family defaults and the enqueue parameters of configs (warm starts)."""

import optuna
import pytest

from sweep.forecasters.config import ForecastConfig
from sweep.forecasters.registry import FAMILIES
from sweep.errors import ConfigError
from sweep.search.space import default_config, params_of, space_of


@pytest.mark.parametrize("family", list(FAMILIES))
def test_when_a_family_is_known_then_its_default_is_documented_and_a_point_of_its_space(family):
    assert FAMILIES[family].default.source
    config = default_config(family, 512, seed=3)
    params = params_of(config, 512)
    assert space_of(family)(optuna.trial.FixedTrial(params), 512, 3) == config


def test_when_the_max_context_is_short_then_the_default_context_is_the_longest_that_fits():
    assert default_config("toto", 4096).context_length == 4096
    assert default_config("toto", 512).context_length == 512
    assert default_config("toto", 300).context_length == 256


def test_when_kronos_default_is_built_then_only_top_p_is_active():
    sampling = default_config("kronos", 512).sampling
    assert sampling == {"temperature": 1.0, "top_k": 0, "top_p": 0.9, "clip": 5.0}
    assert params_of(default_config("kronos", 512), 512)["filter"] == "top_p"


def test_when_a_kronos_config_uses_top_k_then_its_params_choose_the_top_k_branch():
    config = ForecastConfig(model="kronos", context_length=256, num_samples=32, aggregate="median",
                            sampling={"temperature": 0.7, "top_k": 20, "top_p": 1.0, "clip": 3.0})
    params = params_of(config, 512)
    assert params["filter"] == "top_k" and "top_p" not in params
    assert space_of("kronos")(optuna.trial.FixedTrial(params), 512, 0) == config


@pytest.mark.parametrize("config, max_context", [
    (ForecastConfig(model="toto", context_length=300, num_samples=64, aggregate="mean"), 512),    # off the grid
    (ForecastConfig(model="toto", context_length=1024, num_samples=64, aggregate="mean"), 512),   # too long
    (ForecastConfig(model="toto", context_length=256, num_samples=100, aggregate="mean"), 512),   # off the grid
    (ForecastConfig(model="kronos", context_length=256, num_samples=8, aggregate="mean",
                    sampling={"temperature": 0.6, "top_k": 0, "top_p": 0.9, "clip": 5.0}), 512),
])
def test_when_a_config_is_not_in_the_space_then_params_of_refuses_it(config, max_context):
    with pytest.raises(ConfigError, match="not in the .* search space"):
        params_of(config, max_context)


def test_when_the_family_is_unknown_then_default_config_names_the_known_ones():
    with pytest.raises(ConfigError, match="no documented default"):
        default_config("prophet", 512)
