import numpy as np
import pytest
from scipy import stats

from sweep.aggregate import aggregate, parse_aggregation
from sweep.errors import ConfigError
from sweep.space import AGGREGATIONS

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
