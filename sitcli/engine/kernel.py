"""The bar loop: many instruments, many parameter columns, isolated / cross / CFD accounts.

Arrays in, arrays out. Shapes: `n` bars, `n_inst` instruments, `n_sig` signal sets, `k`
columns (one strategy run each, see `records.column_dt`), `g` accounts (`records.account_dt`).

Inputs
    open_, high, low, close : (n, n_inst) float64 prices; NaN where the instrument has no bar
    funding : (n, n_inst) perpetual funding rate settled within the bar (sum of its stamps);
              a positive rate makes longs pay `qty * close * rate`
    funding_closed : (n, n_inst) the stamps while the underlying is closed after the bar,
              paid at its close by a position still held after the close's orders
    financing : (n, n_inst, 2) overnight financing a long (…, 0) and a short (…, 1) held at
              this close pay until the next, as a fraction of the notional: the bar's nights
              (3 on a Friday for daily equity bars) at each night's rate over the day count
              (`bars.financing_per_bar`); negative = received
    entries : (n, n_sig) int8, +1 open long / -1 open short (reverses an opposite position)
    exits   : (n, n_sig) bool, close the position
    cols, accounts : parameter records; columns of one account must be adjacent
    tier_floor, tier_mmr, tier_cum, tier_maxlev : (n_tier_sets, T) maintenance brackets
              (floors ascending, padded with +inf floors) and the leverage each allows
    fill_at_close : signals fill at their own bar's close instead of the next bar's open
    take_first : when a stop and a take-profit both lie inside one bar, assume the take first
    last_bar : (n_inst,) each instrument's last bar: its position is closed there (`end`)
    fine_open, fine_high, fine_low, fine_close : (m, n_inst) finer bars (`--detail`), NaN
              where an instrument has none; None without detail (`no_detail`)
    fine_start : (n + 1, n_inst) int64, bar t of instrument i spans finer rows
              fine_start[t, i] .. fine_start[t + 1, i]; (0, n_inst) without detail
    fine_funding : (m, n_inst) the funding rate settled at each finer bar's close (the
              stamps `bars.funding_stamps_per_bar` puts in it), charged there when the bar is
              walked; its bar's `funding` keeps only what no finer bar settles. (0, n_inst):
              every stamp at the bar's close
    mark : (4, n, n_inst) open, high, low, close an isolated position's liquidation is
              checked on (a perpetual's mark price); None (the default) = the last prices
    cols["liq_rule"] : the venue's isolated liquidation rule (`margin.LIQ_*`), which also
              picks the exit charged at a liquidation (`margin.exit_charges`)

Order within a bar (DESIGN §5), per account:
    1. open: gaps through the liquidation price, the stop or the take-profit fill at the open;
       an account already below its close-out / maintenance level is closed at the open
    2. pending market orders fill at open +/- half-spread +/- slippage
    3. adverse extreme: stop and liquidation, whichever lies nearer the open first
    4. favourable extreme: take-profit
    With detail, steps 3-4 walk the finer bars of the bar in order, each finer bar after the
    first also checking step 1 at its own open and paying the funding stamps at its close
    (a position that funding pushes past its trigger is liquidated at that close); a bar
    without finer bars keeps the rule above.
    5. close: funding, time exits, signals when fill_at_close, financing; a position whose
       funding or financing pushed it past its maintenance is liquidated at the close

Position size: all of `size` x free collateral as margin, except that a position may not
exceed the notional of the highest maintenance bracket that allows its leverage (an exchange
rejects larger orders); an order that no bracket allows, whose liquidation price would lie
beyond its own entry, or whose quantity rounds to zero, is not filled.

Negative balance protection: an isolated position never loses more than its margin; an
account's equity is lifted back to 0 whenever it ends a step below 0 with nothing open. The
forgiven amount is booked on the trade that caused it (`protection`).

Ruin (`--on-ruin topup`, per account): an account left flat with its equity at or below
`ruin_level` x its starting cash is refilled to the starting cash, the difference counted as
capital injected (`_refill_nb`): at each close, and before any entry (a reversal, or an entry
at the open after a gap closed the account out). Trading goes on from the next signal.

Outputs: equity (n, g) at each close, after any refill, trades (`trade_dt`), liquidations
(`liquidation_dt`); `simulate_injected` also the capital injected at each close (n, g)
and per account the total injected and the number of refills.
"""

import types

import numpy as np
from numba import njit, prange
from numba.core.cpu import CPUTargetOptions
from numba.extending import overload

from sitcli.engine import cacheload
from sitcli.engine import margin as formulas
from sitcli.engine.records import (
    ACCOUNT,
    CLOSE_OUT,
    END,
    EXIT_ORDER,
    ISOLATED,
    LIQUIDATION,
    SIGNAL,
    STOP,
    TAKE,
    TIME,
    fold_trade_dt,
    liquidation_dt,
    trade_dt,
)

cacheload.install()   # a warm run loads the kernels without numba's compiler imports

# numba types a global Python int, True or False as a literal and compiles a called helper
# once per literal value it is passed (a first backtest compiled _close_position_nb ten times):
# int64 and bool_ values are compile-time constants all the same, typed once
ACCOUNT, CLOSE_OUT, END, EXIT_ORDER, ISOLATED, LIQUIDATION, SIGNAL, STOP, TAKE, TIME = (
    np.int64(code) for code in (ACCOUNT, CLOSE_OUT, END, EXIT_ORDER, ISOLATED, LIQUIDATION,
                                SIGNAL, STOP, TAKE, TIME))
NO, YES = np.bool_(False), np.bool_(True)
# ... except where a version of its own is wanted: the common account's shape (`_combination_nb`)
ONE_COLUMN, ISOLATED_MODE = 1, int(ISOLATED)

# Speed without changing a result (measured on tests/benchmarks): helpers on every bar and
# order execution are inlined by LLVM (`INLINED`: a call passes every array as seven words;
# calling them instead halved the throughput). Each is typed and compiled once and LLVM puts
# it where it is called; numba's own inlining (`inline="always"`) copies and types it again
# at every call site, which made a first backtest compile 6 s longer. Inlining opening and
# closing too (the daily sweep's work is mostly trades) sped it up 9% and cost no compiling.
# The rarer account-level paths are called (`CALLED`); they and the bar loop itself run
# without numba's reference counting (`_nrt=False`, see account_nb).
# `_nrt` is numba's private switch (numba 0.59-0.68 have it): fall back to the default, about
# half the speed, on a numba that drops it rather than fail to compile.
NO_REFCOUNT = {"_nrt": False} if hasattr(CPUTargetOptions, "_nrt") else {}
# only other kernels call these: no entry point from Python (the two wrappers were 2-4 s of a
# first run's compiling), so a call from Python would crash; tests call them from numba
CALLED = dict(NO_REFCOUNT, no_cpython_wrapper=True, no_cfunc_wrapper=True)
INLINED = dict(CALLED, forceinline=True)
tier_index_nb = njit(cache=True, **INLINED)(formulas.tier_index)
liquidation_price_nb = njit(cache=True, **INLINED)(formulas.liquidation_price)
bracket_notional_cap_nb = njit(cache=True, **INLINED)(formulas.bracket_notional_cap)
reaches_nb = njit(cache=True, **INLINED)(formulas.reaches)
refill_nb = njit(cache=True, **INLINED)(formulas.refill)


# simulate's arguments: DETAIL_ARGS[0] plain ones, the six `--detail` arrays up to
# DETAIL_ARGS[1], then the optional mark prices
DETAIL_ARGS = (18, 24)


def no_detail(n_inst: int) -> tuple:
    """The six detail arguments of a run without `--detail`: no finer bars (None, so the
    compiled kernel leaves the detail walk out), spans and funding stamps of none (m = 0)."""
    return None, None, None, None, np.zeros((0, n_inst), np.int64), np.empty((0, n_inst))


def jit_formula(fn, **callees):
    """Compile a formula of `margin.py` that calls others, with those calls bound to their
    compiled versions (the plain module keeps plain Python, for the numba-free calculator)."""
    scope = dict(fn.__globals__, **callees)
    return njit(cache=True, **INLINED)(
        types.FunctionType(fn.__code__, scope, fn.__name__, fn.__defaults__))


exit_charges_nb = njit(cache=True, **INLINED)(formulas.exit_charges)
EXIT_CLOSE_OUT, EXIT_BANKRUPT, EXIT_MARKET = (formulas.EXIT_CLOSE_OUT, formulas.EXIT_BANKRUPT,
                                              formulas.EXIT_MARKET)
LIQ_HYPERLIQUID = formulas.LIQ_HYPERLIQUID
venue_liquidation_price_nb = jit_formula(
    formulas.venue_liquidation_price,
    bybit_liquidation_price=jit_formula(formulas.bybit_liquidation_price,
                                        tier_index=tier_index_nb),
    okx_liquidation_price=jit_formula(formulas.okx_liquidation_price,
                                      liquidation_price=liquidation_price_nb),
    liquidation_price=liquidation_price_nb)
open_position_nb = jit_formula(formulas.open_position,
                               bracket_notional_cap=bracket_notional_cap_nb,
                               venue_liquidation_price=venue_liquidation_price_nb)

# per-column state, columns of one float matrix
SIDE, QTY, ENTRY, ENTRY_MID, MARGIN, LIQ, STOP_PX, TAKE_PX, ENTRY_BAR, HELD, \
    FEES, SPREAD, SLIP, FIN, FUND, PENDING, LAST, REQ_QTY, EFF_LEV = range(19)
N_STATE = 19


