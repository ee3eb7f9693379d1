"""Every benchmark of DESIGN §8 in one run, printed as ONE JSON document (`make bench`).

    python tests/benchmarks/bench_suite.py            # the full workloads (a few minutes)
    python tests/benchmarks/bench_suite.py --reduced  # tiny workloads: checks that it runs

Workloads (synthetic, seeded bars: the shared data has no one-minute history):
  daily   5 symbols x 2,520 daily bars (10 years) x 10,000 combinations (one isolated account
          per symbol and combination: 50,000 runs)
  minute  1 symbol x 2,600,000 one-minute bars x 100 combinations
Every run has liquidation (maintenance tiers), fees, spread, slippage, funding every bar, a
stop, a take-profit and a time exit on. "Updates" are bars x runs.

Peers get the same signals: vectorbt's Portfolio.from_signals (no leverage, liquidation or
funding: it has none) on a subset of the runs, and backtesting.py on one run per symbol;
their throughput is per run, so the ratios compare like with like.

The daily kernel's figures and the commands' are medians of repeats (this machine class is
shared, and its neighbours' load moves every figure; the minute workload runs once).
vectorbt and sitcli's one-core sweep run in turn, round by round, and the speedup is the
median of the rounds' ratios: both sides of each ratio saw the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
os.environ.setdefault("TQDM_DISABLE", "1")   # backtesting.py's progress bar (read at tqdm import)
SITCLI = Path(sys.executable).parent / "sitcli"

FULL = dict(daily_bars=2520, daily_symbols=5, daily_combos=10_000, minute_bars=2_600_000,
            minute_combos=100, full_kernel_combos=400, vectorbt_runs=1000,
            vectorbt_minute_runs=10, backtesting_minute_bars=200_000, scaling_combos=2000,
            memory_grid=100_000, repeat=3, vectorbt_rounds=5, cli_repeat=5,
            dask_combos=20_000)
REDUCED = dict(daily_bars=300, daily_symbols=2, daily_combos=40, minute_bars=5000,
               minute_combos=4, full_kernel_combos=10, vectorbt_runs=8, vectorbt_minute_runs=2,
               backtesting_minute_bars=2000, scaling_combos=8, memory_grid=240, repeat=1,
               vectorbt_rounds=1, cli_repeat=1, dask_combos=100)


def bars(n: int, n_symbols: int, seed: int, vol: float):
    """Seeded OHLC for several symbols, (n, n_symbols) each, fat-tailed returns."""
    rng = np.random.default_rng(seed)
    ret = rng.standard_t(4, (n, n_symbols)) * vol
    close = 100 * np.exp(np.cumsum(ret, axis=0))
    prev = np.vstack([np.full((1, n_symbols), 100.0), close[:-1]])
    open_ = prev * np.exp(rng.normal(0, vol / 6, (n, n_symbols)))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, vol / 2, (n, n_symbols))))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, vol / 2, (n, n_symbols))))
    return [np.ascontiguousarray(a) for a in (open_, high, low, close)]


def workload(n: int, n_symbols: int, n_combos: int, seed: int = 7, vol: float = 0.02):
    """simulate's arguments plus (acc_start, combo_start): combination-major columns, one
    per symbol, each its own isolated account; a leverage x stop x take grid."""
    from sitcli.engine.kernel import no_detail
    from sitcli.engine.records import ISOLATED, account_dt, column_dt

    rng = np.random.default_rng(seed + 1)
    open_, high, low, close = bars(n, n_symbols, seed, vol)
    mean = np.vstack([np.convolve(close[:, j], np.ones(20) / 20, mode="same")
                      for j in range(n_symbols)]).T
    entries = np.where((close > mean) & (rng.random((n, n_symbols)) < 0.2), 1, 0).astype(np.int8)
    exits = rng.random((n, n_symbols)) < 0.05
    k = n_combos * n_symbols
    cols = np.zeros(k, column_dt)
    cols["inst"] = np.tile(np.arange(n_symbols), n_combos)
    cols["sig"] = cols["inst"]
    cols["tiers"] = 0
    cols["group"] = np.arange(k)
    cols["leverage"] = np.repeat(rng.choice([2.0, 5.0, 10.0, 20.0, 50.0], n_combos), n_symbols)
    cols["size"] = 1.0
    cols["stop"] = np.repeat(rng.uniform(0.005, 0.05, n_combos), n_symbols)
    cols["take"] = np.repeat(rng.uniform(0.01, 0.1, n_combos), n_symbols)
    cols["max_bars"] = 10
    cols["fee"] = 0.0005
    cols["half_spread"] = 0.0001
    cols["slippage"] = 0.0002
    cols["fin_days"] = 365.0
    cols["liq_fee"] = 0.005
    accounts = np.zeros(k, account_dt)
    accounts["init_cash"] = 1000.0
    accounts["mode"] = ISOLATED
    accounts["nbp"] = True
    floors = np.array([[0.0, 50000.0, 250000.0]])
    mmrs = np.array([[0.004, 0.005, 0.01]])
    cums = np.array([[0.0, 50.0, 1300.0]])
    maxlevs = np.array([[125.0, 100.0, 50.0]])
    funding = np.full((n, n_symbols), 0.0003)
    financing = np.zeros((n, n_symbols, 2))
    last_bar = np.full(n_symbols, n - 1, np.int64)
    args = (open_, high, low, close, funding, financing, entries, exits, cols, accounts, floors,
            mmrs, cums, maxlevs, False, False, last_bar, np.zeros((n, n_symbols)),
            *no_detail(n_symbols))
    acc_start = np.arange(k + 1, dtype=np.int64)
    combo_start = np.arange(n_combos + 1, dtype=np.int64) * n_symbols
    return args, acc_start, combo_start


def detail_workload(n_minutes: int, n_combos: int, per_day: int = 1440, seed: int = 11,
                    vol: float = 0.0008):
    """A daily strategy walking 1-minute detail: the minute workload's bars cut into days
    (daily OHLC from the minutes), daily signals, the minutes as `--detail` arrays. Returns
    (daily arguments with detail, the same without, acc_start, combo_start, minutes)."""
    from sitcli.engine.kernel import no_detail

    args, acc_start, combo_start = workload(n_minutes, 1, n_combos, seed, vol)
    days = n_minutes // per_day
    m = days * per_day
    fine = [np.ascontiguousarray(a[:m]) for a in args[:4]]
    o, h, l, c = (a.reshape(days, per_day) for a in (x[:, 0] for x in fine))
    daily = [np.ascontiguousarray(x.reshape(days, 1))
             for x in (o[:, 0], h.max(axis=1), l.min(axis=1), c[:, -1])]
    rng = np.random.default_rng(seed + 2)
    entries = np.where(rng.random((days, 1)) < 0.5, 1, -1).astype(np.int8)
    exits = np.zeros((days, 1), bool)
    zeros = np.zeros((days, 1))
    start = (np.arange(days + 1, dtype=np.int64) * per_day).reshape(-1, 1)
    financing = np.zeros((days, 1, 2))   # per bar: the long's and the short's rate
    # a perpetual's three 8-hour stamps a day: paid at the minutes that end at them with
    # detail, at the day's close without
    head = (*daily, zeros + 0.0003, financing, entries, exits, *args[8:14], False, False,
            np.array([days - 1], np.int64), zeros.copy())
    fine_funding = np.zeros((m, 1))
    fine_funding[per_day // 3 - 1::per_day // 3] = 0.0001
    return ((*head, *fine, start, fine_funding), (*head, *no_detail(1)), acc_start,
            combo_start, m)


def detail_section(n_minutes: int, n_combos: int, plain_minute_rate: float,
                   repeat: int) -> dict:
    """Issue 14's budget: a daily strategy with 1-minute detail, in minute bars walked per
    second (every column walks every minute), against the plain kernel on the minute bars."""
    # both kernels compiled first (the start-up warm-up leaves the --detail version out):
    # with one repeat, their compiling would be timed as the walk
    small = detail_workload(3 * 1440, 1)
    for args in small[:2]:
        sweep_seconds(args, small[2], small[3], 1, 1)
    detailed, plain, acc_start, combo_start, m = detail_workload(n_minutes, n_combos)
    k = len(detailed[8])
    one = sweep_seconds(detailed, acc_start, combo_start, 1, repeat)
    coarse = sweep_seconds(plain, acc_start, combo_start, 1, repeat)
    rate = m * k / one
    return {"minutes": m, "days": m // 1440, "runs": k,
            "detail_sweep_seconds_one_core": round(one, 3),
            "detail_fine_updates_per_second_one_core": round(rate),
            "plain_daily_sweep_seconds_one_core": round(coarse, 4),
            "plain_minute_updates_per_second_one_core": round(plain_minute_rate),
            "detail_vs_plain_minute": round(rate / plain_minute_rate, 3)}


def median_of(fn, repeat: int, clock=time.perf_counter) -> float:
    """Median seconds of `repeat` calls (on a shared machine, the median of repeats)."""
    return float(np.median(alternated([fn], repeat, clock)[0]))


def alternated(fns, rounds: int, clock=time.perf_counter) -> list[list[float]]:
    """Seconds of each of `fns`, called in turn `rounds` times: calls side by side see the
    same spells of a shared machine's load, so their ratios round by round compare them."""
    seconds = [[] for _ in fns]
    for _ in range(rounds):
        for fn, out in zip(fns, seconds, strict=True):
            t = clock()
            fn()
            out.append(clock() - t)
    return seconds


