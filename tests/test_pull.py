"""`sitcli.data.pull`: incremental ranges, refresh, isolation of failures, the file lock, and
a pull killed mid-write. The sources here are stand-ins that serve bars from memory; the real
Yahoo and ccxt adapters are tested against a local HTTP replica in test_source_*.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from sitcli.data import pull as pull_mod
from sitcli.data.pull import missing_ranges, pull_many, pull_symbol, symbol_lock
from sitcli.data.sources.base import Fetch, SourceError
from sitcli.data.store import Store
from sitcli.data.verify import verify_bars


def daily_bars(start: str, n: int, price: float = 100.0) -> pd.DataFrame:
    index = pd.date_range(start, periods=n, freq="D", tz="UTC", name="time")
    close = price + np.arange(n, dtype=float)
    return pd.DataFrame({"open": close, "high": close + 1, "low": close - 1, "close": close,
                         "volume": 1000.0}, index=index)


class MemorySource:
    """Serves slices of one in-memory series and records every range asked for."""

    name = "memory"

    def __init__(self, bars: pd.DataFrame, fail: str | None = None):
        self.bars, self.fail, self.asked = bars, fail, []

    def fetch(self, symbol, timeframe, start, end):
        self.asked.append((start, end))
        if self.fail:
            raise SourceError(self.fail)
        part = self.bars
        if start is not None:
            part = part[part.index >= start]
        if end is not None:
            part = part[part.index < end]
        return Fetch(part.copy())


def test_missing_ranges():
    day = pd.Timedelta("1D")
    t = pd.Timestamp
    assert missing_ranges(None, None, None, None, day) == [(None, None)]
    first, last = t("2024-01-10", tz="UTC"), t("2024-01-20", tz="UTC")
    assert missing_ranges(first, last, None, None, day) == [(last + day, None)]
    assert missing_ranges(first, last, t("2024-01-01", tz="UTC"), t("2024-01-15", tz="UTC"),
                          day) == [(t("2024-01-01", tz="UTC"), first)]


def test_second_pull_fetches_only_the_missing_range_and_merges(tmp_path):
    store = Store(tmp_path)
    full = daily_bars("2024-01-01", 40)
    first = MemorySource(full.iloc[:30])
    report = pull_symbol(store, first, "XYZ", "1d")
    assert report.ok and report.new_bars == 30 and report.rows == 30
    second = MemorySource(full)
    report = pull_symbol(store, second, "XYZ", "1d")
    # only what came after the last stored bar was asked for
    assert second.asked == [(full.index[30], None)]
    assert report.new_bars == 10 and report.rows == 40
    stored = store.read("XYZ", "1d", source="memory")
    assert stored.index.is_unique and stored.index.is_monotonic_increasing
    np.testing.assert_array_equal(stored.index.as_unit("ns").asi8, full.index.as_unit("ns").asi8)
    np.testing.assert_array_equal(stored["close"], full["close"])
    # nothing new: nothing written, "up to date"
    report = pull_symbol(store, MemorySource(full), "XYZ", "1d")
    assert report.new_bars == 0 and report.message == "up to date"


def test_refresh_downloads_everything_again(tmp_path):
    store = Store(tmp_path)
    pull_symbol(store, MemorySource(daily_bars("2024-01-01", 10)), "XYZ", "1d")
    again = MemorySource(daily_bars("2024-01-01", 10, price=200.0))
    report = pull_symbol(store, again, "XYZ", "1d", refresh=True)
    assert again.asked == [(None, None)] and report.new_bars == 10
    assert store.read("XYZ", "1d", source="memory")["close"].iloc[0] == 200.0


def test_one_failing_symbol_does_not_stop_the_others(tmp_path, monkeypatch):
    sources = {"GOOD": MemorySource(daily_bars("2024-01-01", 5)),
               "BAD": MemorySource(daily_bars("2024-01-01", 5), fail="HTTP 404 no such symbol"),
               "ALSO": MemorySource(daily_bars("2024-01-01", 7))}
    monkeypatch.setattr(pull_mod, "source_for", lambda symbol, exchange, timeout=None: sources[symbol])
    reports = pull_many(Store(tmp_path), ["GOOD", "BAD", "ALSO"], "1d")
    assert [(r.symbol, r.ok) for r in reports] == [("GOOD", True), ("BAD", False), ("ALSO", True)]
    assert "404" in reports[1].message
    assert reports[2].rows == 7


def test_lock_makes_a_second_puller_wait(tmp_path):
    target = tmp_path / "x.parquet"
    order = []
    with symbol_lock(target):
        child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
            import time
            from pathlib import Path
            from sitcli.data.pull import symbol_lock
            with symbol_lock(Path({str(target)!r})):
                print(time.monotonic())
            """)], stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)
        order.append(time.monotonic())
    got = float(child.communicate(timeout=30)[0])
    assert child.returncode == 0 and got >= order[0]   # it got the lock only after release


