"""The bar loop: many instruments, many parameter columns, isolated / cross / CFD accounts.

Arrays in, arrays out. Shapes: `n` bars, `n_inst` instruments, `n_sig` signal sets, `k`
columns (one strategy run each, see `records.column_dt`), `g` accounts (`records.account_dt`).

Inputs
    open_, high, low, close : (n, n_inst) float64 prices; NaN where the instrument has no bar
    funding : (n, n_inst) perpetual funding rate settled within the bar (sum of its stamps);
              a positive rate makes longs pay `qty * close * rate`
    nights  : (n, n_inst) overnight-financing nights a position held at this close carries
              (3 on a Friday for daily equity bars)
    entries : (n, n_sig) int8, +1 open long / -1 open short (reverses an opposite position)
    exits   : (n, n_sig) bool, close the position
    cols, accounts : parameter records; columns of one account must be adjacent
    tier_floor, tier_mmr, tier_cum : (n_tier_sets, T) maintenance brackets (floors ascending,
              padded with +inf floors)
    fill_at_close : signals fill at their own bar's close instead of the next bar's open
    take_first : when a stop and a take-profit both lie inside one bar, assume the take first

Order within a bar (DESIGN §5), per account:
    1. open: gaps through the liquidation price, the stop or the take-profit fill at the open;
       an account already below its close-out / maintenance level is closed at the open
    2. pending market orders fill at open +/- half-spread +/- slippage
    3. adverse extreme: stop and liquidation, whichever lies nearer the open first
    4. favourable extreme: take-profit
    5. close: funding, time exits, signals when fill_at_close, financing, mark to market

Outputs: equity (n, g) at each close, trades (`trade_dt`), liquidations (`liquidation_dt`).
"""

import numpy as np
from numba import njit

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
    liquidation_dt,
    trade_dt,
)

tier_index_nb = njit(cache=True)(formulas.tier_index)
liquidation_price_nb = njit(cache=True)(formulas.liquidation_price)

# per-column state, columns of one float matrix
SIDE, QTY, ENTRY, ENTRY_MID, MARGIN, LIQ, STOP_PX, TAKE_PX, ENTRY_BAR, HELD, \
    FEES, SPREAD, SLIP, FIN, FUND, PENDING, LAST = range(17)
N_STATE = 17


@njit(cache=True)
def _open_position_nb(st, c, side, mid, bar, free, col, floors, mmrs, cums):
    """Open at `mid` with spread and slippage; returns the cash spent on commission."""
    lev = col["leverage"]
    fill = mid * (1.0 + side * (col["half_spread"] + col["slippage"]))
    margin = col["size"] * free / (1.0 + lev * col["fee"])
    qty = margin * lev / fill
    fee = qty * fill * col["fee"]
    st[c, SIDE] = side
    st[c, QTY] = qty
    st[c, ENTRY] = fill
    st[c, ENTRY_MID] = mid
    st[c, MARGIN] = margin
    st[c, LIQ] = liquidation_price_nb(side, qty, fill, margin, floors, mmrs, cums)
    st[c, STOP_PX] = fill * (1.0 - side * col["stop"])
    st[c, TAKE_PX] = fill * (1.0 + side * col["take"])
    st[c, ENTRY_BAR] = bar
    st[c, HELD] = 0.0
    st[c, FEES] = fee
    st[c, SPREAD] = qty * mid * col["half_spread"]
    st[c, SLIP] = qty * mid * col["slippage"]
    st[c, FIN] = 0.0
    st[c, FUND] = 0.0
    return fee


