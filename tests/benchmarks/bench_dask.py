"""The Dask executor measured: a LocalCluster of worker processes, and a scheduler started as
its own process (`dask scheduler` + `dask worker`, the way a cluster is really started), each
against the local executor on the same grid (`make bench`, section "dask").

    python tests/benchmarks/bench_dask.py [--combos N] [--workers 2]

Per-chunk overhead: the same grid in few large chunks and in many small ones; the extra wall
time divided by the extra chunks is what each task costs beyond its kernel time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BIN = Path(sys.executable).parent
FIELDS = ("col_stats", "acc_curve", "combo_curve")


def grid(combos: int) -> dict:
    """A leverage x stop x hold grid of about `combos` combinations."""
    side = max(1, round(combos ** (1 / 3)))
    return {"leverage": [f"{1 + i}" for i in range(side)],
            "stop": [f"{0.005 * (i + 1):g}" for i in range(side)],
            "hold": [f"{i + 1}" for i in range(max(1, combos // (side * side)))]}


def config(combos: int):
    from sitcli.backtest import RunConfig

    return RunConfig(symbols=["NVDA", "RENDER/USDT"], venue="perp-isolated", grid=grid(combos),
                     overrides={"funding_rate_8h": "0.0003"})


@contextlib.contextmanager
def scheduler_process(workers: int):
    """`dask scheduler` and `dask worker` as separate processes; yields the address."""
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "scheduler.json"
        procs = [subprocess.Popen([str(BIN / "dask"), "scheduler", "--port", "0",
                                   "--no-dashboard", "--scheduler-file", str(file)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        try:
            deadline = time.time() + 60
            while not file.exists() and time.time() < deadline:
                time.sleep(0.1)
            address = json.loads(file.read_text())["address"]
            procs.append(subprocess.Popen(
                [str(BIN / "dask"), "worker", "--scheduler-file", str(file), "--nworkers",
                 str(workers), "--nthreads", "1", "--no-dashboard"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            from distributed import Client

            with Client(address, timeout="30s") as client:
                client.wait_for_workers(workers, timeout=60)
            yield address
        finally:
            for proc in reversed(procs):
                proc.terminate()
            for proc in procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=20)


def identical(a, b) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in FIELDS) and \
        bool(a.finished.all() and b.finished.all())


def measure(combos: int = 2000, workers: int = 2, small_chunk: int = 20) -> dict:
    from sitcli.data.store import demo_store
    from sitcli.events import load_events
    from sitcli.sweep import run_sweep

    store, events = demo_store(), load_events(None)
    cfg = config(combos)
    run_sweep(cfg, store, events, workers=workers)              # compile, warm caches
    t = time.perf_counter()
    local = run_sweep(cfg, store, events, workers=workers)
    local_s = time.perf_counter() - t
    m = len(local.finished)
    updates = m * len(local.prep.legs) * len(local.prep.index)
    large = max(1, m // (4 * workers))
    out = {"combinations": m, "bars": len(local.prep.index), "symbols": len(local.prep.legs),
           "workers": workers, "local_seconds": round(local_s, 3)}

    def timed(**kw):
        t = time.perf_counter()
        result = run_sweep(cfg, store, events, executor="dask", **kw)
        return result, time.perf_counter() - t

    # LocalCluster: its start-up is part of every call, so time it once and then again
    _, cluster_s = timed(workers=workers, chunk_size=large)
    cluster, cluster_s = timed(workers=workers, chunk_size=large)
    out["local_cluster"] = {"identical_to_local": identical(local, cluster),
                            "seconds_including_cluster_start": round(cluster_s, 3)}
    with scheduler_process(workers) as address:
        timed(scheduler=address, chunk_size=large)                 # workers import and compile
        few, few_s = timed(scheduler=address, chunk_size=large)
        many, many_s = timed(scheduler=address, chunk_size=small_chunk)
    n_few, n_many = -(-m // large), -(-m // small_chunk)
    overhead = (many_s - few_s) / max(1, n_many - n_few)
    kernel_per_combo = few_s / m
    out["scheduler_process"] = {
        "identical_to_local": identical(local, few) and identical(local, many),
        "chunks": {str(large): round(few_s, 3), str(small_chunk): round(many_s, 3)},
        "updates_per_second_end_to_end": round(updates / few_s),
        "combinations_per_second_end_to_end": round(m / few_s),
        "overhead_seconds_per_chunk": round(overhead, 4),
        # chunks cost `overhead` each: keep it under 5% of a chunk's kernel time, and give every
        # worker several chunks so none waits on the last one
        "min_chunk_for_5pct_overhead": int(np.ceil(max(overhead, 0) / (0.05 * kernel_per_combo)))
        if kernel_per_combo > 0 else None,
    }
    out["chunk_size_rule"] = ("combinations per chunk >= overhead / (0.05 x seconds per "
                              "combination), and at least 4 chunks per worker: with more "
                              "workers, smaller chunks, down to that floor")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--combos", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    opts = parser.parse_args()
    print(json.dumps(measure(opts.combos, opts.workers), indent=2))


if __name__ == "__main__":
    main()
