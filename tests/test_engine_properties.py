"""Properties of the kernel and the margin formulas (DESIGN §5 "identities that always hold").

Random OHLC paths from random returns, random signals, leverage, costs, stops and modes.
The first kernel call compiles (numba cache), hence `deadline=None`.
"""

import math

import numpy as np
import pytest
from engine_helpers import run_kernel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sitcli.engine.margin import liquidation_price
from sitcli.engine.records import ACCOUNT, CROSS, END, ISOLATED, LIQUIDATION
from sitcli.instruments import tiers

SETTINGS = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

COSTS = ("fees", "spread", "slippage", "financing", "funding", "liq_fee")


@st.composite
def ohlc_paths(draw, min_bars=3, max_bars=40):
    """Positive OHLC bars with high >= max(open, close) and low <= min(open, close)."""
    n = draw(st.integers(min_bars, max_bars))
    vol = draw(st.sampled_from([0.002, 0.01, 0.03, 0.08]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    p0 = draw(st.sampled_from([0.05, 1.0, 37.5, 50000.0]))
    gaps = rng.normal(0, vol / 2, n)
    rets = rng.normal(0, vol, n)
    o = np.empty(n)
    c = np.empty(n)
    prev = p0
    for t in range(n):
        o[t] = prev * math.exp(gaps[t])
        c[t] = o[t] * math.exp(rets[t])
        prev = c[t]
    h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0, vol, n)))
    l = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, vol, n)))
    # some bars touch their extremes at the open or close
    flat = rng.random(n) < 0.15
    h[flat] = np.maximum(o, c)[flat]
    l[flat] = np.minimum(o, c)[flat]
    assert (h >= np.maximum(o, c)).all() and (l <= np.minimum(o, c)).all() and (l > 0).all()
    return o, h, l, c


@st.composite
def signal_arrays(draw, n):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    p_entry = draw(st.sampled_from([0.1, 0.3, 0.6]))
    p_short = draw(st.sampled_from([0.0, 0.5, 1.0]))
    entries = np.where(rng.random(n) < p_entry,
                       np.where(rng.random(n) < p_short, -1, 1), 0).astype(np.int8)
    exits = rng.random(n) < draw(st.sampled_from([0.0, 0.1, 0.3]))
    return entries, exits


maybe_rate = st.one_of(st.just(math.nan), st.floats(0.002, 0.4))


@st.composite
def runs(draw, modes=(ISOLATED, ACCOUNT), with_carry=True):
    o, h, l, c = draw(ohlc_paths())
    n = len(o)
    entries, exits = draw(signal_arrays(n))
    leverage = draw(st.floats(1.0, 100.0))
    mode = draw(st.sampled_from(modes))
    costly = draw(st.booleans())
    kw = dict(leverage=leverage, mode=mode, nbp=draw(st.booleans()), closeout=0.5,
              cash=draw(st.sampled_from([1000.0, 1.0, 2.5e6])),
              stop=draw(maybe_rate), take=draw(maybe_rate),
              max_bars=draw(st.sampled_from([0, 0, 1, 3])),
              take_first=draw(st.booleans()), fill_at_close=draw(st.booleans()))
    mmr = draw(st.floats(0.0, 0.02))
    kw["mmrs"] = (min(mmr, 0.5 / leverage),)
    if costly:
        kw.update(fee=draw(st.floats(0, 0.002)), half_spread=draw(st.floats(0, 0.002)),
                  slippage=draw(st.floats(0, 0.001)), liq_fee=draw(st.floats(0, 0.01)))
        if with_carry:
            rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
            kw.update(fin_long=draw(st.floats(-0.02, 0.1)), fin_short=draw(st.floats(-0.05, 0.1)),
                      fin_days=draw(st.sampled_from([360.0, 365.0])),
                      nights=rng.integers(0, 4, n).astype(float),
                      funding=rng.normal(0, 3e-4, n))
    return (o, h, l, c, entries, exits), kw