@njit(cache=True)
def _close_position_nb(st, c, mid, reason, bar, col, isolated_cap, trades, n_trades):
    """Close at `mid`; liquidations fill at `mid` exactly, other exits pay spread and slippage.

    Returns the change in cash and the loss forgiven by the isolated margin cap.
    """
    side = st[c, SIDE]
    qty = st[c, QTY]
    costly = reason != LIQUIDATION
    hs = col["half_spread"] if costly else 0.0
    sl = col["slippage"] if costly else 0.0
    fill = mid * (1.0 - side * (hs + sl))
    fee = qty * fill * col["fee"]
    liq_fee = qty * fill * col["liq_fee"] if reason == LIQUIDATION or reason == CLOSE_OUT else 0.0
    cash_change = side * qty * (fill - st[c, ENTRY]) - fee - liq_fee
    protection = 0.0
    if isolated_cap and cash_change < -st[c, MARGIN]:
        protection = -st[c, MARGIN] - cash_change
    tr = trades[n_trades]
    tr["col"] = c
    tr["side"] = int(side)
    tr["entry_bar"] = int(st[c, ENTRY_BAR])
    tr["exit_bar"] = bar
    tr["qty"] = qty
    tr["leverage"] = col["leverage"]
    tr["margin"] = qty * st[c, ENTRY] / col["leverage"]
    tr["entry_price"] = st[c, ENTRY]
    tr["exit_price"] = fill
    tr["pnl_gross"] = side * qty * (mid - st[c, ENTRY_MID])
    tr["fees"] = st[c, FEES] + fee
    tr["spread"] = st[c, SPREAD] + qty * mid * hs
    tr["slippage"] = st[c, SLIP] + qty * mid * sl
    tr["financing"] = st[c, FIN]
    tr["funding"] = st[c, FUND]
    tr["liq_fee"] = liq_fee
    tr["protection"] = protection
    tr["pnl"] = (tr["pnl_gross"] - tr["fees"] - tr["spread"] - tr["slippage"] - tr["financing"]
                 - tr["funding"] - liq_fee + protection)
    tr["return_on_margin"] = tr["pnl"] / tr["margin"]
    tr["exit_reason"] = reason
    st[c, SIDE] = 0.0
    st[c, QTY] = 0.0
    return cash_change + protection, protection


@njit(cache=True)
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


@njit(cache=True)
def _account_gap_nb(st, c0, c1, cols, mode, closeout, cash, prices, lam_x, t, floors_all,
                    mmrs_all, cums_all):
    """f(λ) = equity − threshold along the straight path from open (λ=0) to the adverse
    extremes (λ=1) of every open position. Both sides are linear in λ, so f is too.

    Returns f(0), f(1).
    """
    eq0 = cash
    eq1 = cash
    thr0 = 0.0
    thr1 = 0.0
    for c in range(c0, c1):
        if st[c, SIDE] == 0.0:
            continue
        s = st[c, SIDE]
        q = st[c, QTY]
        p0 = prices[c - c0]
        p1 = lam_x[c - c0]
        eq0 += s * q * (p0 - st[c, ENTRY])
        eq1 += s * q * (p1 - st[c, ENTRY])
        if mode == ACCOUNT:
            im = q * st[c, ENTRY] / cols[c]["leverage"]
            thr0 += closeout * im
            thr1 += closeout * im
        else:
            k = cols[c]["tiers"]
            j = tier_index_nb(floors_all[k], q * p0)
            thr0 += q * p0 * mmrs_all[k, j] - cums_all[k, j]
            thr1 += q * p1 * mmrs_all[k, j] - cums_all[k, j]
    return eq0 - thr0, eq1 - thr1