@njit(cache=True, **INLINED)
def _open_position_nb(st, c, side, mid, bar, free, col, floors, mmrs, cums, maxlevs):
    """Open at `mid` with spread and slippage, by the venue's opening rule
    (`margin.open_position`). Returns the commission paid, or -1.0 when the order cannot be
    filled."""
    lev = col["leverage"]
    fill = mid * (1.0 + side * (col["half_spread"] + col["slippage"]))
    budget = col["size"] * free
    qty, margin, fee, lp, requested = open_position_nb(side, fill, lev, budget, col["fee"],
                                                       floors, mmrs, cums, maxlevs,
                                                       col["liq_rule"])
    if qty == 0.0:
        return -1.0
    st[c, SIDE] = side
    st[c, QTY] = qty
    st[c, ENTRY] = fill
    st[c, ENTRY_MID] = mid
    st[c, MARGIN] = margin
    st[c, LIQ] = lp
    st[c, STOP_PX] = fill * (1.0 - side * col["stop"])
    st[c, TAKE_PX] = fill * (1.0 + side * col["take"])
    st[c, ENTRY_BAR] = bar
    st[c, HELD] = 0.0
    st[c, FEES] = fee
    st[c, SPREAD] = qty * mid * col["half_spread"]
    st[c, SLIP] = qty * mid * col["slippage"]
    st[c, FIN] = 0.0
    st[c, FUND] = 0.0
    st[c, REQ_QTY] = requested
    # notional over the margin the order asked for: the leverage, unless the brackets cut it
    st[c, EFF_LEV] = qty * fill * (1.0 + lev * col["fee"]) / budget
    return fee


def _full_record_nb(tr, side, entry_bar, exit_bar, leverage, entry_price, pnl_gross, reason):
    """A closed trade's fields that only a full record (`trade_dt`) keeps. The sweep's common
    account folds short records (`fold_trade_dt`) that have none of them, and its kernel does
    none of their work (the daily sweep x1.036). Compiled for the record type it is given
    (`_full_record_ol`)."""


def _return_on_margin_nb(tr):
    """The net PnL over the margin, in a full record (`_full_record_nb`)."""


@overload(_full_record_nb, jit_options=INLINED)
def _full_record_ol(tr, side, entry_bar, exit_bar, leverage, entry_price, pnl_gross, reason):
    if "side" not in tr.fields:
        return lambda tr, side, entry_bar, exit_bar, leverage, entry_price, pnl_gross, reason: None

    def full(tr, side, entry_bar, exit_bar, leverage, entry_price, pnl_gross, reason):
        tr["side"] = int(side)
        tr["entry_bar"] = int(entry_bar)
        tr["exit_bar"] = exit_bar
        tr["leverage"] = leverage
        tr["margin"] = tr["qty"] * entry_price / leverage
        tr["entry_price"] = entry_price
        tr["pnl_gross"] = pnl_gross
        _return_on_margin_nb(tr)
        tr["exit_reason"] = reason
    return full


@overload(_return_on_margin_nb, jit_options=INLINED)
def _return_on_margin_ol(tr):
    if "margin" not in tr.fields:
        return lambda tr: None

    def full(tr):
        tr["return_on_margin"] = tr["pnl"] / tr["margin"]
    return full


@njit(cache=True, **INLINED)
def _forgive_nb(tr, amount):
    """Book `amount` forgiven by negative balance protection on trade `tr`: the exit's
    liquidation fee and commission first (never paid, so not reported as paid), the rest as
    `protection`. The trade's net PnL rises by `amount` either way."""
    exit_fee = tr["exit_fee"]
    take = min(tr["liq_fee"], amount)
    tr["liq_fee"] -= take
    rest = amount - take
    take = min(exit_fee, rest)
    tr["fees"] -= take
    tr["exit_fee"] = exit_fee - take
    tr["protection"] += rest - take
    tr["pnl"] += amount
    _return_on_margin_nb(tr)


@njit(cache=True, **INLINED)
def _close_position_nb(st, c, mid, reason, bar, col, mode, isolated_cap, trades, n_trades):
    """Close at `mid`; liquidations fill at `mid` exactly, other exits pay spread and slippage.

    A perpetual's liquidation (isolated or cross `mode`) closes at the bankruptcy price
    (Bybit's and Binance's rule): the trader loses the position's whole margin; what the
    margin still held at the liquidation price is the venue's liquidation fee, and no
    commission is charged. CFD and futures close-outs pay the venue's `liq_fee` rate.

    Returns the change in cash (after any isolated-margin cap).
    """
    side = st[c, SIDE]
    qty = st[c, QTY]
    costly = reason != LIQUIDATION
    hs = col["half_spread"] if costly else 0.0
    sl = col["slippage"] if costly else 0.0
    fill = mid * (1.0 - side * (hs + sl))
    price_pnl = side * qty * (fill - st[c, ENTRY])
    # cross: the whole wallet stands behind, its remainder is booked by `_close_all_nb`
    behind = st[c, MARGIN] if mode == ISOLATED else -np.inf
    rule = EXIT_BANKRUPT
    if mode == ACCOUNT:
        rule = EXIT_CLOSE_OUT
    elif col["liq_rule"] == LIQ_HYPERLIQUID:
        rule = EXIT_MARKET
    fee, liq_fee = exit_charges_nb(reason == LIQUIDATION or reason == CLOSE_OUT, rule, qty,
                                   fill, price_pnl, behind, col["fee"], col["liq_fee"])
    cash_change = price_pnl - fee - liq_fee
    if liq_fee > 0.0 and mode == ISOLATED and reason == LIQUIDATION:
        cash_change = -st[c, MARGIN]   # exactly the margin, not its rounding
    pnl_gross = side * qty * (mid - st[c, ENTRY_MID])
    fees = st[c, FEES] + fee
    spread = st[c, SPREAD] + qty * mid * hs
    slippage = st[c, SLIP] + qty * mid * sl
    financing = st[c, FIN]
    funding = st[c, FUND]
    tr = trades[n_trades]
    tr["col"] = c
    tr["qty"] = qty
    tr["requested_qty"] = st[c, REQ_QTY]
    tr["effective_leverage"] = st[c, EFF_LEV]
    tr["exit_price"] = fill
    tr["fees"] = fees
    tr["exit_fee"] = fee
    tr["spread"] = spread
    tr["slippage"] = slippage
    tr["financing"] = financing
    tr["funding"] = funding
    tr["liq_fee"] = liq_fee
    tr["protection"] = 0.0
    tr["pnl"] = pnl_gross - fees - spread - slippage - financing - funding - liq_fee
    _full_record_nb(tr, side, st[c, ENTRY_BAR], bar, col["leverage"], st[c, ENTRY], pnl_gross,
                    reason)
    st[c, SIDE] = 0.0
    st[c, QTY] = 0.0
    if isolated_cap and cash_change < -st[c, MARGIN]:
        forgiven = -st[c, MARGIN] - cash_change
        _forgive_nb(tr, forgiven)
        cash_change += forgiven
    return cash_change


@njit(cache=True, **INLINED)
def _record_liquidation_nb(liqs, n_liqs, c, bar, side, kind, trigger, fill, extreme, gap,
                           gap_loss):
    rec = liqs[n_liqs]
    rec["col"] = c
    rec["bar"] = bar
    rec["side"] = int(side)
    rec["kind"] = kind
    rec["trigger_price"] = trigger
    rec["fill_price"] = fill
    rec["extreme"] = extreme
    rec["gap"] = gap
    rec["gap_loss"] = gap_loss
    rec["fine_row"] = -1


@njit(cache=True, **INLINED)
def _liquidate_isolated_nb(st, c, t, px, col, isolated_cap, gap, extreme, trades, n_trades,
                           liqs, n_liqs):
    """Liquidate one isolated position at `px` (its liquidation price, or a worse open or
    close it was found beyond). Returns the change in cash."""
    s = st[c, SIDE]
    lp = st[c, LIQ]
    gap_loss = max(0.0, -(st[c, MARGIN] + s * st[c, QTY] * (px - st[c, ENTRY])))
    dcash = _close_position_nb(st, c, px, LIQUIDATION, t, col, ISOLATED, isolated_cap, trades,
                               n_trades)
    _record_liquidation_nb(liqs, n_liqs, c, t, s, LIQUIDATION, lp, px, extreme, gap, gap_loss)
    return dcash


@njit(cache=True, **CALLED)
def _path_margin_nb(st, c0, c1, cols, mode, closeout, cash, p0, p1, floors_all, mmrs_all,
                    cums_all):
    """f(λ) = equity − threshold along the straight path from `p0` (λ=0) to `p1` (λ=1) for
    every open position of the account. Both sides are linear in λ, so f is too.

    Returns f(0), f(1), each shifted by 1e-12 of the positions' value at that end: the
    account-level twin of `margin.reaches` (a computed trigger reached up to rounding counts).
    """
    eq0 = cash
    eq1 = cash
    value0 = 0.0
    value1 = 0.0
    thr0 = 0.0
    thr1 = 0.0
    for c in range(c0, c1):
        s = st[c, SIDE]
        if s == 0.0:
            continue
        q = st[c, QTY]
        a = p0[c - c0]
        b = p1[c - c0]
        eq0 += s * q * (a - st[c, ENTRY])
        eq1 += s * q * (b - st[c, ENTRY])
        value0 += q * a
        value1 += q * b
        if mode == ACCOUNT:
            im_lev = cols[c]["im_leverage"]
            used = closeout * q * st[c, ENTRY] / (im_lev if im_lev > 0.0 else cols[c]["leverage"])
            thr0 += used
            thr1 += used
        else:
            k = cols[c]["tiers"]
            j = tier_index_nb(floors_all[k], q * a)
            thr0 += q * a * mmrs_all[k, j] - cums_all[k, j]
            thr1 += q * b * mmrs_all[k, j] - cums_all[k, j]
    return eq0 - thr0 - 1e-12 * value0, eq1 - thr1 - 1e-12 * value1


