"""Hand-worked scenarios, 5 to 8 bars each. Every expected number has its arithmetic beside it.

Rows are (open, high, low, close). A signal on bar t fills at bar t+1's open unless noted.
Cash is 1000 and all of it is committed as margin unless noted.
"""

import math

import numpy as np
import pandas as pd
import pytest
from engine_helpers import run_kernel

from sitcli.bars import funding_rates_per_bar, nights_per_bar
from sitcli.engine.records import (
    ACCOUNT,
    CLOSE_OUT,
    CROSS,
    END,
    LIQUIDATION,
    SIGNAL,
    STOP,
    TAKE,
    TIME,
)
from sitcli.instruments import venue


def bars(*rows):
    a = np.array(rows, dtype=float)
    return a[:, 0], a[:, 1], a[:, 2], a[:, 3]


def signals(n, at):
    """{bar: +1/-1} entries or {bar: True} exits as arrays."""
    out = np.zeros(n, np.int8 if any(isinstance(v, int) and not isinstance(v, bool)
                                     for v in at.values()) else bool)
    for i, v in at.items():
        out[i] = v
    return out


def only(trades):
    assert len(trades) == 1, trades
    return trades[0]


def test_worked_example_50x_long_plus_3pct_is_plus_150pct_on_margin():
    o, h, l, c = bars(
        (100, 100, 100, 100),    # 0: signal long
        (100, 101, 99.5, 100.5), # 1: fill at open 100; qty = 1000 * 50 / 100 = 500
        (101, 103, 100.8, 103),  # 2: signal exit
        (103, 103.5, 102.5, 103),# 3: exit at open 103: pnl = 500 * (103 - 100) = 1500
        (103, 103, 103, 103),
    )
    eq, trades, liqs = run_kernel(o, h, l, c, signals(5, {0: 1}), signals(5, {2: True}),
                                  leverage=50)
    t = only(trades)
    assert t["qty"] == pytest.approx(500)
    assert t["pnl"] == pytest.approx(1500)
    assert t["return_on_margin"] == pytest.approx(1.5)           # +150% on 1000 margin
    assert t["exit_reason"] == SIGNAL
    assert eq[-1] == pytest.approx(2500)                         # 1000 + 1500
    assert len(liqs) == 0


def test_worked_example_50x_long_minus_2pct_is_liquidated_minus_100pct():
    o, h, l, c = bars(
        (100, 100, 100, 100),    # 0: signal
        (100, 100.5, 99, 99.5),  # 1: fill 100; LP = 100 * (1 - 1/50) / (1 - 0) = 98; low 99 > 98
        (99.5, 99.8, 97.9, 98.5),# 2: low 97.9 <= 98 -> liquidated at 98: 500 * (98 - 100) = -1000
        (98.5, 99, 98, 98.7),
        (98.7, 99, 98, 98.7),
    )
    eq, trades, liqs = run_kernel(o, h, l, c, signals(5, {0: 1}), leverage=50)
    t = only(trades)
    assert t["exit_reason"] == LIQUIDATION
    assert t["exit_price"] == pytest.approx(98)
    assert t["return_on_margin"] == pytest.approx(-1.0)          # -100%
    assert liqs[0]["trigger_price"] == pytest.approx(98)
    assert liqs[0]["extreme"] == pytest.approx(97.9)
    assert not liqs[0]["gap"]
    assert eq[2:] == pytest.approx([0, 0, 0])


