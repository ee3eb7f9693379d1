"""Published liquidation-price and tier vectors (research/anchors.md §3) against our formulas.

Every vector is reproduced through `sitcli.engine.margin.liquidation_price`, the one formula
the kernel and the calculator share (DESIGN §5):

    LP = (M + c − s·q·E) / (q·m − s·q)          M margin, m maintenance rate, c amount

Where a venue's published formula is not literally ours, the test says how the inputs map and
also checks an independent restatement of the venue's formula, so the equivalence is shown
rather than assumed. Tolerance rel 1e-9 unless the source value is truncated or has a typo.
"""

import math

import pytest

from sitcli.engine.margin import (
    bankruptcy_price,
    liquidation_price,
    tier_index,
)
from sitcli.instruments import tiers
from sitcli.liquidation import build_position, report

REL = 1e-9
SIDE = {"long": 1, "short": -1}


def lp_single(side, qty, entry, margin, mmr, cum=0.0):
    """Our formula with one flat maintenance tier."""
    return liquidation_price(side, qty, entry, margin, [0.0], [mmr], [cum])


# --- A1 binance: isolated, WB = stake = amount·open/leverage, (MMR, cum) = (0.01, 0.01) -------
# Binance's FAQ formula with TMM1 = UPNL1 = 0 is literally ours: M = WB, m = MMR, c = cum.
BINANCE_A1 = [
    # side, lev, open, amount, expected
    ("short", 5, 10, 1.0, 11.89108910891089),
    # the fixture asserts 13.211221122079207 (an arithmetic slip in freqtrade's test, anchors
    # notes the exact value 13.2112211221122); both are within rel 3e-12, so rel 1e-9 holds.
    ("short", 3, 10, 1.0, 13.211221122079207),
    ("short", 5, 8, 1.0, 9.514851485148514),
    ("short", 5, 10, 0.6, 11.897689768976898),
    ("long", 5, 10, 1.0, 8.070707070707071),
    ("long", 5, 8, 1.0, 6.454545454545454),
    ("long", 3, 10, 1.0, 6.723905723905723),
    ("long", 5, 10, 0.6, 8.063973063973064),
]


@pytest.mark.parametrize("side,lev,open_,amount,expected", BINANCE_A1)
def test_binance_isolated_a1(side, lev, open_, amount, expected):
    s = SIDE[side]
    wb = amount * open_ / lev
    got = lp_single(s, amount, open_, wb, 0.01, 0.01)
    assert got == pytest.approx(expected, rel=REL)
    # independent restatement of the FAQ formula (isolated: TMM1 = UPNL1 = 0)
    faq = (wb - 0.0 + 0.0 + 0.01 - s * amount * open_) / (amount * 0.01 - s * amount)
    assert got == pytest.approx(faq, rel=1e-14)


def test_binance_a1_exact_value_of_the_typo_row():
    # anchors.md: "exact formula gives 13.2112211221122" for short 3x open 10 amount 1
    assert lp_single(-1, 1.0, 10.0, 10.0 / 3, 0.01, 0.01) == pytest.approx(13.2112211221122,
                                                                           rel=1e-12)


# --- A1 gate / okx: freqtrade's generic formula with the taker fee -------------------------
# Gate:  long  LP = (EP − WB/Q) / (1 − (MMR + fee)),  short LP = (EP + WB/Q) / (1 + (MMR + fee))
# Ours with c = 0 and m' = MMR + fee: LP = (M − s·q·E)/(q·m' − s·q) = (E − s·M/q)/(1 − s·m')
# which is the same expression, so the fee acts as an extra maintenance rate.
GATE_MMR, TAKER = 0.01, 0.0006
GATE_OKX_A1 = [
    ("gate", "short", 5, 10, 1.0, 11.87413417771621),
    ("gate", "short", 5, 10, 2.0, 11.87413417771621),
    ("gate", "short", 3, 10, 1.0, 13.193482419684678),
    ("gate", "short", 5, 8, 1.0, 9.499307342172967),
    ("okx", "short", 3, 10, 1.0, 13.193482419684678),
    ("gate", "long", 5, 10, 1.0, 8.085708510208207),
    ("gate", "long", 3, 10, 1.0, 6.738090425173506),
    ("okx", "long", 3, 10, 1.0, 6.738090425173506),
]


