"""GARCH volatility models (package ``arch``) as a quantile family: the classical baseline of the quantile objective.

A window's close-to-close simple returns, times :data:`RETURN_SCALE` (percent returns), follow
``r_t = mu + sigma_t z_t``: ``mu`` zero or a constant (the config's ``mean``), ``sigma_t`` a GARCH(1,1),
GJR-GARCH(1,1,1) or EGARCH(1,1,1) (``vol``) and ``z_t`` normal, Student-t or Hansen's skewed t (``dist``),
estimated by arch's maximum likelihood (``arch_model(...).fit``).

Fit window and refit schedule. A window of ``context_length`` bars fits on its last
``fit_window = context_length - refit_every`` returns that end at a *refit bar*: a bar whose open time in
bar units since the Unix epoch (``timestamps_s // bar_seconds``, ``bar_seconds`` the median spacing of the
window's bars) is a multiple of ``refit_every`` (hourly bars, ``refit_every`` 24: each day's 00:00 UTC
bar). The fit ends at the window's last refit bar (after a gap: its last bar at or before that time), so
at most ``refit_every - 1`` bars follow it, and ``fit_window`` returns need ``fit_window + 1`` closes:
``context_length = fit_window + refit_every`` always holds them. The fitted parameters are then held fixed
(``ARCHModel.fix``) while the conditional variance is filtered through the bars from the refit bar to the
window's last bar, and the forecast starts there. A forecast is thus a function of its window's own bars,
never of the other windows of a request (:meth:`GarchForecaster.rows_independent`), and windows with the
same refit bar and fit data share one fit, kept in the forecaster (:data:`FIT_CACHE_SIZE` fits) so
validation, test and later reviews reuse it.

Quantiles (levels :data:`sweep.stats.metrics.QUANTILE_LEVELS`). Step 1 is exact:
``mu + sigma_{t+1} * dist.ppf(levels, dist_params)`` (arch's distribution ``ppf``). Steps 2 .. horizon are
the quantiles of the cumulative simple return ``prod(1 + r_s) - 1`` over :data:`SIMULATIONS` paths of arch's
simulation forecast (``forecast(method="simulation")``), drawn with ``block_seed(seed, window key)`` so
they too depend on the window alone. A price quantile is ``last close * (1 + return quantile)``.

A fit that raises, does not converge (``convergence_flag != 0``) or gives non-finite parameters, and a
forecast that is non-finite or implies a price at or below zero, fall back to the empirical random walk of
the fit window (:func:`sweep.forecasters.naive.empirical_quantiles`); each is logged and recorded in
:attr:`GarchForecaster.fit_failures`, and never fails a trial.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from ..errors import ConfigError, ModelLoadError
from ..stats.metrics import QUANTILE_LEVELS
from .base import Forecaster, QuantileBatch, block_seed, window_keys
from .naive import empirical_quantiles
from .registry import FAMILIES

__all__ = ["GarchForecaster", "refit_bar", "VOLATILITY_MODELS", "MEAN_MODELS", "RETURN_SCALE", "SIMULATIONS",
           "FIT_CACHE_SIZE"]

logger = logging.getLogger(__name__)

#: Returns are fitted in percent. arch's ``DataScaleWarning`` asks for a variance "between 1 and 1000" and its
#: own check accepts 0.1 to 10,000; hourly crypto returns in percent have a variance of about 0.1 to 1 (BTCUSD's
#: last 2,000 hourly returns: 0.37), where a raw return's (1e-5) leaves the optimizer's tolerances far too coarse.
#: The scale is fixed (``rescale=False``) so every window's parameters share it; a fit the scale still defeats
#: is caught by its ``convergence_flag``.
RETURN_SCALE = 100.0
#: Simulated paths per window for steps 2 and later: arch's own default. A quantile estimated from S draws has a
#: standard error of ``sqrt(p (1 - p) / S) / f(q)``: about 0.05 of the step's standard deviation at levels 0.1
#: and 0.9 (normal), 0.04 at the median, and the pinball loss is flat at its minimum, so such errors add to it
#: only to second order; 1,000 paths of 24 steps cost about 10 ms (GARCH) to 30 ms (EGARCH) per window.
SIMULATIONS = 1000
#: Fits a forecaster keeps (least recently used dropped first): a few KB each.
FIT_CACHE_SIZE = 4096
#: The config's ``vol`` -> ``arch_model`` arguments: GARCH(1,1) (Bollerslev 1986), GJR-GARCH(1,1,1) (Glosten,
#: Jagannathan & Runkle 1993) and EGARCH(1,1,1) (Nelson 1991).
VOLATILITY_MODELS = {"garch": {"vol": "GARCH", "p": 1, "o": 0, "q": 1},
                     "gjr": {"vol": "GARCH", "p": 1, "o": 1, "q": 1},
                     "egarch": {"vol": "EGARCH", "p": 1, "o": 1, "q": 1}}
#: The config's ``mean`` -> ``arch_model(mean=...)``.
MEAN_MODELS = {"zero": "Zero", "constant": "Constant"}

FAMILY = FAMILIES["garch"]


@dataclass(frozen=True)
class _Spec:
    """A config's model: its ``sampling`` choices (defaults filled in)."""

    mean: str
    vol: str
    dist: str
    refit_every: int

    @classmethod
    def of(cls, sampling: dict[str, Any] | None) -> "_Spec":
        sampling = dict(sampling or {})
        FAMILY.check_sampling(sampling)
        return cls(*(FAMILY.choice(sampling, key) for key in ("mean", "vol", "dist", "refit_every")))

    def model(self, returns: np.ndarray):
        """The ``arch_model`` of percent ``returns`` (never rescaled by arch: :data:`RETURN_SCALE`)."""
        from arch import arch_model

        return arch_model(returns, mean=MEAN_MODELS[self.mean], dist=self.dist, rescale=False,
                          **VOLATILITY_MODELS[self.vol])


