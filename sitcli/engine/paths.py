"""First-passage of a leveraged position along price paths: arrays in, arrays out.

A position opened at `entry` with liquidation price `entry * lp_ratio` is followed bar by bar
over `horizon` bars of (open, high, low, close), conservatively as the bar loop does: an open
already beyond the liquidation price fills there (a gap), otherwise the adverse extreme
triggers it at the liquidation price.
"""

import numpy as np
from numba import njit


@njit(cache=True)
def first_passage_nb(open_, high, low, close, starts, horizon, side, lp_ratios, leverages,
                     liq_fee):
    """For each start bar s (entry at close[s]) and each leverage k, scan bars s+1..s+horizon.

    Returns, shaped (len(starts), len(lp_ratios)):
        bars_to_liq  : bars until liquidation (0 = not liquidated within the horizon)
        rom          : return on margin at the end: when liquidated the price loss plus the
                       liquidation fee (rate of notional), capped at -1 (the isolated
                       margin); else the price move times the leverage
        gap_loss     : the part of the loss beyond the margin when an open gapped past the
                       liquidation price, as a fraction of the margin (0 otherwise)
    """
    m = starts.shape[0]
    k = lp_ratios.shape[0]
    bars_to_liq = np.zeros((m, k), np.int64)
    rom = np.zeros((m, k))
    gap_loss = np.zeros((m, k))
    for a in range(m):
        s0 = starts[a]
        entry = close[s0]
        for j in range(k):
            lp = entry * lp_ratios[j]
            lev = leverages[j]
            done = False
            for b in range(1, horizon + 1):
                t = s0 + b
                if side * (open_[t] - lp) <= 0.0:
                    loss = (side * (open_[t] / entry - 1.0) - liq_fee * open_[t] / entry) * lev
                    gap_loss[a, j] = max(0.0, -loss - 1.0)
                    rom[a, j] = max(loss, -1.0)
                    bars_to_liq[a, j] = b
                    done = True
                    break
                adverse = low[t] if side > 0 else high[t]
                if side * (adverse - lp) <= 0.0:
                    rom[a, j] = max((side * (lp / entry - 1.0) - liq_fee * lp / entry) * lev,
                                    -1.0)
                    bars_to_liq[a, j] = b
                    done = True
                    break
            if not done:
                rom[a, j] = side * (close[s0 + horizon] / entry - 1.0) * lev
    return bars_to_liq, rom, gap_loss
