"""Monte Carlo of a strategy's trades at leverage: what else could the same trades have done?

Each trade of a backtest run becomes its net return on margin (the engine's own: leverage,
costs, liquidation and the isolated/negative-balance cap already applied, so a liquidated trade
is the loss the engine booked). A path redraws the run's trades (i.i.d., or circular blocks of
consecutive trades to keep streaks) and compounds them on the account the way the engine sizes
them: each trade puts `size` x equity up as margin, so equity becomes equity x (1 + size x r).
Dollar PnLs are never reordered: a loss taken on a small account stays small.

Each draw also carries the trade's time: the days from its entry to the next trade's entry
(the last: to the end of the data), so a path spans about as long as the backtest and time to
ruin and liquidations per year are in calendar time. A path is ruined when its equity falls
to `ruin_level` x starting cash or below; then it stops (`on_ruin="stop"`, equity stays) or is
refilled to the starting cash (`"topup"`, the refill counted as new capital).

Limits: a path keeps the run's trade count; moves inside a trade are not redrawn (the drawdown
is measured at trade exits); maintenance brackets that grow with position size are those of the
original run. Only runs with their own account (`--account isolated`) can be replayed this way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from sitcli.engine.kernel import refill_nb

METHODS = ("iid", "block")
ON_RUIN = ("stop", "topup")
DAYS_PER_YEAR = 365.25
RUIN_HORIZONS = {"1m": DAYS_PER_YEAR / 12, "3m": DAYS_PER_YEAR / 4, "12m": DAYS_PER_YEAR}
FINAL, DRAWDOWN, RUIN_DAY, RUINS, LIQS, INJECTED, DAYS = range(7)


@dataclass
class TradeSample:
    """One run's trades, in the order they happened."""
    label: str
    returns: np.ndarray      # net return on margin per trade
    hold_days: np.ndarray    # entry to exit
    slot_days: np.ndarray    # entry to the next trade's entry (the last: to the end of the data)
    liquidated: np.ndarray   # bool: closed by liquidation or close-out
    cash: float
    size: float
    protection: bool         # negative balance protection: the account never goes below 0
    refills: int = 0         # times the engine refilled the account after wiping it out


def samples_from_result(result) -> list[TradeSample]:
    """One TradeSample per run (symbol x combination) of one isolated-account backtest, as the
    engine ran it (without --on-ruin topup a run it wiped out has only the trades up to then;
    see `refilled_samples`)."""
    from sitcli.errors import BadInput

    if result.shared:
        raise BadInput("--account shared: trades of several symbols overlap on one account and "
                       "cannot be redrawn one at a time; use --account isolated")
    refills = result.refills if result.refills is not None else np.zeros(len(result.runs), int)
    return [_sample(result.label(r), [(result, result.trades[result.trades["col"] == r])],
                    result.cfg.cash, result.combos[run.combo]["size"],
                    result.legs[run.leg].venue.negative_balance_protection,
                    int(refills[run.account]))
            for r, run in enumerate(result.runs)]


def refilled_samples(cfg, store, events, ruin_level: float = 0.01) -> list[TradeSample]:
    """One TradeSample per run (symbol x combination), from the backtest run with
    `--on-ruin topup` at `ruin_level`: the engine refills an account it wiped out and trades
    on from the next signal (`kernel._refill_nb`, the rule `replay` follows too), so even a
    50x run has every trade the strategy would have made to redraw."""
    from dataclasses import replace

    from sitcli.backtest import run_backtest
    from sitcli.errors import BadInput

    if cfg.account == "shared":
        raise BadInput("--account shared: trades of several symbols overlap on one account and "
                       "cannot be redrawn one at a time; use --account isolated")
    result = run_backtest(replace(cfg, on_ruin="topup", ruin_level=ruin_level), store, events)
    return samples_from_result(result)


