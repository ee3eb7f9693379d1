"""One answer everywhere: the calculator, the backtest kernel, `scenario` and `report daily`
state the same liquidation price, the same carry per day, and a symbol's result depends only
on its own data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from cli_helpers import shared_store

from sitcli import instruments as inst_mod
from sitcli.backtest import RunConfig, prepare_backtest, run_backtest
from sitcli.data.store import Store
from sitcli.engine.records import CLOSE_OUT, END, LIQUIDATION
from sitcli.events import load_events
from sitcli.liquidation import build_position, exit_pnl, position_liquidation_price
from sitcli.scenario import lp_ratio
from sitcli.tiers import venue_for

# the costs that move a position's liquidation price after it opens are switched off, so the
# trigger is the opening rule's alone; spread and slippage off so that the fill is the entry
NO_CARRY = {"half_spread": 0.0, "slippage": 0.0, "funding_rate_8h": 0.0,
            "financing_benchmark": 0.0, "financing_markup": 0.0}
LEVERAGES = (1.5, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0, 125.0, 500.0, 2000.0)


def flat_store(tmp_path, symbol: str, price: float, n: int = 6) -> Store:
    index = pd.bdate_range("2024-01-02", periods=n, tz="UTC")
    bars = pd.DataFrame({"open": price, "high": price, "low": price, "close": price,
                         "volume": 1.0}, index=index)
    bars.index.name = "time"
    store = Store(tmp_path / f"store-{abs(hash((symbol, price)))}")
    store.write(bars, source="csv", symbol=symbol, timeframe="1d")
    return store


def allowed(venue) -> list[float]:
    """The matrix's leverages that the venue and its smallest bracket allow."""
    cap = venue.max_leverage
    if venue.margin_mode != "account":
        cap = min(cap, venue.tiers.max_leverage[0])
    return [lev for lev in LEVERAGES if lev <= cap]


def kernel_trigger(prep, lev_index: int, side: int, extreme: float):
    """Run column `lev_index` of a prepared grid alone, on bars where bar 1's adverse
    extreme is `extreme`: (liquidations, trades)."""
    from sitcli.engine.kernel import simulate

    args = list(prep.kernel_args)
    o, h, l, c = (a.copy() for a in args[:4])
    if side > 0:
        l[1, 0] = extreme
    else:
        h[1, 0] = extreme
    entries = np.zeros_like(args[6])
    entries[0, :] = side
    cols = args[8][lev_index:lev_index + 1].copy()
    accounts = args[9][cols["group"]].copy()
    cols["group"] = 0
    _, trades, liqs = simulate(o, h, l, c, args[4], args[5], entries, args[7], cols,
                                  accounts, *args[10:14], True, False, *args[16:])
    return liqs, trades


@pytest.mark.parametrize("venue_name", ["perp-isolated", "perp-bybit", "perp-okx",
                                        "perp-hyperliquid", "cfd-retail", "cfd-offshore",
                                        "futures-exchange"])
@pytest.mark.parametrize("symbol", ["ZZZ", "ZZZ/USDT"])
@pytest.mark.parametrize("entry", [0.37, 100.0, 42_000.0])
def test_calculator_kernel_and_scenario_put_liquidation_at_one_price(tmp_path, venue_name,
                                                                     symbol, entry):
    venue = venue_for(symbol, venue_name, NO_CARRY)
    levs = allowed(venue)
    store = flat_store(tmp_path, symbol, entry)
    cfg = RunConfig([symbol], strategy="buy_and_hold", venue=venue_name, fill="close",
                    overrides=NO_CARRY, grid={"leverage": [str(x) for x in levs]})
    prep = prepare_backtest(cfg, store, load_events())
    for k, lev in enumerate(levs):
        for side in (1, -1):
            pos = build_position("long" if side > 0 else "short", entry, lev, venue,
                                 cash=cfg.cash)
            lp = position_liquidation_price(pos)
            # scenario states the same move
            assert lp_ratio(side, lev, venue, cfg.cash) == pytest.approx(lp / entry, rel=1e-12)
            if not lp > 0:
                continue   # a long that cannot be liquidated
            # the kernel opens the same position ...
            _, trades = kernel_trigger(prep, k, side, entry)
            assert trades["qty"][0] == pytest.approx(pos.qty, rel=1e-12)
            assert trades["margin"][0] == pytest.approx(pos.margin, rel=1e-12)
            # ... does not liquidate it on an extreme a hair short of the price ...
            liqs, _ = kernel_trigger(prep, k, side, lp * (1 + side * 1e-9))
            assert len(liqs) == 0, (venue_name, lev, side)
            # ... and liquidates it at that price when the extreme just reaches it
            liqs, trades = kernel_trigger(prep, k, side, lp)
            assert len(liqs) == 1, (venue_name, lev, side, lp)
            assert liqs["trigger_price"][0] == pytest.approx(lp, rel=1e-9)
            # and the loss there is the calculator's: the exit rule agrees too
            assert trades["pnl"][0] == pytest.approx(exit_pnl(pos, lp, True), rel=1e-9,
                                                     abs=1e-9 * pos.margin)
            kind = CLOSE_OUT if venue.margin_mode == "account" else LIQUIDATION
            assert liqs["kind"][0] == kind