def test_worked_example_50x_with_half_pct_maintenance_liquidates_near_minus_1_51pct():
    # LP = 100 * (1 - 1/50) / (1 - 0.005) = 98 / 0.995 = 98.49246...  (-1.5075%)
    lp = 98 / 0.995
    o, h, l, c = bars(
        (100, 100, 100, 100),
        (100, 100.2, 98.6, 99),    # low 98.6 stays above 98.4925
        (99, 99.1, 98.45, 98.9),   # low 98.45 crosses -> liquidated at 98.4925
        (98.9, 99, 98.8, 98.9),
        (98.9, 99, 98.8, 98.9),
    )
    eq, trades, liqs = run_kernel(o, h, l, c, signals(5, {0: 1}), leverage=50, mmrs=(0.005,))
    t = only(trades)
    assert t["exit_reason"] == LIQUIDATION and t["exit_bar"] == 2
    assert t["exit_price"] == pytest.approx(lp)
    assert 100 * (lp / 100 - 1) == pytest.approx(-1.5075, abs=1e-4)
    # price loss at LP: 500 * (98.4925 - 100) = -753.77. The position closes at the bankruptcy
    # price (Binance's and Bybit's rule): the 246.23 of margin left at LP is the venue's
    # liquidation fee, so the whole 1,000 margin is lost
    assert t["pnl_gross"] == pytest.approx(500 * (lp - 100))
    assert t["liq_fee"] == pytest.approx(1000 + 500 * (lp - 100))
    assert t["pnl"] == pytest.approx(-1000) and t["fees"] == 0
    assert eq[-1] == pytest.approx(0.0)


def test_short_take_profit():
    o, h, l, c = bars(
        (100, 100, 100, 100),   # 0: signal short
        (100, 101, 99, 99.5),   # 1: fill 100, qty = 1000 * 10 / 100 = 100; take = 100 * (1 - 0.05) = 95
        (99, 99.5, 96, 96.5),   # 2: low 96 > 95, no take
        (96, 96.2, 94, 95.5),   # 3: low 94 <= 95: take at 95, pnl = -1 * 100 * (95 - 100) = +500
        (95.5, 96, 95, 95.5),
    )
    eq, trades, liqs = run_kernel(o, h, l, c, signals(5, {0: -1}), leverage=10, take=0.05)
    t = only(trades)
    assert t["side"] == -1 and t["exit_reason"] == TAKE and t["exit_bar"] == 3
    assert t["exit_price"] == pytest.approx(95)
    assert t["pnl"] == pytest.approx(500)
    assert eq[-1] == pytest.approx(1500)


def test_long_stop_and_stop_before_take_in_one_bar():
    o, h, l, c = bars(
        (100, 100, 100, 100),     # 0: signal long
        (100, 100.5, 99, 100),    # 1: fill 100, qty 100 at 10x; stop 98, take 103
        (100, 103.5, 97.5, 101),  # 2: both 103 and 98 inside the bar
        (101, 101, 101, 101),
        (101, 101, 101, 101),
    )
    entries = signals(5, {0: 1})
    _, trades, _ = run_kernel(o, h, l, c, entries, leverage=10, stop=0.02, take=0.03)
    t = only(trades)
    assert t["exit_reason"] == STOP and t["exit_price"] == pytest.approx(98)
    assert t["pnl"] == pytest.approx(100 * (98 - 100))           # -200
    _, trades, _ = run_kernel(o, h, l, c, entries, leverage=10, stop=0.02, take=0.03,
                              take_first=True)
    t = only(trades)
    assert t["exit_reason"] == TAKE and t["exit_price"] == pytest.approx(103)
    assert t["pnl"] == pytest.approx(100 * (103 - 100))          # +300


def test_stop_nearer_the_open_than_liquidation_fires_first():
    # 20x long at 100: LP = 95 (maintenance 0); stop 3% = 97. Low 94 crosses both; the stop
    # lies nearer the open (99), so it fills first at 97: pnl = 200 * (97 - 100) = -600.
    o, h, l, c = bars((100, 100, 100, 100), (100, 100, 99.5, 99.5), (99, 99, 94, 96),
                      (96, 96, 96, 96), (96, 96, 96, 96))
    _, trades, liqs = run_kernel(o, h, l, c, signals(5, {0: 1}), leverage=20, stop=0.03)
    t = only(trades)
    assert t["exit_reason"] == STOP and t["pnl"] == pytest.approx(-600)
    assert len(liqs) == 0


