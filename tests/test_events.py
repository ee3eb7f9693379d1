"""The catalyst calendar and the event study, offline: loader validation (file, line, column),
--events merging, filters, the at-or-after fill rule on real session calendars (weekend, Good
Friday, July 4th, 24/7 crypto), and hand-computed event-study numbers."""

from __future__ import annotations

import math

import exchange_calendars as xcals
import numpy as np
import pandas as pd
import pytest

from sitcli.backtest import bar_times
from sitcli.data.store import demo_store
from sitcli.errors import BadInput, DataMissing
from sitcli.events import COLUMNS, STATUSES, about, fill_bars, filter_events, load_events
from sitcli.eventstudy import (
    Window,
    first_outcome,
    liquidation_price_long,
    parse_leverages,
    parse_window,
    run_study,
    study_bars,
)
from sitcli.instruments import ASSET_CLASSES, instrument

# exchange-calendars under pandas 3.1 warns about Series.values while building a calendar
pytestmark = pytest.mark.filterwarnings("ignore:Series.values returning:Warning")

HEADER = ",".join(COLUMNS)
GOOD = "2024-05-22T20:20:00Z,NVIDIA results,earnings,1,confirmed,equity;crypto,,asset_class,test"


def write(tmp_path, *lines, name="mine.csv"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def load_error(path) -> str:
    with pytest.raises(BadInput) as err:
        load_events([path], builtin=False)
    return str(err.value)


# --- the built-in calendar ---------------------------------------------------------------------

def test_builtin_calendar_is_complete_and_valid():
    ev = load_events()
    assert len(ev) >= 30
    assert {2022, 2023, 2024, 2025, 2026} <= set(ev["time"].dt.year)
    assert set(ev["status"]) <= set(STATUSES)
    assert (ev["status"] == "rumor").sum() >= 2 and (ev["status"] == "denied").sum() >= 1
    assert set(ev["direction"]) <= {-1, 0, 1}
    assert ev["time"].is_monotonic_increasing and str(ev["time"].dt.tz) == "UTC"
    assert all(set(a.split(";")) <= set(ASSET_CLASSES) for a in ev["asset_classes"])
    assert ev["title"].str.strip().astype(bool).all() and ev["source"].str.strip().astype(bool).all()
    assert not ev.duplicated(["time", "title"]).any()
    paper = ev[ev["title"].str.contains("2603.21690", regex=False)]
    assert len(paper) == 1 and paper["time"].iloc[0] == pd.Timestamp("2026-03-23", tz="UTC")
    deepseek = ev[ev["time"] == pd.Timestamp("2025-01-27", tz="UTC")]
    assert (deepseek["direction"] == -1).all() and len(deepseek) == 1
    # NVIDIA results come after the close (16:20 New York): 20:20 UTC in summer, 21:20 in winter
    nvda = ev[(ev["category"] == "earnings") & ev["title"].str.startswith("NVIDIA")]
    assert len(nvda) >= 12
    assert set(nvda["time"].dt.strftime("%H:%M")) <= {"20:20", "21:20"}


# --- loader validation: one rule per test, each naming file, line and column -------------------

def test_missing_column_names_the_column(tmp_path):
    path = write(tmp_path, "time,title,category,direction,asset_classes,source",
                 "2024-05-22,x,earnings,1,equity,,asset_class,test")
    msg = load_error(path)
    assert f"{path} line 1, column status" in msg and HEADER in msg


@pytest.mark.parametrize("value", ["not-a-date", "", "2024-13-45", "yesterday"])
def test_unparseable_date(tmp_path, value):
    path = write(tmp_path, HEADER, GOOD, f"{value},x,earnings,1,confirmed,equity,,asset_class,test")
    msg = load_error(path)
    assert f"{path} line 3, column time" in msg and "ISO 8601" in msg


def test_unknown_status(tmp_path):
    path = write(tmp_path, HEADER, GOOD, GOOD, "2024-05-23,x,earnings,1,maybe,equity,,asset_class,test")
    msg = load_error(path)
    assert f"{path} line 4, column status" in msg and "'maybe'" in msg and "rumor" in msg


@pytest.mark.parametrize("value", ["2", "up", "", "1.5"])
def test_bad_direction(tmp_path, value):
    path = write(tmp_path, HEADER, f"2024-05-23,x,earnings,{value},confirmed,equity,,asset_class,test")
    msg = load_error(path)
    assert f"{path} line 2, column direction" in msg and "-1" in msg


def test_empty_title(tmp_path):
    path = write(tmp_path, HEADER, GOOD, "2024-05-23,  ,earnings,1,confirmed,equity,,asset_class,test")
    assert f"{path} line 3, column title: empty" in load_error(path)


@pytest.mark.parametrize("value", ["stocks", "equity;bonds", "", "equity;"])
def test_unknown_asset_class(tmp_path, value):
    path = write(tmp_path, HEADER, f'2024-05-23,x,earnings,1,confirmed,"{value}",,asset_class,test')
    msg = load_error(path)
    assert f"{path} line 2, column asset_classes" in msg and "equity, index, crypto, synthetic" in msg


def test_unquoted_comma_is_caught_not_shifted(tmp_path):
    path = write(tmp_path, HEADER, "2024-05-23,Results, beat,earnings,1,confirmed,equity,,asset_class,test")
    assert f"{path} line 2" in load_error(path)


def test_line_numbers_count_physical_lines(tmp_path):
    """A quoted title spanning two lines: the next row's error still names its own line."""
    path = write(tmp_path, HEADER,
                 '2024-05-22,"two-line\ntitle",earnings,1,confirmed,equity,,asset_class,test',
                 "2024-05-23,x,earnings,1,bogus,equity,,asset_class,test")
    assert f"{path} line 4, column status" in load_error(path)


def test_unreadable_events_file(tmp_path):
    with pytest.raises(BadInput, match="--events .*cannot read"):
        load_events([tmp_path / "absent.csv"])


# --- --events merging --------------------------------------------------------------------------

def test_events_files_merge_with_the_builtin(tmp_path):
    builtin = load_events()
    a = write(tmp_path, HEADER, "2030-01-01T00:00:00Z,late news,keynote,0,rumor,crypto,,asset_class,me",
              "2022-01-03,early news,keynote,-1,denied,index,,asset_class,me", name="a.csv")
    b = write(tmp_path, "\ufeff" + " ,".join(COLUMNS),   # BOM and padded header are accepted
              "2024-01-01T09:00:00+09:00,tokyo news,earnings,1,confirmed,equity;equity,,asset_class,me",
              name="b.csv")
    merged = load_events([a, b])
    assert len(merged) == len(builtin) + 3
    assert merged["time"].is_monotonic_increasing
    assert merged["title"].iloc[0] == "early news" and merged["title"].iloc[-1] == "late news"
    tokyo = merged[merged["title"] == "tokyo news"].iloc[0]
    assert tokyo["time"] == pd.Timestamp("2024-01-01T00:00:00Z")      # converted to UTC
    assert tokyo["asset_classes"] == "equity" and tokyo["direction"] == 1
    assert merged[merged["title"] == "early news"]["time"].iloc[0] == pd.Timestamp("2022-01-03", tz="UTC")
    only = load_events([a], builtin=False)
    assert list(only["title"]) == ["early news", "late news"]
    assert list(only.columns) == [*COLUMNS, "sectors"] and only["direction"].dtype == np.int64
    assert (only["sectors"] == "").all()        # the optional column, absent from the file


def test_equal_times_keep_file_order(tmp_path):
    t = "2025-01-27T00:00:00Z"
    path = write(tmp_path, HEADER, f"{t},mine,model-launch,1,rumor,crypto,,asset_class,me")
    merged = load_events([path])
    same = merged[merged["time"] == pd.Timestamp(t)]
    assert same["title"].iloc[-1] == "mine" and len(same) == 2       # built-in first


# --- filters -----------------------------------------------------------------------------------

def test_filter_events():
    ev = load_events()
    since = filter_events(ev, since="2025-01-01")
    assert len(since) and (since["time"] >= pd.Timestamp("2025-01-01", tz="UTC")).all()
    assert len(filter_events(ev, since="2025-01-27")) == len(ev[ev["time"] >= "2025-01-27"])
    earn = filter_events(ev, category="Earnings")
    assert len(earn) and (earn["category"] == "earnings").all()
    two = filter_events(ev, category="earnings, keynote")
    assert set(two["category"]) == {"earnings", "keynote"}
    synth = filter_events(ev, asset_class="synthetic")
    assert all("synthetic" in a.split(";") for a in synth["asset_classes"])
    assert len(synth) < len(ev)
    both = filter_events(ev, since="2024-01-01", category="export-control", asset_class="equity")
    assert len(both) and (both["time"].dt.year >= 2024).all()
    with pytest.raises(BadInput, match="--category 'earning'.*earnings"):
        filter_events(ev, category="earning")
    with pytest.raises(BadInput, match="--since 'soon'"):
        filter_events(ev, since="soon")
    with pytest.raises(BadInput, match="asset class 'stocks'"):
        filter_events(ev, asset_class="stocks")


# --- fill_bars: the first bar opening AT OR AFTER the event ------------------------------------

def test_fill_bars_at_or_after():
    opens = pd.DatetimeIndex(["2024-01-02 14:30", "2024-01-03 14:30", "2024-01-04 14:30"], tz="UTC")
    events = pd.DatetimeIndex(["2024-01-01 12:00",    # before the data: bar 0
                               "2024-01-02 14:30",    # exactly at an open: that bar
                               "2024-01-02 14:31",    # during bar 0: the next open
                               "2024-01-03 14:29:59",  # a second before an open: that open
                               "2024-01-04 14:30",    # exactly at the last open
                               "2024-01-04 14:30:01",  # after the last open: none -> len
                               "2024-02-01"], tz="UTC")
    assert list(fill_bars(opens, events)) == [0, 0, 1, 1, 2, 3, 3]
    # naive times are UTC; other zones are converted
    naive = fill_bars(opens.tz_localize(None), pd.DatetimeIndex(["2024-01-03 14:30"]))
    tokyo = fill_bars(opens, pd.DatetimeIndex(["2024-01-03 23:30"], tz="Asia/Tokyo"))
    assert list(naive) == [1] and list(tokyo) == [1]
    assert len(fill_bars(opens, pd.DatetimeIndex([], tz="UTC"))) == 0


def nyse_bars(start: str, end: str) -> pd.DatetimeIndex:
    sessions = xcals.get_calendar("XNYS").sessions_in_range(start, end)
    return pd.DatetimeIndex(sessions).tz_localize("UTC")


@pytest.mark.parametrize("event, expected_open", [
    ("2024-03-22T21:00:00Z", "2024-03-25T13:30:00Z"),   # Friday after the close -> Monday open
    ("2024-03-23T15:00:00Z", "2024-03-25T13:30:00Z"),   # Saturday -> Monday
    ("2024-03-28T20:30:00Z", "2024-04-01T13:30:00Z"),   # Thursday evening, Good Friday shut
    ("2024-03-30T12:00:00Z", "2024-04-01T13:30:00Z"),   # Saturday 2024-03-30 -> Monday
    ("2024-03-25T13:30:00Z", "2024-03-25T13:30:00Z"),   # exactly at the open: that bar
    ("2024-03-25T13:30:01Z", "2024-03-26T13:30:00Z"),   # one second into the session: next day
    ("2024-07-03T18:00:00Z", "2024-07-05T13:30:00Z"),   # after the 13:00 ET early close
    ("2024-07-04T00:00:00Z", "2024-07-05T13:30:00Z"),   # Independence Day, market shut
    ("2024-07-04T15:00:00Z", "2024-07-05T13:30:00Z"),
    ("2024-11-04T14:00:00Z", "2024-11-04T14:30:00Z"),   # after the clocks change: 09:30 EST
])
def test_equity_event_alignment_on_the_exchange_calendar(event, expected_open):
    index = nyse_bars("2024-03-18", "2024-11-08")
    opens, _ = bar_times(index, instrument("NVDA"), "1d")
    j = int(fill_bars(opens, pd.DatetimeIndex([event]))[0])
    assert opens[j] == pd.Timestamp(expected_open)
    assert index[j] == pd.Timestamp(expected_open[:10], tz="UTC")   # the bar's midnight stamp


@pytest.mark.parametrize("event, expected_bar", [
    ("2024-03-22T21:00:00Z", "2024-03-23"),   # Friday evening -> Saturday's 00:00 bar
    ("2024-03-23T00:00:00Z", "2024-03-23"),   # exactly at 00:00: that bar
    ("2024-03-23T00:00:01Z", "2024-03-24"),
    ("2024-07-04T15:00:00Z", "2024-07-05"),   # no holidays on a 24/7 venue
])
def test_crypto_event_alignment_on_24_7_daily_bars(event, expected_bar):
    index = pd.date_range("2024-03-01", "2024-07-31", freq="D", tz="UTC")
    opens, _ = bar_times(index, instrument("RENDER/USDT"), "1d")
    assert (opens == index).all()
    j = int(fill_bars(opens, pd.DatetimeIndex([event]))[0])
    assert index[j] == pd.Timestamp(expected_bar, tz="UTC")


# --- the event study on a hand-made price table ------------------------------------------------

# bar:      0      1      2      3      4      5      6      7
OPEN = [100.0, 100.0, 102.0, 101.0, 106.0, 107.0, 99.0, 100.0]
HIGH = [101.0, 103.0, 102.5, 105.5, 108.0, 111.0, 101.0, 100.5]
LOW = [99.0, 99.5, 100.0, 100.5, 103.5, 97.0, 98.5, 99.5]
CLOSE = [100.0, 102.0, 101.0, 105.0, 107.0, 99.0, 100.0, 100.0]


def hand_bars() -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    index = pd.date_range("2024-01-01", periods=8, freq="D", tz="UTC")
    bars = pd.DataFrame({"open": OPEN, "high": HIGH, "low": LOW, "close": CLOSE, "volume": 1.0},
                        index=index)
    return bars, index   # a 24/7 daily instrument: each bar opens at its midnight stamp


def hand_events(*times) -> pd.DataFrame:
    rows = [{"time": pd.Timestamp(t, tz="UTC"), "title": f"e{i}", "category": "earnings",
             "direction": 1, "status": "confirmed", "asset_classes": "crypto", "symbols": "",
             "reach": "asset_class", "source": "test"}
            for i, t in enumerate(times)]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def test_event_study_single_event_by_hand():
    bars, opens = hand_bars()
    # news at 09:00 on 2024-01-04 (during bar 3) is first tradable at bar 4's open (106)
    r = study_bars(bars, opens, hand_events("2024-01-04T09:00"), Window(-2, 2))
    assert r["events_used"] == 1 and r["events_relevant"] == 1
    ev = r["events"][0]
    assert ev["bar"] == 4 and ev["reference_close"] == 105.0 and ev["entry"] == 106.0
    # cumulative simple returns from the close of bar 3 (105) to the closes of bars 2..6
    expected = [101 / 105 - 1, 0.0, 107 / 105 - 1, 99 / 105 - 1, 100 / 105 - 1]
    assert ev["cum_simple_pct"] == pytest.approx([100 * x for x in expected])
    assert ev["cum_log_pct"] == pytest.approx([100 * math.log(1 + x) for x in expected])
    assert [row["offset"] for row in r["offsets"]] == [-2, -1, 0, 1, 2]
    assert r["offsets"][2]["mean_simple_pct"] == pytest.approx(100 * (107 / 105 - 1))
    # over bars 4..6: lowest low 97, highest high 111, entry 106
    assert ev["mae_pct"] == pytest.approx(100 * (97 / 106 - 1))
    assert ev["mfe_pct"] == pytest.approx(100 * (111 / 106 - 1))
    assert r["mae_pct"]["median"] == pytest.approx(100 * (97 / 106 - 1))
    # target 106 x 1.03 = 109.18 is first reached by bar 5's high (111).
    # 50x: liquidation at 106 x 0.98 = 103.88; bar 4's low 103.5 hits it first -> liquidated.
    # 20x: 106 x 0.95 = 100.7; bar 4 low 103.5 is above it; bar 5 reaches both 97 <= 100.7 and
    #      111 >= 109.18 -> the same bar counts as liquidated (conservative).
    # 10x: 106 x 0.90 = 95.4; never reached; the gain comes first at bar 5.
    got = {o["leverage"]: (o["outcome"], o["offset"], o["liquidation_price"]) for o in ev["outcomes"]}
    assert got[50.0] == ("liquidated", 0, pytest.approx(103.88))
    assert got[20.0] == ("liquidated", 1, pytest.approx(100.7))
    assert got[10.0] == ("gain", 1, pytest.approx(95.4))
    shares = {x["leverage"]: x["liquidated_before_gain_share"] for x in r["liquidation"]}
    assert shares == {10.0: 0.0, 20.0: 1.0, 50.0: 1.0}


def test_event_study_mean_median_and_skips_by_hand():
    bars, opens = hand_bars()
    events = hand_events("2023-12-01",            # before the data -> outside_data
                         "2024-01-03T00:00",      # bar 2: j-2 = 0 exists; j+2 = 4
                         "2024-01-03T12:00",      # bar 3
                         "2024-01-04T00:00",      # bar 3 again -> same_bar
                         "2024-01-05T00:00",      # bar 4
                         "2024-01-06T00:00",      # bar 5: needs bar 7, fine
                         "2024-01-07T00:00",      # bar 6: needs bar 8 -> window_outside_data
                         "2024-01-09T00:00:01")   # after the last open -> outside_data
    r = study_bars(bars, opens, events, Window(-2, 2))
    assert r["events_relevant"] == 8 and r["events_used"] == 4
    assert r["skipped"] == {"outside_data": 2, "window_outside_data": 1, "same_bar": 1}
    assert [e["bar"] for e in r["events"]] == [2, 3, 4, 5]
    # offset 0 returns: close[j] / close[j-1] - 1 for j = 2, 3, 4, 5
    day0 = np.array([101 / 102, 105 / 101, 107 / 105, 99 / 107]) - 1
    row = r["offsets"][2]
    assert row["offset"] == 0 and row["events"] == 4
    assert row["mean_simple_pct"] == pytest.approx(100 * day0.mean())
    assert row["median_simple_pct"] == pytest.approx(100 * np.median(day0))
    assert row["mean_log_pct"] == pytest.approx(100 * np.log1p(day0).mean())
    # offset -2: close[j-2] / close[j-1] - 1
    back = np.array([100 / 102, 102 / 101, 101 / 105, 105 / 107]) - 1
    assert r["offsets"][0]["median_simple_pct"] == pytest.approx(100 * np.median(back))
    # MAE per event over bars j..j+2 from the open of bar j
    mae = np.array([min(LOW[j:j + 3]) / OPEN[j] - 1 for j in (2, 3, 4, 5)])
    assert r["mae_pct"]["mean"] == pytest.approx(100 * mae.mean())
    assert r["mae_pct"]["p10"] == pytest.approx(100 * np.percentile(mae, 10))
    assert r["mae_pct"]["p90"] == pytest.approx(100 * np.percentile(mae, 90))


def test_no_usable_event_gives_empty_numbers_not_errors():
    bars, opens = hand_bars()
    r = study_bars(bars, opens, hand_events("2030-01-01"), Window(-1, 1))
    assert r["events_used"] == 0 and r["offsets"][0]["mean_simple_pct"] is None
    assert r["mae_pct"]["mean"] is None and r["liquidation"][0]["liquidated_before_gain_share"] is None


def test_liquidation_price_is_the_engines():
    assert liquidation_price_long(100.0, 50) == pytest.approx(98.0)
    assert liquidation_price_long(100.0, 10) == pytest.approx(90.0)
    assert liquidation_price_long(100.0, 1) == 0.0          # 1x: cannot be liquidated
    low, high = np.array([99.0, 97.0]), np.array([104.0, 101.0])
    assert first_outcome(low, high, 98.0, 103.0) == ("gain", 0)
    assert first_outcome(low, high, 99.0, 103.0) == ("liquidated", 0)   # same bar: liquidated
    assert first_outcome(low, high, 90.0, 110.0) == ("neither", None)


@pytest.mark.parametrize("text, window", [("-5,10", Window(-5, 10)), (" -1 , 1 ", Window(-1, 1)),
                                          ("0,5", Window(0, 5)), ("-3,0", Window(-3, 0))])
def test_parse_window_ok(text, window):
    assert parse_window(text) == window


@pytest.mark.parametrize("text", ["5,10", "-3,-1", "0,0", "-5", "a,b", "-5,10,2", "-1.5,2", ""])
def test_parse_window_bad(text):
    with pytest.raises(BadInput, match="--window"):
        parse_window(text)


def test_parse_leverages():
    assert parse_leverages("10, 20,50,10") == (10.0, 20.0, 50.0)
    for bad in ("0.5", "x", "10,,20", "-5"):
        with pytest.raises(BadInput, match="--leverages"):
            parse_leverages(bad)


# --- run_study on the embedded demo store ------------------------------------------------------

def test_run_study_on_demo_data():
    ev = load_events()
    out = run_study(demo_store(), ["NVDA", "RENDER/USDT", "NVDA"], ev, Window(-3, 5))
    assert list(out["symbols"]) == ["NVDA", "RENDER/USDT"]
    nvda, render = out["symbols"]["NVDA"], out["symbols"]["RENDER/USDT"]
    assert nvda["synthetic"] and nvda["asset_class"] == "equity"
    # RENDER is named by no event: it sees only market-wide news reaching crypto
    broad = ev["reach"] == "asset_class"
    assert render["events_relevant"] == (broad & ev["asset_classes"].str.contains("crypto")).sum()
    # NVDA: the events naming it plus market-wide news reaching equities; not AMD's launches
    named = ev["symbols"].str.split(";").map(lambda s: "NVDA" in s)
    assert nvda["events_relevant"] == (named | (broad & ev["asset_classes"].str.contains("equity"))).sum()
    assert not any("MI300X" in e["title"] for e in nvda["events"])
    assert 0 < nvda["events_used"] <= nvda["events_relevant"]
    # equity event bars open at the session open, crypto ones at 00:00 UTC
    assert all(e["bar_open"].strftime("%M") == "30" for e in nvda["events"])
    assert all(e["bar_open"].strftime("%H:%M") == "00:00" for e in render["events"])
    for sym in out["symbols"].values():
        shares = [x["liquidated_before_gain_share"] for x in sym["liquidation"]]
        assert shares == sorted(shares)      # more leverage is never safer
        assert sym["mae_pct"]["p10"] <= sym["mae_pct"]["median"] <= 0 <= sym["mfe_pct"]["median"]


def test_run_study_errors():
    ev = load_events()
    with pytest.raises(BadInput, match="no events match"):
        run_study(demo_store(), ["NVDA"], ev.iloc[0:0], Window(-1, 1))
    synthetic_only = filter_events(ev, category="market-structure")
    with pytest.raises(BadInput, match="asset class"):
        run_study(demo_store(), ["NVDA"], synthetic_only, Window(-1, 1))
    with pytest.raises(DataMissing, match="inside the data"):
        run_study(demo_store(), ["NVDA"], ev, Window(-1, 5000))
    with pytest.raises(BadInput, match="unknown symbol"):
        run_study(demo_store(), ["NOPE/XYZ"], ev, Window(-1, 1))


# --- which events concern which symbol: named symbols, or an explicit asset-class reach ---------

def test_builtin_rows_name_what_they_are_about():
    ev = load_events()
    assert set(ev["reach"]) == {"symbols", "asset_class", "sector"}
    # chip export controls reach the semiconductors sector (NVDA, AMD, TSM in instruments.toml)
    assert set(ev.loc[ev["reach"] == "sector", "sectors"]) == {"semiconductors"}
    assert (ev.loc[ev["reach"] != "sector", "sectors"] == "").all()
    assert (ev.loc[ev["reach"] == "symbols", "symbols"] != "").all()
    mi300x = ev[ev["title"].str.contains("MI300X")].iloc[0]
    assert (mi300x["symbols"], mi300x["reach"]) == ("AMD", "symbols")
    # company results reach that company only; a model launch reaches whole asset classes
    nvda_results = ev[ev["title"].str.match(r"NVIDIA Q\d")]
    assert len(nvda_results) >= 12 and set(nvda_results["symbols"]) == {"NVDA"}
    assert ev[ev["title"] == "OpenAI releases ChatGPT"]["reach"].iloc[0] == "asset_class"


def test_about_by_name_by_reach_and_by_venue_suffix():
    ev = pd.DataFrame({"symbols": ["AMD", "NVDA;AMD", "", "RENDER", "AMD"],
                       "reach": ["symbols", "symbols", "asset_class", "symbols", "asset_class"],
                       "asset_classes": ["equity", "equity", "crypto;index", "crypto", "equity"]})
    assert about(ev, "NVDA", "equity").tolist() == [False, True, False, False, True]
    assert about(ev, "AMD", "equity").tolist() == [True, True, False, False, True]
    assert about(ev, "^NDX", "index").tolist() == [False, False, True, False, False]
    # a perpetual's market symbol names the same asset as the calendar's ticker
    assert about(ev, "RENDER/USDT:USDT@binance", "crypto").tolist() == [False, False, True, True, False]


def test_unknown_column_is_named(tmp_path):
    path = write(tmp_path, HEADER + ",sector", GOOD + ",chips")
    msg = load_error(path)
    assert f"{path} line 1, column 'sector': not a calendar column" in msg and HEADER in msg


@pytest.mark.parametrize("symbols, reach, column, fragment", [
    ("NVDA", "everyone", "reach", "'everyone' is not a reach"),
    ("", "symbols", "symbols", "empty with reach symbols"),
    ("RENDER", "symbols", "symbols", "RENDER is crypto, not in asset_classes equity"),
    ("NV DA", "symbols", "symbols", "'NV DA' is not a ticker"),
])
def test_bad_symbols_or_reach_name_the_row(tmp_path, symbols, reach, column, fragment):
    path = write(tmp_path, HEADER, GOOD,
                 f"2024-05-23,x,earnings,1,confirmed,equity,{symbols},{reach},test")
    msg = load_error(path)
    assert f"{path} line 3, column {column}" in msg and fragment in msg


def test_users_own_tickers_are_accepted(tmp_path):
    path = write(tmp_path, HEADER, "2024-05-23,x,earnings,1,confirmed,equity,ORCL;AVGO,symbols,t")
    assert load_events([path], builtin=False)["symbols"].tolist() == ["ORCL;AVGO"]


def _trade_days(out, symbol):
    trades = pd.read_csv(out / "trades.csv")
    return set(trades.loc[trades["symbol"] == symbol, "entry_time"].str[:10])


def test_mi300x_launch_is_traded_on_amd_not_on_nvda_or_the_index(cli, tmp_path):
    """Regression (issue 12 item 9): AMD's launch (2023-12-06 18:00 UTC, filled at the next
    open) was traded long on NVDA, TSM and ^NDX because events reached whole asset classes."""
    args = ("backtest", "--demo", "--strategy", "catalyst_momentum", "--symbols", "NVDA,AMD,TSM,^NDX",
            "--start", "2023-11-01", "--end", "2024-01-31")
    cli(*args, "--out", tmp_path / "o", check_code=0)
    assert "2023-12-07" in _trade_days(tmp_path / "o", "AMD")
    for other in ("NVDA", "TSM", "^NDX"):
        assert "2023-12-07" not in _trade_days(tmp_path / "o", other)
    # market-wide news (OpenAI DevDay, 2023-11-06, reach asset_class) still reaches them all
    assert all("2023-11-07" in _trade_days(tmp_path / "o", s) for s in ("NVDA", "AMD", "^NDX"))
    # an explicit asset-class reach in the user's own file is honoured
    from sitcli.backtest import RunConfig, run_backtest

    mine = write(tmp_path, HEADER, "2023-12-12T18:00:00Z,AMD sector news,product-launch,1,"
                 "confirmed,equity,AMD,asset_class,me")
    cfg = RunConfig(["NVDA", "^NDX"], strategy="catalyst_momentum", start="2023-12-01",
                    end="2023-12-31")
    trades = run_backtest(cfg, demo_store(), load_events([mine])).trades_frame()
    days = {s: set(trades.loc[trades["symbol"] == s, "entry_time"].dt.strftime("%Y-%m-%d"))
            for s in ("NVDA", "^NDX")}
    assert "2023-12-13" in days["NVDA"] and "2023-12-13" not in days["^NDX"]
