"""Run report: ``report.md`` with PNG plots of every study and candidate of a run.

Plots (matplotlib, Agg backend):

- optimisation history and parameter importances per study (Optuna's matplotlib
  visualisations; PED-ANOVA importances, Optuna's default evaluator, which needs
  no scikit-learn);
- validation accuracy vs latency per study, with the Pareto front;
- validation vs test loss of every completed trial (the overfitting
  check; test metrics are computed here for reporting only, never for selection);
- a fan chart of each candidate's test forecasts against the actual closes;
- for a distribution objective, each candidate's reliability diagram and quantile fan
  (:mod:`sweep.report._calibration`);
- for a trading objective, the candidate's trading statistics and, under ``pnl``, its equity curve
  (:mod:`sweep.report._trading`);
- for a walk-forward backtest run (``backtest.json``), the test loss of the selected config,
  the family default and the benchmark in every fold.

Every loss is the run's objective (``run.json``'s ``objective``, :mod:`sweep.objectives`), and every comparison is with
its benchmark.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.importance import PedAnovaImportanceEvaluator
from optuna.trial import TrialState

from ..scoring.cache import SampleCache
from ..data.common_calendar import sweep_splits
from ..forecasters.config import ForecastConfig
from ..data.bars import OHLCVData, load_ohlcv
from ..objectives import DEFAULT_OBJECTIVE, Objective, get_objective, objective_of_run
from ..scoring.ensemble import MemberForecast, document_forecast
from ..errors import ConfigError
from ..scoring.evaluate import evaluate
from ..forecasters.registry import family_of
from ..forecasters import document_loader
from ..data.run_data import DEFAULT_DATA_DIR, RecordedBars, run_bars, run_data_dir
from ..runs.run_record import cache_folder, recorded_models
from ..runs.settings import read_run_settings, validate_run_id
from ..search.space import n_max_samples
from ..storage.storage_url import check_storage
from ..storage.store import (candidate_path, check_output_folder, horizon_slot, read_json, window_losses_path,
                             write_text_atomic)
from ._plots import (accuracy_latency_plot, loss_word, mde_plot, overfitting_plot, pareto_front, pyplot,
                     save_figure)
from ._calibration import calibration_plots, calibration_section
from ._trading import trading_plots, trading_section
from ._horizons import horizon_plots, horizon_section, horizon_skills
from ._backtest_section import backtest_section
from ._folder import check_report_folder, removed_on_failure
from ..search.horizon_trials import horizons_metrics
from ..search.study import make_storage
from ..search.study_job import POOLED
from ..data.windows import WindowSpec

__all__ = ["StudySummary", "Report", "write_report", "pareto_front"]

logger = logging.getLogger(__name__)


@dataclass
class StudySummary:
    """One study in the report.

    Attributes
    ----------
    validation, test : numpy.ndarray
        ``[n_complete]`` loss (``objective``) of each completed trial on validation and test origins; for a pooled
        study, the mean over symbols of loss / benchmark loss.
    latency_s : numpy.ndarray
        ``[n_complete]`` validation inference seconds per origin.
    plots : list of Path
    objective : str
        The run's objective (:mod:`sweep.objectives`).
    """

    name: str
    n_complete: int
    n_failed: int
    best_validation: float
    validation: np.ndarray
    test: np.ndarray
    latency_s: np.ndarray
    plots: list[Path] = field(default_factory=list)
    objective: str = DEFAULT_OBJECTIVE

    @property
    def rank_correlation(self) -> float:
        """Spearman correlation of validation and test loss over trials (nan below 3 trials)."""
        from scipy.stats import spearmanr

        if len(self.validation) < 3 or np.ptp(self.validation) == 0 or np.ptp(self.test) == 0:
            return float("nan")
        return float(spearmanr(self.validation, self.test).statistic)


@dataclass
class Report:
    """What :func:`write_report` wrote: ``report.md``, the studies and the candidates it covers, and the run's
    objective (:mod:`sweep.objectives`) every loss in it is."""

    path: Path
    studies: list[StudySummary]
    candidates: dict[str, dict[str, Any]]
    objective: str = DEFAULT_OBJECTIVE


def _optuna_plots(study: optuna.Study, label: str, objective: str, folder: Path) -> list[Path]:
    from optuna.exceptions import ExperimentalWarning
    from optuna.visualization import matplotlib as optuna_plots

    def accuracy(t):
        return t.values[0]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)  # Optuna's matplotlib plots are marked experimental
        plots = [save_figure(optuna_plots.plot_optimization_history(study, target=accuracy,
                                                              target_name=f"validation {objective}").figure,
                       folder / f"{label}-history.png")]
        if len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) < 2:
            return plots
        try:
            warnings.simplefilter("ignore", UserWarning)  # PED-ANOVA notes it explains low values: what we minimise
            axes = optuna_plots.plot_param_importances(study, evaluator=PedAnovaImportanceEvaluator(), target=accuracy,
                                                       target_name=f"validation {objective}")
            plots.append(save_figure(axes.figure, folder / f"{label}-importances.png"))
        except (ValueError, RuntimeError) as e:  # e.g. a single config
            logger.info("study %s: no parameter importances (%s)", label, e)
    return plots


def _fan_chart(symbol: str, document: dict[str, Any], forecast: MemberForecast, data: OHLCVData, origins: np.ndarray,
               folder: Path) -> Path:
    last_close = data.close[origins - 1]
    # Return units: hourly moves are ~0.3 % of the price, invisible on a price axis.
    bands = forecast.predictive.quantiles([0.05, 0.25, 0.75, 0.95])[:, :, 0].T / last_close - 1  # [4, n_windows]
    times = data.frame.index[origins]
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(10, 4))
    axes.fill_between(times, bands[0], bands[3], alpha=0.25, color="C0", label="5-95%")
    axes.fill_between(times, bands[1], bands[2], alpha=0.5, color="C0", label="25-75%")
    axes.plot(times, forecast.point[:, 0] / last_close - 1, "b-", linewidth=1, label="point forecast")
    axes.plot(times, data.close[origins] / last_close - 1, "k.", markersize=4, label="actual")
    axes.set(ylabel="return of the first forecast bar",
             title=f"{symbol}: test forecasts vs actuals ({document['model'].get('family')})")
    axes.legend(loc="upper left")
    return save_figure(figure, folder / f"{symbol}-fan.png")


def _summarise(study: optuna.Study, members: list[tuple[OHLCVData, Any]], run_settings: dict[str, Any],
               cache: SampleCache, folder: Path) -> StudySummary:
    """A study's trials on validation and on test origins at the validation stride: the run objective's loss on
    its symbol, or, for a pooled study (several ``members``) or one of several ``--horizons``, the mean over symbols
    or horizons of loss / benchmark loss (what the study minimised)."""
    from ..runs.jobs import make_forecaster
    from ..runs.settings import SweepSettings

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    failed = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
    configs = [ForecastConfig.from_dict(t.user_attrs["config"], source=f"{study.study_name} trial {t.number}")
               for t in complete]
    label = study.study_name.split("/")[-1]  # without a shared database's run-id prefix
    settings = SweepSettings(symbols=(members[0][0].symbol,), **recorded_models(run_settings))
    symbol, _, model = label.rpartition(".")
    forecaster = make_forecaster(model, settings)
    n_max = n_max_samples(family_of(model))  # one inference per context length
    objective = objective_of_run(run_settings)
    horizons = run_settings.get("horizons") or [members[0][1].spec.horizon]

    def test_loss(config: ForecastConfig) -> float:
        scores = []
        for data, splits in members:  # every trial is scored here: one test origin per validation stride
            results = {h: evaluate(forecaster, config, data, splits.test_origins_at_stride, h, cache, n_max,
                                   objective=objective, layout=splits.spec.layout) for h in horizons}
            if len(horizons) > 1:  # what the study minimised over its horizons
                scores.append(horizons_metrics(results)[objective])
                continue
            (result,) = results.values()
            scores.append(result.loss / (result.baseline_loss if symbol == POOLED else 1.0))
        return float(np.mean(scores))

    test = np.array([test_loss(c) for c in configs])
    validation = np.array([t.values[0] for t in complete])
    summary = StudySummary(label, len(complete), len(failed), float(validation.min()), validation, test,
                           np.array([t.user_attrs["validation"]["latency_s"] for t in complete]), objective=objective)
    summary.plots = [*_optuna_plots(study, label, objective, folder),
                     accuracy_latency_plot(label, validation, summary.latency_s, objective, folder),
                     overfitting_plot(label, validation, test, objective, folder)]
    return summary


def _p_value(block: dict[str, Any] | None) -> str:
    return "-" if not block or block.get("p_value") is None else f"{block['p_value']:.3f}"


def _candidates_table(candidates: dict[str, dict[str, Any]], objective: Objective) -> list[str]:
    """Markdown rows of the candidates: the objective's loss, its benchmark's and the tests against each reference."""
    name, bench = objective.name, objective.benchmark
    others = [reference for reference in objective.references if reference != bench]  # e.g. the GARCH default
    lines = [f"| symbol | model | val {name} | test {name} | test {bench} | test skill | vs {bench} p | "
             + "".join(f"vs {reference} p | " for reference in others) + "test default | vs default p | SPA p | "
             "selection rule |", "|---|---|" + "---:|" * (8 + len(others)) + "---|"]
    for symbol, doc in candidates.items():
        compared, default = doc.get("comparisons", {}), doc.get("default", {}).get("test", {})
        lines.append(f"| {symbol} | {doc['model'].get('family')} | {doc['validation'][name]:.6g} | "
                     f"{doc['test'][name]:.6g} | {doc['test'][objective.benchmark_key]:.6g} | "
                     f"{doc['test']['skill']:+.4f} | {_p_value(compared.get(bench))} | "
                     + "".join(f"{_p_value(compared.get(reference))} | " for reference in others)
                     + f"{default.get(name, float('nan')):.6g} | {_p_value(compared.get('default'))} | "
                     f"{_p_value(doc.get('selection', {}).get('spa'))} | {_rule_cell(doc)} |")
    return lines


def _rule_cell(doc: dict[str, Any]) -> str:
    """The selection rule and, under ``significant``, whether the default was kept and the SPA's p against it."""
    rule = doc.get("selection", {}).get("rule")
    if not rule:
        return "best"  # candidates from before --select
    if rule["rule"] != "significant":
        return rule["rule"]
    tested = rule.get("spa_vs_default")
    return (f"significant: {'default kept' if rule['kept_default'] else 'default left'}"
            + ("" if tested is None else f" (SPA vs default p {tested['p_value']:.3f})"))