@njit(cache=True)
def simulate_nb(open_, high, low, close, funding, nights, entries, exits, cols, accounts,
                tier_floor, tier_mmr, tier_cum, fill_at_close, take_first):
    n = open_.shape[0]
    k = cols.shape[0]
    g = accounts.shape[0]

    # capacity: every trade needs an entry signal, plus one reversal per signal at most
    sig_count = np.zeros(entries.shape[1], np.int64)
    for t in range(n):
        for s in range(entries.shape[1]):
            if entries[t, s] != 0:
                sig_count[s] += 1
    cap = 1
    for c in range(k):
        cap += sig_count[cols[c]["sig"]]
    trades = np.empty(cap, dtype=trade_dt)
    liqs = np.empty(cap, dtype=liquidation_dt)
    n_trades = 0
    n_liqs = 0

    equity = np.empty((g, n), np.float64)   # one contiguous row per account while it runs
    st = np.zeros((k, N_STATE), np.float64)
    st[:, LAST] = np.nan
    width = 1
    for c in range(k):
        if c == 0 or cols[c]["group"] != cols[c - 1]["group"]:
            run = 1
        else:
            run += 1
        width = max(width, run)
    p_open = np.empty(width)
    p_extreme = np.empty(width)

    c0 = 0
    for a in range(g):
        c1 = c0
        while c1 < k and cols[c1]["group"] == a:
            c1 += 1
        mode = accounts[a]["mode"]
        closeout = accounts[a]["closeout"]
        nbp = accounts[a]["nbp"]
        isolated_cap = mode == ISOLATED and nbp
        cash = accounts[a]["init_cash"]

        for t in range(n):
            # 1. the open: gaps through triggers
            for c in range(c0, c1):
                i = cols[c]["inst"]
                o = open_[t, i]
                if np.isnan(o) or st[c, SIDE] == 0.0:
                    continue
                s = st[c, SIDE]
                reason = -1
                if mode == ISOLATED and s * (o - st[c, LIQ]) <= 0.0:
                    reason = LIQUIDATION
                elif s * (o - st[c, STOP_PX]) <= 0.0:
                    reason = STOP
                elif s * (o - st[c, TAKE_PX]) >= 0.0:
                    reason = TAKE
                if reason < 0:
                    continue
                lp = st[c, LIQ]
                gap_loss = max(0.0, -(st[c, MARGIN] + s * st[c, QTY] * (o - st[c, ENTRY])))
                extreme = low[t, i] if s > 0 else high[t, i]
                dcash, _ = _close_position_nb(st, c, o, reason, t, cols[c], isolated_cap,
                                              trades, n_trades)
                n_trades += 1
                cash += dcash
                if reason == LIQUIDATION:
                    _record_liquidation_nb(liqs, n_liqs, c, t, s, LIQUIDATION, lp, o, extreme,
                                           True, gap_loss)
                    n_liqs += 1

            if mode != ISOLATED:
                any_open = False
                for c in range(c0, c1):
                    i = cols[c]["inst"]
                    o = open_[t, i]
                    p_open[c - c0] = st[c, LAST] if np.isnan(o) else o
                    p_extreme[c - c0] = p_open[c - c0]
                    if st[c, SIDE] != 0.0:
                        any_open = True
                if any_open:
                    f0, f1 = _account_gap_nb(st, c0, c1, cols, mode, closeout, cash, p_open,
                                             p_extreme, t, tier_floor, tier_mmr, tier_cum)
                    if f0 <= 0.0:
                        cash, n_trades, n_liqs = _close_all_nb(
                            st, c0, c1, cols, mode, nbp, cash, p_open, p_open, 0.0, t, True,
                            trades, n_trades, liqs, n_liqs, high, low)

            # 2. pending market orders at the open
            for c in range(c0, c1):
                i = cols[c]["inst"]
                o = open_[t, i]
                pend = st[c, PENDING]
                if np.isnan(o) or pend == 0.0:
                    continue
                st[c, PENDING] = 0.0
                s = st[c, SIDE]
                if s != 0.0 and (pend == EXIT_ORDER or pend == -s):
                    dcash, _ = _close_position_nb(st, c, o, SIGNAL, t, cols[c], isolated_cap,
                                                  trades, n_trades)
                    n_trades += 1
                    cash += dcash
                if pend != EXIT_ORDER and st[c, SIDE] == 0.0:
                    free = _free_collateral_nb(st, c0, c1, cols, mode, cash, open_, t)
                    if free > 0.0:
                        k_t = cols[c]["tiers"]
                        cash -= _open_position_nb(st, c, pend, o, t, free, cols[c],
                                                  tier_floor[k_t], tier_mmr[k_t], tier_cum[k_t])

            # 3./4. intrabar extremes
            for phase in range(2):
                adverse = (phase == 0) != take_first
                if adverse:
                    if mode == ISOLATED:
                        for c in range(c0, c1):
                            if st[c, SIDE] == 0.0 or np.isnan(open_[t, cols[c]["inst"]]):
                                continue
                            cash, n_trades, n_liqs = _isolated_adverse_nb(
                                st, c, t, cols[c], open_, high, low, isolated_cap, cash,
                                trades, n_trades, liqs, n_liqs)
                    else:
                        cash, n_trades, n_liqs = _account_adverse_nb(
                            st, c0, c1, cols, mode, closeout, nbp, cash, t, open_, high, low,
                            p_open, p_extreme, tier_floor, tier_mmr, tier_cum,
                            trades, n_trades, liqs, n_liqs)
                else:
                    for c in range(c0, c1):
                        i = cols[c]["inst"]
                        if st[c, SIDE] == 0.0 or np.isnan(open_[t, i]):
                            continue
                        s = st[c, SIDE]
                        fav = high[t, i] if s > 0 else low[t, i]
                        if s * (fav - st[c, TAKE_PX]) >= 0.0:
                            dcash, _ = _close_position_nb(st, c, st[c, TAKE_PX], TAKE, t, cols[c],
                                                          isolated_cap, trades, n_trades)
                            n_trades += 1
                            cash += dcash

            # 5. the close
            total_upnl = 0.0
            for c in range(c0, c1):
                i = cols[c]["inst"]
                px = close[t, i]
                if np.isnan(px):
                    if st[c, SIDE] != 0.0:
                        total_upnl += st[c, SIDE] * st[c, QTY] * (st[c, LAST] - st[c, ENTRY])
                    continue
                st[c, LAST] = px
                col = cols[c]
                if st[c, SIDE] != 0.0:
                    pay = st[c, SIDE] * st[c, QTY] * px * funding[t, i]
                    cash, st[c, FUND] = _charge_nb(st, c, pay, mode, cash, st[c, FUND], tier_floor,
                                                   tier_mmr, tier_cum, col)
                    st[c, HELD] += 1.0
                    if col["max_bars"] > 0 and st[c, HELD] >= col["max_bars"]:
                        dcash, _ = _close_position_nb(st, c, px, TIME, t, col, isolated_cap,
                                                      trades, n_trades)
                        n_trades += 1
                        cash += dcash
                sg = col["sig"]
                order = 0.0
                if exits[t, sg]:
                    order = EXIT_ORDER
                elif entries[t, sg] != 0:
                    order = float(entries[t, sg])
                if fill_at_close and order != 0.0:
                    s = st[c, SIDE]
                    if s != 0.0 and (order == EXIT_ORDER or order == -s):
                        dcash, _ = _close_position_nb(st, c, px, SIGNAL, t, col, isolated_cap,
                                                      trades, n_trades)
                        n_trades += 1
                        cash += dcash
                    if order != EXIT_ORDER and st[c, SIDE] == 0.0:
                        free = _free_collateral_nb(st, c0, c1, cols, mode, cash, close, t)
                        if free > 0.0:
                            k_t = cols[c]["tiers"]
                            cash -= _open_position_nb(st, c, order, px, t, free, col,
                                                      tier_floor[k_t], tier_mmr[k_t], tier_cum[k_t])
                elif order != 0.0:
                    st[c, PENDING] = order
                # the last bar's close ends the run, before its financing cut-off
                if st[c, SIDE] != 0.0 and t < n - 1:
                    rate = col["fin_long"] if st[c, SIDE] > 0 else col["fin_short"]
                    pay = st[c, QTY] * px * rate * nights[t, i] / col["fin_days"]
                    cash, st[c, FIN] = _charge_nb(st, c, pay, mode, cash, st[c, FIN], tier_floor,
                                                  tier_mmr, tier_cum, col)
                if st[c, SIDE] != 0.0:
                    total_upnl += st[c, SIDE] * st[c, QTY] * (px - st[c, ENTRY])
            equity[a, t] = cash + total_upnl

        # the end of the data closes what is still open, at the last close
        for c in range(c0, c1):
            if st[c, SIDE] != 0.0:
                dcash, _ = _close_position_nb(st, c, st[c, LAST], END, n - 1, cols[c],
                                              isolated_cap, trades, n_trades)
                n_trades += 1
                cash += dcash
        if n > 0:
            equity[a, n - 1] = cash
        c0 = c1

    return equity.T, trades[:n_trades], liqs[:n_liqs]


