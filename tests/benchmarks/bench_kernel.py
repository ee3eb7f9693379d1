"""Kernel throughput: bar x parameter-combination updates per second, printed as JSON.

    python tests/benchmarks/bench_kernel.py [--bars 2520] [--combos 2000] [--repeat 3]

Every combination is its own isolated account with liquidation, maintenance tiers, fees,
spread, slippage, funding, a stop and a take-profit switched on. One signal set is shared by
all combinations (a leverage x stop x take grid), as in a parameter sweep.
"""

import argparse
import json
import platform
import time

import numpy as np


def workload(n_bars: int, n_combos: int, seed: int = 7):
    """simulate's arguments for one symbol: bench_suite's workload with a single column set."""
    from bench_suite import workload as suite_workload

    return suite_workload(n_bars, 1, n_combos, seed)[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bars", type=int, default=2520)
    parser.add_argument("--combos", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--vectorbt", action="store_true",
                        help="also time vectorbt's Portfolio.from_signals on the same signals")
    args = parser.parse_args()

    t0 = time.perf_counter()
    from sitcli.engine.kernel import simulate
    inputs = workload(64, 4)
    simulate(*inputs)
    first_call = time.perf_counter() - t0

    inputs = workload(args.bars, args.combos)
    best = float("inf")
    for _ in range(args.repeat):
        t = time.perf_counter()
        equity, trades, liqs = simulate(*inputs)
        best = min(best, time.perf_counter() - t)
    updates = args.bars * args.combos
    extra = {}
    if args.vectorbt:
        seconds = time_vectorbt(inputs, args.repeat)
        extra = {"vectorbt_seconds_best_of": round(seconds, 4),
                 "vectorbt_updates_per_second": round(updates / seconds),
                 "speedup_vs_vectorbt": round(seconds / best, 2)}
    print(json.dumps({
        "benchmark": "kernel_throughput",
        "bars": args.bars,
        "combinations": args.combos,
        "seconds_best_of": round(best, 4),
        "repeat": args.repeat,
        "updates_per_second_one_core": round(updates / best),
        "trades": int(len(trades)),
        "liquidations": int(len(liqs)),
        "import_and_first_call_seconds": round(first_call, 3),
        "machine": platform.processor() or platform.machine(),
        **extra,
    }, indent=2))


def time_vectorbt(inputs, repeat: int) -> float:
    """vectorbt 1.x from_signals on the same bars, signals, stops, take-profits, fees and
    slippage (no leverage, liquidation or funding: it has none), one column per combination."""
    import pandas as pd
    import vectorbt as vbt

    open_, high, low, close, _, _, entries, exits, cols = inputs[:9]
    k = len(cols)
    frame = lambda a: pd.DataFrame(np.repeat(a, k, axis=1))  # noqa: E731
    kw = dict(close=frame(close), open=frame(open_), high=frame(high), low=frame(low),
              entries=frame(entries > 0), exits=frame(exits), price=frame(open_).shift(-1),
              fees=cols["fee"], slippage=cols["slippage"] + cols["half_spread"],
              sl_stop=cols["stop"], tp_stop=cols["take"], init_cash=1000.0, freq="1D")
    vbt.Portfolio.from_signals(**{k_: (v.iloc[:64, :4] if isinstance(v, pd.DataFrame) else
                                       v[:4] if isinstance(v, np.ndarray) else v)
                                  for k_, v in kw.items()})       # compile
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        vbt.Portfolio.from_signals(**kw).total_return()
        best = min(best, time.perf_counter() - t)
    return best


if __name__ == "__main__":
    main()
