"""Inverse (coin-margined) contracts in the calculator (issue 13, part 4): Binance COIN-M and
Bybit inverse, quantity in USD contracts, margin and PnL in the coin."""

from __future__ import annotations

import json
import math

import pytest
from cli_helpers import assert_one_line_error
from hypothesis import given, settings
from hypothesis import strategies as st

from sitcli.engine.margin import (
    bybit_inverse_liquidation_price,
    inverse_bankruptcy_price,
    inverse_liquidation_price,
    inverse_pnl,
)
from sitcli.inverse import build, liquidation_price, report


def test_bybit_inverse_isolated_example():
    """Bybit's UTA isolated-mode page: 60,000 USD of BTCUSD long at 50,000, 10x, MMR 0.5%:
    Position Value = 60,000 / 50,000 = 1.2 BTC, Initial Margin = 1.2 / 10 = 0.12 BTC,
    Maintenance Margin = 1.2 x 0.5% = 0.006 BTC,
    LP = 60,000 / (1.2 + (0.12 - 0.006)) = 60,000 / 1.314 = 45,662.10."""
    pos = build("perp-bybit-inverse", "long", 50_000.0, 10.0, contracts=60_000)
    assert pos.value == pytest.approx(1.2) and pos.margin == pytest.approx(0.12)
    assert liquidation_price(pos) == pytest.approx(60_000 / 1.314, rel=1e-12)
    assert liquidation_price(pos) == pytest.approx(45_662.10, abs=0.005)
    # short: 60,000 / (1.2 - 0.114) = 55,248.62
    short = build("perp-bybit-inverse", "short", 50_000.0, 10.0, contracts=60_000)
    assert liquidation_price(short) == pytest.approx(60_000 / 1.086, rel=1e-12)


def test_bybit_inverse_initial_margin_example():
    """Bybit's 'Initial Margin (Inverse Contract)': 12,000 BTCUSD contracts at 8,000 with 50x:
    12,000 / (8,000 x 50) = 0.03 BTC."""
    pos = build("perp-bybit-inverse", "long", 8_000.0, 50.0, contracts=12_000)
    assert pos.margin == pytest.approx(0.03)
    # the legacy isolated formula LP = E x L / (L + 1 - MMR x L) is the same rule:
    # 8,000 x 50 / (50 + 1 - 0.25) = 7,881.77
    assert liquidation_price(pos) == pytest.approx(8_000 * 50 / 50.75, rel=1e-12)


def test_binance_coinm_hand_worked():
    """Long 1,000 BTCUSD contracts x 100 USD = 100,000 USD at 50,000, margin 0.1 BTC (20x),
    bracket 0.5% with amount 0: 0.1 + 100,000 (1/50,000 - 1/P) = 100,000 / P x 0.005, so
    P = 100,000 x 1.005 / (0.1 + 2) = 47,857.14; the bankruptcy price 100,000 / 2.1."""
    pos = build("perp-binance-coinm", "long", 50_000.0, 20.0, contracts=1_000)
    assert pos.face == 100_000 and pos.margin == pytest.approx(0.1)
    lp = liquidation_price(pos)
    assert lp == pytest.approx(100_000 * 1.005 / 2.1, rel=1e-12)
    equity = pos.margin + inverse_pnl(1, pos.face, pos.entry, lp)
    assert equity == pytest.approx(pos.face / lp * 0.005, rel=1e-9)
    assert inverse_bankruptcy_price(1, pos.face, pos.entry, pos.margin) == pytest.approx(
        100_000 / 2.1)


def test_binance_coinm_bracket_at_the_liquidation_price():
    """Brackets in coin: the rule takes the bracket of the coin value at LP. A short of
    100,000 USD at 50,000 with 0.1 BTC: at the first bracket (0.5%) LP = 100,000 x (0.005 - 1)
    / (0.1 - 2) = 52,368.42, worth 1.9095 BTC: inside a second bracket from 1.9 BTC (1%,
    amount 1.9 x 0.005 = 0.0095), so LP = 100,000 x (0.01 - 1) / (0.1 + 0.0095 - 2)."""
    floors, mmrs, cums = (0.0, 1.9), (0.005, 0.01), (0.0, 0.0095)
    lp = inverse_liquidation_price(-1, 100_000.0, 50_000.0, 0.1, floors, mmrs, cums)
    assert lp == pytest.approx(100_000 * -0.99 / (0.1095 - 2), rel=1e-12)
    assert 100_000 / lp >= 1.9


def test_a_liquidated_move_loses_the_whole_coin_margin():
    pos = build("perp-binance-coinm", "long", 50_000.0, 20.0, contracts=1_000)
    rows = report(pos, [-5.0, -1.0])["moves"]
    assert rows[0]["liquidated"] and rows[0]["return_on_margin_pct"] == pytest.approx(-100.0)
    # -1%: 100,000 (1/50,000 - 1/49,500) = -0.020202 BTC of 0.1: -20.2%
    assert not rows[1]["liquidated"]
    assert rows[1]["pnl_coin"] == pytest.approx(100_000 * (1 / 50_000 - 1 / 49_500))


@settings(max_examples=200, deadline=None)
@given(side=st.sampled_from([1, -1]), entry=st.floats(100, 100_000),
       lev=st.floats(2, 100), more=st.floats(1.01, 3), mmr=st.floats(0.001, 0.009),
       rule=st.sampled_from(["binance", "bybit"]))
def test_inverse_lp_monotone_in_leverage_and_maintenance_and_bankruptcy_beyond(
        side, entry, lev, more, mmr, rule):
    fn = inverse_liquidation_price if rule == "binance" else bybit_inverse_liquidation_price
    face = 10_000.0

    def lp(leverage, rate):
        return fn(side, face, entry, face / entry / leverage, (0.0,), (rate,), (0.0,))

    base = lp(lev, mmr)
    # more leverage or more maintenance: the liquidation price moves toward the entry
    assert side * (lp(lev * more, mmr) - base) >= -1e-9 * entry
    assert side * (lp(lev, mmr * 1.1) - base) >= -1e-9 * entry
    assert side * (entry - base) > 0
    bp = inverse_bankruptcy_price(side, face, entry, face / entry / lev)
    assert side * (base - bp) >= -1e-9 * entry   # the bankruptcy price lies beyond
    if rule == "binance" and math.isfinite(base) and base > 0:
        # at LP the equity is exactly the maintenance on the coin value there
        margin = face / entry / lev
        assert margin + inverse_pnl(side, face, entry, base) == pytest.approx(
            face / base * mmr, rel=1e-9, abs=1e-12)


def test_cli_answers_the_inverse_presets(cli):
    out = json.loads(cli("liquidation", "--venue", "perp-bybit-inverse", "--entry", "50000",
                         "--leverage", "10", "--qty", "60000", "--format", "json",
                         check_code=0).stdout)
    assert out["liquidation_price"] == pytest.approx(60_000 / 1.314)
    assert out["margin_coin"] == pytest.approx(0.12)
    assert out["assumptions"]["liquidation_rule"] == "bybit-inverse"
    table = cli("liquidation", "--venue", "perp-binance-coinm", "--entry", "50000",
                "--leverage", "20", "--qty", "1000", check_code=0).stdout
    assert "47,857.1" in table and "Binance COIN-M" in table
    assert_one_line_error(cli("liquidation", "--venue", "perp-binance-coinm", "--symbol",
                              "BTC/USDT", "--leverage", "20"), 2, "--entry")
    assert_one_line_error(cli("liquidation", "--venue", "perp-binance-coinm", "--entry",
                              "50000", "--leverage", "20", "--contract-size", "0"), 2,
                          "--contract-size")
