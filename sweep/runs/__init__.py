"""A sweep run and the backtest: settings and resume checks (:mod:`.settings`), ``run.json`` (:mod:`.run_record`),
settings into study jobs (:mod:`.jobs`), the sweep pipeline (:mod:`.run`) with its selection, candidate documents and
``--finetune`` and the selection rules (private), and the walk-forward backtest (:mod:`.backtest`)."""

from .backtest import BACKTEST_FILE, BacktestSettings, run_backtest
from .jobs import make_forecaster
from .run import run_sweep
from .run_record import recorded_models
from .settings import SweepSettings, new_run_id, read_run_settings, validate_run_id
from ._select_rule import DEFAULT_RULE, DEFAULT_SELECT_ALPHA, RULES

__all__ = ["BACKTEST_FILE", "BacktestSettings", "run_backtest", "make_forecaster", "run_sweep", "recorded_models",
           "SweepSettings", "new_run_id", "read_run_settings", "validate_run_id", "DEFAULT_RULE", "DEFAULT_SELECT_ALPHA",
           "RULES"]
