"""`sitcli sit build` and `sitcli sit curve`: the stored index and futures (built through the
installed entry point; the other runs call its `main` in this process), reproducibility from a
seed, the curve, a backtest on SIT-F1 whose order is deferred past a limit-locked bar, and
one-line errors for bad input."""

import csv
import json
from datetime import date

import numpy as np
import pandas as pd
import pytest
from cli_helpers import assert_one_line_error, run_in_process, run_sitcli

from sitcli.data.store import Store
from sitcli.sit import futures as fut
from sitcli.sit.build import SIDECAR

# Seed 6, baseline, 2026: a weekend jump leaves SIT-F1 locked at its +25% limit all of Monday
# 2026-07-06 (found by scanning seeds; the test below checks the lock is really there).
SEED, START, END, LOCKED_DAY = 6, "2026-01-01", "2026-12-31", "2026-07-06"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    data = tmp_path_factory.mktemp("sit") / "data"
    proc = run_sitcli("sit", "build", "--scenario", "baseline", "--start", START, "--end", END,
                      "--seed", SEED, "--format", "json", data_dir=data)
    assert proc.returncode == 0, proc.stderr
    return data, json.loads(proc.stdout)


def test_build_writes_the_index_and_ten_futures_marked_synthetic(built):
    data, summary = built
    assert [s["symbol"] for s in summary["series"]] == ["SIT"] + [f"SIT-F{k}" for k in range(1, 11)]
    store = Store(data)
    entries = {e["symbol"]: e for e in store.entries()}
    assert set(entries) == {"SIT", *(f"SIT-F{k}" for k in range(1, 11))}
    assert all(e["synthetic"] and e["source"] == "sit" for e in entries.values())
    index = store.read("SIT")
    assert len(index) == 365
    assert index.attrs["sitcli"]["note"].startswith("synthetic:sit-model scenario=baseline")
    f1 = store.read("SIT-F1")
    assert (f1.index.day_of_week < 5).all() and len(f1) == 261             # Mon-Fri sessions of 2026
    cents = f1[["open", "high", "low", "close"]].to_numpy() * 100
    assert np.allclose(cents, np.round(cents), atol=1e-6)                # on the $0.01 tick


def test_front_month_settles_to_the_index_on_its_last_trading_day(built):
    data, _ = built
    store = Store(data)
    index, f1 = store.read("SIT"), store.read("SIT-F1")
    sidecar = json.loads((data / "sit" / "1d" / SIDECAR).read_text())
    expiries = [c["last_trade"] for c in sidecar["symbols"]["SIT-F1"]["contracts"] if c["last_trade"] <= END]
    assert len(expiries) == 12                  # Jan..Dec 2026; the 13th slot holder expires in 2027
    for day in expiries:
        stamp = pd.Timestamp(day, tz="UTC")
        assert f1.loc[stamp, "close"] == pytest.approx(float(fut.round_to_tick(index.loc[stamp, "close"])))
    # the generic series never moves by more than 25% from one settlement to the next within a contract
    slots = sidecar["symbols"]["SIT-F1"]["contracts"]
    contract_of = pd.Series([c["code"] for c in slots], index=pd.DatetimeIndex([c["from"] for c in slots]))
    code = contract_of.reindex(f1.index, method="ffill")
    same = (code == code.shift()).to_numpy()[1:]
    ratio = (f1["close"].to_numpy()[1:] / f1["close"].to_numpy()[:-1])[same]
    assert ratio.max() <= 1.25 + 0.01 / 2 and ratio.min() >= 0.75 - 0.01 / 2