def _markdown(run_id: str, studies: list[StudySummary], candidates: dict[str, dict[str, Any]],
              fans: dict[str, Path], calibration: dict[str, list[Path]], objective: Objective, folder: Path) -> str:
    name, bench, loss = objective.name, objective.benchmark, loss_word(objective)
    relative = "relative_mae" if name == DEFAULT_OBJECTIVE else f"relative_{name}"
    lines = [f"# Sweep report: run {run_id}", "", f"Objective: `{name}` ({objective.summary}; {objective.units}).", "",
             "## Candidates (selected on validation, scored on test)", "", *_candidates_table(candidates, objective)]
    pooled = (f"; for a pooled study (`pooled.<model>`), {relative}: the mean over symbols of {loss} / {bench} {loss}"
              if objective.pools else "")
    lines += ["", "## Studies", "", f"Validation and test are {name}{pooled}.", "",
              "| study | complete | failed | best val | Spearman(val, test at stride) over trials |",
              "|---|---:|---:|---:|---:|"]
    for s in studies:
        lines.append(f"| {s.name} | {s.n_complete} | {s.n_failed} | {s.best_validation:.6g} | "
                     f"{s.rank_correlation:.3f} |")
    for s in studies:
        lines += ["", f"### {s.name}", ""] + [f"![{p.stem}]({p.relative_to(folder)})" for p in s.plots]
    for symbol, path in fans.items():
        lines += ["", f"### {symbol} test forecasts", "", f"![{path.stem}]({path.relative_to(folder)})"]
    lines += calibration_section(candidates, calibration, objective, folder)
    mde = mde_plot(candidates, objective, folder)
    if mde is not None:
        lines += ["", "## What the test windows can see", "",
                  f"Minimum detectable effect against {bench} (80 % power) as the number of test origins grows,",
                  "from each candidate's measured long-run variance (equal-weighted cosine; t references).", "",
                  f"![mde]({mde.relative_to(folder)})"]
    return "\n".join(lines) + "\n"


