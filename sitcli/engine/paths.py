"""First-passage of a leveraged position along price paths: arrays in, arrays out.

A position opened at `entry` with liquidation price `entry * lp_ratio` is followed bar by bar
over `horizon` bars of (open, high, low, close) by the bar loop's own first-passage rule
(`margin.first_touch`): an open already beyond the liquidation price fills there (a gap),
otherwise the adverse extreme triggers it at the liquidation price. With finer bars
(`--detail`), a bar that has them is walked row by row by the same rule, so a gap at a finer
bar's open inside the bar fills there.
"""

import numpy as np
from numba import njit, prange

from sitcli.engine import margin as formulas
from sitcli.engine.kernel import jit_formula, reaches_nb

first_touch_nb = jit_formula(formulas.first_touch, reaches=reaches_nb)
exit_charges_nb = jit_formula(formulas.exit_charges)
EXIT_CLOSE_OUT = formulas.EXIT_CLOSE_OUT


@njit(cache=True, inline="always")
def _bar_touch_nb(side, open_, high, low, t, lp, fine_open, fine_high, fine_low, fine_start):
    """The first touch of `lp` in bar t (`margin.first_touch`), walking its finer rows
    fine_start[t] .. fine_start[t + 1] in order when it has any."""
    if fine_start.shape[0] > 0 and fine_start[t + 1] > fine_start[t]:
        for r in range(fine_start[t], fine_start[t + 1]):
            adverse = fine_low[r] if side > 0 else fine_high[r]
            px = first_touch_nb(side, fine_open[r], adverse, lp)
            if not np.isnan(px):
                return px
        return np.nan
    adverse = low[t] if side > 0 else high[t]
    return first_touch_nb(side, open_[t], adverse, lp)


