"""Each trade's catalyst (`trades.csv`'s `catalyst` column, `sitcli.catalysts`): the calendar row
the strategy named for the order that opened the trade, checked against the calendar and the
bars by hand; no catalyst for strategies that do not trade news; the column in trades.csv, in
the API's trades and in the daily report's reason agree."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
from cli_helpers import run_sitcli

import sitcli
from sitcli.catalysts import event_words
from sitcli.events import about, known_times, load_events


@pytest.fixture(scope="module")
def calendar():
    return known_times(load_events())


def row_of(calendar, text: str):
    """The calendar row whose words are `text`."""
    words = [event_words(r) for _, r in calendar.iterrows()]
    assert text in words, text
    return calendar.iloc[words.index(text)]


@pytest.mark.parametrize("fill", ["open", "close"])
def test_momentum_trades_name_the_news_their_order_acted_on(calendar, fill):
    run = sitcli.backtest("catalyst_momentum", ["NVDA", "RENDER/USDT"], leverage=2, fill=fill,
                          store=sitcli.demo())
    trades = run.trades
    assert len(trades) > 20 and (trades["catalyst"] != "").all()
    for symbol in ("NVDA", "RENDER/USDT"):
        leg = next(g for g in run.result.legs if g.symbol == symbol)
        opens = pd.DatetimeIndex(leg.open_times)
        index = leg.bars.index
        for t in trades[trades["symbol"] == symbol].itertuples():
            event = row_of(calendar, t.catalyst)
            assert about(calendar.iloc[[calendar.index.get_loc(event.name)]], symbol,
                         leg.instrument.asset_class)[0]
            k = index.get_loc(t.entry_time)
            # the order sits on the bar before the fill (fill=open) or on the fill bar
            # (fill=close); the news is the first a fill at bar k could act on: after the
            # previous bar's open, at or before bar k's open (fill=open)
            if fill == "open":
                assert opens[k - 1] < event["time"] <= opens[k]
            else:
                # news at or before the first open is not traded, as with fill=open
                closes = pd.DatetimeIndex(leg.close_times)
                assert (closes[k - 1] if k else opens[0]) < event["time"] <= closes[k]
            # the trade goes the way the news points (side=event)
            assert {"long": 1, "short": -1}[t.side] == int(event["direction"])


@pytest.mark.parametrize("fill", ["open", "close"])
def test_news_after_the_last_bar_is_not_traded(fill):
    """News published after the data's last close has no bar to act on it: no trade enters
    on the last bar because of it (a fill at that close would trade on news it cannot know)."""
    run = sitcli.backtest("catalyst_momentum", ["NVDA"], leverage=2, fill=fill,
                          store=sitcli.demo())
    leg = run.result.legs[0]
    last_close = pd.DatetimeIndex(leg.close_times)[-1]
    late = run.trades[run.trades["entry_time"] == leg.bars.index[-1]]
    for text in late["catalyst"]:
        assert pd.Timestamp(text.rsplit("(", 1)[1][:16], tz="UTC") <= last_close


def test_hand_worked_first_nvda_trade(calendar):
    """The demo's first NVDA trade: NVIDIA's Q4 FY2023 results came out on 2023-02-22 at
    21:20 UTC, after that day's close (21:00 UTC); the first open at or after it is
    2023-02-23 14:30 UTC, so the order sits on the 02-22 bar and fills at the 02-23 open."""
    run = sitcli.backtest("catalyst_momentum", ["NVDA"], leverage=2, store=sitcli.demo())
    first = run.trades.iloc[0]
    assert first["entry_time"] == pd.Timestamp("2023-02-23", tz="UTC")
    assert first["catalyst"] == ('"NVIDIA Q4 FY2023 results: generative-AI demand commentary" '
                                 "(2023-02-22 21:20 UTC, confirmed, up)")


@pytest.mark.parametrize("strategy, status", [("catalyst_fade", "rumor"),
                                              ("confirmation_breakout", "confirmed")])
def test_other_news_strategies_name_their_events(calendar, strategy, status):
    run = sitcli.backtest(strategy, ["NVDA", "AMD", "RENDER/USDT"], leverage=2,
                          store=sitcli.demo())
    trades = run.trades
    assert len(trades) > 0 and (trades["catalyst"] != "").all()
    for t in trades.itertuples():
        event = row_of(calendar, t.catalyst)
        assert event["status"] == status
        assert event["time"] <= t.entry_time + pd.Timedelta("1D")   # known before it traded


@pytest.mark.parametrize("strategy", ["buy_and_hold", "sit_shock"])
def test_strategies_without_news_name_none(strategy):
    symbols = ["NVDA"] if strategy == "buy_and_hold" else ["^NDX"]
    run = sitcli.backtest(strategy, symbols, leverage=1, store=sitcli.demo())
    assert len(run.trades) > 0
    assert (run.trades["catalyst"] == "").all()


def test_a_user_strategy_that_names_nothing_has_empty_catalysts(tmp_path):
    path = tmp_path / "every_tenth.py"
    path.write_text(
        "import numpy as np\n"
        "from sitcli.strategy import Strategy\n\n\n"
        "class EveryTenth(Strategy):\n"
        "    name = 'every_tenth'\n\n"
        "    def signals(self, bars, events, params, context):\n"
        "        entries = np.zeros(len(bars), np.int8)\n"
        "        entries[::10] = 1\n"
        "        return entries, np.zeros(len(bars), bool)\n")
    run = sitcli.backtest(str(path), ["AMD"], leverage=1, params={"hold": 2},
                          store=sitcli.demo())
    assert len(run.trades) > 10 and (run.trades["catalyst"] == "").all()


def test_trades_csv_column_equals_the_api(tmp_path):
    out = tmp_path / "run"
    proc = run_sitcli("backtest", "catalyst_momentum", "--demo", "--symbols", "NVDA,AMD",
                      "--grid", "leverage=2,5", "--out", out, "--format", "json",
                      data_dir=tmp_path / "data", timeout=300)
    assert proc.returncode == 0, proc.stderr
    with open(out / "trades.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[-1] == "catalyst"
    run = sitcli.backtest("catalyst_momentum", ["NVDA", "AMD"], grid={"leverage": [2, 5]},
                          store=sitcli.demo())
    assert [r["catalyst"] for r in rows] == run.trades["catalyst"].tolist()
    # one signal set per symbol: both leverages' trades open on the same news
    for symbol in ("NVDA", "AMD"):
        by_lev = {lev: [r["catalyst"] for r in rows if r["symbol"] == symbol
                        and float(r["leverage"]) == lev] for lev in (2.0, 5.0)}
        n = min(map(len, by_lev.values()))
        assert n > 5 and by_lev[2.0][:3] == by_lev[5.0][:3]


def test_the_daily_report_names_the_same_event(tmp_path):
    """The daily report's reason for an entry and the backtest's catalyst are one rule's
    words (`sitcli.catalysts.event_words`)."""
    from sitcli.report import ReportConfig, build_report

    cfg = ReportConfig(strategies=["catalyst_momentum"], symbols=["NVDA"], asof="2025-11-24")
    report = build_report(cfg, sitcli.demo(), load_events(), pd.Timestamp("2025-12-01", tz="UTC"))
    (signal,) = report.data["symbols"][0]["signals"]
    assert signal["action"] == "enter short"
    run = sitcli.backtest("catalyst_momentum", ["NVDA"], store=sitcli.demo(), leverage=5,
                          start="2024-11-24", end="2025-11-25")
    last = run.trades.iloc[-1]
    assert last["catalyst"] and last["catalyst"] in signal["reason"]
    assert np.isin(["short"], run.trades["side"]).all()
