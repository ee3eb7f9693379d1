"""`--detail TIMEFRAME`: finer bars for the kernel's intrabar walk, and what the walk changed.

The pandas edge of detail: each symbol's stored finer bars are aligned to its coarse bars on
its session (`bars.session_spans`), laid out as the kernel's arrays (`fine_*` (m, n_inst) on
one time axis shared by the symbols, NaN where a symbol has no finer bar or is outside its
bars; `fine_start` (n + 1, n_inst)), and the detailed run is compared with the plain one.

Stock CFDs: finer bars before the session opens or after it closes (pre- and after-hours)
belong to no daily bar and are not walked, because the daily bar a CFD broker marks to is
the regular session's (a broker that quotes extended hours differs: a venue with
`cfd_hours = "24/7"`, or `--cfd-hours 24/7`, makes a daily bar the whole UTC day,
extended-hours finer bars included).

Perpetual funding with detail: each stamp (`bars.FUNDING_HOURS`) is paid at the close of the
finer bar that ends at it (`bars.funding_rates_per_bar` on the finer bars, the one clock),
so it moves the margin and the liquidation price before the rest of the day; the stamps
no finer bar before the bar's last one settles stay with the bar's close, so each stamp is
charged once. A symbol whose coarse bars carry a stored funding history and whose finer bars
do not keeps its funding at the bar's close (the history says how much a bar settled, not
at which stamp).

A shared account walks a bar only when every symbol it holds there has finer bars; otherwise
the whole account takes the bar rule for that bar (the held-bar coverage counts per symbol).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sitcli.bars import bar_duration, detail_layout, funding_rates_per_bar, session_spans
from sitcli.errors import BadInput, DataMissing


@dataclass
class Detail:
    timeframe: str
    fine_start: np.ndarray        # (n + 1, n_legs)
    fine_rows: int                # finer bars per symbol, summed
    missing: list[str]            # symbols with no stored finer bars (their bars keep the rule)
    outside: dict                 # symbol -> finer bars outside its bars (not walked)
    times: pd.DatetimeIndex | None = None   # the finer rows' times (the kernel's `fine_row`)


def load_detail(cfg, legs, index: pd.DatetimeIndex, store) -> tuple[tuple, Detail]:
    """The kernel's six detail arrays for `cfg.detail` and what they cover."""
    fine_tf = cfg.detail
    if bar_duration(fine_tf) >= bar_duration(cfg.timeframe):
        raise BadInput(f"--detail {fine_tf}: must be finer than --timeframe {cfg.timeframe}, "
                       "e.g. --timeframe 1d --detail 1h")
    n, n_legs = len(index), len(legs)
    frames, missing = {}, []
    for j, leg in enumerate(legs):
        try:
            fine = store.read(leg.symbol, fine_tf, start=leg.open_times[0],
                              end=leg.close_times[-1])
        except DataMissing:
            missing.append(leg.symbol)
            continue
        frames[j] = fine[fine.index < leg.close_times[-1]]
    if not frames:
        raise DataMissing(f"--detail {fine_tf}: no stored {fine_tf} bars for "
                          f"{', '.join(leg.symbol for leg in legs)} over the run's span; "
                          f"import them (`sitcli data import FILE --symbol SYM --timeframe "
                          f"{fine_tf}`)")
    times = frames[next(iter(frames))].index
    for fine in frames.values():
        times = times.union(fine.index)
    m = len(times)
    arrays = [np.full((m, n_legs), np.nan) for _ in range(4)]
    fine_funding = np.zeros((m, n_legs))
    fine_step = bar_duration(fine_tf)
    fine_start = np.full((n + 1, n_legs), m, np.int64)
    rows_total = 0
    outside = {}
    for j, leg in enumerate(legs):
        if j not in frames:
            continue
        fine = frames[j].reindex(times)
        first, end = session_spans(times, leg.open_times, leg.close_times)
        inside = np.zeros(m + 1, np.int64)
        np.add.at(inside, first, 1)
        np.add.at(inside, end, -1)
        in_bar = np.cumsum(inside)[:m] > 0
        priced = fine["open"].notna().to_numpy()
        valid = in_bar & priced
        if (priced & ~in_bar).any():
            outside[leg.symbol] = int((priced & ~in_bar).sum())
        for a, f in zip(arrays, ("open", "high", "low", "close"), strict=True):
            a[valid, j] = fine[f].to_numpy(np.float64)[valid]
        rows_total += int(valid.sum())
        fine_funding[:, j] = _fine_funding(leg, frames[j], fine_step).reindex(times).fillna(
            0.0).to_numpy() * valid
        own = detail_layout(first, end, valid)
        rows = index.get_indexer(leg.bars.index)
        # bars of the shared index this symbol does not trade get empty spans
        col = np.full(n + 1, m, np.int64)
        col[rows] = own[:-1]
        col = np.minimum.accumulate(col[::-1])[::-1]
        fine_start[:, j] = col
    arrays = tuple(np.ascontiguousarray(a) for a in arrays)
    return ((*arrays, fine_start, fine_funding),
            Detail(fine_tf, fine_start, rows_total, missing, outside, times))


