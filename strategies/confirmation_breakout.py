"""confirmation_breakout: after a confirmed catalyst, trade the break of the pre-event range.

Confirmed news that the market accepts shows up as a close outside the range it traded in
before. For each confirmed event about the instrument (`sitcli.events.about`), with j the first bar
opening at or after it, the range is the highest high and lowest low of bars j-lookback..j-1
(events with fewer bars before them are skipped). On the first of bars j..j+window-1 that
closes above the range high an order goes long; one closing below the range low goes short
if `allow_short` (otherwise downside closes are ignored). One order per event at most.
"""

import numpy as np

from sitcli.errors import BadInput
from sitcli.events import about
from sitcli.strategy import Param, Strategy


class ConfirmationBreakout(Strategy):
    name = "confirmation_breakout"
    params = {
        "lookback": Param(5, "bars before the event that make the range"),
        "window": Param(5, "bars after the event in which a breakout counts"),
        "allow_short": Param(True, "also short a close below the range low"),
        "hold": Param(5, "time exit: close after this many bars held"),
    }

    def signals(self, bars, events, params, context):
        lookback, window = params["lookback"], params["window"]
        if lookback < 1 or window < 1:
            raise BadInput(f"lookback={lookback}, window={window}: both must be at least 1")
        n = len(bars)
        entries = np.zeros(n, np.int8)
        high, low, close = (bars[c].to_numpy(np.float64) for c in ("high", "low", "close"))
        mine = (about(events, context.symbol, context.asset_class)
                & (events["status"].to_numpy() == "confirmed"))
        for i, j in zip(np.flatnonzero(mine), np.asarray(context.event_bars)[mine], strict=True):
            if j < lookback or j >= n:
                continue
            top, bottom = high[j - lookback:j].max(), low[j - lookback:j].min()
            for t in range(j, min(j + window, n)):
                if close[t] > top or (params["allow_short"] and close[t] < bottom):
                    entries[t] = 1 if close[t] > top else -1
                    context.catalysts[t] = i
                    break
        return entries, np.zeros(n, bool)