def write_report(run_id: str, data_dir: Path | None = None, output_dir: Path = Path("hyperparams"),
                 runs_dir: Path = Path("runs"), report_dir: Path | None = None, storage: str | None = None) -> Report:
    """Write ``report.md`` and its plots for run ``run_id``.

    Parameters
    ----------
    run_id : str
    data_dir : Path or None
        Where the run's bars are; None: the folder the run swept (``run.json``'s ``data_dir``). The run's bars
        are checked unchanged there and the report uses them alone (:func:`sweep.data.run_data.run_bars`).
    output_dir, runs_dir : Path
        As given to the sweep.
    report_dir : Path, optional
        Default ``<runs_dir>/<run_id>/report``.
    storage : str, optional
        The sweep's ``--storage`` URL; default its journal file.

    Raises
    ------
    ConfigError
        If the run does not exist or has no study, ``storage`` is not a usable URL or journal path,
        or the report folder cannot be written or lies inside ``<output_dir>/best`` or ``candidates``
        (:func:`sweep.report._folder.check_report_folder`).
    ConfigError
        Also if the data no longer holds the bars the run used.
    DataValidationError
        If a symbol's data is missing or invalid. On any failure no folder or file this call created is left
        (:func:`sweep.report._folder.removed_on_failure`).
    """
    folder = Path(report_dir or Path(runs_dir) / validate_run_id(run_id, "--run") / "report")
    check_report_folder(folder, output_dir)
    with removed_on_failure(folder):
        return _write_report(run_id, data_dir, output_dir, runs_dir, report_dir, storage)