PULL_SCRIPT = """
import sys, time
import numpy as np, pandas as pd
import pyarrow.parquet as pq
from sitcli.data.pull import pull_symbol
from sitcli.data.sources.base import Fetch
from sitcli.data.store import Store

class Slow:
    name = "memory"
    def fetch(self, symbol, timeframe, start, end):
        index = pd.date_range("2024-01-01", periods=int(sys.argv[2]), freq="D", tz="UTC",
                              name="time")
        close = 100.0 + np.arange(len(index))
        bars = pd.DataFrame({"open": close, "high": close + 1, "low": close - 1,
                             "close": close, "volume": 1.0}, index=index)
        return Fetch(bars[bars.index >= start] if start is not None else bars)

if sys.argv[3] == "hang":
    real = pq.write_table
    def half_then_hang(table, where, **kw):
        where.write(b"PAR1 half a file")
        where.flush()
        print("writing", flush=True)
        time.sleep(60)
    pq.write_table = half_then_hang
print(pull_symbol(Store(sys.argv[1]), Slow(), "XYZ", "1d").rows, flush=True)
"""


def test_a_pull_killed_mid_write_leaves_the_old_file(tmp_path):
    script = tmp_path / "pull.py"
    script.write_text(PULL_SCRIPT)
    root = tmp_path / "store"
    done = subprocess.run([sys.executable, str(script), str(root), "20", "ok"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "20"
    path = Store(root).path("memory", "XYZ", "1d")
    before = path.read_bytes()
    child = subprocess.Popen([sys.executable, str(script), str(root), "30", "hang"],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "writing"
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    assert path.read_bytes() == before
    assert len(Store(root).read("XYZ", "1d", source="memory")) == 20
    # the next pull is not blocked by the dead one's lock and completes the merge
    done = subprocess.run([sys.executable, str(script), str(root), "30", "ok"],
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "30", done.stderr


def test_concurrent_pulls_of_one_symbol(tmp_path):
    script = tmp_path / "pull.py"
    script.write_text(PULL_SCRIPT)
    root = tmp_path / "store"
    procs = [subprocess.Popen([sys.executable, str(script), str(root), str(n), "ok"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n in (200, 300, 250, 300)]
    outs = [p.communicate(timeout=180) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-500:] for o in outs]
    stored = Store(root).read("XYZ", "1d", source="memory")
    assert len(stored) == 300 and stored.index.is_unique
    assert not list(Store(root).path("memory", "XYZ", "1d").parent.glob("*.tmp"))


def test_verify_finds_gaps_and_split_like_moves():
    bars = daily_bars("2024-01-01", 30)
    bars = bars.drop(bars.index[[5, 6]])                  # two missing days on a 24/7 series
    bars.iloc[20:, :4] = bars.iloc[20:, :4] / 4           # an unadjusted 4:1 split
    found = verify_bars(bars, "24/7", "1d")
    assert found["gaps"] == 2 and found["gap_examples"][0].startswith("2024-01-06")
    assert len(found["split_like_moves"]) == 1
    assert found["split_like_moves"][0][1] == pytest.approx(0.25, rel=0.02)
    # an exchange calendar: weekends and holidays are not gaps, a missing session is
    sessions = pd.DatetimeIndex(["2024-07-01", "2024-07-02", "2024-07-03", "2024-07-05",
                                 "2024-07-09"], tz="UTC", name="time")
    equity = daily_bars("2024-07-01", 5).set_axis(sessions)
    found = verify_bars(equity, "XNYS", "1d")
    assert found["gaps"] == 1 and found["gap_examples"] == ["2024-07-08 00:00:00+00:00"]


class PerpSource(MemorySource):
    """A perpetual: bars plus funding stamps at 00/08/16 UTC."""

    def __init__(self, bars, rates):
        super().__init__(bars)
        self.rates = rates

    def fetch(self, symbol, timeframe, start, end):
        got = super().fetch(symbol, timeframe, start, end)
        got.funding = self.rates
        return got


def test_funding_history_reaches_the_engines_funding_charges(tmp_path):
    from sitcli.backtest import RunConfig, run_backtest
    from sitcli.events import load_events

    bars = daily_bars("2024-03-01", 20)
    stamps = pd.date_range("2024-03-01 08:00", periods=60, freq="8h", tz="UTC")
    rates = pd.Series(np.linspace(0.0001, 0.0007, 60), index=stamps)
    store = Store(tmp_path)
    pull_symbol(store, PerpSource(bars, rates), "XYZ/USDT:USDT", "1d")
    stored = store.read("XYZ/USDT:USDT", "1d")
    # each daily bar settles the stamps in (open, close]: 08:00, 16:00 and the next 00:00
    expected = rates.groupby((rates.index - pd.Timedelta("1ns")).floor("D")).sum()
    got = stored["funding_rate"].iloc[:19]
    np.testing.assert_allclose(got.to_numpy(), expected.reindex(got.index).to_numpy(),
                               rtol=1e-12)
    # a long held through those bars pays qty x close x rate for each of them
    result = run_backtest(RunConfig(["XYZ/USDT:USDT"], strategy="buy_and_hold", leverage=2),
                          store, load_events())
    (trade,) = result.trades
    held = stored.iloc[trade["entry_bar"]: trade["exit_bar"] + 1]
    paid = (trade["qty"] * held["close"] * held["funding_rate"]).sum()
    assert trade["funding"] == pytest.approx(paid, rel=1e-9)
    # the venue's flat 0.01% per 8 h would have charged something else
    assert trade["funding"] != pytest.approx(
        trade["qty"] * (held["close"] * 3 * 0.0001).sum(), rel=1e-3)