def test_the_issue_position_20x_long_at_100_on_perp_isolated(cli):
    """The issue's case: the calculator said 95.4317 (fee from the margin), the kernel
    95.3815. Now both open from the 10,000 account with the fee paid on top of the margin."""
    import json

    venue = inst_mod.venue("perp-isolated", "crypto")
    pos = build_position("long", 100.0, 20.0, venue)
    # margin = 10000 / (1 + 20 x 0.0005) = 9900.990..., qty = margin x 20 / 100 = 1980.198...,
    # notional 198,019.80 sits in BTC bracket 2 (50k-250k: 0.5%, amount 50):
    # LP = (9900.99 + 50 - 198019.80) / (1980.198 x (0.005 - 1))
    margin = 10_000 / 1.01
    qty = margin * 20 / 100
    expected = (margin + 50 - qty * 100) / (qty * (0.005 - 1))
    assert position_liquidation_price(pos) == pytest.approx(expected, rel=1e-12)
    out = json.loads(cli("liquidation", "--venue", "perp-isolated", "--leverage", "20",
                         "--entry", "100", "--format", "json", check_code=0).stdout)
    assert out["liquidation_price"] == pytest.approx(expected, rel=1e-12)
    assert out["qty"] == pytest.approx(qty)


# --- carry per day --------------------------------------------------------------------------

def test_perp_funding_on_a_stock_is_charged_around_the_clock(tmp_path):
    """NVDA on a perpetual, held Mon 2025-01-06 -> Mon 01-13: a perpetual settles at 00, 08 and
    16 UTC every day, 21 stamps in the week (the backtest used to charge the 5 inside the
    sessions). Stamps while the exchange is closed are charged at the close before them."""
    index = pd.bdate_range("2025-01-06", "2025-01-13", tz="UTC")
    bars = pd.DataFrame({"open": 100.0, "high": 100.0, "low": 100.0, "close": 100.0,
                         "volume": 1.0}, index=index)
    bars.index.name = "time"
    store = Store(tmp_path / "s")
    store.write(bars, source="csv", symbol="NVDA", timeframe="1d")
    cfg = RunConfig(["NVDA"], strategy="buy_and_hold", venue="perp-isolated", leverage=1,
                    fill="close", overrides={"half_spread": 0.0, "slippage": 0.0, "fee": 0.0})
    result = run_backtest(cfg, store, load_events())
    t = result.trades_frame().iloc[0]
    assert t["exit_reason"] == "end" and t["exit_time"] == index[-1]
    # held from Mon 6th 21:00 UTC (close) to Mon 13th 21:00: stamps from the 7th 00:00 to the
    # 13th 16:00 = 7 days x 3 = 21; qty 100 x price 100 x 0.0001 = 1.00 each
    assert t["qty"] == pytest.approx(100.0)
    assert t["funding"] == pytest.approx(21 * 1.00)


def test_carry_per_day_is_the_same_in_backtest_scenario_and_report(tmp_path, cli):
    import json

    from sitcli.bars import bar_times, carry_per_bar, carry_per_day

    index = pd.bdate_range("2025-01-06", periods=60, tz="UTC")
    bars = pd.DataFrame({"open": 100.0, "high": 100.0, "low": 100.0, "close": 100.0,
                         "volume": 1.0}, index=index)
    bars.index.name = "time"
    data = tmp_path / "data"
    Store(data).write(bars, source="csv", symbol="NVDA", timeframe="1d")
    inst = inst_mod.instrument("NVDA")
    for venue_name, kind in (("perp-isolated", "funding"), ("cfd-retail", "financing")):
        venue = inst_mod.venue(venue_name, "equity")
        cfg = RunConfig(["NVDA"], strategy="buy_and_hold", venue=venue_name, leverage=1,
                        fill="close", overrides={"half_spread": 0.0, "slippage": 0.0,
                                                 "fee": 0.0})
        t = run_backtest(cfg, Store(data), load_events()).trades_frame().iloc[0]
        held_days = (t["exit_time"] - t["entry_time"]) / pd.Timedelta("1D")
        backtest_per_day = t[kind] / (t["qty"] * 100.0) / held_days
        opens, closes = bar_times(index, inst, "1d")
        scenario = json.loads(cli("scenario", "--symbols", "NVDA", "--venue", venue_name,
                                  "--leverage", "1", "--horizon", "1", "--format", "json",
                                  data_dir=data, check_code=0).stdout)
        per_bar = scenario["symbols"]["NVDA"]["rows"][0]["carry_per_bar_pct_of_margin"] / 100
        assert per_bar == pytest.approx(carry_per_bar(1, venue, opens, closes, "1d"))
        scenario_per_day = per_bar * (len(index) - 1) / held_days
        report = json.loads(cli("report", "daily", "--symbols", "NVDA", "--venue", venue_name,
                                "--strategy", "buy_and_hold", "--asof", "2025-03-29",
                                "--format", "json", "--out", "-", data_dir=data).stdout)
        carry = report["symbols"][0]["carry"]
        report_per_day = carry["long_pct_per_day"] / 100
        assert carry_per_day(1, venue) == pytest.approx(backtest_per_day, rel=1e-9)
        assert scenario_per_day == pytest.approx(backtest_per_day, rel=1e-9)
        assert report_per_day == pytest.approx(backtest_per_day, rel=1e-4)   # rounded to 1e-4 %