def _run_datasets(settings: dict[str, Any], symbols: list[str], data_dir: Path | None,
                  run_dir: Path) -> dict[str, OHLCVData]:
    """The bars the run used: read from the folder it swept unless ``data_dir`` is given, checked unchanged, and cut
    at the run's last bar (the report recomputes the run's own windows; bars appended since are not its)."""
    folder = run_data_dir(data_dir, settings.get("data_dir"), run_dir / "run.json")
    fix = (f"pass --data-dir with the folder the run swept ({settings.get('data_dir') or DEFAULT_DATA_DIR}), or "
           "report a run of this data")
    return {symbol: run_bars(load_ohlcv(folder, symbol, settings.get("freq", "1h"), settings.get("gap_policy", "error")),
                             RecordedBars.from_run(settings, symbol, run_dir / "run.json"), fix)
            for symbol in symbols}


def _candidate_slots(members: dict[str, tuple[OHLCVData, Any]],
                     settings: dict[str, Any]) -> list[tuple[str, tuple[OHLCVData, Any]]]:
    """``(file name, (bars, splits))`` of each symbol at each horizon the run tuned (:func:`horizon_slot`)."""
    horizons = settings.get("horizons") or [WindowSpec.from_document(settings["windows"]).horizon]
    return [(horizon_slot(symbol, h), member) for h in horizons for symbol, member in members.items()]