# One-core figures are timed by the process's CPU clock (one thread works): on a machine
# shared with other busy processes the wall clock also counts the time slices they took.
ONE_CORE_CLOCK = time.process_time


def sweep_call(args, acc_start, combo_start, threads: int):
    """The summaries-only sweep of every combination on `threads` threads, as a call."""
    import numba

    from sitcli.engine.kernel import sweep_nb

    numba.set_num_threads(threads)
    m = len(combo_start) - 1
    # no PBO blocks: the bar loop alone, comparable with the earlier rounds' figures (the
    # `sweep_memory` section times the command, blocks included)
    no_blocks = np.empty(0, np.int64)
    return lambda: sweep_nb(*args, acc_start, combo_start, 0, m, no_blocks)


def sweep_seconds(args, acc_start, combo_start, threads: int, repeat: int) -> float:
    return median_of(sweep_call(args, acc_start, combo_start, threads), repeat,
                     ONE_CORE_CLOCK if threads == 1 else time.perf_counter)


def kernel_section(name: str, args, acc_start, combo_start, full_combos: int, repeat: int) -> dict:
    """The summaries-only sweep on one core and on all, and the full-record kernel (equity
    curves and trade records) on the first `full_combos` combinations."""
    import numba

    from sitcli.engine.kernel import simulate

    n = args[0].shape[0]
    k = len(args[8])
    m = len(combo_start) - 1
    one = sweep_seconds(args, acc_start, combo_start, 1, repeat)
    cores = numba.config.NUMBA_NUM_THREADS
    every = sweep_seconds(args, acc_start, combo_start, cores, repeat)
    kf = int(combo_start[min(full_combos, m)])
    sub = (*args[:8], args[8][:kf], args[9][:kf], *args[10:])
    full = median_of(lambda: simulate(*sub), repeat, ONE_CORE_CLOCK)
    equity, trades, liqs = simulate(*sub)
    return {
        "workload": name, "bars": n, "symbols": args[0].shape[1], "combinations": m,
        "runs": k, "updates": n * k,
        "sweep_seconds_one_core": round(one, 3),
        "sweep_updates_per_second_one_core": round(n * k / one),
        "sweep_seconds_all_cores": round(every, 3), "cores": cores,
        "sweep_updates_per_second_all_cores": round(n * k / every),
        "full_record_kernel_runs": kf,
        "full_record_updates_per_second_one_core": round(n * kf / full),
        "trades_per_run": round(len(trades) / kf, 1),
        "liquidations_per_run": round(len(liqs) / kf, 2),
    }