def _sample(label, parts, cash, size, protection, refills) -> TradeSample:
    from sitcli.engine.records import CLOSE_OUT, LIQUIDATION

    entry, exit_, ret, liq = [], [], [], []
    for result, t in parts:
        t = np.sort(t, order="entry_bar")
        stamps = result.index.asi8
        entry.append(stamps[t["entry_bar"]])
        exit_.append(stamps[t["exit_bar"]])
        ret.append(t["return_on_margin"])
        liq.append(np.isin(t["exit_reason"], (LIQUIDATION, CLOSE_OUT)))
    last = parts[-1][0].index
    end = last.asi8[-1] + _bar_days(last) * 86400e9
    entry, exit_ = np.concatenate(entry) / 86400e9, np.concatenate(exit_) / 86400e9
    slots = np.diff(np.append(entry, end / 86400e9)) if len(entry) else np.zeros(0)
    return TradeSample(label, np.concatenate(ret).astype(np.float64), exit_ - entry, slots,
                       np.concatenate(liq), float(cash), float(size), bool(protection), refills)


def _bar_days(index) -> float:
    return float(np.median(np.diff(index.asi8))) / 86400e9 if len(index) > 1 else 1.0


def draw_indices(n: int, paths: int, method: str, block: int, rng) -> np.ndarray:
    """(paths, n) trade indices: i.i.d. with replacement, or circular blocks of `block`
    consecutive trades starting at uniform positions."""
    if method == "iid":
        return rng.integers(0, n, size=(paths, n))
    blocks = -(-n // block)
    starts = rng.integers(0, n, size=(paths, blocks))
    idx = (starts[:, :, None] + np.arange(block)[None, None, :]) % n
    return idx.reshape(paths, blocks * block)[:, :n]


@njit(cache=True)
def _trade_equity(equity, size, r, protection):
    """Equity after one trade that commits size x equity as margin and returns r on it."""
    after = equity + size * equity * r
    if protection and after < 0.0:
        return 0.0
    return after


@njit(cache=True)
def _path(order, returns, hold, slot, liq, cash, size, protection, ruin_at, topup, out):
    equity, peak, worst, t = cash, cash, 0.0, 0.0
    horizon = 0.0
    for k in order:
        horizon += slot[k]
    ruin_day = np.inf
    ruins, liqs, injected = 0, 0, 0.0
    for k in order:
        equity = _trade_equity(equity, size, returns[k], protection)
        liqs += liq[k]
        if equity > peak:
            peak = equity
        if peak > 0.0 and equity / peak - 1.0 < worst:
            worst = equity / peak - 1.0
        if equity <= ruin_at:
            ruins += 1
            if ruin_day == np.inf:
                ruin_day = t + hold[k]
            if not topup:
                break
            added = refill_nb(equity, cash, ruin_at)   # the engine's rule
            injected += added
            equity += added
            peak = equity
        t += slot[k]
    out[FINAL], out[DRAWDOWN], out[RUIN_DAY] = equity, worst, ruin_day
    out[RUINS], out[LIQS], out[INJECTED], out[DAYS] = ruins, liqs, injected, horizon


@njit(cache=True, parallel=True)
def paths_nb(idx, returns, hold, slot, liq, cash, size, protection, ruin_at, topup):
    """One row of (final equity, max drawdown, first ruin day, ruins, liquidations, capital
    injected, days drawn) per path; paths run in parallel on every core. A path stopped by ruin
    still counts the days it drew: rates per year are over the same span for every path."""
    out = np.empty((idx.shape[0], 7))
    for p in prange(idx.shape[0]):
        _path(idx[p], returns, hold, slot, liq, cash, size, protection, ruin_at, topup, out[p])
    return out


def replay(sample: TradeSample, ruin_level: float = 0.0, on_ruin: str = "stop") -> np.ndarray:
    """The run's own order as one path: what the engine booked, compounded trade by trade."""
    order = np.arange(len(sample.returns))[None, :]
    return _run(sample, order, ruin_level, on_ruin)[0]


def _run(sample, idx, ruin_level, on_ruin):
    return paths_nb(np.ascontiguousarray(idx, np.int64), sample.returns, sample.hold_days,
                    sample.slot_days, sample.liquidated.astype(np.int64), sample.cash, sample.size,
                    sample.protection, ruin_level * sample.cash, on_ruin == "topup")


def check_options(paths: int, method: str, block: int, on_ruin: str, ruin_level: float) -> None:
    from sitcli.errors import BadInput

    if paths < 1:
        raise BadInput(f"--paths {paths}: must be at least 1, e.g. 10000")
    if method not in METHODS:
        raise BadInput(f"--method {method!r}: use iid (trades drawn independently) or block "
                       "(runs of consecutive trades)")
    if block < 1:
        raise BadInput(f"--block {block}: must be at least 1 trade")
    if on_ruin not in ON_RUIN:
        raise BadInput(f"--on-ruin {on_ruin!r}: use stop (the path ends) or topup (refill to the "
                       "starting cash and go on, counting the refill as new capital)")
    if not 0 <= ruin_level < 1:
        raise BadInput(f"--ruin-level {ruin_level:g}: a fraction of the starting cash in [0, 1)")


def simulate(sample: TradeSample, paths: int = 10_000, method: str = "iid", block: int = 5,
             seed: int = 0, on_ruin: str = "stop", ruin_level: float = 0.01, chunks: int = 20,
             progress=None) -> dict:
    """Distribution of `paths` redrawn paths of one run's trades. Seeded: the same seed gives
    the same numbers on any number of cores. `progress(done, total)` after each chunk."""
    check_options(paths, method, block, on_ruin, ruin_level)
    n = len(sample.returns)
    if n == 0:
        return {"label": sample.label, "trades": 0, "paths": 0}
    rng = np.random.default_rng(seed)
    rows, done = [], 0
    for size in np.diff(np.linspace(0, paths, min(chunks, paths) + 1).round().astype(int)):
        rows.append(_run(sample, draw_indices(n, int(size), method, block, rng), ruin_level,
                         on_ruin))
        done += int(size)
        if progress:
            progress(done, paths)
    return summarize(sample, np.concatenate(rows), method, block, seed, on_ruin, ruin_level)


def _pcts(x) -> dict:
    q = np.percentile(x, [5, 25, 50, 75, 95]) if len(x) else [math.nan] * 5
    return {"mean": float(np.mean(x)) if len(x) else math.nan,
            **dict(zip(("p5", "p25", "median", "p75", "p95"), map(float, q), strict=True))}


def summarize(sample, out, method, block, seed, on_ruin, ruin_level) -> dict:
    cash = sample.cash
    own, refilled = replay(sample, ruin_level, "stop"), replay(sample, ruin_level, "topup")
    years = np.maximum(out[:, DAYS], 1e-9) / DAYS_PER_YEAR
    ruin_day = out[:, RUIN_DAY]
    ruined = np.isfinite(ruin_day)
    capital = cash + out[:, INJECTED]
    result = {
        "label": sample.label, "trades": len(sample.returns), "paths": len(out), "cash": cash,
        "method": method, "block": block if method == "block" else None, "seed": seed,
        "on_ruin": on_ruin, "ruin_level": ruin_level,
        "history": {"trades": len(sample.returns),
                    "liquidations": int(sample.liquidated.sum()),
                    "years": float(sample.slot_days.sum() / DAYS_PER_YEAR),
                    "final_equity": float(own[FINAL]),
                    "ruined": bool(np.isfinite(own[RUIN_DAY])),
                    "refills": sample.refills,
                    # the trades in their own order, refilled after each ruin
                    "topped_up": {"final_equity": float(refilled[FINAL]),
                                  "capital_injected": float(refilled[INJECTED]),
                                  "return_on_capital_pct": 100 * float(
                                      refilled[FINAL] / (cash + refilled[INJECTED]) - 1)}},
        "final_equity": _pcts(out[:, FINAL]),
        "max_drawdown_pct": _pcts(100 * out[:, DRAWDOWN]),
        "ruin_probability": {k: float((ruin_day <= d).mean()) for k, d in RUIN_HORIZONS.items()}
        | {"any": float(ruined.mean())},
        "days_to_ruin": _pcts(ruin_day[ruined]),
        # pooled over the span every path drew (stopped paths included): one liquidation on
        # day 0 of a path that then stops is one over that span, not one per zero years
        "liquidations_per_year": float(out[:, LIQS].sum() / years.sum()),
    }
    if on_ruin == "topup":
        result["capital_injected"] = _pcts(out[:, INJECTED])
        result["refills_per_year"] = float(out[:, RUINS].sum() / years.sum())
        result["return_on_capital_pct"] = _pcts(100 * (out[:, FINAL] - capital) / capital)
    return result
