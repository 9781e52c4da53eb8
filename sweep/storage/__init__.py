"""Where the project's files and studies are kept: atomic writes and the ``hyperparams/`` paths (:mod:`.store`), the
Optuna journal (:mod:`.journal`), one driver per run (:mod:`.run_lock`), the accepted ``--storage`` URLs
(:mod:`.storage_url`), storage failures turned into clear errors (:mod:`.faults`) and the log an unexpected error
goes to (:mod:`.crash_log`)."""

from .crash_log import write_crash_log
from .faults import STORAGE_RETRY_DELAYS_S, storage_faults
from .journal import journal_storage
from .run_lock import run_lock
from .storage_url import check_storage, is_database_url, redacted
from .store import (best_path, candidate_path, check_output_folder, ensemble_candidate_path, git_commit, read_json,
                    staged_folder, utc_now, write_json_atomic, write_text_atomic)

__all__ = ["write_crash_log", "STORAGE_RETRY_DELAYS_S", "storage_faults", "journal_storage", "run_lock",
           "check_storage", "is_database_url", "redacted", "best_path", "candidate_path", "check_output_folder",
           "ensemble_candidate_path", "git_commit", "read_json", "staged_folder", "utc_now", "write_json_atomic",
           "write_text_atomic"]