@pytest.mark.parametrize("nbp, final", [(True, 0.0), (False, -1000.0)])
def test_gap_through_liquidation_price_fills_at_the_open(nbp, final):
    o, h, l, c = bars(
        (100, 100, 100, 100),   # 0: signal
        (100, 101, 99, 100),    # 1: fill 100, 20x: qty 200, LP = 100 * (1 - 1/20) = 95
        (90, 92, 89, 91),       # 2: opens at 90, already beyond 95: liquidated at 90
        (91, 91, 91, 91),       #    price loss 200 * (90 - 100) = -2000 on 1000 margin
        (91, 91, 91, 91),       #    gap loss = 2000 - 1000 = 1000
    )
    eq, trades, liqs = run_kernel(o, h, l, c, signals(5, {0: 1}), leverage=20, nbp=nbp)
    t = only(trades)
    assert t["exit_reason"] == LIQUIDATION and t["exit_price"] == pytest.approx(90)
    assert liqs[0]["gap"] and liqs[0]["gap_loss"] == pytest.approx(1000)
    assert liqs[0]["trigger_price"] == pytest.approx(95)
    assert t["protection"] == pytest.approx(1000 if nbp else 0)   # the cap forgives the gap
    assert eq[-1] == pytest.approx(final)


def test_cfd_close_out_at_half_of_used_margin():
    # account mode, 10x: qty 100, used margin 100 * 100 / 10 = 1000; close-out when
    # equity 1000 + 100 * (P - 100) <= 0.5 * 1000  ->  P <= 95
    o, h, l, c = bars((100, 100, 100, 100), (100, 101, 99, 100), (99, 99.5, 94, 96),
                      (96, 97, 95.5, 96), (96, 96, 96, 96))
    eq, trades, liqs = run_kernel(o, h, l, c, signals(5, {0: 1}), leverage=10, mode=ACCOUNT,
                                  closeout=0.5)
    t = only(trades)
    assert t["exit_reason"] == CLOSE_OUT and t["exit_price"] == pytest.approx(95)
    assert t["pnl"] == pytest.approx(-500)                      # 100 * (95 - 100)
    assert liqs[0]["kind"] == CLOSE_OUT
    assert eq[-1] == pytest.approx(500)


@pytest.mark.parametrize("nbp, final, gap_loss", [(True, 0.0, 500.0), (False, -500.0, 500.0)])
def test_cfd_gap_below_zero_equity_with_and_without_negative_balance_protection(nbp, final,
                                                                                gap_loss):
    # 10x long, qty 100; opens at 85: equity 1000 + 100 * (85 - 100) = -500 -> closed at 85
    o, h, l, c = bars((100, 100, 100, 100), (100, 101, 99, 100), (85, 86, 84, 85),
                      (85, 85, 85, 85), (85, 85, 85, 85))
    eq, trades, liqs = run_kernel(o, h, l, c, signals(5, {0: 1}), leverage=10, mode=ACCOUNT,
                                  nbp=nbp)
    t = only(trades)
    assert t["exit_reason"] == CLOSE_OUT and t["exit_price"] == pytest.approx(85)
    assert liqs[0]["gap"] and liqs[0]["gap_loss"] == pytest.approx(gap_loss)
    assert eq[2:] == pytest.approx([final] * 3)


def test_funding_at_8_hour_stamps():
    # hourly bars from 05:00 UTC: stamps at 08:00 and 16:00 close the 07:00 and 15:00 bars
    index = pd.date_range("2024-03-01 05:00", periods=12, freq="1h", tz="UTC")
    perp = venue("perp-isolated", "crypto")
    rates, closed = funding_rates_per_bar(pd.DataFrame(index=index), perp, index,
                                          index + pd.Timedelta("1h"))
    assert list(np.flatnonzero(rates)) == [2, 10]                 # 07:00 and 15:00 bars
    assert not closed.any()                                       # 24/7: never closed
    assert rates[2] == perp.funding_rate_8h == 0.0001
    # a long of qty 100 (10x, 1000 cash) pays 100 * close * rate at each stamp:
    # 100 * 101 * 0.0001 = 1.01 and 100 * 102 * 0.0001 = 1.02
    rows = [(100, 100, 100, 100)] + [(100, 101, 100, 101)] * 8 + [(102, 102, 102, 102)] * 3
    o, h, l, c = bars(*rows)
    eq, trades, _ = run_kernel(o, h, l, c, signals(12, {0: 1}), leverage=10, funding=rates)
    t = only(trades)
    assert t["funding"] == pytest.approx(1.01 + 1.02)
    assert t["exit_reason"] == END
    # a short receives the same amounts
    _, trades, _ = run_kernel(o, h, l, c, signals(12, {0: -1}), leverage=10, funding=rates)
    assert only(trades)["funding"] == pytest.approx(-(1.01 + 1.02))


