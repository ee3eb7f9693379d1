"""Margin formulas: maintenance tiers, liquidation, bankruptcy and close-out prices.

One formula, one place. These are plain Python on purpose: the kernel compiles them with
numba (`kernel.py`), and the scalar calculator calls them directly, so `sitcli liquidation`
answers without paying for numba's import.

Isolated one-way position (side s, quantity q, entry E, margin M, tier rate m and amount c),
the Binance USDⓈ-M form: the position is liquidated when M + s·q·(P − E) = q·P·m − c, so

    LP = (M + c − s·q·E) / (q·m − s·q)

and the tier is the one whose notional bracket contains q·LP (maintenance grows with the
notional, so a short whose price rises can move into a higher tier).
"""

import math


def tier_index(floors, notional):
    """Index of the bracket whose floor is the largest one <= notional (floors ascending)."""
    j = 0
    for i in range(len(floors)):
        if floors[i] <= notional:
            j = i
        else:
            break
    return j


def bracket_notional_cap(notional, leverage, floors, max_leverages):
    """The largest notional up to `notional` whose bracket allows `leverage` (brackets allow
    less leverage as the notional grows); 0.0 when even the first bracket does not."""
    j = len(floors) - 1
    while j > 0 and floors[j] > notional:   # the bracket holding `notional` (no call: numba)
        j -= 1
    while leverage > max_leverages[j]:
        if j == 0:
            return 0.0
        notional = floors[j] * (1.0 - 1e-12)   # just inside the bracket below
        j -= 1
    return notional


def liquidation_price(side, qty, entry, margin, floors, mmrs, cums):
    """Isolated liquidation price; 0.0 for a long that cannot be liquidated (LP <= 0)."""
    price = math.nan
    n = len(floors)
    for j in range(n):
        if not math.isfinite(floors[j]):
            break
        denom = qty * mmrs[j] - side * qty
        if denom == 0.0:
            continue
        candidate = (margin + cums[j] - side * qty * entry) / denom
        if j == 0:
            price = candidate
        upper = floors[j + 1] if j + 1 < n else math.inf
        if candidate <= 0.0 and j == 0:
            break
        if floors[j] <= qty * candidate < upper:
            price = candidate
            break
    if side > 0 and price <= 0.0:
        return 0.0
    return price


def bankruptcy_price(side, qty, entry, margin):
    """Price at which the position's margin is exactly used up."""
    return entry - side * margin / qty


def closeout_price(side, qty, entry, margin, level, margin_leverage):
    """Account close-out (CFD): equity margin + s·q·(P − E) falls to level × the margin the
    broker requires, q·E / margin_leverage (its leverage cap, e.g. 5 for ESMA single stocks)."""
    return entry + side * (level * qty * entry / margin_leverage - margin) / qty
