"""catalyst_long: buy each AI-compute catalyst at the first open after the news, hold N bars.

The simplest reading of the narrative: good AI-compute news (model launches, NVIDIA results,
GTC keynotes, infrastructure deals) lifts the proxies for a few days. Every event that lists
the instrument's asset class is traded long, whatever its expected direction, unless
`follow_direction` is on, in which case events marked -1 are traded short and 0 skipped.
The engine closes the trade after `max_bars` bars, or at the stop, the take-profit or a
liquidation.
"""

import numpy as np

from sitcli.events import fill_bars
from sitcli.strategy import Param, Strategy


class CatalystLong(Strategy):
    name = "catalyst_long"
    params = {
        "max_bars": Param(5, "time exit: close after this many bars held"),
        "follow_direction": Param(False, "short events whose expected direction is -1"),
        "category": Param("", "only events of this category (empty = all)"),
    }

    def signals(self, bars, events, params, context):
        n = len(bars)
        entries = np.zeros(n, np.int8)
        mine = events[events["asset_classes"].str.contains(context["asset_class"], regex=False)]
        if params["category"]:
            mine = mine[mine["category"] == params["category"]]
        fills = fill_bars(context["open_times"], mine["time"].to_numpy())
        directions = mine["direction"].to_numpy()
        for fill, direction in zip(fills, directions, strict=True):
            side = 1
            if params["follow_direction"]:
                side = int(direction)
            # the order sits on the bar before the fill bar; bar 0 cannot be filled that way
            if 1 <= fill < n and side != 0:
                entries[fill - 1] = side
        return entries, np.zeros(n, bool)


STRATEGY = CatalystLong
