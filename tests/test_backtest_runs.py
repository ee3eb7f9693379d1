"""Runs through `run_backtest`: grids against one-by-one runs, shared accounts, user strategy
files, event timing on each instrument's calendar, and real prices end to end."""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pandas as pd
import pytest
from cli_helpers import shared_store

from sitcli.backtest import RunConfig, event_fill_bars, load_legs, run_backtest
from sitcli.data.store import demo_store
from sitcli.engine.records import LIQUIDATION
from sitcli.errors import BadInput
from sitcli.events import about, known_times, load_events


def trades_key(result, run):
    """Each trade's entry and exit time (ns) and numbers: bar numbers differ between runs
    whose symbols' calendars are merged differently."""
    t = result.trades[result.trades["col"] == run]
    times = result.index.as_unit("ns").asi8
    return np.c_[times[t["entry_bar"]], times[t["exit_bar"]], t["qty"], t["entry_price"],
                 t["exit_price"], t["pnl"]]


def test_grid_columns_equal_the_same_runs_made_one_by_one():
    events = load_events()
    grid = {"leverage": ["2", "5"], "hold": ["1", "3"], "stop": ["0.02", "nan"]}
    cfg = RunConfig(["NVDA", "RENDER/USDT"], grid=grid)
    together = run_backtest(cfg, demo_store(), events)
    assert len(together.runs) == 2 * 2 * 2 * 2
    for r, run in enumerate(together.runs):
        combo = together.combos[run.combo]
        alone = run_backtest(RunConfig([run.symbol], leverage=combo["leverage"],
                                       params={"hold": str(combo["hold"]),
                                               "stop": str(combo["stop"])}),
                             demo_store(), events)
        np.testing.assert_array_equal(trades_key(together, r), trades_key(alone, 0))
        np.testing.assert_array_equal(together.equity[:, run.account][
            together.index.get_indexer(alone.index)], alone.equity[:, 0])


def test_grid_rejects_unknown_keys_and_empty_values():
    with pytest.raises(BadInput, match="not a parameter"):
        run_backtest(RunConfig(["NVDA"], grid={"nope": ["1"]}), demo_store(), load_events())
    with pytest.raises(BadInput, match="at least one value"):
        run_backtest(RunConfig(["NVDA"], grid={"hold": []}), demo_store(), load_events())


def test_shared_account_is_one_equity_curve_and_its_trades_add_up():
    cfg = RunConfig(["NVDA", "AMD", "TSM"], account="shared", leverage=3)
    result = run_backtest(cfg, demo_store(), load_events())
    assert result.equity.shape[1] == 1
    assert {r.account for r in result.runs} == {0}
    # each position commits 1/3 of the free collateral, and the account's final equity is
    # the starting cash plus every symbol's trades
    assert result.combos[0]["size"] == pytest.approx(1 / 3)
    assert result.equity[-1, 0] == pytest.approx(cfg.cash + result.trades["pnl"].sum(), rel=1e-9)
    rows = {row["symbol"]: row for row in result.run_stats()}
    assert set(rows) == {"NVDA", "AMD", "TSM"} and all(r["trades"] > 0 for r in rows.values())
    assert all(math.isnan(r["sharpe"]) for r in rows.values())   # no per-symbol account
    combo = result.combo_stats()[0]
    assert combo["final_equity"] == pytest.approx(result.equity[-1, 0])


def test_shared_account_needs_one_margin_model():
    with pytest.raises(BadInput, match="one margin model"):
        run_backtest(RunConfig(["NVDA", "RENDER/USDT"], account="shared"), demo_store(),
                     load_events())


def _events(*rows):
    return known_times(pd.DataFrame(
        [{"time": pd.Timestamp(t), "title": "x", "category": "test", "direction": 1,
          "status": "confirmed", "asset_classes": "equity;index;crypto;synthetic",
          "symbols": "", "reach": "asset_class", "source": "test"} for t in rows]))


def test_event_timing_on_each_instruments_calendar():
    legs = load_legs(RunConfig(["NVDA", "RENDER/USDT"]), demo_store())
    nvda, render = legs
    events = _events(
        "2024-03-30T15:00:00Z",   # a Saturday headline
        "2024-07-04T16:00:00Z",   # US Independence Day: NYSE closed
        "2024-07-08T13:00:00Z",   # Monday, before the 13:30 UTC (9:30 New York) open
        "2024-07-09T00:00:00Z",   # date only: known by the end of 2024-07-09
    )
    day = lambda j, leg: leg.bars.index[j].strftime("%Y-%m-%d")  # noqa: E731
    got = [day(j, nvda) for j in event_fill_bars(nvda, events, "open")]
    assert got == ["2024-04-01", "2024-07-05", "2024-07-08", "2024-07-10"]
    got = [day(j, render) for j in event_fill_bars(render, events, "open")]
    assert got == ["2024-03-31", "2024-07-05", "2024-07-09", "2024-07-10"]
    # fill=close: the order bar j-1 is the first bar closing at or after the event
    got = [day(j - 1, nvda) for j in event_fill_bars(nvda, events, "close")]
    assert got == ["2024-04-01", "2024-07-05", "2024-07-08", "2024-07-10"]


