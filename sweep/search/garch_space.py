"""The search space of the ``garch`` family: its fit window, refit interval and model, on grids that fit the
context ceiling."""

from __future__ import annotations

from typing import Any

import optuna

from ..errors import ConfigError
from ..forecasters.config import ForecastConfig
from ..forecasters.registry import FAMILIES

__all__ = ["GarchSpace"]


class GarchSpace:
    """GARCH (:mod:`sweep.forecasters.garch`): the fit window (:attr:`FIT_WINDOWS` returns) and the family's
    ``mean``, ``vol``, ``dist`` and ``refit_every``; ``context_length = fit_window + refit_every`` (the
    forecaster fits on the context's returns up to its last refit bar), the point is the median and
    ``num_samples`` is 1.

    Optuna keeps a parameter's grid fixed within a study, so the grids are the ceiling's: the fit windows that
    fit beside the shortest refit interval, and the refit intervals that fit beside the shortest fit window. A
    pair longer than the ceiling takes the longest fit window that fits beside its refit interval (under 2048
    bars, 2000 returns refitted every 168 bars become 1000), so every config fits.
    """

    #: Fit windows searched (returns): three weeks to five and a half months of hourly bars.
    FIT_WINDOWS = (500, 1000, 2000, 4000)

    def __init__(self, family: str):
        self.family, self.choices = family, FAMILIES[family].choices

    def _windows_and_refits(self, max_context_length: int) -> tuple[list[int], list[int]]:
        """``(fit windows, refit intervals)`` of the grids under ``max_context_length``.

        Raises
        ------
        ConfigError
            If not even the shortest fit window and refit interval fit.
        """
        shortest_refit = min(self.choices["refit_every"])
        windows = [w for w in self.FIT_WINDOWS if w + shortest_refit <= max_context_length]
        refits = [r for r in self.choices["refit_every"] if self.FIT_WINDOWS[0] + r <= max_context_length]
        if not windows:
            least = self.FIT_WINDOWS[0] + shortest_refit
            raise ConfigError(f"{self.family} fits on at least {self.FIT_WINDOWS[0]} returns, so its context needs "
                              f"{least} bars; the context ceiling is {max_context_length}: raise "
                              f"--max-context-length to {least} or more")
        return windows, refits

    def _fitting(self, fit_window: int, refit_every: int, max_context_length: int) -> int:
        """``fit_window``, or the longest grid window below it that fits beside ``refit_every``."""
        return max(w for w in self.FIT_WINDOWS if w <= fit_window and w + refit_every <= max_context_length)

    def _config(self, fit_window: int, sampling: dict[str, Any], max_context_length: int,
                seed: int) -> ForecastConfig:
        fit_window = self._fitting(fit_window, sampling["refit_every"], max_context_length)
        return ForecastConfig(model=self.family, context_length=fit_window + sampling["refit_every"], num_samples=1,
                              aggregate="median", seed=seed, sampling=sampling)

    def __call__(self, trial: optuna.Trial, max_context_length: int, seed: int) -> ForecastConfig:
        windows, refits = self._windows_and_refits(max_context_length)
        fit_window = trial.suggest_categorical("fit_window", windows)
        grids = {**self.choices, "refit_every": refits}
        sampling = {key: trial.suggest_categorical(key, list(values)) for key, values in grids.items()}
        return self._config(fit_window, sampling, max_context_length, seed)

    def default_config(self, max_context_length: int, seed: int) -> ForecastConfig:
        """The family default (:attr:`sweep.forecasters.registry.Family.default`) as a point of the grids: a refit
        interval that does not fit becomes the shortest, a fit window the longest that fits beside it."""
        default = FAMILIES[self.family].default
        _windows, refits = self._windows_and_refits(max_context_length)
        refit_every = default.sampling["refit_every"]
        sampling = {**default.sampling, "refit_every": refit_every if refit_every in refits else min(refits)}
        return self._config(default.context_length - refit_every, sampling, max_context_length, seed)

    def _pairs(self, max_context_length: int) -> list[tuple[int, int]]:
        """Every distinct ``(fit_window, refit_every)`` the space suggests."""
        windows, refits = self._windows_and_refits(max_context_length)
        return sorted({(self._fitting(w, r, max_context_length), r) for w in windows for r in refits})

    def _model_grid(self) -> list[dict[str, Any]]:
        """Every ``mean``, ``vol`` and ``dist`` combination."""
        one_refit = self.choices["refit_every"][0]
        return [{k: v for k, v in grid.items() if k != "refit_every"}
                for grid in FAMILIES[self.family].choice_grid() if grid["refit_every"] == one_refit]

    def size(self, max_context_length: int) -> int:
        return len(self._pairs(max_context_length)) * len(self._model_grid())

    def params(self, config: ForecastConfig) -> dict[str, Any]:
        family = FAMILIES[self.family]
        sampling = {key: family.choice(config.sampling, key) for key in self.choices}
        return {"fit_window": config.context_length - sampling["refit_every"], **sampling}

    def grids(self, max_context_length: int) -> dict[str, Any]:
        windows, refits = self._windows_and_refits(max_context_length)
        return {"fit_window": windows, **self.choices, "refit_every": refits}

    def inference_keys(self, max_context_length: int) -> list[tuple[int, dict[str, Any]]]:
        """Every config: the point is fixed, so each is its own inference."""
        return [(w + r, {**model, "refit_every": r}) for w, r in self._pairs(max_context_length)
                for model in self._model_grid()]
