"""CFD financing from the benchmark's own history: each night at that night's rate (issue 13,
part 5): the shipped series, a user's imported series, the per-bar arrays and the backtest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import assert_one_line_error

from sitcli import rates
from sitcli.backtest import RunConfig, run_backtest
from sitcli.bars import financing_per_bar
from sitcli.data.store import Store
from sitcli.engine.records import CLOSE_OUT, END
from sitcli.events import load_events
from sitcli.instruments import venue

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NDX = SHARED / "equities" / "daily" / "NDX.csv"
DFF_FILES = [SHARED / "rates" / "DFF_1954-07-01_2023-03-22.csv",
             SHARED / "rates" / "DFF_2021-08-06_2026-08-06.csv"]
# a week with a rate cut effective Monday 2024-03-11: 5.00% through the weekend, then 4.00%
WEEK_RATES = ("date,TEST\n2024-03-06,5.00\n2024-03-07,5.00\n2024-03-08,5.00\n2024-03-11,4.00\n"
              "2024-03-12,4.00\n2024-03-13,4.00\n")
WEEK = pd.DatetimeIndex(["2024-03-07", "2024-03-08", "2024-03-11", "2024-03-12",
                         "2024-03-13"], tz="UTC")   # Thu, Fri, Mon, Tue, Wed


def test_shipped_series_cover_their_documented_ranges():
    dff = rates.load("DFF")
    assert (dff.index[0], dff.index[-1], len(dff)) == (pd.Timestamp("1954-07-01"),
                                                      pd.Timestamp("2026-08-06"), 26_335)
    assert dff[pd.Timestamp("2020-04-01")] == pytest.approx(0.0006)   # 0.06%
    sofr = rates.load("SOFR")
    assert sofr.index[0] == pd.Timestamp("2018-04-03") and sofr.iloc[0] == pytest.approx(0.0183)


def test_a_week_across_a_weekend_and_a_rate_change(tmp_path, cli):
    """Daily bars closing at 21:00 UTC. Each bar carries the cut-offs in [close_t, close_t+1):
    Thu 1 night (03-07), Fri 3 (03-08, 09, 10), Mon 1 (03-11), Tue 1 (03-12). The weekend
    nights take Friday's 5.00% (the last value published); Monday's is 4.00%. Markup 2.5%,
    365 days:
        long  Thu (5 + 2.5)/365 %, Fri 3 x 7.5/365 %, Mon and Tue 6.5/365 %
        short Thu (2.5 - 5)/365 %, Fri 3 x -2.5/365 % (received), Mon and Tue -1.5/365 %"""
    src = tmp_path / "test_rates.csv"
    src.write_text(WEEK_RATES)
    proc = cli("data", "import", src, "--rate", "test", "--format", "json", check_code=0)
    out = json.loads(proc.stdout)
    assert (out["rate"], out["rows"], out["first"], out["last"]) == ("TEST", 6, "2024-03-06",
                                                                    "2024-03-13")
    cfd = venue("cfd-retail", "equity", {"financing_benchmark": "test"})
    assert cfd.benchmark_series == "TEST" and cfd.financing_markup == 0.025
    fin, note = financing_per_bar(cfd, WEEK + pd.Timedelta("21h"), pd.Timedelta("1D"),
                                  cli.data_dir)
    assert note is None
    expected_long = np.array([7.5, 3 * 7.5, 6.5, 6.5, 6.5]) / 100 / 365
    expected_short = np.array([-2.5, 3 * -2.5, -1.5, -1.5, -1.5]) / 100 / 365
    assert fin[:, 0] == pytest.approx(expected_long, rel=1e-12)
    assert fin[:, 1] == pytest.approx(expected_short, rel=1e-12)

    # the backtest charges exactly these: NVDA 5x long from 10,000 at a flat 100 (qty 500,
    # notional 50,000), bought at Thursday's close, closed at Wednesday's (before its
    # cut-off): 50,000 x (7.5 + 22.5 + 6.5 + 6.5) / 100 / 365 = 58.9041...
    bars = pd.DataFrame({"open": 100.0, "high": 100.0, "low": 100.0, "close": 100.0,
                         "volume": 1.0}, index=pd.DatetimeIndex(WEEK, name="time"))
    store = Store(cli.data_dir)
    store.write(bars, source="csv", symbol="NVDA", timeframe="1d")
    cfg = RunConfig(["NVDA"], strategy="buy_and_hold", venue="cfd-retail", leverage=5,
                    fill="close", overrides={"half_spread": 0.0, "financing_benchmark": "TEST"})
    result = run_backtest(cfg, store, load_events())
    tr = result.trades[0]
    assert tr["qty"] == pytest.approx(500.0)
    assert tr["financing"] == pytest.approx(50_000 * 43.0 / 100 / 365, rel=1e-12)
    assert result.equity[-1, 0] == pytest.approx(10_000 - 50_000 * 43.0 / 100 / 365)


def test_nights_outside_the_series_take_its_ends_and_the_run_says_so(tmp_path):
    src = tmp_path / "r.csv"
    src.write_text("observation_date,X\n2024-03-08,5.0\n2024-03-11,\n2024-03-12,4.0\n")
    rates.import_rate("X", src, tmp_path)
    cfd = venue("cfd-retail", "equity", {"financing_benchmark": "X", "financing_markup": 0.0})
    fin, note = financing_per_bar(cfd, WEEK + pd.Timedelta("21h"), pd.Timedelta("1D"), tmp_path)
    # Thu 03-07 is before the series (first value 5.0); Mon's blank takes Friday's 5.0; the
    # last bar's night 03-13 and Tue's 03-12 are 4.0 (03-13 is after the series ends)
    assert fin[:, 0] * 365 * 100 == pytest.approx([5.0, 15.0, 5.0, 4.0, 4.0])
    assert "1 nights before X starts (2024-03-08) charged at its first value 5%" in note
    assert "1 nights after X ends (2024-03-12) charged at its last value 4%" in note


def test_a_constant_benchmark_charges_nights_times_the_rate():
    cfd = venue("cfd-offshore", "index")
    fin, _ = financing_per_bar(cfd, WEEK + pd.Timedelta("21h"), pd.Timedelta("1D"))
    nights = np.array([1, 3, 1, 1, 1])
    assert fin[:, 0] == pytest.approx(nights * (0.043 + 0.035) / 365, rel=1e-12)
    assert fin[:, 1] == pytest.approx(nights * (0.035 - 0.043) / 365, rel=1e-12)


def test_bad_benchmarks_and_rate_files_are_one_line_errors(tmp_path, cli):
    bad = tmp_path / "bad.csv"
    bad.write_text("date,X\n2024-01-02,0.043\n2024-01-03,433\n")
    assert_one_line_error(cli("data", "import", bad, "--rate", "X"), 2, "433",
                          "percent per annum")
    assert_one_line_error(cli("backtest", "--demo", "--symbols", "NVDA", "--set",
                              "financing_benchmark=NOPE"), 2, "NOPE", "DFF, SOFR",
                          "sitcli data import --rate NOPE FILE")
    assert_one_line_error(cli("data", "import", bad), 2, "--symbol", "--rate")


def _ndx_store(tmp_path) -> Store:
    if not NDX.exists():
        pytest.skip(f"{NDX} is absent (shared real data)")
    from sitcli.data.sources.csv import read_csv_ohlcv

    store = Store(tmp_path / "store")
    store.write(read_csv_ohlcv(NDX), source="csv", symbol="^NDX", timeframe="1d")
    return store


def test_ndx_1x_buy_and_hold_from_1985_on_cfd_offshore_with_fed_funds_history(tmp_path):
    """^NDX bought at 1x on 1985-10-02 on cfd-offshore (markup 3.5%). At the constant 4.3%
    benchmark the financing eats the equity by 2002-06-12; with the fed funds history it is
    closed out earlier, on 2001-09-19, because fed funds averaged more than 4.3% from 1985 to
    2000. The financing charged equals, night by night, qty x close x (DFF + 3.5%) / 365
    recomputed here from the raw FRED files: every calendar day from a bar's date up to the
    next bar's date is one night (the 21:00 UTC cut-off is at or after each close)."""
    store = _ndx_store(tmp_path)
    closed = {}
    for bench in ("0.043", "DFF"):
        cfg = RunConfig(["^NDX"], strategy="buy_and_hold", venue="cfd-offshore", leverage=1,
                        overrides={"financing_benchmark": bench})
        result = run_backtest(cfg, store, load_events())
        [tr] = result.trades
        assert tr["exit_reason"] == CLOSE_OUT and tr["exit_reason"] != END
        closed[bench] = (result.index[tr["exit_bar"]], tr, result)
    assert closed["0.043"][0] == pd.Timestamp("2002-06-12", tz="UTC")
    day, tr, result = closed["DFF"]
    assert day == pd.Timestamp("2001-09-19", tz="UTC")

    if not all(p.exists() for p in DFF_FILES):
        pytest.skip("the raw FRED DFF files are absent (shared real data)")
    dff = pd.concat([pd.read_csv(p, index_col=0, parse_dates=True).iloc[:, 0]
                     for p in DFF_FILES])
    dff = dff[~dff.index.duplicated()] / 100
    # a plain dict per night (a KeyError if FRED lacks one): 4,000 pandas lookups by label
    # took most of this test's time
    rate = dict(zip(dff.index, dff.to_numpy(), strict=True))
    closes = store.read("^NDX")["close"]
    dates = closes.index.tz_localize(None)
    expected = 0.0
    for t in range(tr["entry_bar"], tr["exit_bar"]):
        nights = pd.date_range(dates[t], dates[t + 1], inclusive="left")
        expected += tr["qty"] * closes.iloc[t] * sum(rate[n] + 0.035 for n in nights) / 365
    assert tr["financing"] == pytest.approx(expected, rel=1e-9)
