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
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np

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


def _sharpe(s, q, c):
    """Sharpe ratios from sums of r, r² and counts (any shape); 0 where a series never moved."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = s / c
        var = q / c - mu * mu
        out = mu / np.sqrt(var)
    return np.where((c > 1) & (var > 1e-30), out, 0.0)


def block_sums(returns, n_blocks: int = DEFAULT_BLOCKS):
    """Per-block Σr, Σr² and counts of a (bars, combinations) return matrix, cut into
    `n_blocks` contiguous blocks of (nearly) equal length. The summaries `pbo` needs, so a
    sweep can keep them instead of the curves."""
    r = np.asarray(returns, np.float64)
    if r.ndim == 1:
        r = r[:, None]
    edges = np.linspace(0, len(r), n_blocks + 1).round().astype(int)
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
    sums = np.asarray(sums, np.float64)
    sumsq, counts = np.asarray(sumsq, np.float64), np.asarray(counts, np.float64)
    n_blocks, n_combos = sums.shape
    if n_blocks < 2 or n_blocks % 2:
        raise ValueError(f"CSCV needs an even number of blocks >= 2, got {n_blocks}")
    chosen = np.array(list(combinations(range(n_blocks), n_blocks // 2)))
    keep = max(MIN_SPLITS, max_ranked // max(1, n_combos))
    if len(chosen) > keep:
        picked = np.random.default_rng(0).choice(len(chosen), size=keep, replace=False)
        chosen = chosen[np.sort(picked)]
    masks = np.zeros((len(chosen), n_blocks))
    masks[np.arange(len(chosen))[:, None], chosen] = 1.0
    totals = sums.sum(0), sumsq.sum(0), counts.sum(0)
    logits, pairs = [], []
    step = max(1, 4_000_000 // max(1, n_combos))          # splits per chunk: bounded memory
    for lo in range(0, len(masks), step):
        m = masks[lo:lo + step]
        s_in, q_in, c_in = m @ sums, m @ sumsq, m @ counts
        inside = _sharpe(s_in, q_in, c_in)
        outside = _sharpe(totals[0] - s_in, totals[1] - q_in, totals[2] - c_in)
        best = np.argmax(inside, axis=1)                  # ties: the first combination
        rows = np.arange(len(m))
        mine = outside[rows, best][:, None]
        below = (outside < mine).sum(1)
        tied = (outside == mine).sum(1)                   # includes the winner itself
        omega = (below + (tied + 1) / 2.0) / (n_combos + 1)
        logits.append(np.log(omega / (1 - omega)))
        pairs.append(np.column_stack([inside[rows, best], outside[rows, best]]))
    logits = np.concatenate(logits)
    is_, oos = np.concatenate(pairs).T
    slope = float(np.polyfit(is_, oos, 1)[0]) if np.ptp(is_) > 0 else math.nan
    return PBO(float((logits <= 0).mean()), logits, len(logits), n_blocks, slope)


def grid_statistics(returns, winner: int, n_blocks: int = DEFAULT_BLOCKS) -> dict:
    """Overfitting statistics of a ranked grid: `returns` (bars, combinations) per-bar returns
    of every combination tried, `winner` the column the ranking put first."""
    r = np.asarray(returns, np.float64)
    if r.ndim == 1:
        r = r[:, None]
    stats = [moments(r[:, k]) for k in range(r.shape[1])]
    return statistics_from_moments(stats, winner, *block_sums(r, n_blocks))


def statistics_from_moments(stats, winner: int, sums, sumsq, counts) -> dict:
    """As `grid_statistics`, from per-combination (SR, skew, kurt, n) and per-block sums."""
    srs = np.array([s[0] for s in stats], np.float64)
    finite = srs[np.isfinite(srs)]
    n_trials = len(stats)
    variance = float(finite.var(ddof=1)) if len(finite) > 1 else 0.0
    sr, skew, kurt, n = stats[winner]
    out = {
        "trials": n_trials,
        "sharpe_per_bar": sr,
        "skew": skew,
        "kurtosis": kurt,
        "bars": n,
        "sharpe_variance": variance,
        "expected_max_sharpe": expected_max_sharpe(n_trials, variance),
        "psr": probabilistic_sharpe(sr, n, skew, kurt),
        "dsr": deflated_sharpe(sr, n, skew, kurt, n_trials, variance),
        "pbo": math.nan,
        "pbo_blocks": int(np.asarray(sums).shape[0]),
        "pbo_splits": 0,
    }
    if len(finite) and np.ptp(finite) == 0:
        out["note"] = "every combination has the same Sharpe ratio (no trades?): nothing to rank"
    elif n_trials >= 2 and np.asarray(counts).sum(1).min() > 0:
        result = pbo(sums, sumsq, counts)
        out.update(pbo=result.pbo, pbo_splits=result.splits,
                   oos_degradation=result.degradation)
    return out


MEANING = ("PSR: chance the winner's true Sharpe is above 0; DSR: the same after allowing for "
           "the {trials} combinations tried (below 0.95 the winner is not distinguishable from the "
           "luckiest of {trials} coin flips); PBO: share of half/half splits of {blocks} time "
           "blocks where the in-sample winner ranked in the bottom half out of sample (near 0.5 "
           "or above: the ranking does not carry over).")


def combination_returns(result) -> np.ndarray:
    """(bars, combinations) per-bar returns of a backtest grid's combinations over all symbols
    (`Result.combo_curve`); bars where a curve is flat at zero or missing are NaN."""
    curves = np.column_stack([np.asarray(result.combo_curve(ci)[1], np.float64)
                              for ci in range(len(result.combos))])
    injected = result.combo_injected()
    with np.errstate(invalid="ignore", divide="ignore"):
        # --on-ruin topup: a refill is capital put in, not a return
        r = (curves[1:] - injected[1:]) / curves[:-1] - 1.0
    r[~np.isfinite(r)] = np.nan
    return r


def result_statistics(result, winner: int, n_blocks: int = DEFAULT_BLOCKS) -> dict:
    """Overfitting statistics of a backtest grid whose ranking put combination `winner` first."""
    r = combination_returns(result)
    blocks = min(n_blocks, 2 * (len(r) // 4))    # at least two bars a block, an even count
    if len(result.combos) < 2 or blocks < 2:
        return {"trials": len(result.combos), "note": "needs at least 2 combinations and 4 bars"}
    out = grid_statistics(r, winner, blocks)
    out["winner"] = result.combo_label(winner)
    return out


def describe(stats: dict) -> str:
    """One sentence on what the statistics say."""
    return MEANING.format(trials=stats["trials"], blocks=stats.get("pbo_blocks", DEFAULT_BLOCKS))


def sweep_statistics(sweep, winner: int, store, events, n_blocks: int = DEFAULT_BLOCKS,
                     sweep_kwargs=None) -> dict:
    """Overfitting statistics of a sweep's winner without any curve in memory.

    The trials' Sharpe ratios come from the sweep's streamed sums (Σr, Σr², n per combination);
    the per-block sums PBO needs from the same sweep run on each of `n_blocks` consecutive
    windows of the bars (each window starts flat with the starting cash, so a trade crossing a
    block edge is cut there; the signals are the whole run's where `sweep.window_sums` can cut
    the prepared arrays, else each window's own); the winner's skewness and kurtosis from one
    full-record run of the winner alone.
    """
    from dataclasses import replace

    from sitcli.backtest import run_backtest
    from sitcli.engine.kernel import C_N, C_SUM, C_SUM_SQ
    from sitcli.errors import DataMissing
    from sitcli.sweep import run_sweep
    from sitcli.walkforward import _grid_values

    cfg, combos, index = sweep.cfg, sweep.prep.combos, sweep.prep.index
    n_blocks = min(n_blocks, 2 * (len(index) // 8))     # blocks of at least 4 bars, even count
    if len(combos) < 2 or n_blocks < 2:
        return {"trials": len(combos), "note": "needs at least 2 combinations and 16 bars"}
    edges = np.linspace(0, len(index), n_blocks + 1).round().astype(int)
    block = np.zeros((3, n_blocks, len(combos)))
    kwargs = dict(sweep_kwargs or {})
    if kwargs.get("executor") == "dask" and not kwargs.get("scheduler"):
        # a LocalCluster per block would cost more than the block: use this machine's cores
        kwargs = {"workers": kwargs.get("workers")}
    from sitcli.sweep import window_sums

    for b in range(n_blocks):
        # the prepared run cut into windows; else each window prepared on its own
        sums = window_sums(sweep, edges[b], edges[b + 1])
        if sums is not None:
            block[:, b] = sums
            continue
        span = replace(cfg, start=index[edges[b]].isoformat(),
                       end=index[edges[b + 1] - 1].isoformat(),
                       tiers_asof=cfg.tiers_asof or index[0].isoformat())
        try:
            part = run_sweep(span, store, events, **kwargs)
        except DataMissing as exc:
            return {"trials": len(combos), "note": f"block {b + 1} of {n_blocks}: {exc}"}
        block[:, b] = part.combo_curve[:, [C_SUM, C_SUM_SQ, C_N]].T
    c = sweep.combo_curve
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = c[:, C_SUM] / c[:, C_N]
        srs = mean / np.sqrt(c[:, C_SUM_SQ] / c[:, C_N] - mean * mean)
    alone = run_backtest(replace(cfg, grid=_grid_values(cfg.grid, combos[winner])), store, events)
    stats = [(float(sr), math.nan, math.nan, int(n)) for sr, n in zip(srs, c[:, C_N], strict=True)]
    stats[winner] = moments(combination_returns(alone)[:, 0])
    out = statistics_from_moments(stats, winner, *block)
    out["winner"] = sweep.combo_label(winner)
    out["blocks_restart"] = True
    return out