@njit(cache=True, **CALLED)
def _close_all_nb(st, c0, c1, cols, mode, nbp, cash, p0, p1, lam, t, gap, trades, n_trades,
                  liqs, n_liqs, high, low, r):
    """Account-level liquidation (cross) or close-out (CFD) of every open position at the
    point λ of the path from p0 to p1. A cross liquidation closes at the bankruptcy level:
    the equity left at the trigger (the maintenance margin) is the venue's liquidation fee,
    booked on the positions by notional."""
    kind = CLOSE_OUT if mode == ACCOUNT else LIQUIDATION
    first_liq = n_liqs
    first_trade = n_trades
    notional = 0.0
    for c in range(c0, c1):
        s = st[c, SIDE]
        if s == 0.0:
            continue
        i = cols[c]["inst"]
        px = p0[c - c0] + lam * (p1[c - c0] - p0[c - c0])
        extreme = low[r, i] if s > 0 else high[r, i]
        notional += st[c, QTY] * px
        cash += _close_position_nb(st, c, px, kind, t, cols[c], mode, NO, trades, n_trades)
        _record_liquidation_nb(liqs, n_liqs, c, t, s, kind, px, trades[n_trades]["exit_price"],
                               extreme, gap, 0.0)
        n_trades += 1
        n_liqs += 1
    if kind == LIQUIDATION and cash > 0.0 and notional > 0.0:
        for k in range(first_trade, n_trades):
            tr = trades[k]
            share = cash * tr["qty"] * tr["exit_price"] / notional
            tr["liq_fee"] += share
            tr["pnl"] -= share
            _return_on_margin_nb(tr)
        cash = 0.0
    if cash < 0.0 and n_liqs > first_liq:
        liqs[n_liqs - 1]["gap_loss"] = -cash
    return cash, n_trades, n_liqs


@njit(cache=True, **CALLED)
def _protect_nb(st, c0, c1, mode, nbp, cash, trades, n_trades, first_trade):
    """Negative balance protection for cross and CFD accounts: once nothing is open, a
    deficit is forgiven and booked on the account's last trade."""
    if cash >= 0.0 or not nbp or mode == ISOLATED or n_trades <= first_trade:
        return cash
    for c in range(c0, c1):
        if st[c, SIDE] != 0.0:
            return cash
    _forgive_nb(trades[n_trades - 1], -cash)
    return 0.0


@njit(cache=True, **INLINED)
def _free_collateral_nb(st, c0, c1, cols, mode, cash, prices, t):
    """Collateral a new position may use: wallet minus locked margins (isolated), or
    equity minus used margin (cross and account)."""
    free = cash
    for c in range(c0, c1):
        if st[c, SIDE] == 0.0:
            continue
        if mode == ISOLATED:
            free -= st[c, MARGIN]
        else:
            p = prices[t, cols[c]["inst"]]
            if np.isnan(p):
                p = st[c, LAST]
            free += st[c, SIDE] * st[c, QTY] * (p - st[c, ENTRY])
            free -= st[c, QTY] * st[c, ENTRY] / cols[c]["leverage"]
    return free


@njit(cache=True, **INLINED)
def _execute_order_nb(st, c, order, px, t, prices, c0, c1, cols, mode, isolated_cap, cash,
                      trades, n_trades, tier_floor, tier_mmr, tier_cum, tier_maxlev, init_cash,
                      refill_at):
    """A market order at `px`: an exit, an entry, or a reversal (exit then entry). Returns
    the cash, the trade count and the capital a refill before the entry injected."""
    s = st[c, SIDE]
    if s != 0.0 and (order == EXIT_ORDER or order == -s):
        cash += _close_position_nb(st, c, px, SIGNAL, t, cols[c], mode, isolated_cap, trades,
                                   n_trades)
        n_trades += 1
    added = 0.0
    if order != EXIT_ORDER and st[c, SIDE] == 0.0:
        added = _refill_nb(st, c0, c1, cash, init_cash, refill_at)
        cash += added
        free = _free_collateral_nb(st, c0, c1, cols, mode, cash, prices, t)
        if free > 0.0:
            k = cols[c]["tiers"]
            fee = _open_position_nb(st, c, order, px, t, free, cols[c], tier_floor[k],
                                    tier_mmr[k], tier_cum[k], tier_maxlev[k])
            if fee >= 0.0:
                cash -= fee
    return cash, n_trades, added


@njit(cache=True, **INLINED)
def _refill_nb(st, c0, c1, cash, init_cash, refill_at):
    """`--on-ruin topup`, the one rule: an account with nothing open whose equity (then its
    cash) is at or below `refill_at` (ruin level x starting cash; -inf when off) is refilled
    to its starting cash. Returns the capital injected (0.0: none)."""
    if not cash <= refill_at:
        return 0.0
    for c in range(c0, c1):
        if st[c, SIDE] != 0.0:
            return 0.0
    return refill_nb(cash, init_cash, refill_at)


@njit(cache=True, **INLINED)
def _charge_nb(st, c, pay, mode, cash):
    """Funding or financing: from the position's own margin when isolated (its liquidation
    price then moves: `_reprice_nb` before it is next looked at), from the wallet otherwise."""
    if mode == ISOLATED:
        st[c, MARGIN] -= pay
    return cash - pay


@njit(cache=True, **INLINED)
def _reprice_nb(st, c, col, floors_all, mmrs_all, cums_all):
    """An isolated position's liquidation price from its margin now (the venue's rule, as at
    the opening): a function of the position alone, so several charges need one repricing."""
    k = col["tiers"]
    st[c, LIQ] = venue_liquidation_price_nb(col["liq_rule"], st[c, SIDE], st[c, QTY],
                                            st[c, ENTRY], st[c, MARGIN], floors_all[k],
                                            mmrs_all[k], cums_all[k], col["fee"])


@njit(cache=True, **INLINED)
def _has_row_nb(prices, r, i, starts, t, fine):
    """Does instrument `i` trade on row `r`: bar `t` itself, or (`fine`) a finer bar inside
    `t`'s span `starts[t, i] .. starts[t + 1, i]`."""
    if fine and not (starts[t, i] <= r < starts[t + 1, i]):
        return False
    return not np.isnan(prices[r, i])


@njit(cache=True, **INLINED)
def _gaps_nb(st, c0, c1, cols, mode, closeout, nbp, isolated_cap, cash, t, r, open_, high,
             low, starts, fine, p0, tier_floor, tier_mmr, tier_cum, trades, n_trades, liqs,
             n_liqs, mark_open, mark_high, mark_low):
    """Step 1 at the opens of row `r`: gaps through the liquidation price, the stop or the
    take-profit fill at the open; an account already at its trigger is closed there. A
    finer bar that starts its instrument's span opens at the bar's open, checked already.
    An isolated position's liquidation looks at the `mark_*` prices (the last prices
    themselves without mark bars)."""
    for c in range(c0, c1):
        if st[c, SIDE] == 0.0:
            continue
        i = cols[c]["inst"]
        if not _has_row_nb(open_, r, i, starts, t, fine) or (fine and r == starts[t, i]):
            continue
        o = open_[r, i]
        s = st[c, SIDE]
        mo = mark_open[r, i]
        if mode == ISOLATED and reaches_nb(s, mo, st[c, LIQ]):
            extreme = mark_low[r, i] if s > 0 else mark_high[r, i]
            cash += _liquidate_isolated_nb(st, c, t, mo, cols[c], isolated_cap, YES,
                                           extreme, trades, n_trades, liqs, n_liqs)
            n_trades += 1
            n_liqs += 1
        elif s * (o - st[c, STOP_PX]) <= 0.0:
            cash += _close_position_nb(st, c, o, STOP, t, cols[c], mode, isolated_cap, trades,
                                       n_trades)
            n_trades += 1
        elif s * (o - st[c, TAKE_PX]) >= 0.0:
            cash += _close_position_nb(st, c, o, TAKE, t, cols[c], mode, isolated_cap, trades,
                                       n_trades)
            n_trades += 1
    if mode != ISOLATED:
        cash, n_trades, n_liqs = _account_check_nb(
            st, c0, c1, cols, mode, closeout, nbp, cash, t, open_, p0, YES, tier_floor,
            tier_mmr, tier_cum, trades, n_trades, liqs, n_liqs, high, low, r, starts, fine)
    return cash, n_trades, n_liqs


@njit(cache=True, **INLINED)
def _isolated_adverse_nb(st, c, t, col, o, x, isolated_cap, cash, trades, n_trades, liqs,
                         n_liqs, mark_o, mark_x):
    """The stop on the last price `o` -> `x`, the liquidation on the mark `mark_o` ->
    `mark_x` (the same prices without mark bars), whichever lies nearer its open first."""
    s = st[c, SIDE]
    lp = st[c, LIQ]
    stop = st[c, STOP_PX]
    hit_liq = reaches_nb(s, mark_x, lp)
    hit_stop = s * (x - stop) <= 0.0
    if hit_stop and (not hit_liq or abs(stop - o) <= abs(lp - mark_o)):
        cash += _close_position_nb(st, c, stop, STOP, t, col, ISOLATED, isolated_cap, trades,
                                   n_trades)
        return cash, n_trades + 1, n_liqs
    if hit_liq:
        cash += _liquidate_isolated_nb(st, c, t, lp, col, isolated_cap, NO, mark_x, trades,
                                       n_trades, liqs, n_liqs)
        return cash, n_trades + 1, n_liqs + 1
    return cash, n_trades, n_liqs


