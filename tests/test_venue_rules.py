"""The calculator's venue presets: Bybit, OKX and Hyperliquid liquidation rules (issue 13,
part 3/4), each against hand-worked cases and a hypothesis property, and Hyperliquid's partial
liquidation step by step."""

from __future__ import annotations

import json

import pytest
from cli_helpers import assert_one_line_error
from hypothesis import given, settings
from hypothesis import strategies as st

from sitcli.engine.margin import (
    bankruptcy_price,
    bybit_liquidation_price,
    hyperliquid_liquidation_price,
    hyperliquid_mmr,
    okx_liquidation_price,
    partial_liquidation_steps,
)
from sitcli.instruments import venue
from sitcli.liquidation import build_position, exit_pnl, position_liquidation_price, report


def test_bybit_lp_is_entry_minus_im_minus_mm_over_qty():
    """Long 1 BTC at 20,000, 50x: IM = 20000 / 50 = 400, MM = 20000 x 0.5% = 100 (at entry),
    LP = 20000 - (400 - 100) / 1 = 19,700; short: 20000 + 300 = 20,300. Bankruptcy 19,600."""
    v = venue("perp-bybit", "crypto")
    assert v.tiers.mmr == (0.005,) and v.liquidation_rule == "bybit"
    long_ = build_position("long", 20_000.0, 50.0, v, qty=1.0)
    assert position_liquidation_price(long_) == pytest.approx(19_700.0)
    short = build_position("short", 20_000.0, 50.0, v, qty=1.0)
    assert position_liquidation_price(short) == pytest.approx(20_300.0)
    assert bankruptcy_price(1, 1.0, 20_000.0, 400.0) == pytest.approx(19_600.0)
    # with a risk-limit tier's deduction: MM = 2 x 20000 x 1% - 100 = 300 on a 40,000 position
    lp = bybit_liquidation_price(1, 2.0, 20_000.0, 800.0, (0.0, 30_000.0), (0.005, 0.01),
                                 (0.0, 100.0))
    assert lp == pytest.approx(20_000 - (800 - 300) / 2)


def test_okx_adds_the_taker_fee_to_the_tier_rate():
    """Long 10 at 100, 20x: M = 50. Liquidated when 50 + 10 (P - 100) = 10 P (1% + 0.05%):
    P = 950 / (10 - 0.105) = 96.0081; short: 1050 / (10 + 0.105) = 103.9089."""
    v = venue("perp-okx", "crypto")
    assert (v.tiers.mmr, v.fee) == ((0.01,), 0.0005)
    long_ = build_position("long", 100.0, 20.0, v, qty=10.0)
    assert position_liquidation_price(long_) == pytest.approx(950 / 9.895, rel=1e-12)
    short = build_position("short", 100.0, 20.0, v, qty=10.0)
    assert position_liquidation_price(short) == pytest.approx(1050 / 10.105, rel=1e-12)


def test_hyperliquid_maintenance_is_half_the_initial_margin_at_max_leverage():
    """The docs' example: 20x max leverage -> 2.5%. BTC's table: 40x below 150M (1.25%), 20x
    above (2.5%), deduction 150M x (2.5% - 1.25%) = 1,875,000."""
    assert hyperliquid_mmr(20.0) == pytest.approx(0.025)
    t = venue("perp-hyperliquid", "crypto").tiers
    assert t.mmr == pytest.approx((0.0125, 0.025)) and t.cum == pytest.approx((0.0, 1_875_000.0))
    # long 1 BTC at 100,000, 40x: M = 2500; the docs' liq_price = price - side x
    # margin_available / size / (1 - l x side), margin_available = 2500 - 100000 x 1.25%
    lp = hyperliquid_liquidation_price(1, 1.0, 100_000.0, 2_500.0, t.floor, t.mmr, t.cum)
    assert lp == pytest.approx(100_000 - (2_500 - 1_250) / 1 / (1 - 0.0125))
    assert lp == pytest.approx(97_500 / 0.9875)
    short = hyperliquid_liquidation_price(-1, 1.0, 100_000.0, 2_500.0, t.floor, t.mmr, t.cum)
    assert short == pytest.approx(100_000 + 1_250 / 1.0125)


