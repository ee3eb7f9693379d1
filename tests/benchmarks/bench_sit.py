"""Benchmark of the SIT price model: 10,000 paths x 3 years of daily steps (756), exact scheme.

    python tests/benchmarks/bench_sit.py            # the paper's size
    python tests/benchmarks/bench_sit.py --quick    # a reduced run (the test suite uses it)

Prints JSON. seconds_first_call includes numba's compile or cache load; seconds_compiled is the
best of --repeat calls after it. The numbers are read by people, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=10_000)
    parser.add_argument("--years", type=float, default=3.0)
    parser.add_argument("--steps-per-year", type=int, default=252)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scheme", default="exact", choices=("exact", "euler"))
    parser.add_argument("--quick", action="store_true", help="200 paths x 1 year, one repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.paths, args.years, args.repeat = 200, 1.0, 1

    print(json.dumps(measure(args.paths, args.years, args.steps_per_year, args.repeat, args.scheme)))


def measure(n_paths: int = 10_000, years: float = 3.0, steps_per_year: int = 252, repeat: int = 3,
            scheme: str = "exact") -> dict:
    """Seconds for `n_paths` model paths: the first call (compile or cache load) and the best of
    `repeat` calls after it (also run by tests/benchmarks/bench_suite.py)."""
    import numba

    from sitcli.sit.model import SitParams, simulate_log_paths

    params = SitParams()
    t0 = time.perf_counter()
    paths = simulate_log_paths(params, n_paths, years, steps_per_year, seed=1, scheme=scheme)
    first = time.perf_counter() - t0
    best = float("inf")
    for r in range(repeat):
        t0 = time.perf_counter()
        simulate_log_paths(params, n_paths, years, steps_per_year, seed=2 + r, scheme=scheme)
        best = min(best, time.perf_counter() - t0)
    steps = paths.shape[1] - 1
    return {"paths": n_paths, "years": years, "steps": steps, "scheme": scheme,
            "threads": numba.get_num_threads(),
            "seconds_compiled": round(best, 4), "seconds_first_call": round(first, 4),
            "path_steps_per_second": round(n_paths * steps / best)}

if __name__ == "__main__":
    main()
