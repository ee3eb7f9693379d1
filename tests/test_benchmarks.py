"""The benchmark scripts run in a reduced mode so they cannot rot. Nothing here is timed:
the numbers they print are read by people, never asserted.

Opt-in: they take minutes of compiling and measuring, so `make test` skips them and
`make bench-smoke` (run by .ci/run after `make test`) runs them."""

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(os.environ.get("SITCLI_BENCH_SMOKE") != "1",
                                reason="benchmark smoke tests are opt-in: make bench-smoke")

BENCH = Path(__file__).resolve().parent / "benchmarks" / "bench_kernel.py"


def test_kernel_benchmark_prints_its_json():
    proc = subprocess.run([sys.executable, str(BENCH), "--bars", "300", "--combos", "20",
                           "--repeat", "1", "--vectorbt"], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["bars"] == 300 and report["combinations"] == 20
    assert report["trades"] > 0
    for key in ("updates_per_second_one_core", "vectorbt_updates_per_second",
                "speedup_vs_vectorbt"):
        assert report[key] > 0, key


SUITE = BENCH.parent / "bench_suite.py"


def test_benchmark_suite_reduced_prints_one_json_document():
    proc = subprocess.run([sys.executable, str(SUITE), "--reduced"], capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["mode"] == "reduced"
    daily = report["kernel_daily"]
    assert daily["runs"] == daily["combinations"] * daily["symbols"]
    assert daily["trades_per_run"] > 0
    for section, key in (("kernel_daily", "sweep_updates_per_second_one_core"),
                         ("kernel_minute", "sweep_updates_per_second_all_cores"),
                         ("vectorbt_daily", "sitcli_speedup_one_core"),
                         ("backtesting_py_daily", "sitcli_speedup_one_core"),
                         ("sweep_memory", "peak_rss_bytes"), ("sit_model", "path_steps_per_second"),
                         ("cli", "help_seconds"), ("cli", "backtest_demo_warm_seconds"),
                         ("cli", "report_daily_demo_warm_seconds")):
        assert report[section][key] > 0, (section, key)
    assert [row["threads"] for row in report["scaling"]["by_threads"]][0] == 1
    # the speedup is the median of rounds in which sitcli and vectorbt ran in turn
    vb = report["vectorbt_daily"]
    assert len(vb["sitcli_speedup_one_core_by_round"]) == vb["rounds"] >= 1
    # (from the printed rates, rounded to whole updates: equal to within the printed 0.01)
    assert vb["sitcli_speedup_one_core"] == pytest.approx(statistics.median(
        a / b for a, b in zip(vb["sitcli_updates_per_second_one_core_by_round"],
                              vb["updates_per_second_by_round"], strict=True)), abs=0.011)
    budgets = report["budgets"]
    assert set(budgets) >= {"kernel_daily_updates_per_second_per_core", "speedup_vs_vectorbt",
                            "sweep_100k_wall_seconds_including_output",
                            "sweep_bytes_per_combination", "backtest_demo_warm_seconds",
                            "backtest_one_symbol_warm_seconds", "report_daily_demo_warm_seconds",
                            "dask_results_identical_to_local"}
    for name, item in budgets.items():
        assert {"budget", "measured", "met"} <= item.keys(), name
    assert report["sweep_memory"]["output_rows"] == report["sweep_memory"]["combinations"]
    dask = report["dask"]
    assert dask["local_cluster"]["identical_to_local"]
    assert dask["scheduler_process"]["identical_to_local"]
    assert dask["scheduler_process"]["overhead_seconds_per_chunk"] is not None
