"""Old module paths of ``sweep`` and where they went: paths written before the package grouping still import."""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

__all__ = ["MOVED_MODULES", "import_path"]


#: Where each module of ``sweep`` went when the flat folder was grouped into packages (old dotted path: new one), so
#: that a ``"module"`` or ``"module:Class"`` path written before (a registered family's ``module`` or ``space``) still
#: imports. ``sweep.forecasters.kronos`` is the Kronos package now; its ``KronosForecaster`` is read from it as before.
MOVED_MODULES: dict[str, str] = {
    "sweep.aggregate": "sweep.stats.aggregate",
    "sweep.backtest": "sweep.runs.backtest",
    "sweep.bar_time": "sweep.data.bar_time",
    "sweep.cache": "sweep.scoring.cache",
    "sweep.candidate": "sweep.runs._candidate",
    "sweep.checkpoint_output": "sweep.forecasters.checkpoint_output",
    "sweep.checkpoints": "sweep.forecasters.checkpoints",
    "sweep.common_calendar": "sweep.data.common_calendar",
    "sweep.config": "sweep.forecasters.config",
    "sweep.crash_log": "sweep.storage.crash_log",
    "sweep.data": "sweep.data.bars",
    "sweep.dependence": "sweep.stats._dependence",
    "sweep.download": "sweep.data.download",
    "sweep.ensemble": "sweep.scoring.ensemble",
    "sweep.evaluate": "sweep.scoring.evaluate",
    "sweep.execution": "sweep.search.execution",
    "sweep.export": "sweep.serving.export",
    "sweep.faults": "sweep.storage.faults",
    "sweep.finetune": "sweep.runs._finetune",
    "sweep.flags": "sweep.flags._common",
    "sweep.forecasters.kronos": "sweep.forecasters.kronos.forecaster",
    "sweep.forecasters.spill": "sweep.forecasters._spill",
    "sweep.jobs": "sweep.runs.jobs",
    "sweep.journal": "sweep.storage.journal",
    "sweep.kronos": "sweep.forecasters.kronos",
    "sweep.kronos.card": "sweep.forecasters.kronos.card",
    "sweep.kronos.checkpoint": "sweep.forecasters.kronos.checkpoint",
    "sweep.kronos.layers": "sweep.forecasters.kronos._layers",
    "sweep.kronos.model": "sweep.forecasters.kronos.model",
    "sweep.kronos.sampler": "sweep.forecasters.kronos.sampler",
    "sweep.kronos.tokenizer": "sweep.forecasters.kronos.tokenizer",
    "sweep.metrics": "sweep.stats.metrics",
    "sweep.model_paths": "sweep.forecasters.model_paths",
    "sweep.objective": "sweep.search.objective",
    "sweep.overlap": "sweep.forecasters.overlap",
    "sweep.plots": "sweep.report._plots",
    "sweep.predict": "sweep.serving.predict",
    "sweep.predictive": "sweep.stats.predictive",
    "sweep.progress_views": "sweep.search.progress_views",
    "sweep.promote": "sweep.review.promote",
    "sweep.promote_files": "sweep.review.promote_files",
    "sweep.ray_executor": "sweep.search.ray_executor",
    "sweep.report": "sweep.report.report",
    "sweep.report_backtest": "sweep.report._backtest_section",
    "sweep.report_folder": "sweep.report._folder",
    "sweep.review_file": "sweep.review.review_file",
    "sweep.run": "sweep.runs.run",
    "sweep.run_data": "sweep.data.run_data",
    "sweep.run_lock": "sweep.storage.run_lock",
    "sweep.run_record": "sweep.runs.run_record",
    "sweep.selection": "sweep.runs._selection",
    "sweep.settings": "sweep.runs.settings",
    "sweep.significance": "sweep.stats.significance",
    "sweep.space": "sweep.search.space",
    "sweep.stationary_bootstrap": "sweep.stats._stationary_bootstrap",
    "sweep.stats": "sweep.stats.paired",
    "sweep.storage_url": "sweep.storage.storage_url",
    "sweep.store": "sweep.storage.store",
    "sweep.study": "sweep.search.study",
    "sweep.study_job": "sweep.search.study_job",
    "sweep.symbol_batch": "sweep.search._symbol_batch",
    "sweep.training": "sweep.training._jobs",
    "sweep.training_flags": "sweep.flags._numbers",
    "sweep.tuned_data": "sweep.data.tuned_data",
    "sweep.warm_start": "sweep.search.warm_start",
    "sweep.windows": "sweep.data.windows",
}


def import_path(module: str) -> ModuleType:
    """Import ``module``, reading a path of :data:`MOVED_MODULES` as the module's new path."""
    if module in MOVED_MODULES and module != "sweep.forecasters.kronos":
        module = MOVED_MODULES[module]
    return import_module(module)

