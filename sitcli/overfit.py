"""Is a grid's winner skill or the best of many coin flips?

- `probabilistic_sharpe`: the probability that the true Sharpe ratio exceeds a benchmark, given
  the observed one, the sample length and the returns' skewness and kurtosis (Bailey and
  López de Prado, 2012).
- `deflated_sharpe`: the same with the benchmark set to the Sharpe ratio the best of N
  unskilled trials is expected to reach, from the variance of the trials' Sharpe ratios
  (Bailey and López de Prado, "The Deflated Sharpe Ratio", 2014).
- `pbo`: the probability of backtest overfitting by combinatorially symmetric cross-validation
  (Bailey, Borwein, López de Prado and Zhu, 2015): over every way of choosing half of S time
  blocks as the in-sample part, how often the in-sample winner ranks in the bottom half
  out of sample.

Sharpe ratios here are per bar (not annualized); kurtosis is the plain fourth standardized
moment (3 for a normal). Everything takes numpy arrays; nothing here knows about the engine.

`backtest --grid` and `sweep` give the same numbers: both cut the same per-bar returns
(`combination_returns`: the backtest from its equity curves, the sweep kernel while it runs,
`sitcli.engine.kernel._block_sums_nb`) into the same blocks (`block_edges`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from numba import njit, prange

EULER_GAMMA = 0.5772156649015329
DEFAULT_BLOCKS = 16
# splits x combinations PBO ranks at most (12,870 splits of 16 blocks x 1,554 combinations);
# a larger grid ranks a seeded sample of the splits, never fewer than MIN_SPLITS
MAX_RANKED = 20_000_000
MIN_SPLITS = 200


def _norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _norm_ppf(p: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(p)


def moments(returns) -> tuple[float, float, float, int]:
    """(Sharpe ratio per bar, skewness, kurtosis, number of returns) of one return series;
    population moments, as in the papers. A flat series has Sharpe, skew 0 and kurtosis 3."""
    r = np.asarray(returns, np.float64)
    r = r[np.isfinite(r)]
    n = len(r)
    if n < 2:
        return math.nan, math.nan, math.nan, n
    mu = r.mean()
    d = r - mu
    var = (d * d).mean()
    if var <= 0:
        return 0.0, 0.0, 3.0, n
    sd = math.sqrt(var)
    return mu / sd, (d ** 3).mean() / sd ** 3, (d ** 4).mean() / var ** 2, n


def probabilistic_sharpe(sr: float, n: int, skew: float = 0.0, kurt: float = 3.0,
                         benchmark: float = 0.0) -> float:
    """P(true SR > benchmark) = Φ((SR − SR*)·√(n − 1) / √(1 − γ3·SR + (γ4 − 1)/4·SR²))."""
    if not (n > 1 and math.isfinite(sr)):
        return math.nan
    spread = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr
    if spread <= 0:   # moments so extreme the normal approximation breaks down
        return math.nan
    return _norm_cdf((sr - benchmark) * math.sqrt(n - 1) / math.sqrt(spread))


def expected_max_sharpe(n_trials: int, sr_variance: float) -> float:
    """E[max of N unskilled trials' Sharpe ratios] ≈ √V·((1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e))),
    γ the Euler–Mascheroni constant; 0 for a single trial."""
    if n_trials <= 1 or not sr_variance > 0:
        return 0.0
    return math.sqrt(sr_variance) * ((1 - EULER_GAMMA) * _norm_ppf(1 - 1 / n_trials)
                                     + EULER_GAMMA * _norm_ppf(1 - 1 / (n_trials * math.e)))


def deflated_sharpe(sr: float, n: int, skew: float, kurt: float, n_trials: int,
                    sr_variance: float) -> float:
    """PSR against the Sharpe ratio the best of `n_trials` unskilled trials would show."""
    return probabilistic_sharpe(sr, n, skew, kurt, expected_max_sharpe(n_trials, sr_variance))


def sharpe_of_sums(s, q, c):
    """`moments`' Sharpe ratio from Σr, Σr² and the count (arrays): NaN below 2 returns, 0 for a
    series that never moved."""
    s, q, c = (np.asarray(a, np.float64) for a in (s, q, c))
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = s / c
        var = q / c - mu * mu
        out = mu / np.sqrt(var)
    return np.where(c < 2, math.nan, np.where(var > 0, out, 0.0))


def block_count(n_returns: int, n_blocks: int = DEFAULT_BLOCKS) -> int:
    """How many blocks PBO cuts `n_returns` per-bar returns into: at most `n_blocks`, at least
    two returns a block, an even count (below 2: too few returns for PBO)."""
    return min(n_blocks, 2 * (n_returns // 4))


def block_edges(n_returns: int, n_blocks: int) -> np.ndarray:
    """The `n_blocks` + 1 positions where the blocks of `n_returns` returns start (and the last
    ends): contiguous blocks of (nearly) equal length."""
    return np.linspace(0, n_returns, n_blocks + 1).round().astype(np.int64)


def block_sums(returns, n_blocks: int = DEFAULT_BLOCKS):
    """Per-block Σr, Σr² and counts of a (bars, combinations) return matrix, cut into
    `n_blocks` contiguous blocks of (nearly) equal length (`block_edges`); NaN returns are left
    out. The summaries `pbo` needs, so a sweep can keep them instead of the curves."""
    r = np.asarray(returns, np.float64)
    if r.ndim == 1:
        r = r[:, None]
    edges = block_edges(len(r), n_blocks)
    ok = np.isfinite(r)
    z = np.where(ok, r, 0.0)
    sums = np.add.reduceat(z, edges[:-1], axis=0)
    sumsq = np.add.reduceat(z * z, edges[:-1], axis=0)
    counts = np.add.reduceat(ok.astype(np.float64), edges[:-1], axis=0)
    return sums, sumsq, counts


@dataclass
class PBO:
    pbo: float              # share of splits whose in-sample winner is below the OOS median
    logits: np.ndarray      # λ = log(ω / (1 − ω)) per split, ω the winner's relative OOS rank
    splits: int
    blocks: int
    degradation: float      # slope of OOS on IS Sharpe of the winners (performance decay)


def pbo(sums, sumsq, counts, max_ranked: int = MAX_RANKED) -> PBO:
    """Probability of backtest overfitting by CSCV from per-block summaries (see `block_sums`).

    For every choice J of half the S blocks: the combination with the best in-sample (J) Sharpe
    ratio is ranked among all combinations out of sample (the other half); ω = rank / (N + 1)
    (rank 1 the worst), λ = logit ω; PBO is the share of splits with λ ≤ 0. Ties in the OOS
    ranking take their average rank; an in-sample tie goes to the first combination.

    Ranking costs splits x N: above `max_ranked` a seeded random sample of the splits is used
    (at least MIN_SPLITS; `splits` says how many), so a 100,000-combination sweep's PBO costs
    about what its kernel does; the estimate's standard error is at most 0.5 / sqrt(splits).
    """
    sums = np.ascontiguousarray(sums, np.float64)
    sumsq = np.ascontiguousarray(sumsq, np.float64)
    counts = np.ascontiguousarray(counts)       # float64, or a sweep's unsigned integers
    if counts.dtype.kind != "u":
        counts = counts.astype(np.float64, copy=False)
    n_blocks, n_combos = sums.shape
    if n_blocks < 2 or n_blocks % 2:
        raise ValueError(f"CSCV needs an even number of blocks >= 2, got {n_blocks}")
    chosen = np.array(list(combinations(range(n_blocks), n_blocks // 2)))
    keep = max(MIN_SPLITS, max_ranked // max(1, n_combos))
    if len(chosen) > keep:
        picked = np.random.default_rng(0).choice(len(chosen), size=keep, replace=False)
        chosen = chosen[np.sort(picked)]
    below, tied, pairs = _cscv_nb(chosen.astype(np.int64), sums, sumsq, counts)
    omega = (below + (tied + 1) / 2.0) / (n_combos + 1)   # tied includes the winner itself
    logits = np.log(omega / (1 - omega))
    is_, oos = pairs.T
    slope = float(np.polyfit(is_, oos, 1)[0]) if np.ptp(is_) > 0 else math.nan
    return PBO(float((logits <= 0).mean()), logits, len(logits), n_blocks, slope)


# combinations a thread ranks at a time: their blocks' sums (3 x 16 x 1,024 x 8 bytes) stay
# in its core's cache while every split reads them
TILE = 1024


@njit(cache=True, error_model="numpy", inline="always")
def _in_sample_nb(chosen, k, sums, sumsq, counts, lo, hi, s, q, c):
    """Split k's in-sample sums of combinations lo .. hi - 1 into s, q, c: its blocks added
    in ascending order, as a product with a 0/1 mask adds them. (Loops, not slice assignments:
    under `parallel=True` each of those would start the threads.)"""
    m = hi - lo
    for j in range(m):
        s[j] = 0.0
        q[j] = 0.0
        c[j] = 0.0
    for h in range(chosen.shape[1]):
        b = chosen[k, h]
        row_s = sums[b, lo:hi]
        row_q = sumsq[b, lo:hi]
        row_c = counts[b, lo:hi]
        for j in range(m):
            s[j] += row_s[j]
            q[j] += row_q[j]
            c[j] += row_c[j]


@njit(cache=True, error_model="numpy", inline="always")
def _sharpes_nb(s, q, c, m, out):
    """Sharpe ratios of the first m sums of r, r² and counts into `out`; 0 where a series
    never moved (counts below 2, variance 1e-30 or less). Computed everywhere, then picked,
    so the loop runs on vector instructions."""
    for j in range(m):
        n = c[j]
        mu = s[j] / n
        var = q[j] / n - mu * mu
        sr = mu / np.sqrt(var)
        out[j] = sr if n > 1.0 and var > 1e-30 else 0.0


@njit(cache=True, error_model="numpy", parallel=True)
def _cscv_nb(chosen, sums, sumsq, counts):
    """Every split's in-sample winner (the first combination with the best in-sample Sharpe
    ratio, `np.argmax`'s rule) and how many combinations' out-of-sample Sharpe ratios lie
    below and equal to the winner's. Returns below, tied (per split) and pairs (the winner's
    in-sample and out-of-sample Sharpe ratios). Threads take tiles of combinations; each tile
    is ranked on every split while its sums are in cache."""
    n_splits = chosen.shape[0]
    n_combos = sums.shape[1]
    n_tiles = (n_combos + TILE - 1) // TILE
    s_all = np.zeros(n_combos)
    q_all = np.zeros(n_combos)
    c_all = np.zeros(n_combos)
    for b in range(sums.shape[0]):          # `sums.sum(0)`'s order
        for j in range(n_combos):
            s_all[j] += sums[b, j]
            q_all[j] += sumsq[b, j]
            c_all[j] += counts[b, j]
    # pass 1: each tile's in-sample winner per split, then the first best over the tiles
    tile_best = np.zeros((n_tiles, n_splits), np.int64)
    tile_sr = np.empty((n_tiles, n_splits))
    for t in prange(n_tiles):
        lo = t * TILE
        hi = min(lo + TILE, n_combos)
        s = np.empty(TILE)
        q = np.empty(TILE)
        c = np.empty(TILE)
        sr = np.empty(TILE)
        for k in range(n_splits):
            _in_sample_nb(chosen, k, sums, sumsq, counts, lo, hi, s, q, c)
            _sharpes_nb(s, q, c, hi - lo, sr)
            best = 0
            for j in range(1, hi - lo):
                if sr[j] > sr[best]:
                    best = j
            tile_best[t, k] = lo + best
            tile_sr[t, k] = sr[best]
    pairs = np.empty((n_splits, 2))
    mine = np.empty(n_splits)
    one = np.empty((4, 1))
    for k in range(n_splits):
        best_t = 0
        for t in range(1, n_tiles):
            if tile_sr[t, k] > tile_sr[best_t, k]:
                best_t = t
        best = tile_best[best_t, k]
        _in_sample_nb(chosen, k, sums, sumsq, counts, best, best + 1, one[0], one[1], one[2])
        one[0, 0] = s_all[best] - one[0, 0]
        one[1, 0] = q_all[best] - one[1, 0]
        one[2, 0] = c_all[best] - one[2, 0]
        _sharpes_nb(one[0], one[1], one[2], 1, one[3])
        mine[k] = one[3, 0]
        pairs[k, 0] = tile_sr[best_t, k]
        pairs[k, 1] = mine[k]
    # pass 2: every combination's out-of-sample Sharpe ratio against the winner's
    tile_below = np.zeros((n_tiles, n_splits), np.int64)
    tile_tied = np.zeros((n_tiles, n_splits), np.int64)
    for t in prange(n_tiles):
        lo = t * TILE
        hi = min(lo + TILE, n_combos)
        m = hi - lo
        s = np.empty(TILE)
        q = np.empty(TILE)
        c = np.empty(TILE)
        sr = np.empty(TILE)
        for k in range(n_splits):
            _in_sample_nb(chosen, k, sums, sumsq, counts, lo, hi, s, q, c)
            for j in range(m):
                s[j] = s_all[lo + j] - s[j]
                q[j] = q_all[lo + j] - q[j]
                c[j] = c_all[lo + j] - c[j]
            _sharpes_nb(s, q, c, m, sr)
            n_below = 0
            n_tied = 0
            for j in range(m):
                n_below += sr[j] < mine[k]
                n_tied += sr[j] == mine[k]
            tile_below[t, k] = n_below
            tile_tied[t, k] = n_tied
    below = np.zeros(n_splits, np.int64)
    tied = np.zeros(n_splits, np.int64)
    for t in range(n_tiles):
        for k in range(n_splits):
            below[k] += tile_below[t, k]
            tied[k] += tile_tied[t, k]
    return below, tied, pairs


def grid_statistics(returns, winner: int, n_blocks: int = DEFAULT_BLOCKS) -> dict:
    """Overfitting statistics of a ranked grid: `returns` (bars, combinations) per-bar returns
    of every combination tried, `winner` the column the ranking put first."""
    r = np.asarray(returns, np.float64)
    if r.ndim == 1:
        r = r[:, None]
    srs = np.array([moments(r[:, k])[0] for k in range(r.shape[1])], np.float64)
    return statistics_from_moments(srs, winner, moments(r[:, winner]),
                                   *block_sums(r, n_blocks))


def statistics_from_moments(srs, winner: int, winner_moments, sums, sumsq, counts) -> dict:
    """As `grid_statistics`, from every combination's Sharpe ratio per bar, the winner's
    (SR, skew, kurt, n) (`moments`) and per-block sums."""
    return winner_statistics(trial_statistics(srs, sums, sumsq, counts), winner_moments)


def trial_statistics(srs, sums, sumsq, counts) -> dict:
    """The part of the statistics that does not depend on the winner: the trials' Sharpe
    variance, the best unskilled trial's expected Sharpe and PBO (a sweep computes it before
    ranking, so its per-block sums can be let go first)."""
    srs = np.asarray(srs, np.float64)
    finite = srs[np.isfinite(srs)]
    n_trials = len(srs)
    variance = float(finite.var(ddof=1)) if len(finite) > 1 else 0.0
    out = {"trials": n_trials, "sharpe_variance": variance,
           "expected_max_sharpe": expected_max_sharpe(n_trials, variance), "pbo": math.nan,
           "pbo_blocks": int(np.asarray(sums).shape[0]), "pbo_splits": 0}
    if len(finite) and np.ptp(finite) == 0:
        out["note"] = "every combination has the same Sharpe ratio (no trades?): nothing to rank"
    elif n_trials >= 2 and np.asarray(counts).sum(1).min() > 0:
        result = pbo(sums, sumsq, counts)
        out.update(pbo=result.pbo, pbo_splits=result.splits,
                   oos_degradation=result.degradation)
    return out


def winner_statistics(trials: dict, winner_moments) -> dict:
    """`trial_statistics` with the winner's (SR, skew, kurt, n) (`moments`): its PSR and DSR."""
    n_trials, variance = trials["trials"], trials["sharpe_variance"]
    sr, skew, kurt, n = winner_moments
    out = {
        "trials": n_trials,
        "sharpe_per_bar": sr,
        "skew": skew,
        "kurtosis": kurt,
        "bars": n,
        "sharpe_variance": variance,
        "expected_max_sharpe": trials["expected_max_sharpe"],
        "psr": probabilistic_sharpe(sr, n, skew, kurt),
        "dsr": deflated_sharpe(sr, n, skew, kurt, n_trials, variance),
    }
    out.update(trials)        # pbo, its blocks and splits, and a note or the degradation
    return out


