"""Mark-price liquidation (issue 13, part 2): a perpetual is liquidated when its mark price
reaches the liquidation price; trades, stops and PnL stay on last prices.

The real pair: the XRP/USDT perpetual's 1h last-price and 1h mark-price candles from the
shared data folder (57 overlapping hours, 2021-11-17T01 .. 2021-11-19T09). In the 13:00 bar
of 2021-11-18 the last price fell to 1.06094 while the mark price only reached 1.06597."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from cli_helpers import SHARED_DATA

from sitcli.backtest import RunConfig, run_backtest
from sitcli.data.store import Store
from sitcli.engine.records import EXIT_REASONS, LIQUIDATION
from sitcli.events import load_events
from sitcli.mark import align, mark_symbol

XRP = SHARED_DATA / "futures" / "freqtrade_xrp"
SYMBOL = "XRP/USDT:USDT"
FREE = {"half_spread": 0.0, "slippage": 0.0, "funding_rate_8h": 0.0}


def freqtrade_bars(path) -> pd.DataFrame:
    rows = json.loads(path.read_text())
    bars = pd.DataFrame([r[1:5] for r in rows], columns=["open", "high", "low", "close"],
                        index=pd.to_datetime([r[0] for r in rows], unit="ms", utc=True))
    bars["volume"] = [r[5] if r[5] is not None else 0.0 for r in rows]
    bars.index.name = "time"
    return bars


@pytest.fixture(scope="module")
def xrp(tmp_path_factory):
    """(store with last prices only, store with last and mark prices)."""
    if not XRP.is_dir():
        pytest.skip(f"the shared data folder has no {XRP.name}: mark-vs-last runs skipped")
    last = freqtrade_bars(XRP / "XRP_USDT_USDT-1h-futures.json")
    mark = freqtrade_bars(XRP / "XRP_USDT_USDT-1h-mark.json")
    plain = Store(tmp_path_factory.mktemp("last"))
    both = Store(tmp_path_factory.mktemp("both"))
    for store in (plain, both):
        store.write(last, source="csv", symbol=SYMBOL, timeframe="1h")
    both.write(mark, source="csv", symbol=mark_symbol(SYMBOL), timeframe="1h")
    return plain, both, last, mark


def test_the_real_pair_overlaps_57_hours_and_the_last_low_undercuts_the_mark(xrp):
    _, _, last, mark = xrp
    aligned, covered = align(last, mark)
    assert covered == 57
    have = last.index.isin(mark.index)
    gap_bp = (last["low"][have] / mark["low"].reindex(last.index[have]) - 1) * 1e4
    assert gap_bp.min() == pytest.approx(-47.187, abs=1e-3)   # 2021-11-18T13:00
    # outside the overlap the aligned mark is the last price itself
    np.testing.assert_array_equal(aligned[2, ~have], last["low"].to_numpy()[~have])


def run(store, leverage: float):
    """Long XRP entered at the 12:00 close of 2021-11-18, held through the 13:00 bar."""
    cfg = RunConfig([SYMBOL], strategy="buy_and_hold", venue="perp-binance", timeframe="1h",
                    start="2021-11-18T12:00", end="2021-11-18T14:00", fill="close",
                    leverage=leverage, overrides=FREE)
    return run_backtest(cfg, store, load_events())


def leverage_between(last_low: float, mark_low: float, entry: float) -> float:
    """A leverage whose liquidation price lies halfway between the two lows (bisection on
    the calculator's liquidation price, the kernel's own opening rule)."""
    from sitcli.liquidation import build_position, position_liquidation_price
    from sitcli.tiers import venue_for

    venue = venue_for(SYMBOL, "perp-binance", FREE, pd.Timestamp("2021-11-18", tz="UTC"))
    target = (last_low + mark_low) / 2
    lo, hi = 2.0, 75.0   # LP rises toward the entry with leverage
    for _ in range(60):
        mid = (lo + hi) / 2
        lp = position_liquidation_price(build_position("long", entry, mid, venue))
        lo, hi = (mid, hi) if lp < target else (lo, mid)
    return lo


def test_a_last_price_wick_liquidates_on_last_but_not_on_mark(xrp):
    plain, both, last, mark = xrp
    bar = pd.Timestamp("2021-11-18T13:00Z")
    entry = last.loc["2021-11-18T12:00Z", "close"]                 # 1.08263
    last_low, mark_low = last.loc[bar, "low"], mark.loc[bar, "low"]   # 1.06094, 1.06597
    lev = leverage_between(last_low, mark_low, entry)
    assert 20 < lev < 75

    on_last = run(plain, lev)
    liqs = on_last.liquidations
    assert len(liqs) == 1 and liqs["kind"][0] == LIQUIDATION
    assert last_low < liqs["trigger_price"][0] < mark_low
    assert liqs["extreme"][0] == last_low
    assert on_last.index[liqs["bar"][0]] == bar
    notes = on_last.assumptions()["notes"]
    assert f"{SYMBOL}: liquidation on last price: no mark bars stored" in notes

    on_mark = run(both, lev)
    assert len(on_mark.liquidations) == 0
    t = on_mark.trades
    assert len(t) == 1 and EXIT_REASONS[t["exit_reason"][0]] == "end"
    # PnL stays on last prices: exit at the last close of the 14:00 bar
    assert t["exit_price"][0] == last.loc["2021-11-18T14:00Z", "close"]
    assert f"{SYMBOL}: liquidation on mark price ({SYMBOL}@mark, 1h)" in \
        on_mark.assumptions()["notes"]


def test_the_mark_extreme_liquidates_at_the_trigger_and_the_loss_is_the_margin(xrp):
    """At a leverage whose liquidation price the mark low also reaches, both runs
    liquidate in the same bar at the same trigger, and the loss is the whole margin."""
    plain, both, last, mark = xrp
    entry = last.loc["2021-11-18T12:00Z", "close"]
    mark_low = mark.loc["2021-11-18T13:00Z", "low"]
    lev = leverage_between(mark_low * 1.002, mark_low * 1.002, entry)
    a, b = run(plain, lev), run(both, lev)
    assert len(a.liquidations) == len(b.liquidations) == 1
    assert a.liquidations["trigger_price"][0] == b.liquidations["trigger_price"][0]
    assert b.liquidations["extreme"][0] == mark_low       # what the mark reached
    assert b.trades["pnl"][0] == pytest.approx(-b.trades["margin"][0] - b.trades["fees"][0])


def test_a_hand_made_mark_gap_and_wick(tmp_path):
    """Hand-made bars: entry 100 at the first close, 50x, maintenance 0 (the 'flat' tiers),
    so LP = the bankruptcy price = entry - margin / qty = 100 - 100 / 50 = 98 (the fee is
    paid on top of the margin, so margin / qty = entry / leverage).
    Bar 1: last low 97 (a wick through 98), mark low 98.5: no liquidation.
    Bar 2: mark opens at 97.9, beyond 98 (a gap on the mark): liquidated at the open, on
    the mark, although the last price opens at 98.2."""
    index = pd.date_range("2024-01-01", periods=4, freq="1h", tz="UTC")
    last = pd.DataFrame({"open": [100, 100, 98.2, 99], "high": [100, 100, 99, 99],
                         "low": [100, 97, 98.1, 99], "close": [100, 99, 98.5, 99],
                         "volume": 1.0}, index=index)
    mark = last.copy()
    mark.loc[index[1], "low"] = 98.5
    mark.loc[index[2], ["open", "low"]] = 97.9
    last.index.name = mark.index.name = "time"
    store = Store(tmp_path / "s")
    store.write(last, source="csv", symbol="ZZZ/USDT", timeframe="1h")
    cfg = RunConfig(["ZZZ/USDT"], strategy="buy_and_hold", venue="perp-binance",
                    timeframe="1h", fill="close", leverage=50,
                    overrides={**FREE, "tiers": "flat"})
    plain = run_backtest(cfg, store, load_events())
    assert len(plain.liquidations) == 1 and plain.liquidations["bar"][0] == 1
    assert plain.liquidations["trigger_price"][0] == pytest.approx(98.0)
    store.write(mark, source="csv", symbol="ZZZ/USDT@mark", timeframe="1h")
    marked = run_backtest(cfg, store, load_events())
    liqs = marked.liquidations
    assert len(liqs) == 1 and liqs["bar"][0] == 2 and bool(liqs["gap"][0])
    assert liqs["fill_price"][0] == pytest.approx(97.9)
    t = marked.trades
    assert t["pnl"][0] == pytest.approx(-t["margin"][0] - t["fees"][0])


def test_the_sweep_kernel_liquidates_on_the_mark_too(xrp):
    """A leverage grid over the whole XRP history with mark bars stored: the sweep's
    summaries equal the full backtest's, and no run is liquidated more often than on last
    prices alone (in this history the mark's lows never undercut the last lows by enough)."""
    from sitcli.sweep import run_sweep

    plain, both, _, _ = xrp
    cfg = RunConfig([SYMBOL], strategy="buy_and_hold", venue="perp-binance", timeframe="1h",
                    fill="close", overrides=FREE,
                    grid={"leverage": ["20", "30", "40", "50", "60", "75"]})
    events = load_events()
    full = run_backtest(cfg, both, events)
    swept = run_sweep(cfg, both, events, workers=1, chunk_size=2)
    assert swept.complete
    rows = swept.run_rows()
    for a, b in zip(full.run_stats(), rows, strict=True):
        assert (a["liquidations"], a["trades"]) == (b["liquidations"], b["trades"])
        assert b["final_equity"] == pytest.approx(a["final_equity"], rel=1e-9)
    on_last = [r["liquidations"] for r in run_backtest(cfg, plain, events).run_stats()]
    on_mark = [r["liquidations"] for r in full.run_stats()]
    assert all(m <= x for m, x in zip(on_mark, on_last, strict=True))


def test_cli_import_price_mark_then_scenario_and_backtest_say_which_price(xrp, tmp_path, cli):
    """`data import --price mark` stores SYMBOL@mark; `scenario` then checks liquidation on
    the mark extremes and prints so, `backtest`'s header says it too; a bad --price is a
    one-line error."""
    from cli_helpers import assert_one_line_error

    _, _, last, mark = xrp
    data = tmp_path / "data"
    for frame, name, price in ((last, "last.csv", "last"), (mark, "mark.csv", "mark")):
        path = tmp_path / name
        frame.rename_axis("date").to_csv(path)
        cli("data", "import", str(path), "--symbol", SYMBOL, "--timeframe", "1h", "--price",
            price, data_dir=data, check_code=0)
    listed = cli("data", "list", "--format", "json", data_dir=data, check_code=0).stdout
    assert f'"{SYMBOL}@mark"' in listed
    out = cli("scenario", "--symbols", SYMBOL, "--timeframe", "1h", "--leverage", "50",
              "--horizon", "1", "--venue", "perp-binance", data_dir=data, check_code=0).stdout
    assert f"liquidation on mark price ({SYMBOL}@mark, 1h, 57 of 100 bars" in out
    head = cli("backtest", "buy_and_hold", "--symbols", SYMBOL, "--timeframe", "1h",
               "--leverage", "20", "--venue", "perp-binance", data_dir=data,
               check_code=0).stdout
    assert "liquidation on mark price" in " ".join(head.split())
    assert_one_line_error(cli("data", "import", str(tmp_path / "mark.csv"), "--symbol", SYMBOL,
                              "--price", "index", data_dir=data), 2, "--price", "mark")