@pytest.mark.parametrize("venue,side,lev,open_,amount,expected", GATE_OKX_A1)
def test_gate_okx_taker_fee_variant_a1(venue, side, lev, open_, amount, expected):
    s = SIDE[side]
    wb = amount * open_ / lev
    got = lp_single(s, amount, open_, wb, GATE_MMR + TAKER, 0.0)
    assert got == pytest.approx(expected, rel=REL)
    if s > 0:
        gate = (open_ - wb / amount) / (1 - (GATE_MMR + TAKER))
    else:
        gate = (open_ + wb / amount) / (1 + (GATE_MMR + TAKER))
    assert gate == pytest.approx(expected, rel=REL)


# --- A1 bybit simplified: LP = EP·(1 − s/lev + s·MMR), MMR = 0.01 in the fixture -------------
# Bybit's simplified rule holds the maintenance margin at its entry-notional value N·MMR,
# while ours evaluates it at the price, q·P·m − c. They coincide with m = 0 and c = −N·MMR:
#   M + s·q·(P − E) = N·MMR  =>  P = E·(1 − s/lev + s·MMR)     (M = N/lev)
# With m = MMR and c = 0 our formula gives E·(1 − s/lev)/(1 − s·MMR) instead (Binance's form),
# which differs from Bybit's by O(MMR/lev); the vectors are the simplified ones.
BYBIT_MMR = 0.01
BYBIT_A1 = [
    ("long", 1, 10, 1.0, 0.1, REL),
    ("long", 3, 10, 1.0, 6.7666666, 1e-7),    # the fixture truncates 6.7666…
    ("long", 5, 10, 1.0, 8.1, REL),
    ("long", 10, 10, 1.0, 9.1, REL),
    ("short", 1, 10, 1.0, 19.9, REL),
    ("short", 3, 10, 1.0, 13.233333, 1e-7),   # the fixture truncates 13.2333…
    ("short", 5, 10, 1.0, 11.9, REL),
    ("short", 10, 10, 1.0, 10.9, REL),
]


def bybit_simplified(side, entry, lev, mmr):
    return entry * (1 - side / lev + side * mmr)


@pytest.mark.parametrize("side,lev,open_,amount,expected,rel", BYBIT_A1)
def test_bybit_simplified_a1(side, lev, open_, amount, expected, rel):
    s = SIDE[side]
    assert bybit_simplified(s, open_, lev, BYBIT_MMR) == pytest.approx(expected, rel=rel)
    notional = amount * open_
    ours = lp_single(s, amount, open_, notional / lev, 0.0, -notional * BYBIT_MMR)
    assert ours == pytest.approx(expected, rel=rel)
    assert ours == pytest.approx(bybit_simplified(s, open_, lev, BYBIT_MMR), rel=1e-12)


def test_bybit_simplified_50x_derived_vectors_d():
    # anchors §3 D: Bybit simplified, MMR 0.005, EP 50000, 50x: long 49250, short 50750
    for s, expected in ((1, 49250.0), (-1, 50750.0)):
        assert bybit_simplified(s, 50000.0, 50, 0.005) == pytest.approx(expected, rel=REL)
        ours = lp_single(s, 1.0, 50000.0, 1000.0, 0.0, -50000.0 * 0.005)
        assert ours == pytest.approx(expected, rel=REL)


# --- A6 tier lookups on the BTC ladder, A7 the cum recurrence -----------------------------
A7_MAINT_AMT = (0, 50, 1300, 16300, 203800, 2203800, 4703800, 9703800, 49703800, 199703800)
A7_FLOOR = (0, 50000, 250000, 1000000, 7500000, 40000000, 100000000, 200000000, 400000000,
            600000000)
A7_MMR = (0.004, 0.005, 0.01, 0.025, 0.05, 0.1, 0.125, 0.15, 0.25, 0.5)
A7_MAXLEV = (125, 100, 50, 20, 10, 5, 4, 3, 2, 1)


@pytest.mark.parametrize("notional,mmr,cum", [(170.30, 0.004, 0.0),
                                              (600000000, 0.5, 1.997038e8)])
