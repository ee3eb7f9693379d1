"""A warm command skips what it built before (issue 18): exchange sessions come from
`sitcli.cache`, and numba's cached kernels load without numba's compiler imports
(`sitcli.engine.cacheload`). Neither may change a result."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from sitcli import cache
from sitcli.bars import _schedule

# Runs the console entry point in a fresh interpreter; prints the modules it imported.
PROBE = """
import json, sys
sys.argv = ["sitcli", *json.loads(sys.argv[1])]
from sitcli.cli import main
code = None
try:
    main()
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


# One kernel run with every cost on, by numba's own cache loading (argv[1] = 0) or cacheload's.
KERNEL_RUN = """
import json, sys
sys.path.insert(0, sys.argv[2])
import numpy as np
from sitcli.engine import cacheload, kernel
if sys.argv[1] == "0":
    cacheload.uninstall()
from engine_helpers import run_kernel
rng = np.random.default_rng(3)
c = 100 * np.exp(np.cumsum(rng.standard_t(4, 400) * 0.02))
o = np.append(100.0, c[:-1])
h, l = np.maximum(o, c) * 1.01, np.minimum(o, c) * 0.99
entries = np.where(rng.random(400) < 0.1, np.where(rng.random(400) < 0.5, 1, -1), 0)
eq, trades, liqs = run_kernel(o, h, l, c, entries, leverage=20, stop=0.03, take=0.05,
                              max_bars=10, fee=0.0005, half_spread=0.0001, slippage=0.0002,
                              funding=0.0003, liq_fee=0.005, floors=(0.0, 5e4),
                              mmrs=(0.004, 0.01), cums=(0.0, 300.0), maxlevs=(125.0, 50.0))
from numba.core.runtime import rtsys
print(json.dumps({"equity": eq.tobytes().hex(), "trades": trades.tobytes().hex(),
                  "n_trades": len(trades), "scipy_linalg": "scipy.linalg" in sys.modules,
                  "memory_manager": rtsys._init}))
"""


def _probe(args, env):
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True,
                          text=True, timeout=300, env=env)
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    assert report["code"] in (0, None), proc.stderr[-2000:]
    return proc.stdout, set(report["modules"])


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SITCLI_CACHE_DIR", str(tmp_path / "cache"))
    _schedule.cache_clear()
    yield tmp_path / "cache"
    _schedule.cache_clear()


def _built(code, start, end):
    import exchange_calendars as xcals

    return xcals.get_calendar(code, start=start, end=end).schedule[["open", "close"]]


@pytest.mark.parametrize("code", ["XNYS", "XNAS", "XTAI"])
def test_cached_sessions_equal_exchange_calendars(cache_dir, code):
    start, end = pd.Timestamp("2019-12-30"), pd.Timestamp("2024-07-05")
    first = _schedule(code, start, end)
    files = list(cache_dir.glob(f"sessions-{code}-20191230-20240705-*.npz"))
    assert len(files) == 1
    _schedule.cache_clear()
    again = _schedule(code, start, end)          # read back from the file
    expected = _built(code, start, end)
    for got in (first, again):
        pd.testing.assert_frame_equal(got, expected, check_freq=False)
    assert again.index.dtype == np.dtype("datetime64[ns]")


def test_a_damaged_cache_file_is_rebuilt(cache_dir):
    start, end = pd.Timestamp("2023-01-03"), pd.Timestamp("2023-12-29")
    _schedule("XNYS", start, end)
    (path,) = cache_dir.glob("sessions-XNYS-*.npz")
    path.write_bytes(b"not a zip file")
    _schedule.cache_clear()
    pd.testing.assert_frame_equal(_schedule("XNYS", start, end), _built("XNYS", start, end),
                                  check_freq=False)
    assert cache.load(path.name.rsplit("-", 1)[0], path.stem.rsplit("-", 1)[1]) is not None


