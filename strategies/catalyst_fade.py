"""catalyst_fade: fade the first move after a rumor that is not confirmed within N days.

Unconfirmed rumors tend to give back their first move. For each rumor listing the instrument's
asset class, the first move runs from the last close at or before the rumor to the close of the
first bar opening at or after it. The decision waits until the confirmation window has passed:
on the first bar (at or after that first bar) closing at or after rumor + `confirm_days`, if no
confirmed event of the same category or title is known with a time in (rumor, rumor +
`confirm_days`], an order opposite to the first move is placed (moves smaller than `min_move`
are skipped). Confirmations are looked for in the whole calendar, whatever their asset classes.
"""

import numpy as np
import pandas as pd

from sitcli.events import about
from sitcli.strategy import Param, Strategy


class CatalystFade(Strategy):
    name = "catalyst_fade"
    params = {
        "confirm_days": Param(3.0, "days a rumor has to be confirmed before it is faded"),
        "hold": Param(5, "time exit: close after this many bars held"),
        "min_move": Param(0.0, "skip rumors whose first move is smaller than this fraction"),
    }

    def signals(self, bars, events, params, context):
        n = len(bars)
        entries = np.zeros(n, np.int8)
        close = bars["close"].to_numpy(np.float64)
        opens, closes = pd.DatetimeIndex(context.open_times), pd.DatetimeIndex(context.close_times)
        times = pd.DatetimeIndex(events["time"])
        status, category, title = (events[c].to_numpy() for c in ("status", "category", "title"))
        window = pd.Timedelta(days=params["confirm_days"])
        mine = about(events, context.symbol, context.asset_class)
        for i in np.flatnonzero(mine & (status == "rumor")):
            j = int(context.event_bars[i])
            k = closes.searchsorted(times[i], side="right") - 1   # last close at or before it
            if k < 0 or j >= n:
                continue
            move = close[j] / close[k] - 1
            if move == 0 or abs(move) < params["min_move"]:
                continue
            t = max(j, closes.searchsorted(times[i] + window, side="left"))
            if t >= n:
                continue
            known = times < opens[t + 1] if t + 1 < n else np.ones(len(times), bool)
            confirmed = (known & (status == "confirmed") & (times > times[i])
                         & (times <= times[i] + window)
                         & ((category == category[i]) | (title == title[i])))
            if not confirmed.any():
                entries[t] = -np.sign(move)
                context.catalysts[t] = i
        return entries, np.zeros(n, bool)