def test_partial_liquidation_on_a_hand_made_path():
    """Long 10 BTC at 100,000, 40x (M = 25,000, l = 1.25%). Step 1 at LP1 = 97,500 x 10 /
    (10 x 0.9875) = 98,734.18 (notional 987k > 100k): 2 BTC closed, the equity there,
    M + q (LP1 - E) = q LP1 l = 12,341.77, stays behind the 8 left. Each next trigger solves
    m + 0.8 q (P - LPk) = 0.8 q P l with m = q LPk l:  P = LPk (1 - l / 0.8) / (1 - l).
    Quantities 10 -> 8 -> 6.4 -> ... until the notional at the trigger is <= 100,000
    (0.859 BTC at ~95,351), which is closed whole; the trader keeps the equity left."""
    v = venue("perp-hyperliquid", "crypto")
    pos = build_position("long", 100_000.0, 40.0, v, qty=10.0)
    out = report(pos, [-1.0])
    steps = out["partial_liquidation"]
    l = 0.0125
    price, qty = 97_500 / 0.9875, 10.0
    for k, row in enumerate(steps[:-1]):
        assert row["price"] == pytest.approx(price, rel=1e-12), k
        assert row["qty_closed"] == pytest.approx(0.2 * qty, rel=1e-12)
        assert row["qty_left"] == pytest.approx(0.8 * qty, rel=1e-12)
        assert row["margin_left"] == pytest.approx(qty * price * l, rel=1e-9)
        assert qty * price > 100_000
        price, qty = price * (1 - l / 0.8) / (1 - l), 0.8 * qty
    last = steps[-1]
    assert len(steps) == 12 and qty == pytest.approx(10 * 0.8 ** 11)
    assert last["price"] == pytest.approx(price, rel=1e-12) and qty * price <= 100_000
    assert (last["qty_closed"], last["qty_left"]) == (pytest.approx(qty), 0.0)
    assert last["margin_left"] == pytest.approx(qty * price * l, rel=1e-9)   # 1,023.82
    # a position at or below the threshold is closed whole in one step
    small = partial_liquidation_steps(1, 1.0, 100_000.0, 2_500.0, (0.0,), (l,), (0.0,),
                                      100_000.0, 0.2, 10)
    assert len(small) == 1 and small[0][1] == 1.0


def test_hyperliquid_keeps_the_margin_left_bybit_and_okx_lose_it():
    for name, keeps in (("perp-hyperliquid", True), ("perp-bybit", False), ("perp-okx", False)):
        v = venue(name, "crypto", {"fee": 0.0})
        pos = build_position("long", 100.0, 20.0, v, qty=10.0)
        lp = position_liquidation_price(pos)
        pnl = exit_pnl(pos, lp, True)
        if keeps:
            assert pnl == pytest.approx(10 * (lp - 100.0)) and pnl > -pos.margin
        else:
            assert pnl == pytest.approx(-pos.margin)


RULES = {
    "bybit": lambda s, q, e, m, mmr: bybit_liquidation_price(s, q, e, m, (0.0,), (mmr,), (0.0,)),
    "okx": lambda s, q, e, m, mmr: okx_liquidation_price(s, q, e, m, (0.0,), (mmr,), 0.0005),
    "hyperliquid": lambda s, q, e, m, mmr: hyperliquid_liquidation_price(s, q, e, m, (0.0,),
                                                                         (mmr,), (0.0,)),
}


@pytest.mark.parametrize("rule", sorted(RULES))
@settings(max_examples=200, deadline=None)
@given(entry=st.floats(0.01, 1e6), lev=st.floats(1.5, 100.0), dlev=st.floats(0.01, 20.0),
       mmr=st.floats(0.0, 0.0045), dmmr=st.floats(1e-5, 0.004), side=st.sampled_from([1, -1]))
def test_lp_moves_toward_entry_with_leverage_and_maintenance_and_bankruptcy_lies_beyond(
        rule, entry, lev, dlev, mmr, dmmr, side):
    """For every preset: more leverage or a higher maintenance rate puts the liquidation price
    nearer the entry (never further), and the bankruptcy price lies beyond it."""
    lp = RULES[rule]
    q = 1000.0 / entry

    def at(lev_, mmr_):
        return lp(side, q, entry, q * entry / lev_, mmr_)

    base = at(lev, mmr)
    tol = 1e-9 * entry
    assert side * (at(lev + dlev, mmr) - base) >= -tol
    assert side * (at(lev, mmr + dmmr) - base) >= -tol
    bp = bankruptcy_price(side, q, entry, q * entry / lev)
    assert side * (base - bp) >= -tol
    assert side * (entry - base) > 0   # liquidated before the entry is reached again


def test_cli_prints_each_rule_and_the_partial_steps(cli):
    out = json.loads(cli("liquidation", "--venue", "perp-hyperliquid", "--leverage", "40",
                         "--entry", "100000", "--qty", "10", "--format", "json",
                         check_code=0).stdout)
    assert out["assumptions"]["liquidation_rule"] == "hyperliquid"
    assert len(out["partial_liquidation"]) == 12
    table = cli("liquidation", "--venue", "perp-bybit", "--leverage", "50", "--entry", "20000",
                "--qty", "1", check_code=0).stdout
    assert "19,700" in table and "Bybit USDT contracts" in table
    assert "bracket at the entry's notional" in table
    # backtests apply Bybit's isolated rule; cross margin there follows Binance's only
    assert_one_line_error(cli("backtest", "--demo", "--symbols", "RENDER/USDT", "--venue",
                              "perp-bybit", "--account", "shared"), 2, "perp-bybit",
                          "cross margin", "Binance's rule")