@njit(cache=True, **CALLED)
def _account_adverse_nb(st, c0, c1, cols, mode, closeout, nbp, cash, t, open_, high, low, p0,
                        p1, floors_all, mmrs_all, cums_all, trades, n_trades, liqs, n_liqs, r,
                        starts, fine):
    """Stops and the account-level trigger along one linear path from the opens to the
    adverse extremes of row `r` (bar `t`, or one of its finer bars): events are taken in the
    order they are reached."""
    for c in range(c0, c1):
        i = cols[c]["inst"]
        if not _has_row_nb(open_, r, i, starts, t, fine):
            p0[c - c0] = st[c, LAST]
            p1[c - c0] = st[c, LAST]
        else:
            p0[c - c0] = open_[r, i]
            p1[c - c0] = low[r, i] if st[c, SIDE] > 0 else high[r, i]
    while True:
        any_open = False
        lam_stop = np.inf
        c_stop = np.int64(-1)   # not a literal: one compiled `_close_position_nb`
        for c in range(c0, c1):
            s = st[c, SIDE]
            if s == 0.0:
                continue
            any_open = True
            o = p0[c - c0]
            x = p1[c - c0]
            if s * (x - st[c, STOP_PX]) <= 0.0 and x != o:
                lam = (st[c, STOP_PX] - o) / (x - o)
                if lam < lam_stop:
                    lam_stop = lam
                    c_stop = c
        if not any_open:
            break
        f0, f1 = _path_margin_nb(st, c0, c1, cols, mode, closeout, cash, p0, p1, floors_all,
                                 mmrs_all, cums_all)
        lam_liq = np.inf
        if f1 <= 0.0:
            lam_liq = f0 / (f0 - f1) if f0 > 0.0 else 0.0
        if c_stop >= 0 and lam_stop <= lam_liq:
            cash += _close_position_nb(st, c_stop, st[c_stop, STOP_PX], STOP, t, cols[c_stop],
                                       mode, NO, trades, n_trades)
            n_trades += 1
            continue
        if np.isfinite(lam_liq):
            cash, n_trades, n_liqs = _close_all_nb(st, c0, c1, cols, mode, nbp, cash, p0, p1,
                                                   lam_liq, t, NO, trades, n_trades, liqs,
                                                   n_liqs, high, low, r)
        break
    return cash, n_trades, n_liqs


@njit(cache=True, **CALLED)
def _account_check_nb(st, c0, c1, cols, mode, closeout, nbp, cash, t, prices, p0, gap,
                      floors_all, mmrs_all, cums_all, trades, n_trades, liqs, n_liqs, high, low,
                      r, starts, fine):
    """Close the whole account at `prices` of row `r` (this bar's opens or closes, or a finer
    bar's opens) if it is already at or below its close-out / maintenance level there."""
    any_open = False
    for c in range(c0, c1):
        i = cols[c]["inst"]
        p0[c - c0] = prices[r, i] if _has_row_nb(prices, r, i, starts, t, fine) else st[c, LAST]
        if st[c, SIDE] != 0.0:
            any_open = True
    if any_open:
        f0, _ = _path_margin_nb(st, c0, c1, cols, mode, closeout, cash, p0, p0, floors_all,
                                mmrs_all, cums_all)
        if f0 <= 0.0:
            cash, n_trades, n_liqs = _close_all_nb(st, c0, c1, cols, mode, nbp, cash, p0, p0,
                                                   0.0, t, gap, trades, n_trades, liqs, n_liqs,
                                                   high, low, r)
    return cash, n_trades, n_liqs


@njit(cache=True, **INLINED)
def _extremes_nb(st, c0, c1, cols, mode, closeout, nbp, isolated_cap, cash, t, r, open_, high,
                 low, starts, fine, take_first, p0, p1, tier_floor, tier_mmr, tier_cum, trades,
                 n_trades, liqs, n_liqs, mark_open, mark_high, mark_low):
    """Steps 3 and 4 on row `r`: the adverse extreme (stop or liquidation, whichever the path
    from the open reaches first), then the favourable one (take-profit); `take_first`
    swaps them."""
    for phase in range(2):
        if (phase == 0) != take_first:
            if mode == ISOLATED:
                for c in range(c0, c1):
                    if st[c, SIDE] == 0.0:
                        continue
                    i = cols[c]["inst"]
                    if not _has_row_nb(open_, r, i, starts, t, fine):
                        continue
                    x = low[r, i] if st[c, SIDE] > 0 else high[r, i]
                    mx = mark_low[r, i] if st[c, SIDE] > 0 else mark_high[r, i]
                    cash, n_trades, n_liqs = _isolated_adverse_nb(
                        st, c, t, cols[c], open_[r, i], x, isolated_cap, cash, trades,
                        n_trades, liqs, n_liqs, mark_open[r, i], mx)
            else:
                cash, n_trades, n_liqs = _account_adverse_nb(
                    st, c0, c1, cols, mode, closeout, nbp, cash, t, open_, high, low, p0, p1,
                    tier_floor, tier_mmr, tier_cum, trades, n_trades, liqs, n_liqs, r, starts,
                    fine)
        else:
            for c in range(c0, c1):
                s = st[c, SIDE]
                if s == 0.0:
                    continue
                i = cols[c]["inst"]
                if not _has_row_nb(open_, r, i, starts, t, fine):
                    continue
                fav = high[r, i] if s > 0 else low[r, i]
                if s * (fav - st[c, TAKE_PX]) >= 0.0:
                    cash += _close_position_nb(st, c, st[c, TAKE_PX], TAKE, t, cols[c], mode,
                                               isolated_cap, trades, n_trades)
                    n_trades += 1
    return cash, n_trades, n_liqs


@njit(cache=True, **CALLED)
def _walk_detail_nb(st, c0, c1, cols, mode, closeout, nbp, isolated_cap, cash, t, open_,
                    fine_open, fine_high, fine_low, fine_close, starts, take_first, p0, p1,
                    tier_floor, tier_mmr, tier_cum, trades, n_trades, liqs, n_liqs,
                    fine_funding):
    """Steps 1, 3 and 4 over the finer bars inside bar `t`, in order (`--detail`), and the
    funding stamps at the finer closes that hold them. Returns False as its last value when
    a position of the account trades in bar `t` without finer bars (or none has any): the
    caller applies the bar's own rule (and all of the bar's funding) to the account then.
    Liquidations decided here record their finer row (`fine_row`)."""
    lo = np.int64(-1)
    hi = np.int64(-1)
    for c in range(c0, c1):
        i = cols[c]["inst"]
        a = starts[t, i]
        b = starts[t + 1, i]
        if a == b and st[c, SIDE] != 0.0 and not np.isnan(open_[t, i]):
            return cash, n_trades, n_liqs, False
        if a < b:
            lo = a if lo < 0 else min(lo, a)
            hi = max(hi, b)
    if lo < 0:
        return cash, n_trades, n_liqs, False
    funded = fine_funding.shape[0] > 0
    for r in range(lo, hi):
        first_liq = n_liqs
        if r > lo:
            cash, n_trades, n_liqs = _gaps_nb(
                st, c0, c1, cols, mode, closeout, nbp, isolated_cap, cash, t, r, fine_open,
                fine_high, fine_low, starts, YES, p0, tier_floor, tier_mmr, tier_cum, trades,
                n_trades, liqs, n_liqs, fine_open, fine_high, fine_low)
        cash, n_trades, n_liqs = _extremes_nb(
            st, c0, c1, cols, mode, closeout, nbp, isolated_cap, cash, t, r, fine_open,
            fine_high, fine_low, starts, YES, take_first, p0, p1, tier_floor, tier_mmr,
            tier_cum, trades, n_trades, liqs, n_liqs, fine_open, fine_high, fine_low)
        if funded and _stamp_due_nb(cols, c0, c1, fine_funding, r):
            cash, n_trades, n_liqs = _fine_funding_nb(
                st, c0, c1, cols, mode, closeout, nbp, isolated_cap, cash, t, r, fine_close,
                fine_high, fine_low, fine_funding, starts, p0, tier_floor, tier_mmr, tier_cum,
                trades, n_trades, liqs, n_liqs)
        for k in range(first_liq, n_liqs):
            liqs[k]["fine_row"] = r
        held = False
        for c in range(c0, c1):
            i = cols[c]["inst"]
            # the mark an account-level path uses for an instrument without a row
            if _has_row_nb(fine_close, r, i, starts, t, True):
                st[c, LAST] = fine_close[r, i]
            held = held or st[c, SIDE] != 0.0
        if not held:   # orders fill only at the bar's open: nothing more can happen
            break
    return cash, n_trades, n_liqs, True


@njit(cache=True, **INLINED)
def _stamp_due_nb(cols, c0, c1, fine_funding, r):
    """Does finer row `r` settle a funding stamp for one of the account's instruments (a
    few rows a day: the call below is made only then)."""
    for c in range(c0, c1):
        if fine_funding[r, cols[c]["inst"]] != 0.0:
            return True
    return False


@njit(cache=True, **CALLED)
def _fine_funding_nb(st, c0, c1, cols, mode, closeout, nbp, isolated_cap, cash, t, r,
                     fine_close, fine_high, fine_low, fine_funding, starts, p0, tier_floor,
                     tier_mmr, tier_cum, trades, n_trades, liqs, n_liqs):
    """The funding stamps at finer row `r`'s close, paid there by the positions open (step 5's
    funding, at the stamp's own time): from an isolated margin, whose liquidation price moves
    and which is liquidated at that close if the price is already past it; from an account's
    cash, which is closed out there if it is now below its level. The last finer bar of a
    bar closes with it: its stamps stay with the bar's close (step 5)."""
    paid = False
    for c in range(c0, c1):
        s = st[c, SIDE]
        if s == 0.0:
            continue
        i = cols[c]["inst"]
        if r == starts[t + 1, i] - 1 or not _has_row_nb(fine_close, r, i, starts, t, True):
            continue
        rate = fine_funding[r, i]
        if rate == 0.0 or np.isnan(rate):
            continue
        px = fine_close[r, i]
        pay = s * st[c, QTY] * px * rate
        paid = True
        st[c, FUND] += pay
        cash = _charge_nb(st, c, pay, mode, cash)
        if mode == ISOLATED:
            _reprice_nb(st, c, cols[c], tier_floor, tier_mmr, tier_cum)
        if mode == ISOLATED and reaches_nb(s, px, st[c, LIQ]):
            cash += _liquidate_isolated_nb(st, c, t, px, cols[c], isolated_cap, NO, px,
                                           trades, n_trades, liqs, n_liqs)
            n_trades += 1
            n_liqs += 1
    if paid and mode != ISOLATED:
        cash, n_trades, n_liqs = _account_check_nb(
            st, c0, c1, cols, mode, closeout, nbp, cash, t, fine_close, p0, NO, tier_floor,
            tier_mmr, tier_cum, trades, n_trades, liqs, n_liqs, fine_high, fine_low, r, starts,
            YES)
    return cash, n_trades, n_liqs