def vectorbt_section(args, acc_start, combo_start, runs: int, rounds: int, kernel: dict) -> dict:
    """vectorbt 1.x from_signals on the first `runs` runs' bars, signals, stops, take-profits,
    fees and slippage, one column per run; alternated `rounds` times with sitcli's one-core
    sweep of the whole workload. The speedup is the median of the rounds' ratios."""
    import pandas as pd
    import vectorbt as vbt

    open_, high, low, close, _, _, entries, exits, cols = args[:9]
    cols = cols[:runs]
    inst = cols["inst"]
    frame = lambda a: pd.DataFrame(a[:, inst])  # noqa: E731
    kw = dict(close=frame(close), open=frame(open_), high=frame(high), low=frame(low),
              entries=frame(entries > 0), exits=frame(exits), price=frame(open_).shift(-1),
              fees=cols["fee"], slippage=cols["slippage"] + cols["half_spread"],
              sl_stop=cols["stop"], tp_stop=cols["take"], init_cash=1000.0, freq="1D")
    # compiled on these very inputs: a smaller slice compiles other specialisations
    vbt.Portfolio.from_signals(**kw).total_return()
    ours, theirs = alternated([sweep_call(args, acc_start, combo_start, 1),
                               lambda: vbt.Portfolio.from_signals(**kw).total_return()],
                              rounds, ONE_CORE_CLOCK)
    our_rates = [len(close) * len(args[8]) / s for s in ours]
    rates = [len(close) * runs / s for s in theirs]
    ratios = [a / b for a, b in zip(our_rates, rates, strict=True)]
    rate = float(np.median(rates))
    return {"runs": runs, "rounds": rounds, "seconds": round(float(np.median(theirs)), 3),
            "updates_per_second": round(rate),
            "updates_per_second_by_round": [round(r) for r in rates],
            "sitcli_updates_per_second_one_core_by_round": [round(r) for r in our_rates],
            "sitcli_speedup_one_core_by_round": [round(r, 2) for r in ratios],
            "sitcli_speedup_one_core": round(float(np.median(ratios)), 2),
            "sitcli_full_record_speedup_one_core":
                round(kernel["full_record_updates_per_second_one_core"] / rate, 2)}