def test_same_seed_same_prices_other_seed_other_prices(built, tmp_path):
    # a shorter build from the same origin and seed is the same path: its bars are the first
    # bars of the full build, index and futures alike
    data, _ = built
    again = run_in_process("sit", "build", "--start", START, "--end", "2026-02-28", "--seed", SEED,
                       data_dir=tmp_path / "again")
    other = run_in_process("sit", "build", "--start", START, "--end", "2026-02-28", "--seed", SEED + 1,
                       data_dir=tmp_path / "other")
    assert again.returncode == other.returncode == 0, again.stderr + other.stderr
    for symbol in ("SIT", "SIT-F1", "SIT-F10"):
        short = Store(tmp_path / "again").read(symbol)
        full = Store(data).read(symbol, end="2026-02-28")
        pd.testing.assert_frame_equal(short, full)
    assert not Store(tmp_path / "other").read("SIT")["close"].equals(
        Store(data).read("SIT", end="2026-02-28")["close"])


def test_curve_from_the_simulation_equals_the_curve_from_the_store(built):
    data, _ = built
    args = ("sit", "curve", "--asof", "2026-06-30", "--format", "json")
    simulated = run_in_process(*args, "--seed", SEED, data_dir=data)
    stored = run_in_process(*args, "--from-store", data_dir=data)
    assert simulated.returncode == stored.returncode == 0, simulated.stderr + stored.stderr
    a, b = json.loads(simulated.stdout), json.loads(stored.stdout)
    assert a["contracts"] == b["contracts"] and a["index"] == pytest.approx(b["index"])
    rows = a["contracts"]
    assert [r["contract"] for r in rows] == [c.code for c in fut.listing(date(2026, 6, 30))]
    assert rows[0]["days_to_expiry"] == 15                      # SITN26 expires on 2026-07-15
    for r in rows:
        assert 0.08 <= r["initial_margin"] <= 0.12
        assert r["maintenance_margin"] == pytest.approx(0.75 * r["initial_margin"])
    # the stored settlement of the front month on 2026-06-30 is the curve's front price
    # (no limit hit that day)
    f1 = Store(data).read("SIT-F1")
    assert f1.loc[pd.Timestamp("2026-06-30", tz="UTC"), "close"] == pytest.approx(rows[0]["price"])