def check_identity(eq, trades, cash):
    sums = {k: float(np.sum(trades[k])) for k in ("pnl_gross", "protection", "pnl", *COSTS)}
    costs = sum(sums[k] for k in COSTS)
    scale = cash + np.sum(np.abs(trades["pnl_gross"])) + costs + abs(sums["protection"])
    tol = 1e-9 * scale
    by_parts = cash + sums["pnl_gross"] - costs + sums["protection"]
    assert eq[-1] == pytest.approx(by_parts, rel=0, abs=tol)
    assert eq[-1] == pytest.approx(cash + sums["pnl"], rel=0, abs=tol)
    # each trade's pnl is its own parts
    parts = (trades["pnl_gross"] - sum(trades[k] for k in COSTS) + trades["protection"])
    np.testing.assert_allclose(trades["pnl"], parts, rtol=0, atol=tol)


@SETTINGS
@given(runs(modes=(ISOLATED, ACCOUNT, CROSS)))
def test_accounting_identity(case):
    args, kw = case
    eq, trades, _ = run_kernel(*args, **kw)
    assert np.isfinite(eq).all()
    check_identity(eq, trades, kw["cash"])
    # every trade is closed, the last equity is the cash after the END close-out
    assert (trades["exit_bar"] >= trades["entry_bar"]).all()
    assert ((trades["exit_reason"] != END) | (trades["exit_bar"] == len(eq) - 1)).all()


@SETTINGS
@given(runs(modes=(ISOLATED, ACCOUNT, CROSS)))
def test_negative_balance_protection_keeps_equity_non_negative(case):
    # every mode, with stops, funding and financing: nothing may leave equity below 0
    args, kw = case
    kw["nbp"] = True
    eq, trades, _ = run_kernel(*args, **kw)
    tol = 1e-9 * max(kw["cash"], float(np.max(np.abs(eq))))
    assert eq.min() >= -tol, f"equity {eq.min()} at bar {int(eq.argmin())}"
    check_identity(eq, trades, kw["cash"])


@pytest.mark.parametrize("mode", [ACCOUNT, CROSS], ids=["account", "cross"])
def test_nbp_holds_when_a_stop_gaps_through_the_open(mode):
    # 10x long from bar 1's open 100 (margin 1000, q 100), stop 5% at 95; bar 2 opens at 85:
    # −15% × 10 = −150% of the margin, a 500 deficit NBP must forgive. Actual: equity −500.
    # The same bars without the stop give a close-out at 85, protection 500, equity 0.
    o = np.array([100.0, 100.0, 85.0, 85.0])
    eq, trades, _ = run_kernel(o, o, o, o, [1, 0, 0, 0], leverage=10.0, mode=mode, nbp=True,
                               stop=0.05)
    assert eq[2] == pytest.approx(0.0, abs=1e-9), f"equity {eq[2]} (expected 0)"
    assert trades[0]["protection"] == pytest.approx(500.0)


def test_nbp_holds_when_exit_costs_exceed_equity_cross():
    # CROSS, maintenance 0, 10x, slippage 1%: long fills at 101 (q = 10000/101 = 99.0099).
    # Bar 2 low = close = 91.5: equity 1000 + q·(91.5 − 101) = 59.41 > 0, no liquidation.
    # The exit signal fills at bar 3's open 91.5·0.99 = 90.585: cash 1000 + q·(90.585 − 101)
    # = −31.19. Expected 0 with protection 31.19.
    o = np.array([100.0, 100.0, 100.0, 91.5, 91.5])
    l = np.array([100.0, 100.0, 91.5, 91.5, 91.5])
    c = np.array([100.0, 100.0, 91.5, 91.5, 91.5])
    eq, trades, _ = run_kernel(o, o, l, c, [1, 0, 0, 0, 0], [0, 0, 1, 0, 0], leverage=10.0,
                               mode=CROSS, nbp=True, slippage=0.01)
    assert eq[3] == pytest.approx(0.0, abs=1e-9), f"equity {eq[3]} (expected 0)"
    assert trades[0]["protection"] == pytest.approx(10000 / 101 * (101 - 90.585) - 1000,
                                                    rel=1e-9)


