"""Tiny builder for one kernel run: one instrument, one signal column, one account."""

import math

import numpy as np

from sitcli.engine.records import ISOLATED, account_dt, column_dt


def run_kernel(o, h, l, c, entries, exits=None, *, leverage=1.0, mode=ISOLATED, nbp=True,
               cash=1000.0, stop=math.nan, take=math.nan, max_bars=0, fee=0, half_spread=0,
               slippage=0, fin_long=0, fin_short=0, fin_days=365, liq_fee=0, funding=None,
               nights=None, floors=(0.0,), mmrs=(0.0,), cums=(0.0,), maxlevs=(math.inf,),
               closeout=0.5, fill_at_close=False, take_first=False, im_leverage=0.0,
               detail=None, fine_funding=None):
    """Run `simulate` on 1-D bars and signals; returns (equity 1-D, trades, liqs).

    `entries`: +1 long / -1 short / 0 (bool True = long); `exits`: bool or None;
    `funding` / `nights`: per-bar arrays or scalars, None = 0; `floors`/`mmrs`/`cums`/`maxlevs`:
    one maintenance tier set (with the leverage each bracket allows). Commits all free
    collateral as margin (size 1). `detail`: finer bars, a list with one list of
    (open, high, low, close) rows per bar (an empty list: no finer bars in that bar);
    `fine_funding`: the funding rate settled at each finer bar's close, in the same layout.
    """
    from sitcli.engine.kernel import simulate

    def col(x):
        return np.ascontiguousarray(np.asarray(x, np.float64).reshape(-1, 1))

    o, h, l, c = col(o), col(h), col(l), col(c)
    n = o.shape[0]

    def per_bar(x):
        return np.zeros((n, 1)) if x is None else np.broadcast_to(col(x), (n, 1)).copy()

    ent = np.sign(np.asarray(entries, np.float64)).astype(np.int8).reshape(n, 1)
    ex = (np.zeros((n, 1), bool) if exits is None
          else np.asarray(exits, bool).reshape(n, 1).copy())
    cols = np.zeros(1, column_dt)
    cols[0] = (0, 0, 0, 0, leverage, 1.0, stop, take, max_bars, fee, half_spread, slippage,
               fin_long, fin_short, fin_days, liq_fee, im_leverage, 0)   # 0: Binance's rule
    accounts = np.zeros(1, account_dt)
    for key, value in (("init_cash", cash), ("mode", mode), ("closeout", closeout),
                       ("nbp", nbp)):
        accounts[key] = value
    tiers = [np.asarray(x, np.float64).reshape(1, -1) for x in (floors, mmrs, cums, maxlevs)]
    last_bar = np.array([n - 1], np.int64)
    # financing per bar for a long and a short: the nights at the constant rates, day count in
    financing = np.stack([per_bar(nights) * fin_long / fin_days,
                          per_bar(nights) * fin_short / fin_days], axis=-1)
    equity, trades, liqs = simulate(o, h, l, c, per_bar(funding), financing, ent, ex,
                                       cols, accounts, *tiers, fill_at_close, take_first,
                                       last_bar, np.zeros((n, 1)),
                                       *fine_bars(detail, n, fine_funding))
    return equity[:, 0], trades, liqs


def fine_bars(detail, n, fine_funding=None):
    """The kernel's six detail arrays for one instrument from per-bar lists of rows (and of
    finer funding rates, None = none)."""
    from sitcli.engine.kernel import no_detail

    if detail is None:
        return no_detail(1)
    assert len(detail) == n, "one list of finer bars per bar"
    rows = [row for bar in detail for row in bar]
    fine = np.asarray(rows, np.float64).reshape(-1, 4)
    start = np.zeros((n + 1, 1), np.int64)
    start[1:, 0] = np.cumsum([len(bar) for bar in detail])
    funding = (np.empty((0, 1)) if fine_funding is None else
               np.asarray([x for bar in fine_funding for x in bar], np.float64).reshape(-1, 1))
    return (*(np.ascontiguousarray(fine[:, j:j + 1]) for j in range(4)), start, funding)
