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


def liquidation_price(side, qty, entry, margin, floors, mmrs, cums, extra_rate=0.0,
                      amounts=1.0):
    """Isolated liquidation price; 0.0 for a long that cannot be liquidated (LP <= 0).
    `extra_rate` is added to every tier's rate and the amounts are scaled by `amounts`
    (OKX: the taker fee, no amounts)."""
    price = math.nan
    n = len(floors)
    for j in range(n):
        if not math.isfinite(floors[j]):
            break
        denom = qty * (mmrs[j] + extra_rate) - side * qty
        if denom == 0.0:
            continue
        candidate = (margin + amounts * cums[j] - side * qty * entry) / denom
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


def open_position(side, fill, leverage, budget, fee_rate, floors, mmrs, cums, maxlevs,
                  rule=0):
    """Opening a position: the one rule the kernel, the calculator, `scenario`, `sweep` and
    `report daily` use.

    The position's margin is its notional / leverage and the entry fee (rate of notional) is
    paid on top of it from the same budget, so margin + fee = budget (Binance: the isolated
    margin is notional / leverage, the open fee comes from the available balance). The
    notional is then cut to the largest that the maintenance brackets allow at this leverage
    (an exchange rejects a larger order).

    `rule`: the venue's liquidation rule (`LIQ_*`, `venue_liquidation_price`).

    Returns (qty, margin, fee, liquidation price, requested qty); qty is 0.0 when no order can
    be filled: no bracket allows the leverage, nothing to buy, or a liquidation price at or
    beyond the entry.
    """
    margin = budget / (1.0 + leverage * fee_rate)
    requested = margin * leverage / fill
    notional = requested * fill
    capped = bracket_notional_cap(notional, leverage, floors, maxlevs)
    if capped == 0.0 or not requested > 0.0:
        return 0.0, 0.0, 0.0, math.nan, requested
    if capped >= notional:
        qty = requested
        # budget - margin is exact here, so a wallet of `budget` keeps exactly `margin` after
        # the fee and a liquidation that takes the margin leaves exactly 0, not -1e-14
        fee = budget - margin
    else:
        qty = capped / fill
        margin = qty * fill / leverage
        fee = qty * fill * fee_rate
    lp = venue_liquidation_price(rule, side, qty, fill, margin, floors, mmrs, cums, fee_rate)
    if side * (fill - lp) <= 0.0:
        return 0.0, 0.0, 0.0, lp, requested
    return qty, margin, fee, lp, requested


def requirement_leverage(leverage, cap):
    """CFD close-out: the broker requires notional / its leverage cap (ESMA's definition), or
    notional / leverage for a position above the cap (--allow-above-cap)."""
    return max(leverage, cap)


def trigger_price(account_rule, side, qty, entry, margin, floors, mmrs, cums, closeout, req_lev):
    """The price at which a lone position is liquidated (perpetuals: the maintenance rule) or
    closed out (`account_rule`, CFDs and futures: equity = margin + PnL falls to `closeout` x
    the required margin). A long that cannot be liquidated gives 0.0."""
    if account_rule:
        return max(0.0, closeout_price(side, qty, entry, margin, closeout, req_lev))
    return liquidation_price(side, qty, entry, margin, floors, mmrs, cums)


def reaches(side, price, level):
    """Has `price` reached `level` on the adverse side (to within 1e-12 relative: a level is
    computed, not given, so a bar that touches it up to rounding triggers it)."""
    return side * (price - level) <= 1e-12 * abs(level)


def first_touch(side, open_, adverse, level):
    """First passage through `level` within one bar, the conservative order: an open already
    beyond it fills at the open (a gap); otherwise the adverse extreme (low for a long, high
    for a short) reaching it fills at the level. Returns the fill price, or NaN if the bar
    never reaches it; a gap is `fill != level`."""
    if reaches(side, open_, level):
        return open_
    if reaches(side, adverse, level):
        return level
    return math.nan


def refill(equity, start_cash, ruin_at):
    """`--on-ruin topup`: the capital that refills a wiped-out account (equity at or below
    `ruin_at`, with nothing open) to its starting cash; 0.0 when it is not wiped out. The
    kernel applies it to a flat account, the trade Monte Carlo after each trade."""
    return start_cash - equity if equity <= ruin_at else 0.0