def backtesting_section(args, symbols: int, max_bars: int, sitcli_rate: float) -> dict:
    """backtesting.py (kernc) running the same single strategy (the first combination's
    leverage, stop, take-profit, time exit, commission and spread; it has no funding or
    liquidation) on each symbol's bars."""
    import warnings

    import pandas as pd
    from backtesting import Backtest, Strategy

    open_, high, low, close, _, _, entries, exits, cols = args[:9]
    n = min(len(close), max_bars)
    col = cols[0]

    class Signals(Strategy):
        def init(self):
            pass

        def next(self):
            i = len(self.data) - 1
            for trade in self.trades:   # the time exit
                if i - trade.entry_bar + 1 >= col["max_bars"]:
                    trade.close()
            if self.position and self.exits[i]:
                self.position.close()
            elif not self.position and self.entries[i] > 0:
                px = self.data.Close[-1]
                self.buy(sl=px * (1 - col["stop"]), tp=px * (1 + col["take"]))

    index = pd.date_range("2000-01-03", periods=n, freq="D")
    seconds = 0.0
    trades = 0
    for j in range(symbols):
        df = pd.DataFrame({"Open": open_[:n, j], "High": high[:n, j], "Low": low[:n, j],
                           "Close": close[:n, j], "Volume": 1.0}, index=index)
        Signals.entries, Signals.exits = entries[:n, j], exits[:n, j]
        bt = Backtest(df, Signals, cash=1_000_000, commission=float(col["fee"]),
                      spread=float(2 * col["half_spread"]), margin=1 / float(col["leverage"]),
                      finalize_trades=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = ONE_CORE_CLOCK()
            stats = bt.run()
            seconds += ONE_CORE_CLOCK() - t
        trades += int(stats["# Trades"])
    rate = n * symbols / seconds
    return {"runs": symbols, "bars_per_run": n, "seconds": round(seconds, 3),
            "updates_per_second": round(rate), "trades": trades,
            "sitcli_speedup_one_core": round(sitcli_rate / rate, 1)}


def scaling_section(args, acc_start, combo_start, repeat: int) -> dict:
    import numba

    n = args[0].shape[0]
    updates = n * int(acc_start[-1])
    rows = []
    base = None
    for threads in range(1, numba.config.NUMBA_NUM_THREADS + 1):
        seconds = sweep_seconds(args, acc_start, combo_start, threads, repeat)
        base = base or seconds
        rows.append({"threads": threads, "updates_per_second": round(updates / seconds),
                     "speedup": round(base / seconds, 2),
                     "efficiency": round(base / seconds / threads, 2)})
    return {"runs": int(acc_start[-1]), "bars": n, "by_threads": rows}


def grid_values(total: int) -> list[str]:
    """--grid options for `sitcli sweep` whose product is `total` (powers of 10, or 240)."""
    if total == 240:
        sizes = [4, 3, 4, 5]
    else:
        sizes = [10] * round(np.log10(total))
    keys = ["leverage", "stop", "take", "hold", "size"]
    values = {"leverage": lambda i: f"{1 + i}", "stop": lambda i: f"{0.005 * (i + 1):g}",
              "take": lambda i: f"{0.01 * (i + 1):g}", "hold": lambda i: f"{i + 1}",
              "size": lambda i: f"{0.1 * (i + 1):g}"}
    out = []
    for key, size in zip(keys, sizes, strict=False):
        out += ["--grid", f"{key}=" + ",".join(values[key](i) for i in range(size))]
    return out


def peak_rss(cmd: list[str], env: dict) -> tuple[int, float]:
    """Peak resident memory (bytes) and wall time of a command, from a wrapper process so
    the children counted are this command's alone."""
    wrapper = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
               "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
               "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
               "print(u.ru_maxrss * 1024, time.perf_counter() - t, p.returncode, "
               "u.ru_utime + u.ru_stime)")
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    if out[2] != "0":
        raise RuntimeError(f"{' '.join(cmd)} exited {out[2]}")
    return int(out[0]), float(out[1]), float(out[3])


