"""`sitcli --help` and `--version` through the installed entry point, and the import budget:
help must not pull in the heavy libraries (DESIGN §7/§8). Timings are printed, never asserted."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

import sitcli

SITCLI = Path(sys.executable).parent / "sitcli"
HEAVY = ("numba", "pandas", "vectorbt", "yfinance", "ccxt")

# Runs the console entry point in-process in a fresh interpreter, then reports which
# top-level modules got imported (the exit code of main() is reported too).
PROBE = """
import json, sys
sys.argv = ["sitcli", *json.loads(sys.argv[1])]
from sitcli.cli import main
code = None
try:
    main()
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted({m.split(".")[0] for m in sys.modules})}),
      file=sys.stderr)
"""


def test_help_lists_commands(cli):
    out = cli("--help", check_code=0)
    assert out.stdout.startswith("Usage: sitcli")
    for command in ("liquidation", "backtest", "data"):
        assert f"  {command} " in out.stdout, f"{command} missing from --help:\n{out.stdout}"
    assert "Exit codes" in out.stdout
    assert "Traceback" not in out.stderr


def test_version(cli):
    out = cli("--version", check_code=0)
    assert out.stdout.strip() == f"sitcli {sitcli.__version__}"


@pytest.mark.parametrize("command", ["liquidation", "backtest", "data"])
def test_subcommand_help(cli, command):
    out = cli(command, "--help", check_code=0)
    assert out.stdout.startswith(f"Usage: sitcli {command}")
    assert "--help" in out.stdout


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["liquidation", "--help"],
                                  ["backtest", "--help"], ["data", "--help"]],
                         ids=lambda a: " ".join(a))
def test_help_does_not_import_heavy_libraries(args):
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    assert report["code"] in (0, None)
    loaded = sorted(set(HEAVY) & set(report["modules"]))
    assert not loaded, f"sitcli {' '.join(args)} imported {loaded}"
    assert "Usage: sitcli" in proc.stdout or "sitcli " in proc.stdout


def _median_seconds(cmd: list[str], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, timeout=60, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def test_print_help_wall_time():
    """Informational only (see `pytest -s`): no wall-clock assertion."""
    help_s = _median_seconds([str(SITCLI), "--help"])
    bare_s = _median_seconds([sys.executable, "-c", "pass"])
    print(f"\nsitcli --help: median {help_s * 1000:.0f} ms over 5 runs; "
          f"python -c pass: {bare_s * 1000:.0f} ms; overhead {(help_s - bare_s) * 1000:.0f} ms")


DEFAULT_PATH_AVOIDS = ("vectorbt", "matplotlib", "plotly", "apprise")   # the last two: --plot, --notify


@pytest.mark.parametrize("args, codes", [
    (["backtest", "--demo", "--symbols", "NVDA,RENDER/USDT", "--format", "json"], (0,)),
    (["sweep", "--demo", "--symbols", "NVDA", "--grid", "hold=1,2", "--format", "csv"], (0,)),
    # the demo's bars end in the past: the report is written, with exit 3 for stale data
    (["report", "daily", "--demo", "--out", "{tmp}"], (0, 3)),
], ids=["backtest", "sweep", "report daily"])
def test_default_path_imports_neither_vectorbt_nor_matplotlib(args, codes, tmp_path):
    """Return statistics are sitcli's own (sitcli.stats); vectorbt stays the test oracle and
    matplotlib draws only for --plot. Issue 18: vectorbt's import alone took 4 s."""
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True,
                          text=True, timeout=300)
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    assert report["code"] in (*codes, None), proc.stderr[-2000:]
    loaded = sorted(set(DEFAULT_PATH_AVOIDS) & set(report["modules"]))
    assert not loaded, f"sitcli {' '.join(args)} imported {loaded}"


def test_a_first_run_says_it_is_compiling(monkeypatch, capsys):
    import sys

    import sitcli.engine
    from sitcli.cli.render import note_compiling

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    monkeypatch.setattr(sitcli.engine, "kernels_cached", lambda: False)
    note_compiling()
    assert "compiling sitcli's kernels, first run only" in capsys.readouterr().err
    note_compiling(quiet=True)
    monkeypatch.setattr(sitcli.engine, "kernels_cached", lambda: True)
    note_compiling()
    assert capsys.readouterr().err == ""


def test_the_kernel_cache_is_found_after_a_run():
    from sitcli.backtest import RunConfig, run_backtest
    from sitcli.data.store import demo_store
    from sitcli.engine import kernels_cached
    from sitcli.events import load_events

    run_backtest(RunConfig(["NVDA"]), demo_store(), load_events())
    assert kernels_cached()
