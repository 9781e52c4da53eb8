"""The bars and the windows cut from them: reading and validating ``<SYMBOL>.csv(.gz)`` (:mod:`.bars`), frequencies and
UTC times (:mod:`.bar_time`), rolling origins, purge gap and walk-forward folds (:mod:`.windows`), windows on the bar
times several symbols share (:mod:`.common_calendar`), the folder a run read (:mod:`.run_data`), bars read the way a
candidate recorded (:mod:`.tuned_data`) and ccxt downloads (:mod:`.download`)."""

from .bar_time import parse_freq, utc_timestamp
from .bars import (COLUMNS, GAP_POLICIES, OHLCVData, check_ohlcv, fingerprint, load_ohlcv, ohlcv_from_frame,
                   symbol_path, validate_symbol)
from .common_calendar import aligned_splits, require_same_origin_times, sweep_splits
from .download import download_symbol
from .run_data import DEFAULT_DATA_DIR, RecordedBars, data_record, run_bars, run_data_dir
from .tuned_data import tuned_data_settings
from .windows import (Splits, WindowSpec, check_moving_closes, gather_contexts, gather_targets, make_splits,
                      walk_forward_splits)

__all__ = ["parse_freq", "utc_timestamp", "COLUMNS", "GAP_POLICIES", "OHLCVData", "check_ohlcv", "fingerprint",
           "load_ohlcv", "ohlcv_from_frame", "symbol_path", "validate_symbol", "aligned_splits",
           "require_same_origin_times", "sweep_splits", "download_symbol", "DEFAULT_DATA_DIR", "RecordedBars",
           "data_record", "run_bars", "run_data_dir", "tuned_data_settings", "Splits", "WindowSpec",
           "check_moving_closes", "gather_contexts", "gather_targets", "make_splits", "walk_forward_splits"]
