import numpy as np
import pytest
from scipy import stats

from sweep.stats.aggregate import aggregate, aggregate_quantiles, parse_aggregation
from sweep.errors import ConfigError
from sweep.search.space import AGGREGATIONS, QUANTILE_AGGREGATIONS

RNG = np.random.default_rng(0)
SAMPLES = RNG.standard_t(3, size=(4, 40, 3)) + 100


def reference(samples: np.ndarray, name: str) -> np.ndarray:
    """Independent numpy/scipy implementations, sample axis 1."""
    if name == "mean":
        return samples.mean(axis=1)
    if name == "median":
        return np.median(samples, axis=1)
    kind, value = name.rsplit("_", 1)
    p = float(value) / (100 if float(value) >= 1 else 1)
    if kind == "quantile":
        return np.quantile(samples, p, axis=1)
    if kind == "trimmed_mean":
        return stats.trim_mean(samples, p, axis=1)  # scipy also cuts floor(n * p) from each tail
    k = int(np.floor(samples.shape[1] * p))
    out = np.empty((samples.shape[0], samples.shape[2]))
    for w in range(samples.shape[0]):
        for h in range(samples.shape[2]):
            x = np.sort(samples[w, :, h])
            out[w, h] = np.clip(x, x[k], x[len(x) - 1 - k]).mean()
    return out


@pytest.mark.parametrize("name", AGGREGATIONS)
def test_when_a_search_space_name_is_used_then_it_matches_the_reference(name):
    np.testing.assert_allclose(aggregate(SAMPLES, name), reference(SAMPLES, name), rtol=1e-12)


@pytest.mark.parametrize("name, other", [("trimmed_mean_5", "trimmed_mean_0.05"),
                                         ("winsorized_mean_10", "winsorized_mean_0.1"),
                                         ("quantile_90", "quantile_0.9")])
def test_when_an_old_percent_spelling_is_used_then_it_equals_the_fraction(name, other):
    assert parse_aggregation(name) == parse_aggregation(other)
    np.testing.assert_allclose(aggregate(SAMPLES, name), reference(SAMPLES, other))


def test_when_winsorizing_then_the_tails_are_clipped_not_dropped():
    samples = np.array([1.0, 2, 3, 4, 100])[None, :, None]
    assert aggregate(samples, "winsorized_mean_0.2")[0, 0] == pytest.approx((2 + 2 + 3 + 4 + 4) / 5)
    assert aggregate(samples, "trimmed_mean_0.2")[0, 0] == pytest.approx(3.0)


@pytest.mark.parametrize("name, match", [
    ("average", "unknown aggregation"),
    ("trimmed_mean", "needs a fraction"),
    ("trimmed_mean_0.5", r"tail fraction must be in \[0, 0.5\)"),
    ("quantile_0", r"quantile must be in \(0, 1\)"),
    ("median_0.5", "takes no parameter"),
])
def test_when_a_name_is_invalid_then_config_error(name, match):
    with pytest.raises(ConfigError, match=match):
        parse_aggregation(name)


LEVELS = np.round(np.arange(1, 10) / 10, 1)


def _quantiles():
    """Two windows, horizon 2: quantile k of window w at step h is 100 * (w + 1) + k + 10 * h."""
    return (100.0 * np.arange(1, 3)[:, None, None] + np.arange(9)[None, :, None] + 10.0 * np.arange(2)[None, None, :])


@pytest.mark.parametrize("name, level_index", [("median", 4), ("quantile_0.3", 2), ("quantile_0.7", 6),
                                               ("quantile_40", 3)])
def test_when_a_quantile_forecast_is_aggregated_by_level_then_that_levels_values_are_the_point(name, level_index):
    np.testing.assert_array_equal(aggregate_quantiles(_quantiles(), LEVELS, name), _quantiles()[:, level_index])


def test_when_a_quantile_forecast_is_averaged_then_the_point_is_the_mean_of_its_quantiles():
    np.testing.assert_allclose(aggregate_quantiles(_quantiles(), LEVELS, "mean"), _quantiles().mean(axis=1))


@pytest.mark.parametrize("name, match", [("trimmed_mean_0.1", "needs sample paths"),
                                         ("winsorized_mean_0.25", "needs sample paths"),
                                         ("quantile_0.45", "predicts the levels .* not 0.45")])
def test_when_a_quantile_forecast_gets_an_aggregation_it_cannot_honour_then_it_is_refused(name, match):
    with pytest.raises(ConfigError, match=match):
        aggregate_quantiles(_quantiles(), LEVELS, name)


@pytest.mark.parametrize("name", QUANTILE_AGGREGATIONS)
def test_when_the_quantile_space_names_a_point_then_every_quantile_family_grid_has_it(name):
    from sweep.forecasters.presets import CHRONOS2_LEVELS, NINE_LEVELS

    for levels in (np.array(NINE_LEVELS), np.array(CHRONOS2_LEVELS)):
        assert aggregate_quantiles(np.zeros((1, len(levels), 1)), levels, name).shape == (1, 1)


@pytest.mark.parametrize("name", ["quantile_1.5", "trimmed_mean_2.5", "winsorized_mean_10.5"])
def test_when_a_number_of_one_or_more_is_not_whole_then_the_name_is_refused_as_ambiguous(name):
    with pytest.raises(ConfigError, match="ambiguous: write the fraction"):
        parse_aggregation(name)
