"""Return statistics of an equity curve: sitcli's own, shared by `backtest`, `sweep` and the
reports (vectorbt's returns accessor is the test oracle, not a dependency of this path).

The formulas are vectorbt's (`vectorbt.returns.nb`): simple returns with a first return of 0
(from 0 to 0 is 0, from 0 to anything else -1); CAGR `prod(1 + r) ** (ann / n) - 1`; Sharpe
`mean / std(ddof=1) * sqrt(ann)`; Sortino `mean * ann / (sqrt(mean(min(r, 0)**2)) * sqrt(ann))`;
maximum drawdown from the running peak; `ann` bars per year of 252 days, or 365 for
instruments quoted around the clock. Two deliberate differences: a curve that never moves has
a Sharpe and Sortino of NaN (vectorbt: +inf), and statistics that annualise are NaN over a span
too short to mean anything (`MIN_SPAN_BARS` returns and `MIN_SPAN_DAYS` days).

The span. A run's statistics cover its own symbol's bars, from the last close before the
strategy could first trade (the bar before its first fill: the first entry signal's bar with
fill=open) to the symbol's own last bar; with `--start` from the first bar at or after it; a
run that never trades covers all its bars. Bars before that are flat at the starting cash and
would only dilute the mean and stretch the year count.

`ratios` holds the formulas once; `curve_stats` feeds it the moments of a whole curve and
`streamed_stats` the running sums the sweep kernel keeps (`sitcli.engine.kernel.C_*`).
"""

from __future__ import annotations

import math

import numpy as np

MIN_SPAN_BARS = 60    # returns; fewer do not annualise
MIN_SPAN_DAYS = 90    # calendar days between the span's first and last bar
RUIN_LEFT = 1e-3      # less than this fraction of the starting cash left: a total loss
ANNUALISED = ("cagr_pct", "sharpe", "sortino")


def bars_per_year(timeframe: str, is_24_7: bool) -> float:
    """vectorbt's `ann_factor`: a year of 252 trading days, or 365 around the clock, in bars."""
    from sitcli.bars import bar_duration

    year = 365 if is_24_7 else 252
    return year * 86_400 / bar_duration(timeframe).total_seconds()


def simple_returns(equity: np.ndarray) -> np.ndarray:
    """Bar-to-bar returns, the first 0; from 0 to 0 is 0, from 0 to anything else -1."""
    equity = np.asarray(equity, dtype=np.float64)
    r = np.zeros(len(equity))
    if len(equity) > 1:
        prev, now = equity[:-1], equity[1:]
        with np.errstate(divide="ignore", invalid="ignore"):
            step = now / prev - 1.0
        r[1:] = np.where(prev == 0.0, np.where(now == 0.0, 0.0, -1.0), step)
    return r


def too_short(n_bars, days) -> np.ndarray | bool:
    """True where a span is too short to annualise (arrays or scalars)."""
    return (np.asarray(n_bars) < MIN_SPAN_BARS) | (np.asarray(days) < MIN_SPAN_DAYS)


def ratios(n, mean, var, down_sq_mean, growth, ann) -> dict:
    """CAGR, Sharpe and Sortino from a span's moments: n returns, their mean, sample variance
    (ddof=1), mean of squared losses and growth prod(1 + r). Scalars or arrays alike."""
    n, mean, var, down, growth = (np.asarray(x, dtype=np.float64)
                                  for x in (n, mean, var, down_sq_mean, growth))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        cagr = np.where((n > 0) & (growth >= 0),
                        np.power(np.maximum(growth, 0.0), ann / np.maximum(n, 1)) - 1.0, np.nan)
        std = np.sqrt(np.maximum(var, 0.0))
        flat = np.where(mean == 0.0, np.nan, np.copysign(np.inf, mean))
        sharpe = np.where(std == 0.0, flat, mean / std * np.sqrt(ann))
        down_risk = np.sqrt(down) * np.sqrt(ann)
        sortino = np.where(down_risk == 0.0, flat, mean * ann / down_risk)
    few = n < 2
    return {"cagr_pct": 100 * cagr, "sharpe": np.where(few, np.nan, sharpe),
            "sortino": np.where(few, np.nan, sortino)}


