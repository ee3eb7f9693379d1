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
from bench_suite import alternated


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
    equity, trades, liqs = simulate(*inputs)
    calls = [lambda: simulate(*inputs)]
    if args.vectorbt:
        calls.append(vectorbt_call(inputs))
    # sitcli and vectorbt in turn, so that both see the same load
    seconds = alternated(calls, args.repeat)
    ours = float(np.median(seconds[0]))
    updates = args.bars * args.combos
    extra = {}
    if args.vectorbt:
        theirs = float(np.median(seconds[1]))
        extra = {"vectorbt_seconds_median": round(theirs, 4),
                 "vectorbt_updates_per_second": round(updates / theirs),
                 "speedup_vs_vectorbt": round(float(np.median(
                     [b / a for a, b in zip(*seconds, strict=True)])), 2)}
    print(json.dumps({
        "benchmark": "kernel_throughput",
        "bars": args.bars,
        "combinations": args.combos,
        "seconds_median": round(ours, 4),
        "repeat": args.repeat,
        "updates_per_second_one_core": round(updates / ours),
        "trades": int(len(trades)),
        "liquidations": int(len(liqs)),
        "import_and_first_call_seconds": round(first_call, 3),
        "machine": platform.processor() or platform.machine(),
        **extra,
    }, indent=2))


def vectorbt_call(inputs):
    """vectorbt 1.x from_signals, as a call, on the same bars, signals, stops, take-profits,
    fees and slippage (no leverage, liquidation or funding: it has none), one column per
    combination."""
    import pandas as pd
    import vectorbt as vbt

    open_, high, low, close, _, _, entries, exits, cols = inputs[:9]
    k = len(cols)
    frame = lambda a: pd.DataFrame(np.repeat(a, k, axis=1))  # noqa: E731
    kw = dict(close=frame(close), open=frame(open_), high=frame(high), low=frame(low),
              entries=frame(entries > 0), exits=frame(exits), price=frame(open_).shift(-1),
              fees=cols["fee"], slippage=cols["slippage"] + cols["half_spread"],
              sl_stop=cols["stop"], tp_stop=cols["take"], init_cash=1000.0, freq="1D")
    # compiled on these very inputs: a smaller slice compiles other specialisations
    vbt.Portfolio.from_signals(**kw).total_return()
    return lambda: vbt.Portfolio.from_signals(**kw).total_return()


if __name__ == "__main__":
    main()
