"""Search spaces under a distribution objective: the point is not searched, every default stays enqueueable."""

import pytest

from sweep.forecasters.registry import FAMILIES
from sweep.search.space import AGGREGATIONS, QUANTILE_AGGREGATIONS, default_config, params_of, space_of

CEILING = 2048


@pytest.mark.parametrize("family, grid", [("toto", AGGREGATIONS), ("kronos", AGGREGATIONS),
                                          ("fracast", QUANTILE_AGGREGATIONS), ("chronos2", QUANTILE_AGGREGATIONS)])
def test_when_the_objective_scores_the_distribution_then_only_the_default_point_is_tried(family, grid):
    point = space_of(family, "pct_return_mae")
    distribution = space_of(family, "quantile_loss")
    assert point.grids(CEILING)["aggregate"] == grid
    assert distribution.grids(CEILING)["aggregate"] == (FAMILIES[family].default.aggregate,)
    assert distribution.size(CEILING) * len(grid) == point.size(CEILING)
    assert space_of(family).grids(CEILING)["aggregate"] == grid  # the default objective is the point's


@pytest.mark.parametrize("family", sorted(name for name, f in FAMILIES.items() if f.default))
@pytest.mark.parametrize("objective", ["pct_return_mae", "quantile_loss"])
def test_when_a_family_default_is_warm_started_under_either_objective_then_it_is_a_point_of_the_space(family,
                                                                                                    objective):
    config = default_config(family, CEILING, 0, objective)
    params = params_of(config, CEILING, objective)  # raises when the default is off the space's grids
    assert space_of(family, objective).size(CEILING) >= 1 and isinstance(params, dict)