def test_nbp_equity_non_negative_after_funding_at_the_close():
    # 100x long at 100, margin 1000 (q = 1000). LP = 99 (maintenance 0). Bar 2 closes at 99.05,
    # 0.05 above LP: equity before funding = 1000 + 1000·(99.05 − 100) = 50. Funding 0.1% of
    # notional (q·close·rate = 99.05) is charged from the margin at that close → equity −49.05.
    o = np.array([100.0, 100.0, 99.5, 99.2])
    h = np.array([100.0, 100.0, 99.6, 99.2])
    l = np.array([100.0, 99.8, 99.01, 98.0])
    c = np.array([100.0, 99.8, 99.05, 99.0])
    funding = np.array([0.0, 0.0, 0.001, 0.0])
    eq, trades, liqs = run_kernel(o, h, l, c, [1, 0, 0, 0], leverage=100.0, funding=funding)
    assert eq[2] >= 0.0, f"equity at bar 2 close = {eq[2]}"


@settings(max_examples=100, deadline=None)
@given(side=st.sampled_from([1, -1]), entry=st.floats(0.01, 1e6),
       lev1=st.floats(1.0, 100.0), lev2=st.floats(1.0, 100.0), mmr=st.floats(0.0, 0.009),
       ladder=st.booleans())
def test_liquidation_price_moves_toward_entry_with_leverage(side, entry, lev1, lev2, mmr, ladder):
    lo, hi = sorted((lev1, lev2))
    notional = 1000.0 if not ladder else entry * 10.0
    qty = notional / entry
    if ladder:   # BTC ladder: maintenance continuous and convex in notional
        t = tiers("btc")
        floors, mmrs, cums = list(t.floor), list(t.mmr), list(t.cum)
        cap = t.max_leverage[t.bracket(notional)]   # above it, liquidated on entry
        hi, lo = min(hi, cap), min(lo, cap)
    else:
        floors, mmrs, cums = [0.0], [mmr], [0.0]
    lp_lo = liquidation_price(side, qty, entry, notional / lo, floors, mmrs, cums)
    lp_hi = liquidation_price(side, qty, entry, notional / hi, floors, mmrs, cums)
    if side > 0:
        assert lp_hi >= lp_lo
        if hi > lo * (1 + 1e-6) and lp_lo > 0:
            assert lp_hi > lp_lo
        assert lp_hi < entry
    else:
        assert lp_hi <= lp_lo
        if hi > lo * (1 + 1e-6):
            assert lp_hi < lp_lo
        assert lp_hi > entry


@settings(max_examples=100, deadline=None)
@given(side=st.sampled_from([1, -1]), entry=st.floats(0.01, 1e6), lev=st.floats(1.0, 100.0),
       f1=st.floats(0.0, 0.99), f2=st.floats(0.0, 0.99))
def test_liquidation_price_moves_toward_entry_with_maintenance(side, entry, lev, f1, f2):
    # maintenance rates below 1/lev, so the position is not liquidated on entry
    m1, m2 = sorted((f1 / lev, f2 / lev))
    qty = 3.0
    margin = qty * entry / lev
    lp1 = liquidation_price(side, qty, entry, margin, [0.0], [m1], [0.0])
    lp2 = liquidation_price(side, qty, entry, margin, [0.0], [m2], [0.0])
    if side > 0:
        assert lp2 >= lp1
        if m2 > m1 * (1 + 1e-6) + 1e-12 and lp1 > 0:
            assert lp2 > lp1
        assert lp2 < entry
        assert lp1 == pytest.approx(entry * (1 - 1 / lev) / (1 - m1), rel=1e-9, abs=1e-9 * entry)
    else:
        assert lp2 <= lp1
        if m2 > m1 * (1 + 1e-6) + 1e-12:
            assert lp2 < lp1
        assert lp2 > entry
        assert lp1 == pytest.approx(entry * (1 + 1 / lev) / (1 + m1), rel=1e-9)