@dataclass(frozen=True)
class _Fit:
    """Estimated parameters, or why there are none."""

    params: np.ndarray | None
    failure: str | None = None


def refit_bar(timestamps_s: np.ndarray, refit_every: int, fit_window: int) -> int:
    """Index of a window's last refit bar: its last bar at or before the latest open time that is a multiple of
    ``refit_every`` bars since the Unix epoch.

    Parameters
    ----------
    timestamps_s : numpy.ndarray
        ``[context_length]`` increasing bar open times, POSIX seconds; the bar length is their median spacing.
    refit_every : int
        Bars between refits.
    fit_window : int
        Returns the fit reads: the index is at least this (bars packed closer than their median spacing could
        otherwise leave too few before it).

    Raises
    ------
    ValueError
        If the bar times do not increase.
    """
    bar_seconds = int(np.median(np.diff(timestamps_s)))
    if bar_seconds <= 0:
        raise ValueError(f"garch needs increasing bar times; the median spacing of a window's is {bar_seconds} s")
    bars = np.asarray(timestamps_s, dtype=np.int64) // bar_seconds
    latest = bars[-1] // refit_every * refit_every
    return max(int(np.searchsorted(bars, latest, side="right")) - 1, fit_window)


def _iso(timestamp_s: int) -> str:
    return datetime.fromtimestamp(int(timestamp_s), tz=timezone.utc).isoformat()


def _percent_returns(closes: np.ndarray) -> np.ndarray:
    return RETURN_SCALE * (closes[1:] / closes[:-1] - 1.0)