def test_overnight_financing_across_a_weekend():
    # Thursday, Friday, Monday, Tuesday, Wednesday daily equity bars closing at 21:00 UTC
    days = pd.DatetimeIndex(["2024-03-07", "2024-03-08", "2024-03-11", "2024-03-12",
                             "2024-03-13"], tz="UTC")
    nights = nights_per_bar(days + pd.Timedelta("21h"), pd.Timedelta("1D"))
    assert list(nights) == [1, 3, 1, 1, 1]                       # Friday carries 3 nights
    o, h, l, c = bars((100, 100, 100, 100), (100, 100, 100, 100), (100, 100, 100, 100),
                      (100, 100, 100, 100), (100, 100, 100, 100))
    cfd = venue("cfd-retail", "equity")
    # 5x long, qty 50 at 100, held at the closes of Fri (3 nights), Mon, Tue (1 each);
    # closed at the end (Wed close, before its cut-off): 5 nights in all
    # 50 * 100 * (0.043 + 0.025) * 5 / 365 = 4.6575...
    eq, trades, _ = run_kernel(o, h, l, c, signals(5, {0: 1}), leverage=5, mode=ACCOUNT,
                               fin_long=cfd.financing_long, nights=nights)
    t = only(trades)
    assert cfd.financing_long == pytest.approx(0.068)
    assert t["financing"] == pytest.approx(50 * 100 * 0.068 * (3 + 1 + 1) / 365)
    assert eq[-1] == pytest.approx(1000 - t["financing"])


def test_maintenance_tier_changes_as_the_notional_grows():
    # brackets: [0, 10000) at 1%, [10000, inf) at 5%, maintenance amount 10000 * (0.05 - 0.01) = 400
    # short 10x at 95 with 950 cash: qty 100, notional 9500 (first bracket)
    # first-bracket LP = (950 + 0 + 9500) / (100 * 0.01 + 100) = 103.465 -> notional 10346,
    # which lies in the second bracket, so LP = (950 + 400 + 9500) / (100 * 0.05 + 100) = 103.333
    floors, mmrs, cums = (0.0, 10000.0), (0.01, 0.05), (0.0, 400.0)
    o, h, l, c = bars((95, 95, 95, 95), (95, 96, 94.5, 95), (95, 103.4, 95, 103),
                      (103, 103, 103, 103), (103, 103, 103, 103))
    _, trades, liqs = run_kernel(o, h, l, c, signals(5, {0: -1}), leverage=10, cash=950,
                                 floors=floors, mmrs=mmrs, cums=cums)
    t = only(trades)
    assert t["exit_reason"] == LIQUIDATION and t["exit_bar"] == 2  # high 103.4 >= 103.333
    assert t["exit_price"] == pytest.approx(10850 / 105)
    # with the first bracket alone the same bar would not liquidate (103.4 < 103.465)
    _, trades, liqs = run_kernel(o, h, l, c, signals(5, {0: -1}), leverage=10, cash=950,
                                 floors=(0.0,), mmrs=(0.01,), cums=(0.0,))
    assert only(trades)["exit_reason"] == END and len(liqs) == 0


def test_time_exit_after_n_bars_and_costs_are_reported_apart():
    # fee 0.1%, half-spread 0.05%, slippage 0.05%, 2x long, max_bars 2
    # margin = 1000 / (1 + 2 * 0.001) = 998.004; entry fill 100 * (1 + 0.001) = 100.1
    o, h, l, c = bars((100, 100, 100, 100), (100, 101, 99, 100), (100, 103, 100, 102),
                      (102, 102, 102, 102), (102, 102, 102, 102))
    _, trades, _ = run_kernel(o, h, l, c, signals(5, {0: 1}), leverage=2, max_bars=2,
                              fee=0.001, half_spread=0.0005, slippage=0.0005)
    t = only(trades)
    margin = 1000 / 1.002
    qty = margin * 2 / 100.1
    assert t["exit_reason"] == TIME and t["exit_bar"] == 2       # held bars 1 and 2
    assert t["qty"] == pytest.approx(qty)
    assert t["exit_price"] == pytest.approx(102 * (1 - 0.001))   # close 102 less spread+slip
    assert t["pnl_gross"] == pytest.approx(qty * (102 - 100))    # at mid prices
    assert t["spread"] == pytest.approx(qty * (100 + 102) * 0.0005)
    assert t["slippage"] == pytest.approx(qty * (100 + 102) * 0.0005)
    assert t["fees"] == pytest.approx(qty * (100.1 + 101.898) * 0.001)
    assert t["pnl"] == pytest.approx(t["pnl_gross"] - t["spread"] - t["slippage"] - t["fees"])
    assert math.isclose(t["pnl"], qty * (101.898 - 100.1) - t["fees"], rel_tol=1e-12)


