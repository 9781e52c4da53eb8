"""The command line ``python -m sweep`` and the training jobs share: argparse flags, consoles, logging, exit codes and
the positive-number and seed argument types."""

from ._common import (EXIT_OK, EXIT_FAILURE, EXIT_INVALID, flagged_families, console, table_console, RUN_DATA_DIR_HELP,
                      add_data_flags, add_window_flags, window_spec_from_args, add_folds_flag, unique, valid_symbols,
                      add_family_flags, family_model_ids, family_options, setup_logging, exit_code_of)
from ._numbers import positive_int, positive_float, seed, MAX_SEED

__all__ = ["EXIT_OK", "EXIT_FAILURE", "EXIT_INVALID", "flagged_families", "console", "table_console",
           "RUN_DATA_DIR_HELP", "add_data_flags", "add_window_flags", "window_spec_from_args", "add_folds_flag",
           "unique", "valid_symbols", "add_family_flags", "family_model_ids", "family_options", "setup_logging",
           "exit_code_of", "positive_int", "positive_float", "seed", "MAX_SEED"]