def liquidation_bars(entry, threshold, low2):
    """Signal on bar 0, fill at bar 1's open `entry`; bar 1 stays well above the threshold;
    bar 2's low is `low2`; bar 3 recovers."""
    o = np.array([entry, entry, entry, entry])
    lo1 = entry - 0.25 * (entry - threshold)
    h = np.array([entry, entry * 1.01, entry, entry * 1.01])
    l = np.array([entry, lo1, low2, entry])
    c = np.array([entry, entry, entry, entry * 1.005])
    return o, h, l, c


@settings(max_examples=100, deadline=None)
@given(entry=st.floats(0.01, 1e6), lev=st.floats(1.5, 100.0))
def test_long_liquidated_exactly_at_entry_times_one_minus_inverse_leverage(entry, lev):
    threshold = entry * (1 - 1 / lev)
    entries = [1, 0, 0, 0]
    # slightly above: no liquidation, the trade runs to the end
    eq, trades, liqs = run_kernel(*liquidation_bars(entry, threshold, threshold * (1 + 1e-9)),
                                  entries, leverage=lev)
    assert len(liqs) == 0
    assert len(trades) == 1 and trades[0]["exit_reason"] == END
    assert trades[0]["entry_price"] == entry
    # exactly at it (the kernel's trigger tolerance absorbs the few ulps by which the computed
    # LP = (M − q·E)/(−q) can miss E·(1 − 1/L)) and below: liquidated on bar 2 at the threshold
    for low2 in (threshold, threshold * (1 - 1e-9), threshold * 0.5):
        eq, trades, liqs = run_kernel(*liquidation_bars(entry, threshold, low2), entries,
                                      leverage=lev)
        assert len(liqs) == 1, f"low {low2!r} vs threshold {threshold!r}"
        assert liqs[0]["bar"] == 2 and not liqs[0]["gap"]
        assert liqs[0]["fill_price"] == pytest.approx(threshold, rel=1e-12)
        assert liqs[0]["trigger_price"] == pytest.approx(threshold, rel=1e-12)
        assert len(trades) == 1 and trades[0]["exit_reason"] == LIQUIDATION
        assert trades[0]["exit_price"] == pytest.approx(threshold, rel=1e-12)
        assert trades[0]["pnl"] == pytest.approx(-1000.0, rel=1e-9)   # the whole margin
        assert eq[2:] == pytest.approx(0.0, abs=1e-9 * 1000.0)


def test_long_liquidated_when_low_is_bit_exactly_at_threshold():
    # the computed LP is 1 ulp below 2/3 here; a low of exactly 2/3 must still liquidate
    entry, lev = 1.0, 3.0
    threshold = entry * (1 - 1 / lev)
    _, _, liqs = run_kernel(*liquidation_bars(entry, threshold, threshold), [1, 0, 0, 0],
                            leverage=lev)
    assert len(liqs) == 1


@settings(max_examples=60, deadline=None)
@given(path=ohlc_paths(min_bars=2, max_bars=60), cash=st.sampled_from([1000.0, 1.0, 3.3e7]))
def test_one_x_long_equals_buy_and_hold(path, cash):
    o, h, l, c = path
    n = len(o)
    entries = np.zeros(n, np.int8)
    entries[0] = 1
    eq, trades, liqs = run_kernel(o, h, l, c, entries, cash=cash, leverage=1.0)
    assert eq[0] == cash
    np.testing.assert_allclose(eq[1:], cash * c[1:] / o[1], rtol=1e-12)
    assert len(liqs) == 0 and len(trades) == 1
    assert trades[0]["entry_bar"] == 1 and trades[0]["exit_reason"] == END