def curve_stats(equity: np.ndarray, cash: float, ann: float, injected=None) -> dict:
    """Return statistics of one curve, already cut to its span (NaN bars dropped), without the
    short-span rule: the numbers the differential test holds against vectorbt.

    `injected`: capital put in at each bar (`--on-ruin topup`, the equity includes it): a
    bar's return and drawdown are those of its equity before the refill, and the running peak
    starts again at the refilled equity (the kernel's `curve_refill_nb`)."""
    equity = np.asarray(equity, dtype=np.float64)
    keep = ~np.isnan(equity)
    equity = equity[keep]
    nan = math.nan
    if len(equity) == 0:
        return {"total_return_pct": nan, "cagr_pct": nan, "sharpe": nan, "sortino": nan,
                "max_drawdown_pct": nan, "final_equity": nan}
    r, drawdown = _returns_drawdown(equity, None if injected is None
                                    else np.asarray(injected, dtype=np.float64)[keep])
    n = len(r)
    out = {k: float(v) for k, v in ratios(n, r.mean(), r.var(ddof=1) if n > 1 else nan,
                                          np.mean(np.minimum(r, 0.0) ** 2),
                                          np.prod(1.0 + r), ann).items()}
    return {"total_return_pct": 100 * float(equity[-1] / cash - 1), **out,
            "max_drawdown_pct": 100 * float(drawdown.min()), "final_equity": float(equity[-1])}


def _returns_drawdown(equity: np.ndarray, injected) -> tuple[np.ndarray, np.ndarray]:
    """Simple returns and drawdown from the running peak; with refills (`injected` > 0 at a
    bar) the bar's return and drawdown are measured on its equity before the refill and the
    peak starts again from the refilled equity."""
    refills = np.zeros(0, np.int64) if injected is None else np.flatnonzero(injected)
    if not len(refills):
        peak = np.maximum.accumulate(equity)
        with np.errstate(divide="ignore", invalid="ignore"):
            return simple_returns(equity), np.where(peak == 0.0, 0.0, equity / peak - 1.0)
    before = equity - injected
    prev, now = equity[:-1], before[1:]   # from the refilled equity to the next, pre-refill
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.r_[0.0, np.where(prev == 0.0, np.where(now == 0.0, 0.0, -1.0), now / prev - 1.0)]
    drawdown = np.zeros(len(equity))
    for k, lo in enumerate(np.r_[0, refills + 1]):
        hi = refills[k] + 1 if k < len(refills) else len(equity)
        if lo >= hi:
            continue
        start = before[lo] if k == 0 else equity[lo - 1]
        peak = np.maximum(np.maximum.accumulate(before[lo:hi]), start)
        with np.errstate(divide="ignore", invalid="ignore"):
            drawdown[lo:hi] = np.where(peak == 0.0, 0.0, before[lo:hi] / peak - 1.0)
    return r, drawdown


def topup_stats(final_equity, cash, injected, refills, liquidations, days) -> dict:
    """What `--on-ruin topup` adds to a row (arrays or scalars): the capital injected, the
    refills, the return on all the capital put in (starting cash + injected) and liquidations
    per year of the span."""
    final, cash, injected, days = (np.asarray(x, dtype=np.float64)
                                   for x in (final_equity, cash, injected, days))
    with np.errstate(divide="ignore", invalid="ignore"):
        per_year = np.where(days > 0, np.asarray(liquidations) / (days / 365.25), np.nan)
        on_capital = 100 * (final / (cash + injected) - 1)
    return {"capital_injected": injected, "refills": np.asarray(refills).astype(np.int64),
            "return_on_capital_pct": on_capital, "liquidations_per_year": per_year}


def streamed_stats(curve: np.ndarray, n_span: np.ndarray, cash, ann) -> dict:
    """`curve_stats` for many curves at once from the sweep kernel's running sums (rows of
    `N_CURVE_STATS`). `n_span` is the number of returns in each span: bars before the span
    are flat at the starting cash and add returns of exactly 0, so only the count changes."""
    from sitcli.engine.kernel import C_DOWN_SQ, C_FINAL, C_GROWTH, C_MAX_DD, C_SUM, C_SUM_SQ

    n = np.asarray(n_span, dtype=np.float64)
    s, s2 = curve[:, C_SUM], curve[:, C_SUM_SQ]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = s / n
        var = np.where(n > 1, np.maximum(s2 - s * mean, 0.0) / (n - 1), np.nan)
        out = ratios(n, mean, var, curve[:, C_DOWN_SQ] / n, curve[:, C_GROWTH], ann)
    empty = n == 0
    final = np.where(empty, np.nan, curve[:, C_FINAL])
    return {"total_return_pct": 100 * (final / cash - 1), **out,
            "max_drawdown_pct": np.where(empty, np.nan, 100 * curve[:, C_MAX_DD]),
            "final_equity": final}


def ruined(total_return_pct) -> np.ndarray | bool:
    """A wiped-out account: it ended at or below zero, or with less than a thousandth of its
    starting cash ($10 of $10,000: a total loss in all but name). NaN (no curve) is not."""
    return np.asarray(total_return_pct, dtype=np.float64) <= -100 * (1 - RUIN_LEFT)


