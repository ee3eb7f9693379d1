"""daily_swing: every day, long after an up close and short after a down close, for one bar.

A signal on each bar's close fills at the next bar's open; `hold=1` (the default here)
closes it at that bar's close, unless a stop, a take-profit or a liquidation comes first
inside the bar: the bars where the order inside the bar decides the trade (`--detail`).
"""

import numpy as np

from sitcli.strategy import Strategy


class DailySwing(Strategy):
    name = "daily_swing"
    params = {}

    def signals(self, bars, events, params, context):
        close = bars["close"].to_numpy()
        entries = np.zeros(len(bars), np.int8)
        entries[1:] = np.sign(close[1:] - close[:-1]).astype(np.int8)
        return entries, np.zeros(len(bars), bool)