# --- other venues' rules: the calculator and the kernel pick one by `venue_liquidation_price` ---

LIQ_BINANCE, LIQ_BYBIT, LIQ_OKX, LIQ_HYPERLIQUID = 0, 1, 2, 3
LIQUIDATION_RULES = ("binance", "bybit", "okx", "hyperliquid")   # index = code

def bybit_liquidation_price(side, qty, entry, margin, floors, mmrs, cums):
    """Bybit USDT contracts, isolated: maintenance is fixed at entry, on the position value
    there (MM = q·E·mmr − deduction, the risk-limit tier of q·E), and
        LP = E − s·(M − MM)/q
    where M is the position's margin (initial margin plus any margin added)."""
    j = tier_index(floors, qty * entry)
    maintenance = qty * entry * mmrs[j] - cums[j]
    return entry - side * (margin - maintenance) / qty


def okx_liquidation_price(side, qty, entry, margin, floors, mmrs, fee_rate):
    """OKX USDT-margined swaps, isolated: liquidated when the margin ratio
    (M + PnL) / (q·P·(mmr + taker fee)) falls to 100%, the tier's rate applying to the whole
    position (no deduction):  M + s·q·(P − E) = q·P·(mmr + fee), so
        LP = (M − s·q·E) / (q·(mmr + fee) − s·q)
    with the tier of the notional at LP (as Binance's rule, with amounts 0)."""
    # Binance's rule with the fee added to each tier's rate and no maintenance amounts
    # (the amounts are scaled to 0: `mmrs` only fills their place)
    return liquidation_price(side, qty, entry, margin, floors, mmrs, mmrs, fee_rate, 0.0)


def hyperliquid_mmr(max_leverage):
    """Hyperliquid: the maintenance rate is half the initial margin rate at the tier's
    maximum leverage (20x -> 2.5%)."""
    return 0.5 / max_leverage


def hyperliquid_liquidation_price(side, qty, entry, margin, floors, mmrs, cums):
    """Hyperliquid, isolated: liquidated when equity M + s·q·(P − E) falls to the maintenance
    margin q·P·mmr − deduction (deductions by the same recurrence as Binance's amounts), so
    with one tier  LP = E − s·(M − q·E·mmr) / (q·(1 − s·mmr))  (the docs' liq_price = price −
    side × margin_available / position_size / (1 − l × side), l = mmr): Binance's formula."""
    return liquidation_price(side, qty, entry, margin, floors, mmrs, cums)


# Hyperliquid (docs): liquidatable positions above 100,000 USDC are liquidated 20% at a time
HL_PARTIAL_THRESHOLD, HL_PARTIAL_FRACTION = 100_000.0, 0.2


def partial_liquidation_steps(side, qty, entry, margin, floors, mmrs, cums, threshold, fraction,
                              max_steps):
    """Hyperliquid's partial liquidation of an isolated position whose notional at the
    trigger is above `threshold` (100,000 USDC): `fraction` (20%) of it is closed at the
    liquidation price, the equity left stays behind the rest, and the rest gets a new
    liquidation price; a position at or below the threshold is closed whole. Orders are
    assumed to fill at the trigger price. Returns up to `max_steps` rows
    (price, quantity closed, quantity left, margin left)."""
    steps = []
    q, e, m = qty, entry, margin
    while q > 0.0 and len(steps) < max_steps:
        lp = hyperliquid_liquidation_price(side, q, e, m, floors, mmrs, cums)
        if not lp > 0.0:
            break
        equity = m + side * q * (lp - e)
        closed = q * fraction if q * lp > threshold else q
        q -= closed
        # the position left is marked at the trigger price and carries the equity left
        e, m = lp, equity
        steps.append((lp, closed, q, equity))
    return steps


# --- what an exit costs --------------------------------------------------------------------

EXIT_CLOSE_OUT = 0   # CFD / futures close-out: commission plus the venue's close-out fee rate
EXIT_BANKRUPT = 1    # perpetual liquidation at the bankruptcy price (Binance, Bybit, OKX)
EXIT_MARKET = 2      # Hyperliquid: closed on the book at the trigger, the rest stays with you