def span_note(n_bars: int, days: float) -> str:
    return (f"span of {n_bars} bars over {days:.0f} days is under {MIN_SPAN_BARS} bars or "
            f"{MIN_SPAN_DAYS} days: CAGR, Sharpe and Sortino are not annualised")


def span_start(times, first_fill) -> int:
    """Position in `times` (a symbol's or an account's bar times, sorted) where the span
    starts: the last bar before `first_fill`, the first bar when there is none, or when
    nothing filled (`first_fill` None)."""
    if first_fill is None:
        return 0
    return max(0, int(np.searchsorted(np.asarray(times), np.asarray(first_fill), "left")) - 1)


def span_stats(equity: np.ndarray, times, start: int, cash: float, ann: float,
               injected=None) -> dict:
    """`curve_stats` over equity[start:] (NaN bars dropped), with the span it covers and the
    short-span rule applied."""
    equity = np.asarray(equity, dtype=np.float64)[start:]
    times = np.asarray(times)[start:]
    keep = ~np.isnan(equity)
    equity, times = equity[keep], times[keep]
    if injected is not None:
        injected = np.asarray(injected, dtype=np.float64)[start:][keep]
    out = curve_stats(equity, cash, ann, injected)
    out.update(span_fields(len(equity), _naive(times[0]) if len(times) else None,
                           _naive(times[-1]) if len(times) else None, out))
    return out


def utc_times(index) -> np.ndarray:
    """A DatetimeIndex as naive UTC datetime64[ns] (numpy cannot hold the zone; converting a
    zoned index with np.asarray would make an object array of Timestamps)."""
    if getattr(index, "tz", None) is not None:
        index = index.tz_convert(None)
    return np.asarray(index, dtype="datetime64[ns]")


def _naive(stamp):
    """A bar time as UTC datetime64 (pandas stamps carry their zone, numpy's do not)."""
    import pandas as pd

    stamp = pd.Timestamp(stamp)
    return (stamp.tz_convert(None) if stamp.tzinfo is not None else stamp).to_datetime64()


def span_fields(n_bars: int, first, last, out: dict) -> dict:
    """The span's first and last bar and length, blanking (in `out`) what does not annualise."""
    cols = span_columns(out, np.array([n_bars]), np.array([first], dtype="datetime64[ns]"),
                        np.array([last], dtype="datetime64[ns]"))
    for key in ANNUALISED:
        out[key] = float(out[key][0]) if np.ndim(out[key]) else out[key]
    short = bool(cols["short_span"][0])
    days = float(cols["days"][0])
    return {"span_first": None if first is None else _stamp(first),
            "span_last": None if last is None else _stamp(last), "span_bars": int(n_bars),
            "ruined": bool(cols["ruined"][0]),
            "stats_note": span_note(n_bars, days) if short else None}


def span_columns(out: dict, n_bars: np.ndarray, first: np.ndarray, last: np.ndarray) -> dict:
    """Per row of `out` (arrays of `curve_stats` keys): the span's length in days, whether it
    is too short to annualise (then its `ANNUALISED` entries in `out` become NaN), and whether
    the account was ruined. `first` and `last` are datetime64 arrays (NaT: no span)."""
    days = (np.asarray(last, "datetime64[ns]") - np.asarray(first, "datetime64[ns]")) \
        / np.timedelta64(86_400, "s")
    short = (np.asarray(n_bars) > 0) & too_short(n_bars, np.nan_to_num(days, nan=0.0))
    for key in ANNUALISED:
        out[key] = np.where(short, np.nan, out[key])
    return {"days": days, "short_span": short,
            "ruined": np.atleast_1d(ruined(out["total_return_pct"]))}


def _stamp(value):
    import pandas as pd

    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp


def rank(values, ruined_, lower_is_better: bool, top: int | None = None) -> np.ndarray:
    """Row order by a statistic, best first: runs that survived by the value (NaN after them),
    then ruined runs (whatever their value, also by it); ties by row. With `top`, only the
    first `top` rows, found with argpartition."""
    v = np.asarray(values, dtype=np.float64) * (1.0 if lower_is_better else -1.0)
    group = np.where(np.asarray(ruined_, bool), 2, np.where(np.isnan(v), 1, 0))
    rows = np.arange(len(v))
    if top is not None and top < len(v):
        good = rows[group == 0]
        if len(good) > top:
            kth = np.partition(v[good], top - 1)[top - 1]
            pick = np.concatenate([good[v[good] < kth], good[v[good] == kth]])[:top]
            return pick[np.lexsort((pick, v[pick]))]
    order = np.lexsort((rows, np.nan_to_num(v, nan=0.0), group))
    return order if top is None else order[:top]