MEANING = ("PSR: chance the winner's true Sharpe is above 0; DSR: the same after allowing for "
           "the {trials} combinations tried (below 0.95 the winner is not distinguishable from the "
           "luckiest of {trials} coin flips); PBO: share of half/half splits of {blocks} time "
           "blocks where the in-sample winner ranked in the bottom half out of sample (near 0.5 "
           "or above: the ranking does not carry over).")
TOO_SHORT = "needs at least 2 combinations and 5 bars"


def combination_returns(result) -> np.ndarray:
    """(bars − 1, combinations) per-bar returns of a backtest grid's combinations over all
    symbols (`Result.combo_curve`): r_t = (equity_t − injected_t) / equity_{t−1} − 1, the
    capital `--on-ruin topup` put in at t not counted as a return; NaN where that is not finite
    (after an equity of 0). The sweep kernel computes the same returns (`_block_sums_nb`)."""
    curves = np.column_stack([np.asarray(result.combo_curve(ci)[1], np.float64)
                              for ci in range(len(result.combos))])
    injected = result.combo_injected()
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (curves[1:] - injected[1:]) / curves[:-1] - 1.0
    r[~np.isfinite(r)] = np.nan
    return r


def result_statistics(result, winner: int, n_blocks: int = DEFAULT_BLOCKS) -> dict:
    """Overfitting statistics of a backtest grid whose ranking put combination `winner` first."""
    r = combination_returns(result)
    blocks = block_count(len(r), n_blocks)
    if len(result.combos) < 2 or blocks < 2:
        return {"trials": len(result.combos), "note": TOO_SHORT}
    out = grid_statistics(r, winner, blocks)
    out["winner"] = result.combo_label(winner)
    return out