@njit(cache=True, **INLINED)
def _funding_left_nb(funding, fine_funding, starts, t, i):
    """What bar `t`'s funding keeps for its close once its finer bars were walked: the stamps
    no finer bar before its last settles (`_fine_funding_nb`)."""
    rate = funding[t, i]
    if fine_funding.shape[0] == 0:
        return rate
    paid = 0.0
    for r in range(starts[t, i], starts[t + 1, i] - 1):
        if not np.isnan(fine_funding[r, i]):
            paid += fine_funding[r, i]
    left = rate - paid
    # the same stamps summed in another order: 0, not a rounding residue
    return 0.0 if abs(left) <= 1e-12 * abs(rate) else left


# per-column summary fields (`account_nb` with `summary=True`), folded from its trades
S_TRADES, S_WINS, S_WIN_PNL, S_LOSS_PNL, S_PNL, S_FEES, S_SPREAD, S_SLIP, S_FIN, S_FUND, \
    S_LIQ_FEE, S_LIQS, S_PROTECTION, S_CUTS, S_EFF_LEV = range(15)
N_COL_STATS = 15
# per-curve summary fields (an account's equity at its bars, or a combination's summed curve)
# C_INJECTED / C_REFILLS: capital injected and refills by `--on-ruin topup`
C_FINAL, C_FIRST, C_PEAK, C_MAX_DD, C_N, C_SUM, C_SUM_SQ, C_DOWN_SQ, C_GROWTH, C_INJECTED, \
    C_REFILLS = range(11)
N_CURVE_STATS = 11


@njit(cache=True, **INLINED)
def curve_start_nb(out):
    out[:] = 0.0
    out[C_GROWTH] = 1.0


@njit(cache=True, **INLINED)
def curve_step_nb(n, first, peak, max_dd, final, sum_r, sum_sq, down_sq, growth, value):
    """The curve statistics (`C_N`, `C_FIRST`, `C_PEAK`, `C_MAX_DD`, `C_FINAL`, `C_SUM`,
    `C_SUM_SQ`, `C_DOWN_SQ`, `C_GROWTH`, as values) after one more equity value:
    drawdown from the running peak, and the simple returns the stats table uses (a first
    return of 0; from 0 to 0 is 0, from 0 to anything else is -1), as their sum, sum of
    squares, sum of squared losses and growth."""
    if n > 0.0 and value == final:   # a flat bar: a return of exactly 0, same drawdown
        return n + 1.0, first, peak, max_dd, final, sum_r, sum_sq, down_sq, growth
    if n == 0.0:
        first = value
        peak = value
        r = 0.0
    else:
        if final == 0.0:
            r = 0.0 if value == 0.0 else -1.0
        else:
            r = value / final - 1.0
        if value > peak:
            peak = value
    # divided at every value and kept where it may be a new low, without a branch: whether
    # a value is one is a coin toss the predictor lost, which cost more than the division
    # (the daily sweep x1.09)
    dd = value / (peak if peak != 0.0 else 1.0) - 1.0
    low = (peak != 0.0) & (value - peak * (1.0 + max_dd) <= 1e-9 * abs(peak)) & (dd < max_dd)
    max_dd = dd if low else max_dd
    sum_r += r
    sum_sq += r * r
    if r < 0.0:
        down_sq += r * r
    growth *= 1.0 + r
    return n + 1.0, first, peak, max_dd, value, sum_r, sum_sq, down_sq, growth


@njit(cache=True, **INLINED)
def _curve_refill_step_nb(n, first, peak, max_dd, final, sum_r, sum_sq, down_sq, growth,
                          value, injected):
    """`curve_step_nb` for an equity value that includes `injected` capital (`--on-ruin
    topup`): the bar's return and drawdown are those of the equity before the refill; the
    curve then goes on from the refilled value, its peak restarted there
    (`stats.curve_stats` does the same)."""
    n, first, peak, max_dd, final, sum_r, sum_sq, down_sq, growth = curve_step_nb(
        n, first, peak, max_dd, final, sum_r, sum_sq, down_sq, growth, value - injected)
    return n, first, value, max_dd, value, sum_r, sum_sq, down_sq, growth


@njit(cache=True, **INLINED)
def _curve_load_nb(out):
    return (out[C_N], out[C_FIRST], out[C_PEAK], out[C_MAX_DD], out[C_FINAL], out[C_SUM],
            out[C_SUM_SQ], out[C_DOWN_SQ], out[C_GROWTH])


@njit(cache=True, **INLINED)
def _curve_store_nb(out, n, first, peak, max_dd, final, sum_r, sum_sq, down_sq, growth):
    out[C_N] = n
    out[C_FIRST] = first
    out[C_PEAK] = peak
    out[C_MAX_DD] = max_dd
    out[C_FINAL] = final
    out[C_SUM] = sum_r
    out[C_SUM_SQ] = sum_sq
    out[C_DOWN_SQ] = down_sq
    out[C_GROWTH] = growth


@njit(cache=True, **INLINED)
def curve_update_nb(out, value):
    """Stream one equity value into the curve statistics `out` (`curve_step_nb`)."""
    _curve_store_nb(out, *curve_step_nb(*_curve_load_nb(out), value))


@njit(cache=True, **INLINED)
def curve_refill_nb(out, value, injected):
    """Stream an equity value that includes `injected` capital (`_curve_refill_step_nb`)."""
    _curve_store_nb(out, *_curve_refill_step_nb(*_curve_load_nb(out), value, injected))


@njit(cache=True, **INLINED)
def curve_stream_nb(out, values, injected):
    """`curve_update_nb` on each of `values` in order (`curve_refill_nb` where `injected`,
    if not empty, is not 0), the statistics held in registers, not in `out`, between
    values: a combination's summed curve streamed bar by bar through memory took a fifth of
    the daily sweep."""
    state = _curve_load_nb(out)
    topped = injected.shape[0] > 0
    for t in range(values.shape[0]):
        if topped and injected[t] != 0.0:
            state = _curve_refill_step_nb(*state, values[t], injected[t])
        else:
            state = curve_step_nb(*state, values[t])
    _curve_store_nb(out, *state)


@njit(cache=True, **INLINED)
def _fold_trades_nb(trades, lo, hi, stats):
    # the record read whole before the sums are written (numba cannot tell the two arrays
    # apart), and no branch on the trade's result, a coin toss no predictor learns
    for i in range(lo, hi):
        tr = trades[i]
        pnl = tr["pnl"]
        fees = tr["fees"]
        spread = tr["spread"]
        slip = tr["slippage"]
        fin = tr["financing"]
        fund = tr["funding"]
        liq_fee = tr["liq_fee"]
        protection = tr["protection"]
        cut = tr["requested_qty"] > tr["qty"] * (1.0 + 1e-9)
        eff_lev = tr["effective_leverage"]
        win = pnl > 0.0
        row = stats[tr["col"]]
        row[S_TRADES] += 1.0
        row[S_WINS] += 1.0 if win else 0.0
        row[S_WIN_PNL] += pnl if win else 0.0
        row[S_LOSS_PNL] -= pnl if pnl < 0.0 else 0.0
        row[S_PNL] += pnl
        row[S_FEES] += fees
        row[S_SPREAD] += spread
        row[S_SLIP] += slip
        row[S_FIN] += fin
        row[S_FUND] += fund
        row[S_LIQ_FEE] += liq_fee
        row[S_PROTECTION] += protection
        row[S_CUTS] += 1.0 if cut else 0.0
        row[S_EFF_LEV] += eff_lev


@njit(cache=True, **INLINED)
def _fold_nb(trades, n_trades, liqs, n_liqs, stats, keep_last):
    """Fold finished trades and liquidations into per-column `stats`. With `keep_last` the
    last trade stays in the buffer (moved to slot 0): negative balance protection may still
    book a forgiven deficit on it. Returns the new buffer counts."""
    for i in range(n_liqs):
        stats[liqs[i]["col"], S_LIQS] += 1.0
    done = n_trades - 1 if keep_last and n_trades > 0 else n_trades
    _fold_trades_nb(trades, 0, done, stats)
    if done < n_trades:
        trades[0] = trades[done]
        return 1, 0
    return 0, 0


@njit(cache=True, **INLINED)
def _flat_bars_nb(t, n, c0, c1, cols, close, entries, exits, st, cash, summary, equity,
                  add_curve, curve):
    """From bar `t`, the bars of an account with nothing open, no order pending and no refill
    due, up to the first where one of its columns has an entry signal: nothing can happen on
    them but
    marking the last prices and the unchanged equity (as `account_nb`'s close does). Most
    bars of a sweep are such bars. Returns that first bar (n: none)."""
    value = cash + 0.0
    while t < n:
        seen = False
        for c in range(c0, c1):
            sg = cols[c]["sig"]
            if entries[t, sg] != 0 and not exits[t, sg]:   # an exit alone closes nothing
                return t
            px = close[t, cols[c]["inst"]]
            if not np.isnan(px):
                st[c, LAST] = px
                seen = True
        if not summary:
            equity[t] = value
        else:
            if seen:
                curve_update_nb(curve, value)
            if add_curve:
                equity[t] += value
        t += 1
    return t


