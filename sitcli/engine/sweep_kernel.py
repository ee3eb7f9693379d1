"""The summaries-only sweep: every combination of a grid on every core, no curves kept.

`sweep_nb` runs the same per-account bar loop as `kernel.simulate_nb` (`kernel.account_nb`,
so the arithmetic is identical) but keeps, per column, the trade statistics
(`kernel.N_COL_STATS`), and per account and per combination, the streamed equity-curve
statistics (`kernel.N_CURVE_STATS`). Memory grows with the number of combinations, plus one
curve of `n` bars per thread when a combination has several accounts.

Combinations are independent, so `prange` splits them over threads; each combination's
result does not depend on the thread or on how the grid is split into calls.

Layout: combination `m` owns accounts `combo_start[m] .. combo_start[m+1]`, account `a` owns
columns `acc_start[a] .. acc_start[a+1]` of `cols`.
"""

import numpy as np
from numba import njit, prange

from sitcli.engine.kernel import (
    N_COL_STATS,
    N_CURVE_STATS,
    account_nb,
    curve_start_nb,
    curve_update_nb,
    state_nb,
)
from sitcli.engine.records import liquidation_dt, trade_dt


@njit(cache=True)
def _combination_nb(ci, first, open_, high, low, close, funding, nights, entries, exits, cols,
                    accounts, tier_floor, tier_mmr, tier_cum, tier_maxlev, fill_at_close,
                    take_first, acc_start, combo_start, col_stats, acc_curve, combo_curve):
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
    # close), and the buffers are folded after every bar
    trades = np.empty(4 * nc + 4, dtype=trade_dt)
    liqs = np.empty(4 * nc + 4, dtype=liquidation_dt)
    several = a1 - a0 > 1
    summed = np.zeros(n if several else 0)
    col0 = acc_start[combo_start[first]]
    acc0 = combo_start[first]
    stats = col_stats[lo - col0:hi - col0]
    for a in range(a0, a1):
        acc = accounts[a]
        account_nb(acc_start[a] - lo, acc_start[a + 1] - lo, acc["init_cash"], acc["mode"],
                   acc["closeout"], acc["nbp"], open_, high, low, close, funding, nights,
                   entries, exits, local, tier_floor, tier_mmr, tier_cum, tier_maxlev,
                   fill_at_close, take_first, st, p0, p1, summed, trades, 0, liqs, 0, True,
                   stats, acc_curve[a - acc0])
    out = combo_curve[ci - first]
    if several:
        curve_start_nb(out)
        for t in range(n):
            curve_update_nb(out, summed[t])
    else:
        out[:] = acc_curve[a0 - acc0]


@njit(cache=True)
def _outputs_nb(cols, acc_start, combo_start, first, last):
    col_stats = np.zeros((acc_start[combo_start[last]] - acc_start[combo_start[first]],
                          N_COL_STATS))
    acc_curve = np.zeros((combo_start[last] - combo_start[first], N_CURVE_STATS))
    combo_curve = np.zeros((last - first, N_CURVE_STATS))
    return col_stats, acc_curve, combo_curve


@njit(cache=True, parallel=True)
def sweep_nb(open_, high, low, close, funding, nights, entries, exits, cols, accounts, tier_floor,
             tier_mmr, tier_cum, tier_maxlev, fill_at_close, take_first, acc_start, combo_start,
             first, last):
    """Combinations `first .. last` on all of numba's threads. The first sixteen arguments
    are `simulate_nb`'s. Returns, for those combinations only, col_stats (their columns x
    N_COL_STATS), acc_curve (their accounts x N_CURVE_STATS), combo_curve (last - first rows)."""
    col_stats, acc_curve, combo_curve = _outputs_nb(cols, acc_start, combo_start, first, last)
    for ci in prange(first, last):
        _combination_nb(ci, first, open_, high, low, close, funding, nights, entries, exits,
                        cols, accounts, tier_floor, tier_mmr, tier_cum, tier_maxlev,
                        fill_at_close, take_first, acc_start, combo_start, col_stats, acc_curve,
                        combo_curve)
    return col_stats, acc_curve, combo_curve


@njit(cache=True, nogil=True)
def sweep_serial_nb(open_, high, low, close, funding, nights, entries, exits, cols, accounts,
                    tier_floor, tier_mmr, tier_cum, tier_maxlev, fill_at_close, take_first,
                    acc_start, combo_start, first, last):
    """`sweep_nb` on the calling thread, without the GIL: the reference a parallel run must
    equal, and what a Dask worker's threads run side by side."""
    col_stats, acc_curve, combo_curve = _outputs_nb(cols, acc_start, combo_start, first, last)
    for ci in range(first, last):
        _combination_nb(ci, first, open_, high, low, close, funding, nights, entries, exits,
                        cols, accounts, tier_floor, tier_mmr, tier_cum, tier_maxlev,
                        fill_at_close, take_first, acc_start, combo_start, col_stats, acc_curve,
                        combo_curve)
    return col_stats, acc_curve, combo_curve