def describe(stats: dict) -> str:
    """One sentence on what the statistics say."""
    return MEANING.format(trials=stats["trials"], blocks=stats.get("pbo_blocks", DEFAULT_BLOCKS))


def sweep_trials(sweep) -> dict:
    """`trial_statistics` of a sweep from the per-block sums its kernel kept
    (`SweepResult.blocks`: the same returns and blocks as `combination_returns` and
    `block_sums`), the trials' Sharpe ratios from their totals; TOO_SHORT's note when there
    are too few combinations or bars."""
    sums, sumsq, counts = sweep.blocks
    if len(sweep.prep.combos) < 2 or len(sums) < 2:
        return {"trials": len(sweep.prep.combos), "note": TOO_SHORT}
    srs = np.empty(sums.shape[1])
    for lo in range(0, len(srs), SHARPE_CHUNK):   # elementwise: a few MB of temporaries at most
        part = slice(lo, lo + SHARPE_CHUNK)
        srs[part] = sharpe_of_sums(sums[:, part].sum(0), sumsq[:, part].sum(0),
                                   counts[:, part].sum(0))
    return trial_statistics(srs, sums, sumsq, counts)


# combinations whose Sharpe ratios `sweep_trials` computes at a time
SHARPE_CHUNK = 16_384


def sweep_statistics(sweep, winner: int, store, events, trials: dict | None = None) -> dict:
    """`result_statistics` of a sweep, without any curve in memory: `sweep_trials` (computed
    here unless given), and the winner's skewness and kurtosis from one full-record run of the
    winner."""
    from dataclasses import replace

    from sitcli.backtest import run_backtest
    from sitcli.walkforward import _grid_values

    if trials is None:
        trials = sweep_trials(sweep)
    if trials.get("note") == TOO_SHORT:
        return trials
    alone = run_backtest(replace(sweep.cfg, grid=_grid_values(sweep.cfg.grid,
                                                              sweep.prep.combos[winner])),
                         store, events)
    out = winner_statistics(trials, moments(combination_returns(alone)[:, 0]))
    out["winner"] = sweep.combo_label(winner)
    return out