def memory_section(combos: int, env: dict, repeat: int) -> dict:
    """`sitcli sweep` of `combos` combinations on the demo NVDA bars, ranked and written to a
    CSV file, against a 10-combination sweep of the same bars: the difference is what the
    combinations cost. Wall and CPU time are medians of `repeat` whole-process runs; the
    command includes the winner's overfitting statistics (issue 15: PBO over a seeded sample
    of the half/half splits of 16 blocks, from per-block sums the sweep kernel keeps)."""
    import statistics

    out_file = Path(tempfile.mkdtemp(prefix="sitcli-sweep-")) / "sweep.csv"
    base = [str(SITCLI), "sweep", "--demo", "--symbols", "NVDA", "--venue", "perp-isolated",
            "--quiet", "--format", "csv"]
    small = [*base, "--grid", "leverage=" + ",".join(map(str, range(1, 11)))]
    big = [*base, *grid_values(combos), "--out", str(out_file)]
    # each command once unmeasured: a kernel compiled in a measured run (a cache left stale by
    # an edit to kernel.py) would count numba's compiling memory, not the combinations'
    peak_rss(small, env)
    peak_rss(big, env)
    small_rss, _, _ = peak_rss(small, env)
    runs = [peak_rss(big, env) for _ in range(repeat)]
    big_rss = max(rss for rss, _, _ in runs)
    bars_ = 752
    return {"combinations": combos, "bars": bars_, "peak_rss_bytes": big_rss,
            "peak_rss_10_combinations_bytes": small_rss,
            "bytes_per_combination": round((big_rss - small_rss) / combos),
            "full_curves_would_need_bytes": combos * bars_ * 8,
            "wall_seconds_including_output": round(statistics.median(s for _, s, _ in runs), 2),
            "cpu_seconds_including_output": round(statistics.median(c for _, _, c in runs), 2),
            "output_rows": sum(1 for _ in out_file.open()) - 1}


