"""buy_and_hold: long from the first bar to the last, the benchmark every strategy must beat.

The order sits on bar 0 and fills at bar 1's open (or bar 0's close with `--fill close`);
nothing ever closes it but the engine: the end of the data, a liquidation, or the engine
parameters `stop`, `take` and `hold` if the user sets them.
"""

import numpy as np

from sitcli.strategy import Strategy


class BuyAndHold(Strategy):
    name = "buy_and_hold"
    params = {}

    def signals(self, bars, events, params, context):
        n = len(bars)
        entries = np.zeros(n, np.int8)
        entries[:1] = 1
        return entries, np.zeros(n, bool)