def flat_index_arrays(close, entries):
    """`flat_index_nb`'s outputs, to be filled: next_entry (n + 1, n_sig) and closes_before
    (n + 1, n_inst), int32."""
    n = close.shape[0]
    return (np.empty((n + 1, entries.shape[1]), np.int32),
            np.empty((n + 1, close.shape[1]), np.int32))


flat_index_arrays_nb = njit(cache=True)(flat_index_arrays)   # the sweeps'; a backtest's is Python


# allocates nothing: a backtest loads it from the cache without numba's memory manager
@njit(cache=True, **NO_REFCOUNT)
def flat_index_nb(close, entries, exits, next_entry, closes_before):
    """What lets a one-column account cross a flat stretch in one step (`_flat_run_nb`),
    into `flat_index_arrays`: next_entry, the first bar at or after t with an entry signal
    that no exit signal cancels (n: none), and closes_before, how many bars before t have a
    close."""
    n = close.shape[0]
    next_entry[n, :] = n
    for t in range(n - 1, -1, -1):
        for s in range(entries.shape[1]):
            next_entry[t, s] = t if entries[t, s] != 0 and not exits[t, s] else next_entry[t + 1, s]
    closes_before[0, :] = 0
    for t in range(n):
        for i in range(close.shape[1]):
            closes_before[t + 1, i] = closes_before[t, i] + (0 if np.isnan(close[t, i]) else 1)


@njit(cache=True, **INLINED)
def _flat_run_nb(t, c, cols, close, next_entry, closes_before, st, cash, summary, equity,
                 add_curve, curve):
    """`_flat_bars_nb` for an account of one column, in one step: its equity stays `cash` up
    to the next entry signal, so the curve's flat bars are counted, not streamed one by one
    (`curve_update_nb` adds each as a return of exactly 0), and the last price is that
    stretch's last close."""
    i = cols[c]["inst"]
    end = np.int64(next_entry[t, cols[c]["sig"]])
    value = cash + 0.0
    n = close.shape[0]
    if closes_before[n, i] == n:   # a close at every bar: one load fewer on a stretch's path
        seen = end - t
    else:
        seen = closes_before[end, i] - closes_before[t, i]
    if seen > 0:
        r = end - 1
        while np.isnan(close[r, i]):
            r -= 1
        st[c, LAST] = close[r, i]
        if summary:
            curve_update_nb(curve, value)
            curve[C_N] += seen - 1
    if not summary:
        for b in range(t, end):
            equity[b] = value
    elif add_curve:
        for b in range(t, end):
            equity[b] += value
    return end


# Nothing here (or in the helpers marked `_nrt=False`) allocates, and every array it touches
# is owned by the caller for the whole call, so it runs without numba's reference counting:
# the atomic increments and decrements numba emits around array uses took over half its time.
@njit(cache=True, no_cfunc_wrapper=True, **NO_REFCOUNT)   # `simulate_injected` calls it
def account_nb(c0, width, init_cash, mode, closeout, nbp, open_, high, low, close, funding, financing,
               last_bar, funding_closed, entries, exits, cols, tier_floor, tier_mmr, tier_cum,
               tier_maxlev, fill_at_close,
               take_first, st, p0, p1, equity, trades, n_trades, liqs, n_liqs, summary, col_stats,
               curve, fine_open, fine_high, fine_low, fine_close, fine_start, fine_funding,
               mark_open, mark_high, mark_low, mark_close, topup, ruin_level, injected, tally,
               next_entry, closes_before):
    """Run one account (columns c0 .. c0 + width of `cols`, state rows of `st`) over every bar.

    Full mode writes the equity at each close into `equity` and appends to `trades` / `liqs`
    from `n_trades` / `n_liqs`; returns the new counts. Summary mode (`summary=True`) folds
    trades into `col_stats` (`N_COL_STATS` per column) after every bar, keeping the buffers a
    few records long, and streams the equity at the bars where one of the account's
    instruments trades into `curve` (`N_CURVE_STATS`), and into `equity` (a running sum over
    accounts, when it is not empty). The arithmetic is the same in both modes.

    With `topup`, `injected` (length n, or 0 to skip) gets the capital injected at each close
    added, and `tally` (2,) the total injected and the number of refills.

    `mark_*` (n, n_inst): the prices an isolated position's liquidation is checked on (the
    mark price of a perpetual); the last-price arrays themselves without mark bars.
    `next_entry`, `closes_before`: `flat_index_nb` of the bars and signals.
    """
    n = open_.shape[0]
    c1 = c0 + width
    isolated_cap = mode == ISOLATED and nbp
    cash = init_cash
    first_trade = n_trades
    busy = False
    if summary:
        curve_start_nb(curve)
    add_curve = summary and equity.shape[0] == n
    detail = fine_start.shape[0] > 0
    refill_at = ruin_level * init_cash if topup else -np.inf
    track = injected.shape[0] == n
    unstreamed = 0.0   # injected since the curve was last streamed

    t = np.int64(0)   # not a literal: one compiled `_flat_run_nb`
    while t < n:
        if not busy and cash > refill_at:
            if c1 - c0 == 1:
                t = _flat_run_nb(t, c0, cols, close, next_entry, closes_before, st, cash,
                                 summary, equity, add_curve, curve)
            else:
                t = _flat_bars_nb(t, n, c0, c1, cols, close, entries, exits, st, cash, summary,
                                  equity, add_curve, curve)
            if t == n:
                break
        walked = False
        bar_added = 0.0
        # steps 1-4 act only on open positions and pending orders: skip flat bars
        if busy:
            # 1. the open: gaps through triggers
            cash, n_trades, n_liqs = _gaps_nb(
                st, c0, c1, cols, mode, closeout, nbp, isolated_cap, cash, t, t, open_, high,
                low, fine_start, NO, p0, tier_floor, tier_mmr, tier_cum, trades, n_trades,
                liqs, n_liqs, mark_open, mark_high, mark_low)
            if mode != ISOLATED:
                cash = _protect_nb(st, c0, c1, mode, nbp, cash, trades, n_trades, first_trade)

            # 2. pending market orders at the open
            for c in range(c0, c1):
                order = st[c, PENDING]
                if order == 0.0:
                    continue
                o = open_[t, cols[c]["inst"]]
                if np.isnan(o):
                    continue
                st[c, PENDING] = 0.0
                cash, n_trades, added = _execute_order_nb(
                    st, c, order, o, t, open_, c0, c1, cols, mode, isolated_cap, cash, trades,
                    n_trades, tier_floor, tier_mmr, tier_cum, tier_maxlev, init_cash, refill_at)
                if added != 0.0:
                    bar_added += added
                    tally[1] += 1.0

            # 3./4. intrabar extremes: the finer bars in order (--detail), else the bar's own.
            # A run without detail passes None finer bars: numba then leaves the walk out of
            # the compiled kernel (a first plain run compiles less)
            if fine_open is not None and detail:
                cash, n_trades, n_liqs, walked = _walk_detail_nb(
                    st, c0, c1, cols, mode, closeout, nbp, isolated_cap, cash, t, open_, fine_open,
                    fine_high, fine_low, fine_close, fine_start, take_first, p0, p1, tier_floor,
                    tier_mmr, tier_cum, trades, n_trades, liqs, n_liqs, fine_funding)
            if not walked:
                cash, n_trades, n_liqs = _extremes_nb(
                    st, c0, c1, cols, mode, closeout, nbp, isolated_cap, cash, t, t, open_,
                    high, low, fine_start, NO, take_first, p0, p1, tier_floor, tier_mmr,
                    tier_cum, trades, n_trades, liqs, n_liqs, mark_open, mark_high, mark_low)
            if mode != ISOLATED:
                cash = _protect_nb(st, c0, c1, mode, nbp, cash, trades, n_trades, first_trade)

        # 5. the close
        busy = False
        seen = False
        for c in range(c0, c1):
            i = cols[c]["inst"]
            px = close[t, i]
            if np.isnan(px):
                busy = busy or st[c, SIDE] != 0.0 or st[c, PENDING] != 0.0
                continue
            seen = True
            st[c, LAST] = px
            col = cols[c]
            charged = False
            if st[c, SIDE] != 0.0:
                rate = _funding_left_nb(funding, fine_funding, fine_start, t, i) if walked \
                    else funding[t, i]
                pay = st[c, SIDE] * st[c, QTY] * px * rate
                if pay != 0.0:
                    st[c, FUND] += pay
                    cash = _charge_nb(st, c, pay, mode, cash)
                    charged = True
                st[c, HELD] += 1.0
                if col["max_bars"] > 0 and st[c, HELD] >= col["max_bars"]:
                    cash += _close_position_nb(st, c, px, TIME, t, col, mode, isolated_cap, trades,
                                               n_trades)
                    n_trades += 1
            sg = col["sig"]
            order = 0.0
            if exits[t, sg]:
                order = EXIT_ORDER
            elif entries[t, sg] != 0:
                order = float(entries[t, sg])
            if order != 0.0:
                if fill_at_close:
                    cash, n_trades, added = _execute_order_nb(
                        st, c, order, px, t, close, c0, c1, cols, mode, isolated_cap, cash,
                        trades, n_trades, tier_floor, tier_mmr, tier_cum, tier_maxlev,
                        init_cash, refill_at)
                    if added != 0.0:
                        bar_added += added
                        tally[1] += 1.0
                else:
                    st[c, PENDING] = order
            # an instrument's last bar ends its run, before its financing cut-off
            if st[c, SIDE] != 0.0 and t < last_bar[i]:
                pay = st[c, SIDE] * st[c, QTY] * px * funding_closed[t, i]
                if pay != 0.0:
                    st[c, FUND] += pay
                    cash = _charge_nb(st, c, pay, mode, cash)
                    charged = True
                # this bar's nights at each night's benchmark, day count included
                pay = st[c, QTY] * px * financing[t, i, 0 if st[c, SIDE] > 0 else 1]
                if pay != 0.0:
                    st[c, FIN] += pay
                    cash = _charge_nb(st, c, pay, mode, cash)
                    charged = True
            # funding or financing may have used up the margin (a position closed and opened
            # again at this close was priced at its opening: repricing it changes nothing)
            if charged and mode == ISOLATED and st[c, SIDE] != 0.0:
                _reprice_nb(st, c, col, tier_floor, tier_mmr, tier_cum)
            mark = mark_close[t, i]
            if mode == ISOLATED and st[c, SIDE] != 0.0 and reaches_nb(st[c, SIDE], mark,
                                                                      st[c, LIQ]):
                cash += _liquidate_isolated_nb(st, c, t, mark, col, isolated_cap, NO, mark,
                                               trades, n_trades, liqs, n_liqs)
                n_trades += 1
                n_liqs += 1
            busy = busy or st[c, SIDE] != 0.0 or st[c, PENDING] != 0.0
        total_upnl = 0.0
        if mode != ISOLATED:
            if busy:
                cash, n_trades, n_liqs = _account_check_nb(
                    st, c0, c1, cols, mode, closeout, nbp, cash, t, close, p0, NO,
                    tier_floor, tier_mmr, tier_cum, trades, n_trades, liqs, n_liqs, high, low,
                    t, fine_start, NO)
            # also when the close's exits left the account flat: a deficit they leave is
            # forgiven now, not at the end of the data
            cash = _protect_nb(st, c0, c1, mode, nbp, cash, trades, n_trades, first_trade)
        # the end of an instrument's data closes its position at that bar's close: each
        # symbol's run ends at its own last bar, whatever the other symbols' data
        ended = False
        for c in range(c0, c1):
            i = cols[c]["inst"]
            if last_bar[i] != t:
                continue
            st[c, PENDING] = 0.0
            if st[c, SIDE] != 0.0:
                cash += _close_position_nb(st, c, st[c, LAST], END, t, cols[c], mode,
                                           isolated_cap, trades, n_trades)
                n_trades += 1
                ended = True
        if ended:
            cash = _protect_nb(st, c0, c1, mode, nbp, cash, trades, n_trades, first_trade)
        added = _refill_nb(st, c0, c1, cash, init_cash, refill_at)
        if added != 0.0:
            cash += added
            bar_added += added
            tally[1] += 1.0
        if bar_added != 0.0:
            tally[0] += bar_added
            unstreamed += bar_added
            if track:
                injected[t] += bar_added
        if busy:
            for c in range(c0, c1):
                if st[c, SIDE] != 0.0:
                    total_upnl += st[c, SIDE] * st[c, QTY] * (st[c, LAST] - st[c, ENTRY])
        if not summary:
            equity[t] = cash + total_upnl
        else:
            if seen:
                if unstreamed != 0.0:
                    curve_refill_nb(curve, cash + total_upnl, unstreamed)
                    unstreamed = 0.0
                else:
                    curve_update_nb(curve, cash + total_upnl)
            if add_curve:
                equity[t] += cash + total_upnl
            # an isolated account's trades are final at their close: the cross and account
            # modes' protection may still book a deficit on the last
            if t < n - 1 and (n_trades > (0 if mode == ISOLATED else 1) or n_liqs > 0):
                n_trades, n_liqs = _fold_nb(trades, n_trades, liqs, n_liqs, col_stats,
                                            mode != ISOLATED)
        t += 1

    if summary:
        n_trades, n_liqs = _fold_nb(trades, n_trades, liqs, n_liqs, col_stats, NO)
    return n_trades, n_liqs


