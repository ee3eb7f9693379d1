"""sit_shock: trade the proxies the day the SIT index moves more than k sigma.

A big one-bar move of the SIT index (the AI-compute narrative) is taken as news in itself.
With r the log return of the SIT close between consecutive bars of this instrument and s the
standard deviation of r over the `lookback` bars before (the current bar excluded), a bar with
|r| > k * s places an order in the direction of r (`side=with`) or against it (`side=against`).
Bars before the SIT data starts, or without `lookback` returns before them, give no signal.
On SIT itself the series is its own close.
"""

import numpy as np
import pandas as pd

from sitcli.errors import BadInput
from sitcli.strategy import Param, Strategy


class SitShock(Strategy):
    name = "sit_shock"
    inputs = ("SIT",)
    params = {
        "k": Param(2.0, "threshold: |return| above k standard deviations is a shock"),
        "lookback": Param(20, "bars of returns for the standard deviation"),
        "side": Param("with", "with (follow the SIT move) or against (fade it)"),
        "hold": Param(3, "time exit: close after this many bars held"),
    }

    def signals(self, bars, events, params, context):
        if params["side"] not in ("with", "against"):
            raise BadInput(f"side={params['side']!r}: use with or against")
        if params["lookback"] < 2:
            raise BadInput(f"lookback={params['lookback']}: needs at least 2 returns")
        sit = context.series.get("SIT")
        if sit is None:
            if context.symbol != "SIT":
                raise BadInput(f"sit_shock needs the SIT index's closes for {context.symbol}; "
                               "build or pull SIT first")
            sit = bars["close"]
        ret = np.log(pd.Series(np.asarray(sit, np.float64))).diff()
        std = ret.rolling(params["lookback"]).std().shift(1)
        shock = (ret.abs() > params["k"] * std).to_numpy()
        side = 1 if params["side"] == "with" else -1
        entries = np.where(shock, np.sign(ret.to_numpy()) * side, 0).astype(np.int8)
        return entries, np.zeros(len(bars), bool)