@njit(cache=True)
def _charge_nb(st, c, pay, mode, cash, acc, floors_all, mmrs_all, cums_all, col):
    """Funding or financing: from the position's own margin when isolated (its liquidation
    price moves), from the wallet otherwise."""
    if pay == 0.0:
        return cash, acc
    if mode == ISOLATED:
        st[c, MARGIN] -= pay
        k = col["tiers"]
        st[c, LIQ] = liquidation_price_nb(st[c, SIDE], st[c, QTY], st[c, ENTRY], st[c, MARGIN],
                                          floors_all[k], mmrs_all[k], cums_all[k])
    return cash - pay, acc + pay


@njit(cache=True)
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


@njit(cache=True)
def _isolated_adverse_nb(st, c, t, col, open_, high, low, isolated_cap, cash, trades, n_trades,
                         liqs, n_liqs):
    i = col["inst"]
    s = st[c, SIDE]
    o = open_[t, i]
    x = low[t, i] if s > 0 else high[t, i]
    lp = st[c, LIQ]
    stop = st[c, STOP_PX]
    hit_liq = s * (x - lp) <= 0.0
    hit_stop = s * (x - stop) <= 0.0
    if hit_stop and (not hit_liq or abs(stop - o) <= abs(lp - o)):
        dcash, _ = _close_position_nb(st, c, stop, STOP, t, col, isolated_cap, trades, n_trades)
        return cash + dcash, n_trades + 1, n_liqs
    if hit_liq:
        dcash, _ = _close_position_nb(st, c, lp, LIQUIDATION, t, col, isolated_cap, trades,
                                         n_trades)
        _record_liquidation_nb(liqs, n_liqs, c, t, s, LIQUIDATION, lp, lp, x, False, 0.0)
        return cash + dcash, n_trades + 1, n_liqs + 1
    return cash, n_trades, n_liqs