def test_cross_margin_liquidates_the_whole_account_along_the_bar():
    # One CROSS account, two longs at 10x: A uses half the collateral (margin 500, qty 50 at
    # 100), B the rest (margin 500, qty 50). Maintenance 1% of notional.
    # Bar 2 falls from 100 to A's low 90 and B's low 88 along one path λ in [0, 1]:
    #   equity(λ) = 1000 - 50*10λ - 50*12λ = 1000 - 1100λ
    #   maintenance(λ) = 0.01 * 50 * ((100 - 10λ) + (100 - 12λ)) = 100 - 11λ
    #   equity = maintenance at λ* = 900 / 1089 -> A at 91.7355, B at 90.0826
    from sitcli.engine.kernel import no_detail, simulate
    from sitcli.engine.records import account_dt, column_dt

    rows_a = [(100, 100, 100, 100), (100, 100, 100, 100), (100, 100, 90, 92), (92, 92, 92, 92),
              (92, 92, 92, 92)]
    rows_b = [(100, 100, 100, 100), (100, 100, 100, 100), (100, 100, 88, 90), (90, 90, 90, 90),
              (90, 90, 90, 90)]
    a, b = np.array(rows_a, float), np.array(rows_b, float)
    price = [np.ascontiguousarray(np.c_[a[:, i], b[:, i]]) for i in range(4)]
    entries = np.zeros((5, 2), np.int8)
    entries[0] = 1
    cols = np.zeros(2, column_dt)
    for j, size in enumerate((0.5, 1.0)):
        cols[j] = (j, j, 0, 0, 10.0, size, np.nan, np.nan, 0, 0, 0, 0, 0, 0, 365, 0, 0, 0)
    accounts = np.zeros(1, account_dt)
    accounts["init_cash"], accounts["mode"], accounts["nbp"] = 1000.0, CROSS, True
    tiers = np.array([[0.0]]), np.array([[0.01]]), np.array([[0.0]]), np.array([[np.inf]])
    zeros = np.zeros((5, 2))
    equity, trades, liqs = simulate(*price, zeros, np.zeros((5, 2, 2)), entries,
                                       np.zeros((5, 2), bool),
                                       cols, accounts, *tiers, False, False,
                                       np.array([4, 4], np.int64), zeros, *no_detail(2))
    lam = 900 / 1089
    assert trades["qty"] == pytest.approx([50, 50])
    assert sorted(trades["exit_reason"]) == [LIQUIDATION, LIQUIDATION]
    assert trades["exit_price"] == pytest.approx([100 - 10 * lam, 100 - 12 * lam])
    assert len(liqs) == 2 and set(liqs["kind"]) == {LIQUIDATION}
    # the equity left at the trigger was the maintenance margin, 100 - 11λ = 90.91; a cross
    # liquidation closes at the bankruptcy level, so the venue keeps it as its fee, split by
    # notional: A 50 * 91.7355 = 4586.8, B 50 * 90.0826 = 4504.1
    assert equity[2, 0] == pytest.approx(0.0)
    assert trades["liq_fee"].sum() == pytest.approx(100 - 11 * lam)
    notional = 50 * (100 - 10 * lam), 50 * (100 - 12 * lam)
    assert trades["liq_fee"] == pytest.approx([(100 - 11 * lam) * x / sum(notional)
                                               for x in notional])