def cli_section(repeat: int, env: dict, cold: bool) -> dict:
    """Whole-process wall and CPU (user + system) times, medians of `repeat` runs after one
    warm-up run. On a shared machine the wall times follow the load; the CPU times much less."""
    import resource
    import statistics

    def timed(cmd, env_=env, ok=(0,)):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        code = subprocess.run(cmd, env=env_, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if code not in ok:
            raise RuntimeError(f"{' '.join(cmd)} exited {code}")
        return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)

    out = {}

    def median(name, cmd, ok=(0,)):
        timed(cmd, ok=ok)
        runs = [timed(cmd, ok=ok) for _ in range(repeat)]
        out[f"{name}_seconds"] = round(statistics.median(w for w, _ in runs), 3)
        out[f"{name}_cpu_seconds"] = round(statistics.median(c for _, c in runs), 3)

    demo = [str(SITCLI), "backtest", "--demo"]
    median("help", [str(SITCLI), "--help"])
    # one symbol of real daily bars (DESIGN §9) when the shared data folder is beside the
    # checkout, else the demo's NVDA
    real = HERE.parents[1].parent / "shared" / "data" / "equities" / "daily" / "NVDA.csv"
    one = [*demo, "--symbols", "NVDA"]
    out["backtest_one_symbol_data"] = "demo NVDA (synthetic)"
    if real.is_file():
        subprocess.run([str(SITCLI), "data", "import", str(real), "--symbol", "NVDA"], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        one = [str(SITCLI), "backtest", "--symbols", "NVDA"]
        out["backtest_one_symbol_data"] = f"real NVDA daily bars from {real.name}"
    median("backtest_one_symbol_warm", one)
    median("backtest_demo_warm", demo)
    # the demo's bars end in the past: the report is written and exits 3 (stale data)
    median("report_daily_demo_warm", [str(SITCLI), "report", "daily", "--demo", "--out",
                                      tempfile.mkdtemp()], ok=(0, 3))
    out["repeats"] = repeat
    if cold:   # every kernel compiled from scratch: a fresh, empty NUMBA_CACHE_DIR
        with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as tables:
            first, first_cpu = timed(demo, {**env, "NUMBA_CACHE_DIR": cache,
                                            "SITCLI_CACHE_DIR": tables})
        out["backtest_demo_first_run_seconds_fresh_numba_cache"] = round(first, 3)
        out["backtest_demo_first_run_cpu_seconds_fresh_numba_cache"] = round(first_cpu, 3)
        out["first_run_compile_seconds"] = round(first - out["backtest_demo_warm_seconds"], 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reduced", action="store_true", help="tiny workloads (tests)")
    parser.add_argument("--skip", default="", help="comma-separated sections to leave out")
    opts = parser.parse_args()
    p = REDUCED if opts.reduced else FULL
    skip = set(filter(None, opts.skip.split(",")))
    env = {**os.environ, "SITCLI_DATA_DIR": tempfile.mkdtemp(prefix="sitcli-bench-"),
           "SITCLI_CACHE_DIR": tempfile.mkdtemp(prefix="sitcli-bench-cache-")}
    # an installed sitcli has its bytecode compiled by pip; a checkout whose environment
    # forbids writing it would recompile every module on every command
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    started = time.perf_counter()

    import numba

    from sitcli.engine.kernel import simulate, sweep_nb

    warm_args, warm_acc, warm_combo = workload(64, 2, 2)
    sweep_nb(*warm_args, warm_acc, warm_combo, 0, 2, np.empty(0, np.int64))
    simulate(*warm_args)

    report = {"benchmark": "sitcli", "mode": "reduced" if opts.reduced else "full",
              "machine": {"processor": platform.processor() or platform.machine(),
                          "cores": os.cpu_count(), "numba_threads": numba.config.NUMBA_NUM_THREADS,
                          "python": platform.python_version(), "numba": numba.__version__},
              "data": "synthetic seeded bars (Student-t returns); see the module docstring",
              "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
    daily = workload(p["daily_bars"], p["daily_symbols"], p["daily_combos"])
    report["kernel_daily"] = kernel_section("daily", *daily, p["full_kernel_combos"], p["repeat"])
    rate = report["kernel_daily"]["sweep_updates_per_second_one_core"]
    if "vectorbt" not in skip:
        report["vectorbt_daily"] = vectorbt_section(*daily, p["vectorbt_runs"],
                                                    p["vectorbt_rounds"], report["kernel_daily"])
    if "backtesting" not in skip:
        report["backtesting_py_daily"] = backtesting_section(daily[0], p["daily_symbols"],
                                                             p["daily_bars"], rate)
    if "scaling" not in skip:
        m = p["scaling_combos"]
        args, acc, combo = workload(p["daily_bars"], p["daily_symbols"], m)
        report["scaling"] = scaling_section(args, acc, combo, p["repeat"])
    del daily
    if "minute" not in skip:
        minute = workload(p["minute_bars"], 1, p["minute_combos"], seed=11, vol=0.0008)
        report["kernel_minute"] = kernel_section("minute", *minute, min(10, p["minute_combos"]),
                                                 1)
        rate_m = report["kernel_minute"]["sweep_updates_per_second_one_core"]
        if "detail" not in skip:   # issue 14: daily strategy, 1-minute detail
            report["detail_minute"] = detail_section(p["minute_bars"], p["minute_combos"],
                                                     rate_m, 1)
        if "vectorbt" not in skip:
            report["vectorbt_minute"] = vectorbt_section(*minute, p["vectorbt_minute_runs"], 1,
                                                         report["kernel_minute"])
        if "backtesting" not in skip:
            report["backtesting_py_minute"] = backtesting_section(
                minute[0], 1, p["backtesting_minute_bars"], rate_m)
        del minute
    if "memory" not in skip:
        report["sweep_memory"] = memory_section(p["memory_grid"], env, p["cli_repeat"])
    if "dask" not in skip:
        try:
            import distributed  # noqa: F401
        except ImportError:
            report["dask"] = {"skipped": "Dask is the optional extra sitcli[dask]"}
        else:
            from bench_dask import measure as dask_measure

            report["dask"] = dask_measure(p["dask_combos"], 2)
    if "sit" not in skip:   # issue 5: 10,000 SIT model paths x 3 years of daily steps
        from bench_sit import measure

        report["sit_model"] = (measure(200, 1.0, 252, 1) if opts.reduced else measure())
    if "cli" not in skip:
        report["cli"] = cli_section(p["cli_repeat"], env, cold=not opts.reduced)
    report["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["budgets"] = budgets(report)
    report["bench_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=2))


def budgets(r: dict) -> dict:
    """DESIGN §8 and issue 18, each against this run's number: budget, measured, met."""
    out = {}

    def at_least(name, budget, measured):
        out[name] = {"budget": budget, "measured": measured, "met": measured >= budget}

    def at_most(name, budget, measured, cpu=None):
        # below 0 is a broken measurement, not a figure within budget
        out[name] = {"budget": budget, "measured": measured, "met": 0 <= measured <= budget}
        if cpu is not None:   # the same runs' CPU seconds: what a busy machine shifts least
            out[name]["cpu_seconds"] = cpu

    at_least("kernel_daily_updates_per_second_per_core", 70_000_000,
             r["kernel_daily"]["sweep_updates_per_second_one_core"])
    if "kernel_minute" in r:
        at_least("kernel_minute_updates_per_second_per_core", 60_000_000,
                 r["kernel_minute"]["sweep_updates_per_second_one_core"])
    if "vectorbt_daily" in r:
        at_least("speedup_vs_vectorbt", 10, r["vectorbt_daily"]["sitcli_speedup_one_core"])
    if "detail_minute" in r:
        at_least("detail_vs_plain_minute_updates", 0.5,
                 r["detail_minute"]["detail_vs_plain_minute"])
    if "scaling" in r:
        at_least("scaling_efficiency_all_cores", 0.9,
                 r["scaling"]["by_threads"][-1]["efficiency"])
    if "sweep_memory" in r:
        at_most("sweep_100k_wall_seconds_including_output", 3.0,
                r["sweep_memory"]["wall_seconds_including_output"],
                r["sweep_memory"]["cpu_seconds_including_output"])
        at_most("sweep_bytes_per_combination", 500, r["sweep_memory"]["bytes_per_combination"])
    if "cli" in r:
        c = r["cli"]
        for name, budget in (("help", 0.3), ("backtest_one_symbol_warm", 1.0),
                             ("backtest_demo_warm", 1.5), ("report_daily_demo_warm", 2.0)):
            at_most(f"{name}_seconds", budget, c[f"{name}_seconds"], c[f"{name}_cpu_seconds"])
        if "backtest_demo_first_run_seconds_fresh_numba_cache" in c:
            at_most("backtest_demo_first_run_seconds", 15.0,
                    c["backtest_demo_first_run_seconds_fresh_numba_cache"],
                    c["backtest_demo_first_run_cpu_seconds_fresh_numba_cache"])
    if "dask" in r and "scheduler_process" in r["dask"]:
        d = r["dask"]
        out["dask_results_identical_to_local"] = {
            "budget": True, "measured": d["local_cluster"]["identical_to_local"]
            and d["scheduler_process"]["identical_to_local"]}
        out["dask_results_identical_to_local"]["met"] = \
            out["dask_results_identical_to_local"]["measured"]
    return out


if __name__ == "__main__":
    main()