def new_state(k):
    """k columns' state before their first bar: nothing open, no last price yet."""
    st = np.zeros((k, N_STATE), np.float64)
    st[:, LAST] = np.nan
    return st


state_nb = njit(cache=True)(new_state)   # the sweep's; a backtest calls `new_state`


def path_width(cols):
    """The most columns any one account has (scratch size for account-level paths): the
    longest run of one `group` in `cols`, at least 1."""
    group = cols["group"]
    if group.shape[0] == 0:
        return 1
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    return int(np.diff(np.r_[starts, group.shape[0]]).max())


def simulate(open_, high, low, close, funding, financing, entries, exits, cols, accounts,
             tier_floor, tier_mmr, tier_cum, tier_maxlev, fill_at_close, take_first, last_bar,
             funding_closed, fine_open, fine_high, fine_low, fine_close, fine_start,
             fine_funding, mark=None):
    """Every account over every bar: (equity (n, g), trades, liquidations). `mark` (4, n,
    n_inst): the open, high, low and close an isolated position's liquidation is checked on
    (perpetuals' mark price), None = the last prices."""
    equity, trades, liqs, _, _ = simulate_injected(
        open_, high, low, close, funding, financing, entries, exits, cols, accounts, tier_floor,
        tier_mmr, tier_cum, tier_maxlev, fill_at_close, take_first, last_bar, funding_closed,
        fine_open, fine_high, fine_low, fine_close, fine_start, fine_funding, mark)
    return equity, trades, liqs


def simulate_injected(open_, high, low, close, funding, financing, entries, exits, cols,
                      accounts, tier_floor, tier_mmr, tier_cum, tier_maxlev, fill_at_close,
                      take_first, last_bar, funding_closed, fine_open, fine_high, fine_low,
                      fine_close, fine_start, fine_funding, mark=None):
    """`simulate`, plus what `--on-ruin topup` put in: the capital injected at each close
    (n, g; (0, g) when no account tops up) and per account (g, 2) the total injected and the
    number of refills.

    Python, not numba, on purpose: `account_nb` is the compiled entry point, called once an
    account. A compiled loop over the accounts would link, optimise and emit the whole bar
    loop a second time, about 2 s of a first run's compiling, to save microseconds a call."""
    n = open_.shape[0]
    k = cols.shape[0]
    g = accounts.shape[0]
    mark_open, mark_high, mark_low, mark_close = (open_, high, low, close) if mark is None else mark

    # capacity: every trade needs an entry signal, plus one reversal per signal at most
    cap = 1 + int(np.count_nonzero(entries, axis=0)[cols["sig"]].sum())
    trades = np.empty(cap, dtype=trade_dt)
    liqs = np.empty(cap, dtype=liquidation_dt)
    n_trades = n_liqs = 0

    equity = np.empty((g, n), np.float64)   # one contiguous row per account while it runs
    topped = bool(accounts["topup"].any())
    injected = np.zeros((g, n if topped else 0), np.float64)   # (g, 0): no account tops up
    tally = np.zeros((g, 2), np.float64)
    st = new_state(k)
    next_entry, closes_before = flat_index_arrays(close, entries)
    flat_index_nb(close, entries, exits, next_entry, closes_before)
    width = path_width(cols)
    p0 = np.empty(width)
    p1 = np.empty(width)
    no_stats = np.empty((0, N_COL_STATS))
    no_curve = np.empty(0)

    group = cols["group"]
    c0 = 0
    for a in range(g):
        c1 = c0
        while c1 < k and group[c1] == a:
            c1 += 1
        acc = accounts[a]
        n_trades, n_liqs = account_nb(
            c0, c1 - c0, acc["init_cash"], acc["mode"], acc["closeout"], acc["nbp"], open_, high,
            low, close, funding, financing, last_bar, funding_closed, entries, exits, cols,
            tier_floor, tier_mmr, tier_cum, tier_maxlev, fill_at_close, take_first, st, p0, p1,
            equity[a], trades, n_trades, liqs, n_liqs, False, no_stats, no_curve, fine_open,
            fine_high, fine_low, fine_close, fine_start, fine_funding, mark_open, mark_high,
            mark_low, mark_close, acc["topup"], acc["ruin_level"], injected[a], tally[a],
            next_entry, closes_before)
        c0 = c1

    return equity.T, trades[:n_trades], liqs[:n_liqs], injected.T, tally


# -- the summaries-only sweep: every combination of a grid on every core, no curves kept
#
# `sweep_nb` runs the same per-account bar loop as `simulate` (`account_nb`, so the
# arithmetic is identical) but keeps, per column, the trade statistics (`N_COL_STATS`), and
# per account and per combination, the streamed equity-curve statistics (`N_CURVE_STATS`),
# and per combination the per-block sums of its returns that the overfitting statistics need
# (`_block_sums_nb`). Memory grows with the number of combinations, plus one curve of `n`
# bars per thread.
#
# Combinations are independent, so `prange` splits them over threads; each combination's
# result does not depend on the thread or on how the grid is split into calls.
#
# Layout: combination `m` owns accounts `combo_start[m] .. combo_start[m+1]`, account `a` owns
# columns `acc_start[a] .. acc_start[a+1]` of `cols`.
#
# It lives in this file because numba's cache only notices changes to a function's own file.