@njit(cache=True)
def first_passage_nb(open_, high, low, close, starts, horizon, side, lp_ratios, leverages,
                     fee, liq_fee, exit_rule, nbp, fine_open, fine_high, fine_low, fine_start):
    """For each start bar s (entry at close[s]) and each leverage k, scan bars s+1..s+horizon
    for the first touch of the liquidation price (`margin.first_touch`: a gap at the open
    fills there, else the adverse extreme fills at the price). `fine_*` (`--detail`): finer
    bars, bar t spanning rows fine_start[t] .. fine_start[t + 1] (n + 1 entries; empty arrays
    without detail), walked in order inside the bars that have them.

    A NaN ratio is a position that its maintenance liquidates as it opens.

    Returns, shaped (len(starts), len(lp_ratios)):
        bars_to_liq  : bars until liquidation (0 = not liquidated within the horizon)
        rom          : return on margin at the end, entry fee and the exit's charges by
                       the engine's exit rule (`margin.exit_charges`, `exit_rule` a code of
                       it; True = the perpetuals' bankruptcy close, False = a CFD close-out)
                       included; never below the whole margin for a perpetual, nor with
                       negative balance protection (`nbp`)
        gap_loss     : the price loss beyond the margin when an open gapped past the
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
            entry_fee = lev * fee
            if np.isnan(lp):   # maintenance above 1/leverage: liquidated as it opens
                bars_to_liq[a, j] = 1
                rom[a, j] = -1.0 - entry_fee
                continue
            done = False
            for b in range(1, horizon + 1):
                t = s0 + b
                px = _bar_touch_nb(side, open_, high, low, t, lp, fine_open, fine_high,
                                   fine_low, fine_start)
                if np.isnan(px):
                    continue
                move = side * (px / entry - 1.0) * lev
                if px != lp:
                    gap_loss[a, j] = max(0.0, -move - 1.0)
                # per unit of margin: quantity `lev` at entry 1, margin 1
                commission, kept = exit_charges_nb(True, exit_rule, lev, px / entry, move,
                                                   1.0, fee, liq_fee)
                rom[a, j] = move - commission - kept - entry_fee
                if nbp or exit_rule != EXIT_CLOSE_OUT:
                    rom[a, j] = max(rom[a, j], -1.0 - entry_fee)
                bars_to_liq[a, j] = b
                done = True
                break
            if not done:
                end = close[s0 + horizon] / entry
                move = side * (end - 1.0) * lev
                commission, _ = exit_charges_nb(False, exit_rule, lev, end, move, 1.0, fee,
                                                liq_fee)
                rom[a, j] = move - commission - entry_fee
    return bars_to_liq, rom, gap_loss


@njit(cache=True, parallel=True)
def bootstrap_paths_nb(open_, high, low, close, n_paths, length, block, seed, first_path=0):
    """Block bootstrap of a series' own bars: each path chains randomly chosen runs of
    `block` consecutive bars, every bar kept as its shape relative to the previous close
    (open, high, low and close ratios), starting from a close of 1.0. Paths run in parallel;
    path p draws from its own seed (seed + first_path + p), so the result depends neither on
    threads nor on how the paths are split into calls.

    Returns open, high, low, close arrays shaped (n_paths, length + 1); column 0 is the start
    (all four equal to 1.0).
    """
    n = close.shape[0]
    o = np.empty((n_paths, length + 1))
    h = np.empty((n_paths, length + 1))
    lo = np.empty((n_paths, length + 1))
    c = np.empty((n_paths, length + 1))
    for p in prange(n_paths):
        np.random.seed(seed + first_path + p)
        o[p, 0] = 1.0
        h[p, 0] = 1.0
        lo[p, 0] = 1.0
        c[p, 0] = 1.0
        t = 1
        while t <= length:
            first = np.random.randint(1, n - block + 1)
            for b in range(block):
                if t > length:
                    break
                src = first + b
                prev = close[src - 1]
                base = c[p, t - 1]
                o[p, t] = base * open_[src] / prev
                h[p, t] = base * high[src] / prev
                lo[p, t] = base * low[src] / prev
                c[p, t] = base * close[src] / prev
                t += 1
    return o, h, lo, c


@njit(cache=True, parallel=True)
def jump_diffusion_paths_nb(n_paths, length, substeps, mu, sigma, lam, mu_j, sigma_j, seed,
                            gap_open, first_path=0):
    """Bars from a jump-diffusion on log price: per bar, drift `mu`, volatility `sigma`,
    `lam` jumps N(mu_j, sigma_j) on average; each bar is `substeps` steps whose extremes are
    the high and the low. With `gap_open` (exchange sessions) the first step is the move to
    the open, so a jump there gaps it; otherwise (24/7 markets) a bar opens at the previous
    close. Path p draws from seed + first_path + p. Shapes as `bootstrap_paths_nb`.
    """
    o = np.empty((n_paths, length + 1))
    h = np.empty((n_paths, length + 1))
    lo = np.empty((n_paths, length + 1))
    c = np.empty((n_paths, length + 1))
    dt = 1.0 / substeps
    drift = mu * dt
    vol = sigma * np.sqrt(dt)
    p_jump = lam * dt
    for p in prange(n_paths):
        np.random.seed(seed + first_path + p)
        o[p, 0] = 1.0
        h[p, 0] = 1.0
        lo[p, 0] = 1.0
        c[p, 0] = 1.0
        x = 0.0
        for t in range(1, length + 1):
            hi = -np.inf
            low_ = np.inf
            if not gap_open:
                o[p, t] = np.exp(x)
                hi = x
                low_ = x
            for k in range(substeps):
                x += drift + vol * np.random.standard_normal()
                if np.random.random() < p_jump:
                    x += mu_j + sigma_j * np.random.standard_normal()
                if k == 0 and gap_open:
                    o[p, t] = np.exp(x)
                hi = max(hi, x)
                low_ = min(low_, x)
            c[p, t] = np.exp(x)
            h[p, t] = np.exp(hi)
            lo[p, t] = np.exp(low_)
    return o, h, lo, c


@njit(cache=True)
def paths_first_passage_nb(o, h, lo, c, horizon, side, lp_ratios, leverages, fee, liq_fee,
                           exit_rule, nbp):
    """`first_passage_nb` from the start column of every simulated path."""
    n_paths = o.shape[0]
    k = lp_ratios.shape[0]
    bars_to = np.zeros((n_paths, k), np.int64)
    rom = np.zeros((n_paths, k))
    gap = np.zeros((n_paths, k))
    start = np.zeros(1, np.int64)
    no_fine = np.empty(0)
    no_start = np.empty(0, np.int64)
    for p in range(n_paths):
        b, r, g = first_passage_nb(o[p], h[p], lo[p], c[p], start, horizon, side, lp_ratios,
                                   leverages, fee, liq_fee, exit_rule, nbp, no_fine, no_fine,
                                   no_fine, no_start)
        bars_to[p] = b[0]
        rom[p] = r[0]
        gap[p] = g[0]
    return bars_to, rom, gap
