"""One exit rule (`engine.margin.exit_charges`): what a close costs, by hand, and the
calculator and `scenario`'s path kernel charging it alike (the backtest kernel is held to the
calculator by tests/test_one_answer.py)."""

from __future__ import annotations

import numpy as np
import pytest

from sitcli.engine.margin import (
    EXIT_BANKRUPT,
    EXIT_CLOSE_OUT,
    EXIT_MARKET,
    exit_charges,
)


def test_a_normal_exit_pays_the_commission_only():
    # 10 at 104 with a 0.05% fee: 10 x 104 x 0.0005 = 0.52, whatever the venue's rule
    for rule in (EXIT_BANKRUPT, EXIT_CLOSE_OUT, EXIT_MARKET):
        assert exit_charges(False, rule, 10.0, 104.0, 40.0, 50.0, 0.0005, 0.01) == (
            pytest.approx(0.52), 0.0)


def test_a_perp_liquidation_closes_at_bankruptcy_and_the_venue_keeps_what_is_left():
    """Long 10 at 100 with 50 margin (20x), liquidated at 95.5: the price loss is 45, the
    margin still holds 5, which is the venue's fee; no commission: the loss is all 50."""
    commission, kept = exit_charges(True, EXIT_BANKRUPT, 10.0, 95.5, -45.0, 50.0, 0.0005, 0.01)
    assert (commission, kept) == (0.0, pytest.approx(5.0))
    # a gap beyond the bankruptcy price leaves nothing to keep
    assert exit_charges(True, EXIT_BANKRUPT, 10.0, 94.0, -60.0, 50.0, 0.0005, 0.01) == (0.0, 0.0)


def test_a_close_out_pays_commission_and_the_close_out_fee_rate():
    # 10 at 95.5: commission 10 x 95.5 x 0.0005 = 0.4775, close-out fee 10 x 95.5 x 1% = 9.55
    commission, kept = exit_charges(True, EXIT_CLOSE_OUT, 10.0, 95.5, -45.0, 50.0, 0.0005, 0.01)
    assert commission == pytest.approx(0.4775) and kept == pytest.approx(9.55)


def test_hyperliquid_pays_the_commission_and_keeps_the_rest():
    commission, kept = exit_charges(True, EXIT_MARKET, 10.0, 95.5, -45.0, 50.0, 0.00045, 0.01)
    assert commission == pytest.approx(10 * 95.5 * 0.00045) and kept == 0.0


@pytest.mark.parametrize("venue_name", ["perp-binance", "perp-bybit", "perp-okx",
                                        "perp-hyperliquid", "cfd-retail", "cfd-offshore"])
@pytest.mark.parametrize("side", [1, -1])
def test_scenario_paths_and_the_calculator_charge_a_liquidation_alike(venue_name, side):
    """A path whose second bar's adverse extreme touches the liquidation price: the path
    kernel's return on margin equals the calculator's exit PnL over the margin."""
    from sitcli.engine.margin import LIQUIDATION_RULES, exit_rule_of
    from sitcli.engine.paths import first_passage_nb
    from sitcli.instruments import venue
    from sitcli.liquidation import build_position, exit_pnl, position_liquidation_price
    from sitcli.scenario import _NO_FINE

    v = venue(venue_name, "crypto")
    lev = min(v.max_leverage, 20.0)
    pos = build_position("long" if side > 0 else "short", 1.0, lev, v, qty=1.0)
    lp = position_liquidation_price(pos)
    o = np.array([1.0, 1.0])
    c = np.array([1.0, 1.0])
    hi = np.array([1.0, lp if side < 0 else 1.0])
    lo = np.array([1.0, lp if side > 0 else 1.0])
    rule = exit_rule_of(v.margin_mode == "account", LIQUIDATION_RULES.index(v.liquidation_rule))
    bars_to, rom, _ = first_passage_nb(o, hi, lo, c, np.array([0]), 1, side, np.array([lp]),
                                       np.array([lev]), v.fee, v.liquidation_fee, rule,
                                       v.negative_balance_protection, *_NO_FINE)
    assert bars_to[0, 0] == 1
    assert rom[0, 0] == pytest.approx(exit_pnl(pos, lp, True) / pos.margin, rel=1e-9)