@njit(cache=True, **INLINED)
def _block_sums_nb(equity, injected, block_edges, blocks, j):
    """Σr, Σr² and the count of the combination's per-bar returns in each block, into
    `blocks[:, b, j]`: `overfit.combination_returns`' rule, r_t = (equity_t − injected_t) /
    equity_{t−1} − 1 from the second bar on, a return that is not finite (after an equity of
    0) left out; blocks cut the returns at `block_edges` as `overfit.block_sums` does.
    `injected` is empty when no account tops up."""
    n_blocks = block_edges.shape[0] - 1
    topped = injected.shape[0] > 0
    b = 0
    end = block_edges[1]
    s = 0.0
    q = 0.0
    c = 0.0
    prev = equity[0]
    for t in range(1, equity.shape[0]):
        if t - 1 == end:           # return row t - 1 opens the next block
            blocks[0, b, j] = s
            blocks[1, b, j] = q
            blocks[2, b, j] = c
            b += 1
            end = block_edges[b + 1]
            s = 0.0
            q = 0.0
            c = 0.0
        value = equity[t]
        if topped:
            value -= injected[t]
        if prev != 0.0:
            if value == prev:      # a flat bar: a return of exactly 0
                c += 1.0
            else:
                r = value / prev - 1.0
                if np.isfinite(r):
                    s += r
                    q += r * r
                    c += 1.0
        prev = equity[t]
    if n_blocks > 0:
        blocks[0, b, j] = s
        blocks[1, b, j] = q
        blocks[2, b, j] = c


@njit(cache=True)
def _combination_nb(ci, first, open_, high, low, close, funding, financing, entries, exits, cols,
                    accounts, tier_floor, tier_mmr, tier_cum, tier_maxlev, fill_at_close,
                    take_first, last_bar, funding_closed, acc_start, combo_start, col_stats,
                    acc_curve, combo_curve, fine_open, fine_high, fine_low, fine_close,
                    fine_start, fine_funding, mark_open, mark_high, mark_low, mark_close,
                    block_edges, blocks, next_entry, closes_before):
    n = open_.shape[0]
    a0 = combo_start[ci]
    a1 = combo_start[ci + 1]
    lo = acc_start[a0]
    hi = acc_start[a1]
    local = cols[lo:hi]
    nc = hi - lo
    st = state_nb(nc)
    p0 = np.empty(nc)
    p1 = np.empty(nc)
    # a bar closes at most three positions per column (held, reversed, re-entered at the
    # close), and the buffers are folded after every bar. The common account's version keeps
    # only what the fold reads (`fold_trade_dt`); every other kind keeps full records, as
    # `simulate` does, so that the two share one compiled bar loop (one of its own took 5 s
    # more to compile)
    folded = np.empty(4 * nc + 4, dtype=fold_trade_dt)
    trades = np.empty(4 * nc + 4, dtype=trade_dt)
    liqs = np.empty(4 * nc + 4, dtype=liquidation_dt)
    several = a1 - a0 > 1
    # the combination's equity at every bar, summed over its accounts: its own curve when it
    # has several accounts, and the per-block sums' returns
    per_bar = several or block_edges.shape[0] > 1
    summed = np.zeros(n if per_bar else 0)
    topped = False
    for a in range(a0, a1):
        topped = topped or accounts[a]["topup"]
    summed_injected = np.zeros(n if per_bar and topped else 0)
    tally = np.zeros(2)
    col0 = acc_start[combo_start[first]]
    acc0 = combo_start[first]
    stats = col_stats[lo - col0:hi - col0]
    empty = np.int64(0)      # np.int64 / np.bool_, not literals: the note above ACCOUNT's codes
    summary = np.bool_(True)
    for a in range(a0, a1):
        acc = accounts[a]
        c0 = acc_start[a] - lo
        width = acc_start[a + 1] - lo - c0
        if width == 1 and acc["mode"] == ISOLATED and fine_open is None:
            # the common account (one isolated column, no finer bars) runs a version of the
            # bar loop compiled for it: its width, mode and summary passed as Python
            # constants are typed as literals, and every other account kind's branches fold
            # away (1.4x the general version's throughput, the same arithmetic)
            account_nb(c0, ONE_COLUMN, acc["init_cash"], ISOLATED_MODE, acc["closeout"],
                       acc["nbp"], open_, high, low, close, funding, financing, last_bar,
                       funding_closed, entries, exits, local, tier_floor, tier_mmr, tier_cum,
                       tier_maxlev, fill_at_close, take_first, st, p0, p1, summed, folded, empty,
                       liqs, empty, True, stats, acc_curve[a - acc0], fine_open, fine_high,
                       fine_low, fine_close, fine_start, fine_funding, mark_open, mark_high,
                       mark_low, mark_close, acc["topup"], acc["ruin_level"], summed_injected,
                       tally, next_entry, closes_before)
        else:
            account_nb(c0, width, acc["init_cash"], acc["mode"], acc["closeout"], acc["nbp"],
                       open_, high, low, close, funding, financing, last_bar, funding_closed,
                       entries, exits, local, tier_floor, tier_mmr, tier_cum, tier_maxlev,
                       fill_at_close, take_first, st, p0, p1, summed, trades, empty, liqs, empty,
                       summary, stats, acc_curve[a - acc0], fine_open, fine_high, fine_low,
                       fine_close, fine_start, fine_funding, mark_open, mark_high, mark_low,
                       mark_close, acc["topup"], acc["ruin_level"], summed_injected, tally,
                       next_entry, closes_before)
        acc_curve[a - acc0, C_INJECTED] = tally[0]
        acc_curve[a - acc0, C_REFILLS] = tally[1]
        tally[:] = 0.0
    out = combo_curve[ci - first]
    if several:
        curve_start_nb(out)
        curve_stream_nb(out, summed, summed_injected)
        for a in range(a0, a1):
            out[C_INJECTED] += acc_curve[a - acc0, C_INJECTED]
            out[C_REFILLS] += acc_curve[a - acc0, C_REFILLS]
    else:
        out[:] = acc_curve[a0 - acc0]
    if block_edges.shape[0] > 1 and n > 0:
        _block_sums_nb(summed, summed_injected, block_edges, blocks, ci - first)


@njit(cache=True)
def _outputs_nb(cols, acc_start, combo_start, first, last, block_edges):
    col_stats = np.zeros((acc_start[combo_start[last]] - acc_start[combo_start[first]],
                          N_COL_STATS))
    acc_curve = np.zeros((combo_start[last] - combo_start[first], N_CURVE_STATS))
    combo_curve = np.zeros((last - first, N_CURVE_STATS))
    blocks = np.zeros((3, max(block_edges.shape[0] - 1, 0), last - first))
    return col_stats, acc_curve, combo_curve, blocks


@njit(cache=True, parallel=True)
def sweep_nb(open_, high, low, close, funding, financing, entries, exits, cols, accounts, tier_floor,
             tier_mmr, tier_cum, tier_maxlev, fill_at_close, take_first, last_bar,
             funding_closed, fine_open, fine_high, fine_low, fine_close, fine_start, fine_funding,
             acc_start, combo_start, first, last, block_edges, mark=None):
    """Combinations `first .. last` on all of numba's threads. The first twenty-four
    arguments and `mark` are `simulate`'s; `block_edges` (int64, B + 1 ascending positions
    in the n − 1 per-bar returns, `overfit.block_edges`; empty for none) where the per-block
    sums are cut. Returns, for those combinations only, col_stats (their columns x
    N_COL_STATS), acc_curve (their accounts x N_CURVE_STATS), combo_curve (last - first rows)
    and blocks (3, B, last - first: Σr, Σr², n per block, `_block_sums_nb`)."""
    col_stats, acc_curve, combo_curve, blocks = _outputs_nb(cols, acc_start, combo_start, first,
                                                            last, block_edges)
    if mark is None:
        mark_open, mark_high, mark_low, mark_close = open_, high, low, close
    else:
        mark_open, mark_high, mark_low, mark_close = mark[0], mark[1], mark[2], mark[3]
    next_entry, closes_before = flat_index_arrays_nb(close, entries)
    flat_index_nb(close, entries, exits, next_entry, closes_before)
    for ci in prange(first, last):
        _combination_nb(ci, first, open_, high, low, close, funding, financing, entries, exits,
                        cols, accounts, tier_floor, tier_mmr, tier_cum, tier_maxlev,
                        fill_at_close, take_first, last_bar, funding_closed, acc_start,
                        combo_start, col_stats, acc_curve, combo_curve, fine_open, fine_high,
                        fine_low, fine_close, fine_start, fine_funding, mark_open, mark_high,
                        mark_low, mark_close, block_edges, blocks, next_entry, closes_before)
    return col_stats, acc_curve, combo_curve, blocks


@njit(cache=True, nogil=True)
def sweep_serial_nb(open_, high, low, close, funding, financing, entries, exits, cols, accounts,
                    tier_floor, tier_mmr, tier_cum, tier_maxlev, fill_at_close, take_first,
                    last_bar, funding_closed, fine_open, fine_high, fine_low, fine_close,
                    fine_start, fine_funding, acc_start, combo_start, first, last, block_edges,
                    mark=None):
    """`sweep_nb` on the calling thread, without the GIL: the reference a parallel run must
    equal, and what a Dask worker's threads run side by side."""
    col_stats, acc_curve, combo_curve, blocks = _outputs_nb(cols, acc_start, combo_start, first,
                                                            last, block_edges)
    if mark is None:
        mark_open, mark_high, mark_low, mark_close = open_, high, low, close
    else:
        mark_open, mark_high, mark_low, mark_close = mark[0], mark[1], mark[2], mark[3]
    next_entry, closes_before = flat_index_arrays_nb(close, entries)
    flat_index_nb(close, entries, exits, next_entry, closes_before)
    for ci in range(first, last):
        _combination_nb(ci, first, open_, high, low, close, funding, financing, entries, exits,
                        cols, accounts, tier_floor, tier_mmr, tier_cum, tier_maxlev,
                        fill_at_close, take_first, last_bar, funding_closed, acc_start,
                        combo_start, col_stats, acc_curve, combo_curve, fine_open, fine_high,
                        fine_low, fine_close, fine_start, fine_funding, mark_open, mark_high,
                        mark_low, mark_close, block_edges, blocks, next_entry, closes_before)
    return col_stats, acc_curve, combo_curve, blocks