def test_curve_table_and_csv(tmp_path):
    table = run_in_process("sit", "curve", "--asof", "2026-01-01", data_dir=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "SYNTHETIC" in table.stdout and "SITF26" in table.stdout and "model" in table.stdout
    rows = list(csv.DictReader(run_in_process("sit", "curve", "--asof", "2026-01-01", "--format", "csv",
                                          data_dir=tmp_path).stdout.splitlines()))
    assert len(rows) == 10 and rows[0]["kind"] == "monthly" and rows[-1]["kind"] == "quarterly"


def _entry_time(data, out):
    proc = run_in_process("backtest", "buy_and_hold", "--symbols", "SIT-F1", "--start", "2026-07-03",
                      "--end", "2026-08-31", "--out", out, data_dir=data)
    assert proc.returncode == 0, proc.stderr
    with open(out / "trades.csv") as fh:
        return next(csv.DictReader(fh))["entry_time"]


def test_backtest_trades_sit_futures_and_defers_a_fill_past_a_locked_bar(built, tmp_path):
    data, _ = built
    sidecar = json.loads((data / "sit" / "1d" / SIDECAR).read_text())
    locked = sidecar["symbols"]["SIT-F1"]["locked"]
    assert f"{LOCKED_DAY}T00:00:00+00:00" in locked
    f1 = Store(data).read("SIT-F1", start="2026-07-03", end="2026-07-06")
    # the locked Monday opens at the +15% halt price and closes at the +25% limit of Friday's settlement
    friday = f1["close"].iloc[0]
    assert f1["close"].iloc[1] == pytest.approx(fut.limit_band(friday, 0.25)[1])
    assert f1["open"].iloc[1] == pytest.approx(fut.limit_band(friday, 0.15)[1])
    # buy_and_hold orders on Friday's close; the fill moves from the locked Monday to Tuesday's open
    assert _entry_time(data, tmp_path / "locked").startswith("2026-07-07")
    # the same run without the build's limit records fills on Monday
    (data / "sit" / "1d" / SIDECAR).rename(tmp_path / SIDECAR)
    try:
        assert _entry_time(data, tmp_path / "free").startswith(LOCKED_DAY)
    finally:
        (tmp_path / SIDECAR).rename(data / "sit" / "1d" / SIDECAR)


@pytest.mark.parametrize("args, fragment", [
    (("sit", "build", "--scenario", "moon"), "unknown scenario 'moon'"),
    (("sit", "build", "--start", "2027-01-01", "--end", "2026-01-01"), "after --end"),
    (("sit", "build", "--freq", "5m"), "--freq"),
    (("sit", "build", "--seed", "-3"), "seed"),
    (("sit", "build", "--start", "2026-13-01"), "not a date"),
    (("sit", "curve", "--asof", "2025-06-30"), "before --origin"),
    (("sit", "curve", "--asof", "2026-06-30", "--scenario", "moon"), "choose one of baseline"),
])
def test_bad_input_is_one_line_exit_2(args, fragment, tmp_path):
    assert_one_line_error(run_in_process(*args, data_dir=tmp_path), 2, fragment)


def test_curve_from_an_empty_store_is_missing_data(tmp_path):
    assert_one_line_error(run_in_process("sit", "curve", "--asof", "2026-06-30", "--from-store",
                                     data_dir=tmp_path), 3, "sitcli sit build")


def test_deferral_rule_for_both_fill_modes(tmp_path):
    from types import SimpleNamespace

    from sitcli.backtest import defer_limit_locked

    times = pd.date_range("2026-03-02", periods=6, freq="D", tz="UTC")
    (tmp_path / SIDECAR).write_text(json.dumps({"symbols": {"SIT-F1": {"locked": [
        times[2].isoformat(), times[3].isoformat()]}}}))
    bars = pd.DataFrame({"close": np.ones(6)}, index=times)
    bars.attrs["sitcli"] = {"path": str(tmp_path / "SIT-F1.parquet"), "symbol": "SIT-F1"}
    leg = SimpleNamespace(bars=bars)
    entries = np.array([0, 1, 0, 0, 0, 0], np.int8)
    exits = np.array([False, False, False, False, True, False])
    # fill=open: the order on bar 1 would fill at bar 2's open; bars 2 and 3 are locked, so it
    # fills at bar 4's open, i.e. it now sits on bar 3. The exit on bar 4 (fills on bar 5) stays.
    e, x = defer_limit_locked(leg, entries, exits, "open")
    assert e.tolist() == [0, 0, 0, 1, 0, 0] and x.tolist() == exits.tolist()
    # fill=close: an order on locked bar 2 fills at bar 4's close instead
    e, _ = defer_limit_locked(leg, np.array([0, 0, -1, 0, 0, 0], np.int8), np.zeros(6, bool), "close")
    assert e.tolist() == [0, 0, 0, 0, -1, 0]
    # data without a SIT build record is left alone
    bars.attrs["sitcli"]["symbol"] = "NVDA"
    assert defer_limit_locked(leg, entries, exits, "open")[0] is entries


def test_runs_on_the_built_series_say_simulated_not_demo(built, tmp_path):
    data, _ = built
    bt = run_in_process("backtest", "buy_and_hold", "--symbols", "SIT-F1", "--out", tmp_path, "--plot",
                    data_dir=data)
    assert bt.returncode == 0, bt.stderr
    assert bt.stdout.startswith("SYNTHETIC DATA: SIT-F1 (sit) simulated, not market history.")
    assert "DEMO" not in bt.stdout
    assert "<title>[SYNTHETIC DATA]" in (tmp_path / "report.html").read_text()
    sc = run_in_process("scenario", "--symbols", "SIT", "--leverage", "10", "--horizon", "1",
                    data_dir=data)
    assert sc.returncode == 0, sc.stderr
    assert "SIT (SYNTHETIC DATA)" in sc.stdout and "DEMO" not in sc.stdout