def test_an_unwritable_cache_costs_only_the_rebuild(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("SITCLI_CACHE_DIR", str(blocker / "cache"))   # below a file: cannot exist
    cache.save("t", "k", {"a": np.arange(3)})
    assert cache.load("t", "k") is None


def test_the_cache_key_follows_the_installed_package():
    import exchange_calendars

    stamp = cache.package_stamp("exchange_calendars")
    assert stamp == cache.package_stamp("exchange_calendars")
    assert stamp != cache.package_stamp("pandas")
    assert cache.package_stamp("no_such_package_here") == "absent"
    assert exchange_calendars.__file__   # the stamp never needed the import; the test does


def test_a_warm_backtest_imports_neither_calendars_nor_numba_compiler(tmp_path):
    """The second run of the same backtest reads the sessions from the cache and loads the
    kernel without numba's linear-algebra registry (which imports scipy.linalg); both runs
    print the same numbers."""
    from sitcli.backtest import RunConfig, run_backtest
    from sitcli.data.store import demo_store
    from sitcli.events import load_events

    run_backtest(RunConfig(["NVDA"]), demo_store(), load_events())   # the kernel is cached
    env = {**os.environ, "SITCLI_CACHE_DIR": str(tmp_path / "cache"),
           "SITCLI_DATA_DIR": str(tmp_path / "data")}
    args = ["backtest", "--demo", "--symbols", "NVDA,^NDX", "--format", "json"]
    cold_out, cold_modules = _probe(args, env)
    warm_out, warm_modules = _probe(args, env)
    assert "exchange_calendars" in cold_modules
    assert "exchange_calendars" not in warm_modules
    assert "scipy.linalg" not in warm_modules
    assert json.loads(warm_out) == json.loads(cold_out)


def test_light_cache_loading_gives_numba_s_results():
    """The same cached kernel loaded by numba's own path and by cacheload's, in two fresh
    interpreters, returns the same equity and trades. cacheload's leaves numba's memory
    manager unstarted: a backtest's kernels allocate nothing (numba's path starts it)."""
    outs = []
    for light in (False, True):
        proc = subprocess.run([sys.executable, "-c", KERNEL_RUN, str(int(light)),
                               os.path.dirname(__file__)],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        outs.append(json.loads(proc.stdout))
    assert outs[0]["scipy_linalg"] and not outs[1]["scipy_linalg"]
    assert outs[0]["memory_manager"] and not outs[1]["memory_manager"]
    assert outs[0]["equity"] == outs[1]["equity"]
    assert outs[0]["trades"] == outs[1]["trades"]
    assert outs[0]["n_trades"] > 3


# Counts the kernels numba compiles (not those it loads from its cache) during a command.
COMPILES = """
import json, sys
from numba.core import event
compiled = []
class Count(event.Listener):
    def on_start(self, ev):
        compiled.append(ev.data["dispatcher"].py_func.__qualname__)
    def on_end(self, ev):
        pass
event.register("numba:compile", Count())
sys.argv = ["sitcli", *json.loads(sys.argv[1])]
from sitcli.cli import main
try:
    main()
except SystemExit:
    pass
print(json.dumps(compiled), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [
    ["backtest", "--demo", "--format", "json"],
    ["sweep", "--demo", "--symbols", "NVDA,RENDER/USDT", "--grid", "leverage=3,7",
     "--format", "csv"],
], ids=["backtest", "sweep"])
def test_warm_compiles_what_the_commands_ask_for(args, tmp_path):
    """After `python -m sitcli.warm` (run by make after installing) a first backtest or
    sweep of other symbols compiles nothing: the warm-up asked for the same signatures."""
    from sitcli.warm import warm

    warm()
    env = {**os.environ, "SITCLI_DATA_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", COMPILES, json.dumps(args)],
                          capture_output=True, text=True, timeout=300, env=env)
    compiled = json.loads(proc.stderr.strip().splitlines()[-1])
    assert [name for name in compiled if name.endswith("_nb")] == [], proc.stderr[-2000:]


def test_the_memory_manager_starts_for_code_that_calls_it():
    """`calls_runtime` reads a cached compile result's object code: code naming one of the
    memory manager's `NRT_` functions needs it started, code naming none does not, and a
    payload without object code is taken to need it."""
    from sitcli.engine.cacheload import calls_runtime

    elf = b"\x7fELF\x02\x01\x01"
    allocating = ("fn", "object", (elf + b"\x00NRT_MemInfo_alloc_aligned\x00", b"BC\xc0\xde"))
    plain = ("fn", "object", (elf + b"\x00numba_adapt_ndarray\x00", b"BC\xc0\xde"))
    assert calls_runtime((1, allocating, "env"))
    assert not calls_runtime((1, plain, "env"))
    assert calls_runtime((1, ("fn", "bitcode", b"BC\xc0\xde"), "env"))
