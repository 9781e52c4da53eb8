"""The Optuna search: spaces (:mod:`.space`), what one study is (:mod:`.study_job`), what a trial scores
(:mod:`.objective`), studies with storage, resume and warm starts (:mod:`.study`, :mod:`.warm_start`), where they run
(:mod:`.execution`, :mod:`.ray_executor`), configs drawn for several symbols at once (private) and progress views
(:mod:`.progress_views`, imported where used: it loads rich's live display)."""

from .execution import Executor, InProcessExecutor
from .objective import POOLED_OBJECTIVE, relative_window_losses
from .ray_executor import RayExecutor
from .space import CONTEXT_LENGTHS, default_config, n_max_samples
from .study import OBJECTIVE, Progress, RUN_SETTINGS_ATTR, StudyOutcome, make_storage
from .study_job import PER_SYMBOL, POOLED, SCOPES, StudyJob, SymbolWindows
from .warm_start import default_warm_start, pooled_warm_starts, warm_starts

__all__ = ["Executor", "InProcessExecutor", "POOLED_OBJECTIVE", "relative_window_losses", "RayExecutor",
           "CONTEXT_LENGTHS", "default_config", "n_max_samples", "OBJECTIVE", "Progress",
           "RUN_SETTINGS_ATTR", "StudyOutcome", "make_storage", "PER_SYMBOL", "POOLED", "SCOPES", "StudyJob",
           "SymbolWindows", "default_warm_start", "pooled_warm_starts", "warm_starts"]