@njit(cache=True)
def _account_adverse_nb(st, c0, c1, cols, mode, closeout, nbp, cash, t, open_, high, low, p_open,
                        p_extreme, floors_all, mmrs_all, cums_all, trades, n_trades, liqs,
                        n_liqs):
    """Stops and the account-level trigger along one linear path from the opens to the
    adverse extremes: events are taken in the order they are reached."""
    for c in range(c0, c1):
        i = cols[c]["inst"]
        o = open_[t, i]
        if np.isnan(o):
            p_open[c - c0] = st[c, LAST]
            p_extreme[c - c0] = st[c, LAST]
        else:
            p_open[c - c0] = o
            p_extreme[c - c0] = low[t, i] if st[c, SIDE] > 0 else high[t, i]
    while True:
        any_open = False
        lam_stop = np.inf
        c_stop = -1
        for c in range(c0, c1):
            s = st[c, SIDE]
            if s == 0.0:
                continue
            any_open = True
            o = p_open[c - c0]
            x = p_extreme[c - c0]
            if s * (x - st[c, STOP_PX]) <= 0.0 and x != o:
                lam = (st[c, STOP_PX] - o) / (x - o)
                if lam < lam_stop:
                    lam_stop = lam
                    c_stop = c
        if not any_open:
            break
        f0, f1 = _account_gap_nb(st, c0, c1, cols, mode, closeout, cash, p_open, p_extreme, t,
                                 floors_all, mmrs_all, cums_all)
        lam_liq = np.inf
        if f1 <= 0.0:
            lam_liq = f0 / (f0 - f1) if f0 > 0.0 else 0.0
        if c_stop >= 0 and lam_stop <= lam_liq:
            dcash, _ = _close_position_nb(st, c_stop, st[c_stop, STOP_PX], STOP, t, cols[c_stop],
                                          False, trades, n_trades)
            n_trades += 1
            cash += dcash
            continue
        if np.isfinite(lam_liq):
            cash, n_trades, n_liqs = _close_all_nb(st, c0, c1, cols, mode, nbp, cash, p_open,
                                                   p_extreme, lam_liq, t, False, trades,
                                                   n_trades, liqs, n_liqs, high, low)
        break
    return cash, n_trades, n_liqs


@njit(cache=True)
def _close_all_nb(st, c0, c1, cols, mode, nbp, cash, p_open, p_extreme, lam, t, gap, trades,
                  n_trades, liqs, n_liqs, high, low):
    """Account-level liquidation (cross) or close-out (CFD) of every open position at the
    point λ of the path; negative balance protection then lifts a deficit back to zero."""
    kind = CLOSE_OUT if mode == ACCOUNT else LIQUIDATION
    last = -1
    first_liq = n_liqs
    for c in range(c0, c1):
        s = st[c, SIDE]
        if s == 0.0:
            continue
        i = cols[c]["inst"]
        o = p_open[c - c0]
        px = o + lam * (p_extreme[c - c0] - o)
        extreme = low[t, i] if s > 0 else high[t, i]
        dcash, _ = _close_position_nb(st, c, px, kind, t, cols[c], False, trades, n_trades)
        cash += dcash
        last = n_trades
        n_trades += 1
        _record_liquidation_nb(liqs, n_liqs, c, t, s, kind, px, trades[last]["exit_price"],
                               extreme, gap, 0.0)
        n_liqs += 1
    if cash < 0.0:
        for r in range(first_liq, n_liqs):
            liqs[r]["gap_loss"] = -cash if r == n_liqs - 1 else 0.0
        if nbp and last >= 0:
            trades[last]["protection"] += -cash
            trades[last]["pnl"] += -cash
            trades[last]["return_on_margin"] = trades[last]["pnl"] / trades[last]["margin"]
            cash = 0.0
    return cash, n_trades, n_liqs