def test_perp_binance_is_the_preset_perp_isolated_names():
    from dataclasses import replace

    old, new = venue("perp-isolated", "crypto"), venue("perp-binance", "crypto")
    assert old.name == "perp-isolated" and new.name == "perp-binance"
    assert replace(old, name="perp-binance") == new and new.liquidation_rule == "binance"


def test_a_move_through_some_partial_steps_keeps_the_rest_open():
    """Long 10 BTC at 100,000, 40x, no fees; a -2% move to 98,000 passes steps 1-3
    (98,734.18, 98,421.73, 98,110.27): 5.12 BTC are left with the equity at step 3, the
    maintenance of the 6.4 BTC held there, 6.4 x 98,110.27 x 1.25% = 7,848.82, marked at 98,000:
    7,848.82 + 5.12 x (98,000 - 98,110.27) = 7,284.26, i.e. -70.86% of the 25,000 margin.
    A -10% move passes all 12 steps: the trader keeps 1,023.82 (-95.90%)."""
    v = venue("perp-hyperliquid", "crypto", {"fee": 0.0})
    pos = build_position("long", 100_000.0, 40.0, v, qty=10.0)
    rows = {r["move_pct"]: r for r in report(pos, [-2.0, -1.2, -10.0])["moves"]}
    l = 0.0125
    p3 = 97_500 / 0.9875 * ((1 - l / 0.8) / (1 - l)) ** 2
    equity = 6.4 * p3 * l + 5.12 * (98_000 - p3)
    assert rows[-2.0]["liquidated"]
    assert rows[-2.0]["return_on_margin_pct"] == pytest.approx(100 * (equity - 25_000) / 25_000)
    assert not rows[-1.2]["liquidated"]
    assert rows[-1.2]["return_on_margin_pct"] == pytest.approx(-48.0)
    assert rows[-10.0]["return_on_margin_pct"] == pytest.approx(100 * (1_023.8246 - 25_000)
                                                               / 25_000, rel=1e-6)


def test_cross_margin_takes_the_other_positions_as_input(cli):
    """Binance cross: the isolated formula with M = WB - TMM1 + UPNL1. Wallet 1,000, the other
    positions need 50 of maintenance and are 30 down: 920 stands behind a 20x long of 50 at
    100 (maintenance 1%): LP = (920 - 5000) / (50 x 0.01 - 50) = 82.4242; bankruptcy
    100 - 920 / 50 = 81.6. Bybit cross: IM + available balance = wallet - the others' IM 200
    = 800; MM at entry 5000 x 0.5% = 25: LP = 100 - (800 - 25) / 50 = 84.5."""
    binance = venue("perp-binance", "crypto", {"margin_mode": "cross"})
    pos = build_position("long", 100.0, 20.0, binance, qty=50.0, mmr=0.01,
                         cross={"wallet": 1000.0, "other_maintenance": 50.0, "other_pnl": -30.0})
    assert position_liquidation_price(pos) == pytest.approx(4080 / 49.5)
    assert report(pos, [-1.0])["bankruptcy_price"] == pytest.approx(81.6)
    # no other positions: the same as isolated with the wallet as the margin
    alone = build_position("long", 100.0, 20.0, binance, qty=50.0, mmr=0.01,
                           cross={"wallet": 250.0})
    isolated = build_position("long", 100.0, 20.0, venue("perp-binance", "crypto"), qty=50.0,
                              mmr=0.01)
    assert position_liquidation_price(alone) == pytest.approx(position_liquidation_price(isolated))
    bybit = venue("perp-bybit", "crypto", {"margin_mode": "cross"})
    pos = build_position("long", 100.0, 20.0, bybit, qty=50.0,
                         cross={"wallet": 1000.0, "other_margin": 200.0})
    assert position_liquidation_price(pos) == pytest.approx(84.5)
    out = json.loads(cli("liquidation", "--venue", "perp-binance", "--set", "margin_mode=cross",
                         "--wallet", "1000", "--other-maintenance", "50", "--other-pnl", "-30",
                         "--leverage", "20", "--entry", "100", "--qty", "50", "--mmr", "0.01",
                         "--format", "json", check_code=0).stdout)
    assert out["liquidation_price"] == pytest.approx(4080 / 49.5)
    assert out["assumptions"]["collateral_behind_position"] == pytest.approx(920.0)
    assert_one_line_error(cli("liquidation", "--venue", "perp-binance", "--set",
                              "margin_mode=cross", "--leverage", "20", "--entry", "100"), 2,
                          "--wallet")
    assert_one_line_error(cli("liquidation", "--venue", "perp-binance", "--set",
                              "margin_mode=cross", "--wallet", "10", "--leverage", "20",
                              "--entry", "100", "--qty", "50"), 2, "initial margin 250")