def test_cfd_hours_24_7_uses_the_next_bar_of_the_data():
    nvda = load_legs(RunConfig(["NVDA"], cfd_hours="24/7"), demo_store())[0]
    # the daily bar stamped 2024-07-08 00:00 counts as opening then: a 13:00 event waits
    # for the next bar
    j = event_fill_bars(nvda, _events("2024-07-08T13:00:00Z"), "open")[0]
    assert nvda.bars.index[j].strftime("%Y-%m-%d") == "2024-07-09"


GOOD = """
import numpy as np
from sitcli.strategy import Param, Strategy

class EveryTenth(Strategy):
    '''every_tenth: long every tenth bar.'''
    params = {"every": Param(10, "bars between entries")}

    def signals(self, bars, events, params, context):
        e = np.zeros(len(bars), np.int8)
        e[:: params["every"]] = 1
        return e, np.zeros(len(bars), bool)
"""

BROKEN = {
    "syntax": ("def signals(:\n", "syntax error at line 1"),
    "no_method": ("from sitcli.strategy import Strategy\nclass S(Strategy):\n    pass\n",
                  "has no `signals"),
    "no_class": ("x = 1\n", "expected one Strategy subclass"),
    "shape": (GOOD.replace("return e, np.zeros(len(bars), bool)", "return e[:-1], e[:-1]"),
              "shape"),
    "lookahead": (GOOD.replace("e[:: params[\"every\"]] = 1",
                               "e[:-1] = np.sign(np.diff(bars['close'].to_numpy()))"),
                  "looks ahead"),
}


def test_user_strategy_from_a_file(tmp_path):
    path = tmp_path / "every_tenth.py"
    path.write_text(textwrap.dedent(GOOD))
    result = run_backtest(RunConfig(["NVDA"], strategy=str(path), params={"every": "20", "hold": "5"},
                                    leverage=1), demo_store(), load_events())
    entries = result.trades["entry_bar"] - 1
    assert len(entries) > 10 and (entries % 20 == 0).all()


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_user_strategy_names_its_file(tmp_path, name):
    text, message = BROKEN[name]
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    with pytest.raises(BadInput, match=message) as err:
        run_backtest(RunConfig(["NVDA"], strategy=str(path)), demo_store(), load_events())
    assert str(path) in str(err.value)


# --- real prices -------------------------------------------------------------------------

REAL = {"NVDA": "equities/daily/NVDA.csv", "AMD": "equities/daily/AMD_2021-2026_yahoo_ohlcv.csv",
        "TSM": "equities/daily/TSM.csv", "^NDX": "equities/daily/NDX.csv",
        "RENDER/USDT": "crypto/daily/RENDER-USDT.csv"}


@pytest.fixture(scope="module")
def real_store(tmp_path_factory):
    return shared_store(tmp_path_factory.mktemp("real"), REAL)


def test_real_prices_trade_on_event_dates_and_liquidate_beyond_the_price(real_store):
    events = load_events()
    cfg = RunConfig(list(REAL), start="2022-01-01", venue="cfd-offshore",
                    grid={"leverage": ["5", "20", "50"]})
    result = run_backtest(cfg, real_store, events)
    trades = result.trades_frame()
    assert len(trades) > 50
    effective = known_times(events)
    for leg in result.legs:
        mine = effective[about(effective, leg.symbol, leg.instrument.asset_class)]
        mine = mine[mine["direction"] != 0]
        fills = event_fill_bars(leg, mine, "open")
        expected = {leg.bars.index[f] for f in fills if 1 <= f < len(leg.bars)}
        entered = set(trades[trades["symbol"] == leg.symbol]["entry_time"])
        # every trade starts on an event's fill bar, and each such bar (inside the data and
        # not already in a position from an earlier event) has a trade at some leverage
        assert entered <= expected, leg.symbol
        assert len(entered) >= 0.5 * len(expected), leg.symbol
    liq = result.liquidations
    assert len(liq) > 0
    for rec in liq:
        s = rec["side"]
        # filled at or beyond the trigger, and the bar really reached it
        assert s * (rec["fill_price"] - rec["trigger_price"]) <= 1e-9 * rec["trigger_price"]
        assert s * (rec["extreme"] - rec["trigger_price"]) <= 1e-9 * rec["trigger_price"]
    counts = {lev: sum(r["liquidations"] for r in result.run_stats() if r["leverage"] == lev)
              for lev in (5.0, 20.0, 50.0)}
    assert counts[50.0] > 0
    assert (result.trades["exit_reason"] == LIQUIDATION).sum() + \
        (result.trades["exit_reason"] == 5).sum() == len(liq)