def test_btc_tier_lookup_a6(notional, mmr, cum):
    t = tiers("btc")
    j = t.bracket(notional)
    assert j == tier_index(list(t.floor), notional)   # the kernel's lookup agrees
    assert t.mmr[j] == mmr
    assert t.cum[j] == pytest.approx(cum, rel=REL, abs=1e-9)


@pytest.mark.parametrize("notional,max_lev", [(170.30, 125.0), (600000000, 1.0), (0.0, 125.0),
                                              (300000000, 3.0)])
def test_btc_tier_max_leverage_by_notional(notional, max_lev):
    # our cap is keyed on position notional (Binance); 300M sits in the 200M-400M bracket (3x)
    t = tiers("btc")
    assert t.max_leverage[t.bracket(notional)] == max_lev


def freqtrade_max_leverage(t, stake, max_notional=1e9):
    """freqtrade's `get_max_leverage`, restated: keyed on the *stake*, the highest leverage
    whose notional stake·lev still fits a bracket allowing it (fixture maxNotional 1e9)."""
    if stake == 0:
        return t.max_leverage[0]
    caps = t.floor[1:] + (max_notional,)
    for j in range(len(t.floor)):
        if j < len(t.floor) - 1:
            if t.floor[j + 1] / t.max_leverage[j + 1] > stake:
                return min(caps[j] / stake, t.max_leverage[j])
        elif stake > caps[j]:
            raise ValueError(f"Amount {stake} too high")
        else:
            return t.max_leverage[j]


@pytest.mark.parametrize("stake,max_lev", [(170.30, 125.0), (300000000, 2.0),
                                           (600000000, 1.0), (0.0, 125.0)])
def test_btc_tier_max_leverage_a6(stake, max_lev):
    # freqtrade's test_get_max_leverage_futures passes the stake, not the notional, so these
    # vectors check our ladder's data through freqtrade's rule (restated above)
    assert freqtrade_max_leverage(tiers("btc"), stake) == pytest.approx(max_lev, rel=REL)


def test_btc_tier_max_leverage_too_high_a6():
    with pytest.raises(ValueError, match="too high"):
        freqtrade_max_leverage(tiers("btc"), 1000000000.01)


def test_btc_ladder_matches_fixture_a7():
    t = tiers("btc")
    assert t.floor == A7_FLOOR
    assert t.mmr == A7_MMR
    assert t.max_leverage == A7_MAXLEV


def test_cum_recurrence_matches_fixture_a7():
    cum = tiers("btc").cum
    assert len(cum) == len(A7_MAINT_AMT)
    for got, want in zip(cum, A7_MAINT_AMT, strict=True):
        # 1 ulp: 1e6·(0.025 − 0.01) is 15000.000000000002 in binary floating point
        assert got == pytest.approx(want, rel=1e-15, abs=0)


def test_cum_recurrence_bit_exact_a7():
    assert tiers("btc").cum == tuple(float(x) for x in A7_MAINT_AMT)


# --- D: derived 50x vectors, Binance isolated, BTC tier 1 (MMR 0.004, cum 0) ---------------
def test_binance_50x_derived_vectors_d():
    q, e, wb = 1.0, 50000.0, 1000.0
    long_lp = lp_single(1, q, e, wb, 0.004, 0.0)
    short_lp = lp_single(-1, q, e, wb, 0.004, 0.0)
    assert long_lp == pytest.approx(49196.787148594376, rel=REL)
    assert short_lp == pytest.approx(50796.812749003984, rel=REL)
    # check: at the long LP, margin + PnL = Q·LP·MMR = 196.787…
    assert wb + q * (long_lp - e) == pytest.approx(q * long_lp * 0.004, rel=1e-12)
    assert wb + q * (long_lp - e) == pytest.approx(196.787, abs=1e-3)
    assert bankruptcy_price(1, q, e, wb) == pytest.approx(49000.0, rel=REL)
    assert bankruptcy_price(-1, q, e, wb) == pytest.approx(51000.0, rel=REL)