def _estimate(spec: _Spec, fit_closes: np.ndarray) -> _Fit:
    """Maximum-likelihood parameters of ``spec`` on ``fit_closes``' returns, or the reason there are none."""
    model = spec.model(_percent_returns(fit_closes))
    try:
        # numpy's divide/log warnings of a degenerate likelihood (zero variance) end in the checks below
        with np.errstate(all="ignore"):
            result = model.fit(disp="off", show_warning=False)  # its ConvergenceWarning: convergence_flag below
    except Exception as e:  # arch and scipy raise several kinds on degenerate data; the trial goes on without it
        return _Fit(None, f"the fit raised {type(e).__name__}: {e}")
    if result.convergence_flag != 0:
        return _Fit(None, f"the optimizer did not converge (convergence_flag {result.convergence_flag}: "
                          f"{result.optimization_result.message})")
    params = result.params.to_numpy()
    if not np.isfinite(params).all():
        return _Fit(None, f"non-finite parameters {dict(result.params)}")
    return _Fit(params)


class GarchForecaster(Forecaster):
    """GARCH-family quantile forecasts of the close, fitted per refit bar with ``arch`` (see the module).

    No weights: it loads with no arguments (the ``garch`` family has no checkpoint flag).

    Attributes
    ----------
    fit_failures : dict
        ``{refit bar time (ISO 8601, UTC): reason}`` of every fit or forecast that fell back to the empirical
        random walk.
    fits_estimated : int
        Fits estimated so far (windows served from the fit cache add none).

    Raises
    ------
    ModelLoadError
        If ``arch`` is not installed.
    """

    family = "garch"
    output = "quantiles"
    #: Far above the search grid's longest context (4096); a hand-written config may fit on more.
    max_context_length = 8192

    def __init__(self):
        try:
            import arch
        except ImportError as e:
            raise ModelLoadError("the garch family needs the arch package: pip install arch") from e
        self._identity = {"family": self.family, "model_id": "arch", "package": "arch",
                          "package_version": arch.__version__}
        self.levels = np.asarray(QUANTILE_LEVELS, dtype=float)
        self.fit_failures: dict[str, str] = {}
        self.fits_estimated = 0
        self._fits: OrderedDict[tuple, _Fit] = OrderedDict()

    def identity(self) -> dict[str, Any]:
        """``model_id`` ``"arch"`` and the installed ``arch`` version (its estimates may change between versions)."""
        return dict(self._identity)

    @classmethod
    def from_identity(cls, identity: dict[str, Any]) -> "GarchForecaster":
        return cls()

    def rows_independent(self, horizon: int) -> bool:
        return True  # a window's fit, filter and simulation read its own bars only (see the module)

    def samples_per_batch(self, n_windows: int, context_length: int, horizon: int) -> int:
        return 1

    def speed_settings(self, n_windows: int, context_length: int, horizon: int) -> dict[str, Any]:
        # part of the sample cache's key: rows drawn with another path count are not served
        return {"simulations": SIMULATIONS}

    def forecast(self, contexts: np.ndarray, timestamps_s: np.ndarray, horizon: int, num_samples: int,
                 seed: int, sampling: dict[str, Any] | None = None, ohlcv: np.ndarray | None = None) -> QuantileBatch:
        """Close quantiles ``[n_windows, 9, horizon]`` (price units) of every window; see :class:`Forecaster`.

        Raises
        ------
        ConfigError
            If ``sampling`` holds an unknown key or value, or ``context_length`` leaves no return to fit
            (``context_length <= refit_every``).
        ValueError
            If a window's bar times do not increase.
        """
        began = time.perf_counter()
        spec = _Spec.of(sampling)
        contexts = np.asarray(contexts, dtype=np.float64)
        stamps = np.asarray(timestamps_s, dtype=np.int64)
        fit_window = contexts.shape[1] - spec.refit_every
        if fit_window < 1:
            raise ConfigError(f"garch fits context_length - refit_every returns; context_length {contexts.shape[1]} "
                              f"with refit_every {spec.refit_every} leaves none: use a context of at least "
                              f"{spec.refit_every + 1} bars")
        keys = window_keys(contexts, stamps)
        quantiles = np.stack([self._window(c, t, horizon, spec, fit_window, block_seed(seed, key))
                              for c, t, key in zip(contexts, stamps, keys)])
        return QuantileBatch(quantiles, self.levels.copy(), np.array([time.perf_counter() - began]))

    def _window(self, closes: np.ndarray, stamps: np.ndarray, horizon: int, spec: _Spec, fit_window: int,
                seed: int) -> np.ndarray:
        """Price quantiles ``[n_levels, horizon]`` of one window."""
        end = refit_bar(stamps, spec.refit_every, fit_window)
        closes_from_fit = closes[end - fit_window:]
        fit_closes = closes_from_fit[:fit_window + 1]
        fit = self._fit(spec, fit_closes, stamps[end])
        if fit.params is not None:
            returns, failure = self._garch_returns(spec, fit.params, closes_from_fit, horizon, seed)
            if failure is None:
                return closes[-1] * (1.0 + returns)
            self._record(stamps[end], failure)
        return closes[-1] * empirical_quantiles(fit_closes[None], horizon, self.levels)[0] / fit_closes[-1]

    def _fit(self, spec: _Spec, fit_closes: np.ndarray, refit_time: int) -> _Fit:
        """The fit of ``spec`` on ``fit_closes``: from the cache, else estimated (and a failure recorded)."""
        key = (hashlib.sha256(fit_closes.tobytes()).hexdigest(), spec.mean, spec.vol, spec.dist)
        if key in self._fits:
            self._fits.move_to_end(key)
            return self._fits[key]
        fit = _estimate(spec, fit_closes)
        self.fits_estimated += 1
        if fit.failure is not None:
            self._record(refit_time, fit.failure)
        self._fits[key] = fit
        if len(self._fits) > FIT_CACHE_SIZE:
            self._fits.popitem(last=False)
        return fit

    def _garch_returns(self, spec: _Spec, params: np.ndarray, closes_from_fit: np.ndarray, horizon: int,
                       seed: int) -> tuple[np.ndarray | None, str | None]:
        """``(cumulative simple return quantiles [n_levels, horizon], None)`` from the last bar of
        ``closes_from_fit`` (the fit's first close to the window's last), the fit's ``params`` held fixed; or
        ``(None, reason)`` when the forecast is unusable."""
        model = spec.model(_percent_returns(closes_from_fit))
        distribution = model.distribution
        dist_params = params[len(params) - distribution.num_params:]
        try:
            with np.errstate(all="ignore"):  # an exploding variance ends in the finiteness check below
                fixed = model.fix(params)
                if horizon == 1:
                    forecast = fixed.forecast(horizon=1, reindex=False)
                else:
                    draws = type(distribution)(seed=seed).simulate(dist_params)
                    forecast = fixed.forecast(horizon=horizon, method="simulation", simulations=SIMULATIONS,
                                              rng=draws, reindex=False)
        except Exception as e:  # as in the fit: a degenerate filter must not fail the trial
            return None, f"the forecast raised {type(e).__name__}: {e}"
        mean, variance = forecast.mean.to_numpy()[-1, 0], forecast.variance.to_numpy()[-1, 0]
        out = np.empty((len(self.levels), horizon))
        out[:, 0] = (mean + np.sqrt(variance) * distribution.ppf(self.levels, dist_params)) / RETURN_SCALE
        if horizon > 1:
            paths = forecast.simulations.values[-1] / RETURN_SCALE  # [SIMULATIONS, horizon] one-bar returns
            out[:, 1:] = np.quantile(np.cumprod(1.0 + paths, axis=1)[:, 1:] - 1.0, self.levels, axis=0)
        if not np.isfinite(out).all() or out.min() <= -1.0:
            return None, (f"the forecast is unusable (one-bar variance {variance:.4g} %^2; a return quantile of "
                          f"{np.nanmin(out):.4g} or a non-finite one)")
        return out, None

    def _record(self, refit_time: int, reason: str) -> None:
        """Log a fallback once per refit bar and reason, and keep it in :attr:`fit_failures`."""
        when = _iso(refit_time)
        if self.fit_failures.get(when) != reason:
            logger.warning("garch: refit bar %s falls back to the empirical random walk of its fit window: %s",
                           when, reason)
        self.fit_failures[when] = reason
