"""Mark-price bars: where a perpetual's liquidation is checked.

Perpetual venues liquidate when the *mark* price (an index of spot prices, smoothed) reaches
the liquidation price; a last-price wick the mark did not follow liquidates nobody. Mark bars
are stored beside the last-price bars under the symbol `<symbol>@mark` (`data pull --price
mark`, `data import --price mark`). A run aligns them to the leg's bars, falls back to the
last price on bars without a mark bar, and says which price its liquidations follow.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sitcli.errors import BadInput, DataMissing

SUFFIX = "@mark"
PRICES = ("last", "mark")
FIELDS = ("open", "high", "low", "close")


def mark_symbol(symbol: str) -> str:
    """The stored symbol of `symbol`'s mark-price bars."""
    return symbol if symbol.endswith(SUFFIX) else f"{symbol}{SUFFIX}"


def stored_symbol(symbol: str, price: str) -> str:
    """`data pull / import --price`: where bars of that price are stored."""
    if price not in PRICES:
        raise BadInput(f"--price {price!r}: use last (trade prices) or mark (the venue's mark "
                       "price, which perpetuals liquidate on)")
    return mark_symbol(symbol) if price == "mark" else symbol


def read_mark(store, symbol: str, timeframe: str) -> pd.DataFrame | None:
    """The stored mark bars of `symbol`, or None."""
    try:
        return store.read(mark_symbol(symbol), timeframe)
    except (DataMissing, BadInput):   # BadInput: a symbol the store has never seen
        return None


def align(last: pd.DataFrame, mark: pd.DataFrame | None) -> tuple[np.ndarray, int]:
    """(4, len(last)) open, high, low, close of the mark on `last`'s bars, the last price
    where the mark has no bar; and how many bars have a mark bar."""
    out = np.stack([last[f].to_numpy(np.float64) for f in FIELDS])
    if mark is None or mark.empty:
        return out, 0
    on = mark.reindex(last.index)
    have = on[list(FIELDS)].notna().all(axis=1).to_numpy()
    for k, f in enumerate(FIELDS):
        out[k, have] = on[f].to_numpy(np.float64)[have]
    return out, int(have.sum())


def note(symbol: str, timeframe: str, covered: int, bars: int, isolated: bool) -> str:
    """The run header's line on the price liquidations follow."""
    if not covered:
        return f"{symbol}: liquidation on last price: no mark bars stored"
    if not isolated:
        return (f"{symbol}: liquidation on last price: mark bars ({mark_symbol(symbol)}) are "
                "used by isolated accounts only")
    part = "" if covered == bars else f", {covered} of {bars} bars; last price on the others"
    return f"{symbol}: liquidation on mark price ({mark_symbol(symbol)}, {timeframe}{part})"