def test_binance_50x_on_the_full_btc_ladder():
    """Same position through the whole ladder: the long stays in bracket 1 (q·LP < 50000);
    the short's LP has notional 50796 > 50000, so it is recomputed in bracket 2
    (MMR 0.005, cum 50): (1000 + 50 + 50000) / 1.005 (derived here, not a source vector)."""
    t = tiers("btc")
    cums = list(t.cum)
    long_lp = liquidation_price(1, 1.0, 50000.0, 1000.0, list(t.floor), list(t.mmr), cums)
    short_lp = liquidation_price(-1, 1.0, 50000.0, 1000.0, list(t.floor), list(t.mmr), cums)
    assert long_lp == pytest.approx(49196.787148594376, rel=REL)
    assert short_lp == pytest.approx(51050.0 / 1.005, rel=REL)
    assert t.bracket(1.0 * long_lp) == 0 and t.bracket(1.0 * short_lp) == 1   # 0-based


# --- DESIGN §5 worked example through the calculator ----------------------------------------
def test_design_worked_example_maintenance_zero():
    pos = build_position("long", 50000.0, 50.0, None, mmr=0.0)
    rep = report(pos, [3.0, -2.0, -1.0])
    rows = {r["move_pct"]: r for r in rep["moves"]}
    assert rows[3.0]["return_on_margin_pct"] == pytest.approx(150.0, rel=REL)
    assert not rows[3.0]["liquidated"]
    assert rows[-1.0]["return_on_margin_pct"] == pytest.approx(-50.0, rel=REL)
    assert not rows[-1.0]["liquidated"]
    assert rows[-2.0]["return_on_margin_pct"] == pytest.approx(-100.0, rel=REL)
    assert rows[-2.0]["liquidated"]   # at maintenance 0 the position is liquidated at −2%
    assert rep["liquidation_price"] == pytest.approx(49000.0, rel=REL)
    assert rep["adverse_move_pct"] == pytest.approx(-2.0, rel=REL)
    assert rep["bankruptcy_price"] == pytest.approx(49000.0, rel=REL)


def test_design_worked_example_maintenance_half_percent():
    pos = build_position("long", 50000.0, 50.0, None, mmr=0.005)
    rep = report(pos, [3.0, -1.0, -2.0])
    # LP = E·(1 − 1/50)/(1 − 0.005) → a −1.5075…% move
    assert rep["liquidation_price"] == pytest.approx(50000.0 * 0.98 / 0.995, rel=REL)
    assert rep["adverse_move_pct"] == pytest.approx(100 * (0.98 / 0.995 - 1), rel=REL)
    assert rep["adverse_move_pct"] == pytest.approx(-1.5075, abs=5e-5)
    assert round(rep["adverse_move_pct"], 2) == -1.51
    rows = {r["move_pct"]: r for r in rep["moves"]}
    assert rows[3.0]["return_on_margin_pct"] == pytest.approx(150.0, rel=REL)
    assert not rows[-1.0]["liquidated"]
    assert rows[-2.0]["liquidated"]
    assert math.isclose(rep["bankruptcy_price"], 49000.0, rel_tol=REL)


def test_bracket_notional_cap_on_binance_btc_brackets():
    from sitcli.engine.margin import bracket_notional_cap

    floors = (0.0, 50_000.0, 250_000.0, 1_000_000.0, 7_500_000.0)
    max_lev = (125.0, 100.0, 50.0, 20.0, 10.0)
    # 300k at 60x sits in the 250k-1M bracket (50x max): cut to just under 250k, where 100x is allowed
    assert bracket_notional_cap(300_000.0, 60.0, floors, max_lev) == pytest.approx(250_000.0, rel=1e-9)
    assert bracket_notional_cap(300_000.0, 60.0, floors, max_lev) < 250_000.0
    # 60k at 125x: the 50k-250k bracket allows 100x, so down to the first bracket's 50k
    assert bracket_notional_cap(60_000.0, 125.0, floors, max_lev) == pytest.approx(50_000.0, rel=1e-9)
    # 5M at exactly 20x is allowed where it is; 150x is allowed nowhere
    assert bracket_notional_cap(5_000_000.0, 20.0, floors, max_lev) == 5_000_000.0
    assert bracket_notional_cap(10.0, 150.0, floors, max_lev) == 0.0