def exit_charges(liquidated, exit_rule, qty, fill, price_pnl, margin, fee_rate, liq_fee_rate):
    """What closing a position at `fill` costs: (commission, liquidation fee). The one exit
    rule the kernel, the calculator and `scenario` charge by.

    A normal exit pays the commission. A perpetual's liquidation (`EXIT_BANKRUPT`) closes at
    the bankruptcy price: no commission, and what the margin still held at the fill
    (margin + price PnL) is the venue's liquidation fee, so the whole margin is lost. A
    close-out (`EXIT_CLOSE_OUT`) pays the commission and `liq_fee_rate` of the notional; the
    trader keeps the equity left. Hyperliquid (`EXIT_MARKET`) pays the commission only."""
    if liquidated and exit_rule == EXIT_BANKRUPT:
        return 0.0, max(0.0, margin + price_pnl)
    commission = qty * fill * fee_rate
    if liquidated and exit_rule == EXIT_CLOSE_OUT:
        return commission, qty * fill * liq_fee_rate
    return commission, 0.0


def exit_rule_of(account_rule, liquidation_rule):
    """The exit rule code of a venue (`liquidation_rule` a `LIQ_*` code): close-out
    accounts, Hyperliquid, or the bankruptcy close of the other perpetual venues."""
    if account_rule:
        return EXIT_CLOSE_OUT
    return EXIT_MARKET if liquidation_rule == LIQ_HYPERLIQUID else EXIT_BANKRUPT


def venue_liquidation_price(rule, side, qty, entry, margin, floors, mmrs, cums, fee_rate):
    """The isolated liquidation price by the venue's rule (`LIQ_*` code): the one switch the
    calculator, the kernel and `scenario` go through. Hyperliquid's is Binance's formula on
    its own tiers."""
    if rule == LIQ_BYBIT:
        return bybit_liquidation_price(side, qty, entry, margin, floors, mmrs, cums)
    if rule == LIQ_OKX:
        return okx_liquidation_price(side, qty, entry, margin, floors, mmrs, fee_rate)
    return liquidation_price(side, qty, entry, margin, floors, mmrs, cums)


# --- inverse (coin-margined) contracts: quantity in USD contracts, margin and PnL in the coin ---
#
# A position of `face` USD (contracts x contract size) entered at E is worth face / P coin at
# price P; its PnL in coin is s·face·(1/E − 1/P). A price the position never reaches is 0.0
# for a long and +inf for a short (a short's loss in coin is bounded by face / E).

def _never(side):
    return 0.0 if side > 0 else math.inf


def inverse_liquidation_price(side, face, entry, margin, floors, mmrs, cums):
    """Binance COIN-M, isolated: liquidated when M + s·face·(1/E − 1/P) = face/P·mmr − cum
    (brackets and amounts in coin, the bracket of the position's coin value at LP), so
        LP = face·(mmr + s) / (M + cum + s·face/E)."""
    price = _never(side)
    n = len(floors)
    for j in range(n):
        if not math.isfinite(floors[j]):
            break
        denom = margin + cums[j] + side * face / entry
        candidate = face * (mmrs[j] + side) / denom if denom != 0.0 else -1.0
        if candidate <= 0.0:
            candidate = _never(side)
        if j == 0:
            price = candidate
        upper = floors[j + 1] if j + 1 < n else math.inf
        if 0.0 < candidate < math.inf and floors[j] <= face / candidate < upper:
            price = candidate
            break
    return price


def bybit_inverse_liquidation_price(side, face, entry, margin, floors, mmrs, cums):
    """Bybit inverse contracts, isolated: maintenance fixed at entry on the position value
    PV = face / E (MM = PV·mmr − deduction, the risk-limit tier of PV), and
        LP = face / (PV + s·(M − MM))
    (Bybit's 'Contract Quantity / [Position Value ± (Initial Margin − Maintenance Margin)]')."""
    value = face / entry
    j = tier_index(floors, value)
    maintenance = value * mmrs[j] - cums[j]
    denom = value + side * (margin - maintenance)
    return face / denom if denom > 0.0 else _never(side)


def inverse_bankruptcy_price(side, face, entry, margin):
    """Price at which the coin margin is used up: face / (face/E + s·M)."""
    denom = face / entry + side * margin
    return face / denom if denom > 0.0 else _never(side)


def inverse_pnl(side, face, entry, price):
    """PnL in coin of `face` USD of contracts from `entry` to `price`."""
    return side * face * (1.0 / entry - 1.0 / price)