# --- a symbol's result depends only on its own data ----------------------------------------

REAL = {"AMD": "equities/daily/AMD.csv", "^NDX": "equities/daily/NDX.csv",
        "RENDER/USDT": "crypto/daily/RENDER-USDT.csv", "FIL/USDT": "crypto/daily/FIL-USDT.csv"}


@pytest.fixture(scope="module")
def real_store(tmp_path_factory):
    return shared_store(tmp_path_factory.mktemp("real"), REAL)


def run_trades(result, run: int) -> pd.DataFrame:
    t = result.trades_frame()
    return t[t["symbol"] == result.runs[run].symbol].reset_index(drop=True)


@pytest.mark.parametrize("symbols, kwargs", [
    (["AMD", "^NDX"], dict(strategy="buy_and_hold", start="2025-06-01", leverage=1,
                           venue="cfd-offshore")),
    (["AMD", "^NDX", "RENDER/USDT", "FIL/USDT"], dict(strategy="catalyst_momentum",
                                                      start="2024-01-01", leverage=5)),
    (["RENDER/USDT", "FIL/USDT"], dict(strategy="catalyst_momentum", leverage=20,
                                       venue="perp-isolated")),
])
def test_each_symbol_of_an_isolated_run_equals_its_run_alone(real_store, symbols, kwargs):
    events = load_events()
    together = run_backtest(RunConfig(symbols, **kwargs), real_store, events)
    spans = {leg.symbol: (leg.bars.index[0], leg.bars.index[-1]) for leg in together.legs}
    assert len({s[1] for s in spans.values()}) > 1, "the symbols' data must end apart"
    frame = together.equity_frame()
    for r, run in enumerate(together.runs):
        alone = run_backtest(RunConfig([run.symbol], **kwargs), real_store, events)
        mine, theirs = run_trades(together, r), run_trades(alone, 0)
        pd.testing.assert_frame_equal(mine, theirs, check_exact=True)
        # every exit lies inside the symbol's own span; the last is at its own last bar
        first, last = spans[run.symbol]
        assert (mine["exit_time"] <= last).all() and (mine["entry_time"] >= first).all()
        if len(mine) and mine["exit_reason"].iloc[-1] == "end":
            assert mine["exit_time"].iloc[-1] == last
        # the equity curve: equal on the symbol's bars, and not drawn outside its span
        curve = frame.iloc[:, run.account]
        own = together.legs[run.leg].bars.index
        np.testing.assert_array_equal(curve.reindex(own).to_numpy(), alone.equity[:, 0])
        assert curve[(curve.index < first) | (curve.index > last)].isna().all()
        assert curve.loc[first:last].notna().all()
        # and so are its statistics
        a = together.run_stats()[r]
        b = alone.run_stats()[0]
        for key in ("total_return_pct", "final_equity", "financing", "funding", "fees",
                    "trades", "liquidations"):
            assert a[key] == b[key] or (math.isnan(a[key]) and math.isnan(b[key])), key


def test_an_end_exit_is_stamped_on_the_symbols_own_last_bar(real_store):
    result = run_backtest(RunConfig(["AMD", "^NDX"], strategy="buy_and_hold",
                                    start="2025-06-01", leverage=1, venue="cfd-offshore"),
                          real_store, load_events())
    t = result.trades_frame()
    amd = t[t["symbol"] == "AMD"].iloc[-1]
    assert amd["exit_reason"] == "end"
    assert amd["exit_time"] == result.legs[0].bars.index[-1]
    assert (result.trades["exit_reason"] == END).sum() == 2
