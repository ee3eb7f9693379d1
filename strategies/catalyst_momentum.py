"""catalyst_momentum: trade each catalyst in its expected direction at the first open after it.

The momentum reading of the narrative: the market keeps moving the way the news points for a
few days. Each event about the instrument (naming it, or reaching its asset class: see
`sitcli.events.about`), with a chosen status (and category), places an order on the bar
before the first bar opening at or after it, so it fills at that open: long for direction 1,
short for -1, skipped for 0 (`side=event`), or always long / short (`side=long` /
`side=short`). When several events fall before the same open the latest wins.
The engine closes the trade after `hold` bars, or at the stop, the take-profit or a liquidation.
"""

import numpy as np

from sitcli.errors import BadInput
from sitcli.events import about
from sitcli.strategy import Param, Strategy

SIDES = {"event": 0, "long": 1, "short": -1}


class CatalystMomentum(Strategy):
    name = "catalyst_momentum"
    params = {
        "side": Param("event", "event (follow the event's direction, skip 0), long or short"),
        "hold": Param(5, "time exit: close after this many bars held"),
        "category": Param("", "only events of this category (empty = all)"),
        "status": Param("confirmed,rumor", "comma-separated statuses to trade"),
    }

    def signals(self, bars, events, params, context):
        if params["side"] not in SIDES:
            raise BadInput(f"side={params['side']!r}: use event, long or short")
        n = len(bars)
        entries = np.zeros(n, np.int8)
        statuses = {s.strip() for s in params["status"].split(",") if s.strip()}
        mine = about(events, context.symbol, context.asset_class) & events["status"].isin(statuses).to_numpy()
        if params["category"]:
            mine &= (events["category"] == params["category"]).to_numpy()
        rows = np.flatnonzero(mine)
        fills = np.asarray(context.event_bars)[mine]
        sides = events["direction"].to_numpy(np.int64)[mine]
        if SIDES[params["side"]]:
            sides = np.full(len(fills), SIDES[params["side"]])
        for row, fill, side in zip(rows, fills, sides, strict=True):
            # the order sits on the bar before the fill bar; fill == n fills at the next, unseen bar
            if 1 <= fill <= n and side != 0:
                entries[fill - 1] = side
                context.catalysts[fill - 1] = row
        return entries, np.zeros(n, bool)
