"""The trading objectives' reference measurement, reproduced through sweep's own scoring.

On the last 2,400 hourly origins of shipped BTCUSD (the default test windows), with Fracast-0 (FP32 weights,
context 512, the median as its point), it prints:
- how often the median's sign and the last return's sign match the next bar's return;
- the Sharpe ratio of going long or short by the median's sign, before fees;
- the summed PnL of trading only when the median moves more than 10 bps, paying 10 bps per side;
- buy-and-hold's summed return over the same origins;
- the Brier scores of Fracast-0's probability of up and of climatology.

Usage: ``python benchmarks/trading_measurement.py [--data-dir trainingdata] [--symbol BTCUSD]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from sweep.data.bars import load_ohlcv
from sweep.data.windows import WindowSpec, make_splits
from sweep.forecasters.config import ForecastConfig
from sweep.forecasters.fracast import FracastForecaster
from sweep.scoring.cache import SampleCache
from sweep.scoring.evaluate import evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("trainingdata"))
    parser.add_argument("--symbol", default="BTCUSD")
    args = parser.parse_args()
    data = load_ohlcv(args.data_dir, args.symbol)
    origins = make_splits(len(data.close), WindowSpec()).test_origins
    cache = SampleCache()
    model = FracastForecaster.from_pretrained(weights="fp32") if hasattr(FracastForecaster, "from_pretrained") \
        else FracastForecaster()

    def scored(objective: str, decision: dict | None = None):
        config = ForecastConfig("fracast", 512, 1, "median", 0, {"weights": "fp32"}, decision or {})
        return evaluate(model, config, data, origins, 1, cache, objective=objective)

    realised = data.close[origins] / data.close[origins - 1] - 1
    last_return = data.close[origins - 1] / data.close[origins - 2] - 1
    signs = scored("pnl", {"threshold_fees": 0.0, "fee_bps": 0.0, "long_only": False})
    position = signs.window_records["position"]
    print(f"{args.symbol}, {len(origins)} hourly test origins {data.frame.index[origins[0]]} .. "
          f"{data.frame.index[origins[-1]]}")
    print(f"median's sign = next return's sign: {100 * np.mean(np.sign(position) == np.sign(realised)):.1f} %")
    print(f"last return's sign = next return's sign: {100 * np.mean(np.sign(last_return) == np.sign(realised)):.1f} %")
    print(f"long/short by the median's sign, before fees: Sharpe {signs.metrics['sharpe']:+.2f}")
    rule = scored("pnl", {"threshold_fees": 0.5, "fee_bps": 10.0, "long_only": False})
    print(f"trade when the median moves > 10 bps, 10 bps per side: sum {100 * rule.metrics['total_return']:+.0f} %, "
          f"Sharpe {rule.metrics['sharpe']:+.2f}, {rule.metrics['n_trades']:.0f} trades")
    print(f"buy-and-hold: sum {100 * realised.sum():+.0f} % of returns")
    direction = scored("direction")
    print(f"Brier: Fracast-0 {direction.loss:.5f}, climatology {direction.baseline_loss:.5f}; accuracy "
          f"{100 * direction.metrics.get('accuracy', float('nan')):.1f} %, PT p {direction.metrics.get('pt_p_value')}")


if __name__ == "__main__":
    main()
