"""The benchmark scripts run in a reduced mode so they cannot rot. Nothing here is timed:
the numbers they print are read by people, never asserted."""

import json
import subprocess
import sys
from pathlib import Path

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