def _write_report(run_id: str, data_dir: Path | None, output_dir: Path, runs_dir: Path, report_dir: Path | None,
                  storage: str | None) -> Report:
    """:func:`write_report` without the cleanup on failure."""
    check_storage(storage)
    run_dir = Path(runs_dir) / validate_run_id(run_id, "--run")
    settings = read_run_settings(run_dir)
    folder = Path(report_dir or run_dir / "report")
    check_output_folder(folder, "--report-dir")
    backend = make_storage(storage or run_dir / "optuna.journal")
    prefix = f"{run_id}/" if storage else ""  # shared databases namespace studies by run id
    # a backtest's fold studies (fold<k>/...) are summarised by its backtest.json, not one by one
    names = sorted(n for n in optuna.get_all_study_names(backend) if n.startswith(prefix) and "/" not in n[len(prefix):])
    backtest_file = run_dir / "backtest.json"
    if not names and not backtest_file.is_file():
        raise ConfigError(f"run {run_id!r} has no study in {storage or run_dir / 'optuna.journal'}")
    folder.mkdir(parents=True, exist_ok=True)
    spec = WindowSpec.from_document(settings["windows"])
    cache = SampleCache(cache_folder(run_dir, settings))
    objective = get_objective(objective_of_run(settings))
    studies, candidates, fans, calibration, trading = [], {}, {}, {}, {}
    symbol_of = {n: n[len(prefix):].rpartition(".")[0] for n in names}
    pool = (settings.get("pool") or []) if POOLED in symbol_of.values() else []
    datasets = _run_datasets(settings, sorted({s for s in symbol_of.values() if s != POOLED} | set(pool)), data_dir,
                             run_dir)
    splits = sweep_splits(datasets, spec, pooled=bool(pool))
    members = {symbol: (data, splits[symbol]) for symbol, data in datasets.items()}
    for name in names:
        study = optuna.load_study(study_name=name, storage=backend)
        scored = [members[s] for s in pool] if symbol_of[name] == POOLED else [members[symbol_of[name]]]
        if study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            studies.append(_summarise(study, scored, settings, cache, folder))
    for slot, (data, splits) in _candidate_slots(members, settings):
        path = candidate_path(output_dir, run_id, slot)
        if path.is_file():
            candidates[slot] = document = read_json(path, "candidate")
            load, horizon = document_loader(path), WindowSpec.from_document(document["windows"]).horizon
            forecast = document_forecast(document, data, splits.test_origins, horizon, cache, load)
            fans[slot] = _fan_chart(slot, document, forecast, data, splits.test_origins, folder)
            calibration[slot] = calibration_plots(slot, document, forecast.predictive, data, splits.test_origins,
                                                  objective, folder)
            trading[slot] = trading_plots(slot, document, forecast, data, splits.test_origins, horizon,
                                          cache, load, objective, folder)
    report = folder / "report.md"
    text = _markdown(run_id, studies, candidates, fans, calibration, objective, folder)
    text += "".join(f"{line}\n" for line in trading_section(candidates, trading, objective, folder))
    if settings.get("horizons"):  # a run of several --horizons: skill against horizon, from the stored losses
        stored = {slot: pd.read_csv(window_losses_path(candidate_path(output_dir, run_id, slot)))
                  for slot in candidates}
        skills = horizon_skills(candidates, stored, objective)
        text += "".join(f"{line}\n" for line in horizon_section(skills, horizon_plots(skills, objective, folder),
                                                                 objective, folder))
    if backtest_file.is_file():
        backtest = read_json(backtest_file, "backtest")
        text += "\n".join(backtest_section(backtest, folder)) + "\n"
    write_text_atomic(report, text)
    return Report(report, studies, candidates, objective.name)