def test_position_is_capped_at_the_bracket_that_allows_its_leverage():
    # brackets [0, 10000) up to 50x, [10000, 50000) up to 20x. 50x on 1000 cash would be a
    # 50,000 notional, which only 20x allows; the exchange accepts at most just under 10,000
    # at 50x: qty 99.99.. at 100, margin 200, and the other 800 stays free.
    tiers = dict(floors=(0.0, 10000.0), mmrs=(0.01, 0.025), cums=(0.0, 150.0),
                 maxlevs=(50.0, 20.0))
    o, h, l, c = bars((100, 100, 100, 100), (100, 100, 100, 100), (100, 100, 100, 100),
                      (100, 100, 100, 100), (100, 100, 100, 100))
    _, trades, _ = run_kernel(o, h, l, c, signals(5, {0: 1}), leverage=50, **tiers)
    t = only(trades)
    assert t["qty"] * t["entry_price"] == pytest.approx(10000, rel=1e-9)
    assert t["qty"] * t["entry_price"] < 10000
    assert t["margin"] == pytest.approx(200, rel=1e-9)
    # 60x is allowed by no bracket: the order is not filled at all
    _, trades, _ = run_kernel(o, h, l, c, signals(5, {0: 1}), leverage=60, **tiers)
    assert len(trades) == 0


def test_cfd_close_out_uses_the_brokers_required_margin_not_the_chosen_leverage():
    # A fully funded 1x long (qty 10 at 100) on a venue whose cap is 5x: the broker requires
    # 10 * 100 / 5 = 200, so the close-out is at equity 0.5 * 200 = 100:
    # 1000 + 10 * (P - 100) = 100 -> P = 10. (Taking the 1000 the trader put up as the
    # requirement would close the position out at P = 50.)
    o, h, l, c = bars((100, 100, 100, 100), (100, 100, 100, 100), (60, 60, 45, 50),
                      (50, 50, 11, 12), (12, 12, 9, 10))
    eq, trades, liqs = run_kernel(o, h, l, c, signals(5, {0: 1}), leverage=1, mode=ACCOUNT,
                                  closeout=0.5, im_leverage=5)
    t = only(trades)
    assert t["exit_bar"] == 4 and t["exit_reason"] == CLOSE_OUT
    assert t["exit_price"] == pytest.approx(10)
    assert eq[-1] == pytest.approx(100)


@pytest.mark.parametrize("nbp", [True, False])
def test_deficit_left_by_a_close_exit_is_forgiven_on_that_bar(nbp):
    # cross margin, 10x, maintenance 0, 1% half-spread, 1-bar time exit, fills at the close.
    # Entry at the close of bar 0: fill 100 x 1.01 = 101, qty = 1000 x 10 / 101 = 99.0099.
    # Bar 1's low 91 leaves equity 1000 + 99.0099 x (91 - 101) = 9.90 > 0: no liquidation.
    # The time exit at its close fills at 91 x 0.99 = 90.09: pnl 99.0099 x (90.09 - 101) = -1080.20,
    # so cash is -80.20 once the account is flat. Protection must zero it on bar 1, not at the end.
    o = [100.0, 100.0, 95.0, 95.0]
    h = [100.0, 100.0, 95.0, 95.0]
    l = [100.0, 91.0, 95.0, 95.0]
    c = [100.0, 91.0, 95.0, 95.0]
    eq, trades, _ = run_kernel(o, h, l, c, [1, 0, 0, 0], leverage=10.0, mode=CROSS, nbp=nbp,
                               half_spread=0.01, max_bars=1, fill_at_close=True)
    deficit = 1000.0 + 1000.0 * 10 / 101 * (91 * 0.99 - 101)
    assert deficit == pytest.approx(-80.198, abs=1e-3)
    assert len(trades) == 1 and trades[0]["exit_bar"] == 1
    if nbp:
        assert list(eq[1:]) == [0.0, 0.0, 0.0]
        assert trades[0]["protection"] == pytest.approx(-deficit)
        assert trades[0]["pnl"] == pytest.approx(-1000.0)
    else:
        assert eq[1:] == pytest.approx([deficit] * 3)
        assert trades[0]["protection"] == 0.0