def _fine_funding(leg, fine: pd.DataFrame, step: pd.Timedelta) -> pd.Series:
    """The funding rate each finer bar settles at its close, by the one funding clock; zero
    when the coarse bars' stored history cannot be placed on the finer bars."""
    stored = "funding_rate" in leg.bars and leg.bars["funding_rate"].notna().any()
    fine_stored = "funding_rate" in fine and fine["funding_rate"].notna().any()
    if stored and not fine_stored:
        return pd.Series(0.0, index=fine.index)
    rates, _ = funding_rates_per_bar(fine, leg.venue, fine.index, fine.index + step)
    return pd.Series(rates, index=fine.index)


def held_bars(trades: np.ndarray, cols: np.ndarray, n: int, fill_at_close: bool) -> np.ndarray:
    """(column, bar) pairs in which a position was open through the bar's intrabar steps:
    from its entry bar (its next bar when it filled at a close) to its exit bar."""
    lo = trades["entry_bar"].astype(np.int64) + (1 if fill_at_close else 0)
    hi = np.minimum(trades["exit_bar"].astype(np.int64), n - 1)
    count = np.maximum(hi - lo + 1, 0)
    col = np.repeat(trades["col"].astype(np.int64), count)
    offset = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    bar = np.repeat(lo, count) + offset
    keys = np.unique(col * n + bar)
    return np.stack([keys // n, keys % n], axis=1)


def coverage(trades, cols, detail: Detail, fill_at_close: bool) -> tuple[int, int]:
    """(held bars with finer bars, held bars)."""
    n = detail.fine_start.shape[0] - 1
    held = held_bars(trades, cols, n, fill_at_close)
    if not len(held):
        return 0, 0
    inst = cols["inst"][held[:, 0]]
    t = held[:, 1]
    covered = detail.fine_start[t + 1, inst] > detail.fine_start[t, inst]
    return int(covered.sum()), len(held)


def changed_trades(plain: np.ndarray, detailed: np.ndarray) -> np.ndarray:
    """Per column, how many trades differ between the plain and the detailed run: a trade
    (column, entry bar, side) whose exit bar, reason or price differs, or that only one run
    has."""
    def keyed(trades):
        return {(int(t["col"]), int(t["entry_bar"]), int(t["side"])):
                (int(t["exit_bar"]), int(t["exit_reason"]), float(t["exit_price"]))
                for t in trades}

    a, b = keyed(plain), keyed(detailed)
    cols = max([k[0] for k in (*a, *b)], default=-1) + 1
    out = np.zeros(cols, np.int64)
    for key in a.keys() | b.keys():
        x, y = a.get(key), b.get(key)
        if x is None or y is None or x[:2] != y[:2] or not np.isclose(x[2], y[2], rtol=1e-12,
                                                                        atol=0.0):
            out[key[0]] += 1
    return out


def run_detailed(cfg, store, events):
    """The run with `cfg.detail` and the same run on the plain rule: (detailed Result,
    plain Result, Detail)."""
    from sitcli.backtest import prepare_backtest
    from sitcli.engine.kernel import DETAIL_ARGS, no_detail, simulate_injected
    from sitcli.result import Result

    prep = prepare_backtest(cfg, store, events)
    out = []
    for args, times in ((prep.kernel_args, prep.detail.times),
                        ((*prep.kernel_args[:DETAIL_ARGS[0]], *no_detail(len(prep.legs)),
                          *prep.kernel_args[DETAIL_ARGS[1]:]), None)):
        equity, trades, liqs, injected, tally = simulate_injected(*args)
        out.append(Result(cfg=cfg, strategy=prep.strategy, combos=prep.combos, legs=prep.legs,
                          runs=prep.runs, index=prep.index, equity=equity, trades=trades,
                          liquidations=liqs, catalysts=prep.catalysts, fine_times=times,
                          injected=injected if len(injected) else None,
                          refills=tally[:, 1].astype(np.int64)))
    return out[0], out[1], prep.detail


def comparison(detailed, plain, detail: Detail) -> tuple[list[dict], dict]:
    """Per run (symbol x combination) the plain and the detailed numbers side by side, and
    the totals: held bars covered, trades and liquidations changed."""
    changed = changed_trades(plain.trades, detailed.trades)
    changed = np.pad(changed, (0, max(0, len(detailed.runs) - len(changed))))
    rows = []
    for r, (d, p) in enumerate(zip(detailed.run_stats(), plain.run_stats(), strict=True)):
        rows.append({"symbol": d["symbol"], "leverage": d["leverage"], "label": d["label"],
                     "trades": p["trades"], "trades_detail": d["trades"],
                     "trades_changed": int(changed[r]),
                     "liquidations": p["liquidations"],
                     "liquidations_detail": d["liquidations"],
                     "total_return_pct": p["total_return_pct"],
                     "total_return_pct_detail": d["total_return_pct"]})
    covered, held = coverage(detailed.trades, detailed_cols(detailed), detail,
                             detailed.cfg.fill == "close")
    summary = {"timeframe": detail.timeframe, "held_bars": held, "held_bars_covered": covered,
               "trades_changed": int(changed.sum()),
               "liquidations": int(len(plain.liquidations)),
               "liquidations_detail": int(len(detailed.liquidations)),
               "symbols_without_detail": detail.missing,
               "fine_bars_outside_sessions": detail.outside}
    return rows, summary


def detailed_cols(result) -> np.ndarray:
    """The kernel's column records of a Result: the instrument of each run."""
    cols = np.zeros(len(result.runs), [("inst", np.int64)])
    cols["inst"] = [run.leg for run in result.runs]
    return cols


def summary_line(summary: dict) -> str:
    outside = summary["fine_bars_outside_sessions"]
    return (f"detail {summary['timeframe']} covered {summary['held_bars_covered']:,} of "
            f"{summary['held_bars']:,} held bars; {summary['trades_changed']:,} trades changed "
            f"(exit reason, price or bar) against the plain rule; liquidations "
            f"{summary['liquidations']:,} -> {summary['liquidations_detail']:,}"
            + (f"; no {summary['timeframe']} bars for {', '.join(summary['symbols_without_detail'])}"
               if summary["symbols_without_detail"] else "")
            # pre- and after-hours bars, or stamps in the wrong time zone
            + "".join(f"; {n:,} {summary['timeframe']} bars of {sym} lie outside its sessions "
                      "(not walked)" for sym, n in outside.items()))
