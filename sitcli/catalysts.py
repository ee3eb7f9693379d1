"""Which catalyst triggered each trade: the one home of that rule and of how a catalyst reads.

A strategy that trades news says which calendar row an order acted on: inside `signals` it
sets `context.catalysts[t] = i` (row i of the `events` it was given) for an order on bar t.
The built-in news strategies do; a strategy that sets nothing (buy_and_hold, sit_shock, most
user files) has no catalyst on its trades, rather than one guessed from the calendar.

A trade's catalyst is the one named for the order that opened it: with fill=open the order
sits on the bar before the entry bar, with fill=close on the entry bar itself. An order moved
to a later bar (a limit-locked bar, `backtest.defer_limit_locked`) keeps no catalyst.
"""

from __future__ import annotations

import numpy as np

DIRECTION_WORDS = {1: "up", -1: "down", 0: "no direction"}


def event_time(row) -> str:
    """When a calendar row happened, as the reports print it: a date-only row (counted from
    the end of its day by `events.known_times`) shows its own day."""
    import pandas as pd

    t = pd.Timestamp(row["time"])
    if row.get("date_only", False):
        return f"{t - pd.Timedelta('1D'):%Y-%m-%d}"
    if t == t.normalize():
        return f"{t:%Y-%m-%d}"
    return f"{t:%Y-%m-%d %H:%M} UTC"


def event_words(row) -> str:
    """One calendar row in words: "title" (when, status, direction)."""
    direction = DIRECTION_WORDS[int(row["direction"])]
    return f"\"{row['title']}\" ({event_time(row)}, {row['status']}, {direction})"


def named_catalysts(events, picked: dict) -> dict[int, str]:
    """{order bar: catalyst in words} from a strategy's `context.catalysts` over `events`."""
    return {int(bar): event_words(events.iloc[int(row)]) for bar, row in picked.items()
            if 0 <= int(row) < len(events)}


def trade_catalysts(result, cols: np.ndarray, entry_bars: np.ndarray) -> list[str]:
    """Per trade (kernel column and entry bar on the run's time index), the catalyst of the
    order that opened it, or "" when its strategy named none."""
    per_run = getattr(result, "catalysts", None)
    if not per_run or not len(cols):
        return [""] * len(cols)
    shift = 1 if result.cfg.fill == "open" else 0
    out = []
    local = {}   # leg -> position of each index bar in that leg's own bars
    for c, b in zip(cols, entry_bars, strict=True):
        run = result.runs[int(c)]
        if run.leg not in local:
            local[run.leg] = result.legs[run.leg].bars.index.get_indexer(result.index)
        order_bar = int(local[run.leg][int(b)]) - shift
        out.append(per_run[int(c)].get(order_bar, "") if order_bar >= 0 else "")
    return out
