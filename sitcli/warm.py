"""Compile the kernels a first `backtest` and a first `sweep` would compile, now.

    python -m sitcli.warm

numba keeps what it compiles in its cache (this package's __pycache__, or NUMBA_CACHE_DIR),
so the commands after this start warm. It runs a one-symbol backtest and a two-combination
sweep of the demo data through the commands' own code, so the compiled signatures are the
ones the commands ask for, not a guess. `make` runs it right after installing.
"""

from __future__ import annotations

import sys
import time


def warm() -> float:
    """Compile (or load) the backtest's and the sweep's kernels; returns the seconds it took."""
    from sitcli.backtest import RunConfig, run_backtest
    from sitcli.data.store import demo_store
    from sitcli.events import load_events
    from sitcli.sweep import run_sweep

    started = time.perf_counter()
    store, events = demo_store(), load_events()
    run_backtest(RunConfig(["NVDA"]), store, events)
    # a CFD and an isolated perpetual: the sweep compiles a version of its own for the latter
    run_sweep(RunConfig(["NVDA", "RENDER/USDT"], grid={"leverage": ["2", "5"]}), store, events)
    _warm_pbo()
    return time.perf_counter() - started


def _warm_pbo() -> None:
    """PBO's ranking kernel, which every ranked grid runs: with `backtest --grid`'s float
    counts and a daily sweep's small integer ones (`sweep.count_dtype`)."""
    import numpy as np

    from sitcli.overfit import pbo

    r = np.random.default_rng(0).normal(size=(2, 3))
    for counts in (np.full((2, 3), 2.0), np.full((2, 3), 2, np.uint8)):
        pbo(r, r * r, counts)


def main() -> None:
    from sitcli.engine import kernels_cached

    if not kernels_cached():
        print("compiling sitcli's kernels once (about a minute)...", file=sys.stderr)
    print(f"sitcli's kernels are compiled and cached ({warm():.1f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
