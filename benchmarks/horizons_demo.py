"""Fracast-0's best validation trial at each horizon of a ``--horizons 1 4 24`` run, scored on its test origins.

Run after the README's done-when command (``python -m sweep --symbols BTCUSD ETHUSD --n-trials 20 --models fracast
naive --horizons 1 4 24 --promote``): ``python benchmarks/horizons_demo.py . RUN_ID``. It reads the run's study
journal (each trial's per-horizon validation metrics) and its forecast cache (the candidates' power blocks drew
the configs on the test origins; a config not drawn there is drawn now), and prints, per (symbol, horizon), the
validation skill, the test skill against persistence and the paired test counting overlapping windows: the table
in README "Several horizons in one run".
"""
import json
import sys
from pathlib import Path

import optuna
from sweep.data.bars import load_ohlcv
from sweep.data.windows import WindowSpec, make_splits
from sweep.forecasters.config import ForecastConfig
from sweep.forecasters.registry import FAMILIES
from sweep.scoring.cache import SampleCache
from sweep.scoring.evaluate import evaluate
from sweep.search.horizon_trials import BY_HORIZON_ATTR
from sweep.search.study import make_storage
from sweep.stats.paired import paired_test
from sweep.storage.store import horizon_slot

root, run = Path(sys.argv[1]), sys.argv[2]  # the project folder the sweep ran in, and its run id
storage = make_storage(root / "runs" / run / "optuna.journal")
forecaster = FAMILIES["fracast"].load(FAMILIES["fracast"].default_model)
cache = SampleCache(root / "runs" / run / "cache")
for symbol in ("BTCUSD", "ETHUSD"):
    study = optuna.load_study(study_name=f"{symbol}.fracast", storage=storage)
    trials = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    data = load_ohlcv(root / "trainingdata", symbol)
    for h in (1, 4, 24):
        best = min(trials, key=lambda t: (t.user_attrs[BY_HORIZON_ATTR][str(h)]["pct_return_mae"], t.number))
        v = best.user_attrs[BY_HORIZON_ATTR][str(h)]
        doc = json.loads((root / "hyperparams/candidates" / run / f"{horizon_slot(symbol, h)}.json").read_text())
        spec = WindowSpec.from_document(doc["windows"])
        origins = make_splits(data.n_bars, spec).test_origins
        config = ForecastConfig.from_dict(best.user_attrs["config"])
        misses = cache.misses
        r = evaluate(forecaster, config, data, origins, h, cache, objective="pct_return_mae", layout=spec.layout)
        t = paired_test(r.window_errors, r.baseline_window_errors, 0.05, 0, overlap=spec.overlap)
        print(f"{symbol} h={h}: trial {best.number} ctx {config.context_length} {config.sampling}: val skill "
              f"{v['skill']:+.4f}; test skill {r.metrics['skill']:+.4f} (MAE {r.loss:.5f} vs {r.baseline_loss:.5f}), "
              f"p vs persistence {t.dm_p_value:.3f}, CI of diff [{t.ci_lower:+.2e}, {t.ci_upper:+.2e}], "
              f"new draws {cache.misses - misses}", flush=True)
