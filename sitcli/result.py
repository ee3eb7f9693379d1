"""Result of a backtest: equity, trades, liquidations, and the stats table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

STAT_KEYS = (
    "total_return_pct", "cagr_pct", "sharpe", "sortino", "max_drawdown_pct", "win_rate_pct",
    "profit_factor", "trades", "liquidations", "fees", "spread", "slippage", "financing",
    "funding", "liquidation_fees", "final_equity", "buy_hold_return_pct",
)


@dataclass
class Result:
    cfg: Any
    params: dict
    legs: list
    index: pd.DatetimeIndex
    equity: np.ndarray          # (bars, legs)
    trades: np.ndarray          # trade_dt records
    liquidations: np.ndarray    # liquidation_dt records
    entries: np.ndarray

    @property
    def symbols(self) -> list[str]:
        return [leg.symbol for leg in self.legs]

    @property
    def synthetic(self) -> bool:
        return any(leg.synthetic for leg in self.legs)

    def equity_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.equity, index=self.index, columns=self.symbols)

    def leg_equity(self, j: int) -> pd.Series:
        """Equity on the leg's own bars (an equity has no weekend rows)."""
        return self.equity_frame().iloc[:, j].reindex(self.legs[j].bars.index)

    def trades_frame(self) -> pd.DataFrame:
        from sitcli.engine.records import EXIT_REASONS

        t = pd.DataFrame(self.trades)
        if t.empty:
            return pd.DataFrame(columns=["symbol", "entry_time", "exit_time", "side", *t.columns])
        t.insert(0, "symbol", [self.symbols[c] for c in t["col"]])
        t.insert(1, "entry_time", self.index[t["entry_bar"].to_numpy()])
        t.insert(2, "exit_time", self.index[t["exit_bar"].to_numpy()])
        t["side"] = np.where(t["side"] > 0, "long", "short")
        t["exit_reason"] = [EXIT_REASONS[r] for r in t["exit_reason"]]
        return t.drop(columns=["col", "entry_bar", "exit_bar"])

    def liquidations_frame(self) -> pd.DataFrame:
        from sitcli.engine.records import EXIT_REASONS

        q = pd.DataFrame(self.liquidations)
        if q.empty:
            return q
        q.insert(0, "symbol", [self.symbols[c] for c in q["col"]])
        q.insert(1, "time", self.index[q["bar"].to_numpy()])
        q["side"] = np.where(q["side"] > 0, "long", "short")
        q["kind"] = [EXIT_REASONS[r] for r in q["kind"]]
        return q.drop(columns=["col", "bar"])

    def stats(self) -> dict[str, dict[str, float]]:
        return {leg.symbol: self._leg_stats(j) for j, leg in enumerate(self.legs)}

    def _leg_stats(self, j: int) -> dict[str, float]:
        import vectorbt  # noqa: F401  (registers the .vbt accessors)

        leg = self.legs[j]
        eq = self.leg_equity(j)
        year = "365 days" if leg.instrument.is_24_7 else "252 days"
        step = pd.Timedelta(self.cfg.timeframe.replace("m", "min")
                            if self.cfg.timeframe.endswith("m") else self.cfg.timeframe)
        returns = eq.pct_change().fillna(0.0).replace([np.inf, -np.inf], np.nan).fillna(-1.0)
        acc = returns.vbt.returns(freq=step, year_freq=year)
        mine = self.trades[self.trades["col"] == j]
        wins = mine["pnl"][mine["pnl"] > 0].sum()
        losses = -mine["pnl"][mine["pnl"] < 0].sum()
        closes = leg.bars["close"]
        return {
            "total_return_pct": 100 * (eq.iloc[-1] / self.cfg.cash - 1),
            "cagr_pct": 100 * float(acc.annualized()),
            "sharpe": float(acc.sharpe_ratio()),
            "sortino": float(acc.sortino_ratio()),
            "max_drawdown_pct": 100 * float(acc.max_drawdown()),
            "win_rate_pct": 100 * float((mine["pnl"] > 0).mean()) if len(mine) else float("nan"),
            "profit_factor": float(wins / losses) if losses > 0 else float("nan"),
            "trades": int(len(mine)),
            "liquidations": int((self.liquidations["col"] == j).sum()),
            "fees": float(mine["fees"].sum()),
            "spread": float(mine["spread"].sum()),
            "slippage": float(mine["slippage"].sum()),
            "financing": float(mine["financing"].sum()),
            "funding": float(mine["funding"].sum()),
            "liquidation_fees": float(mine["liq_fee"].sum()),
            "final_equity": float(eq.iloc[-1]),
            "buy_hold_return_pct": 100 * float(closes.iloc[-1] / closes.iloc[0] - 1),
        }

    def assumptions(self) -> dict[str, Any]:
        from sitcli.backtest import describe_params

        cfg = self.cfg
        return {
            "strategy": cfg.strategy,
            "params": describe_params(self.params),
            "data": [{"symbol": leg.symbol, "source": leg.source,
                      "first": leg.bars.index[0], "last": leg.bars.index[-1],
                      "bars": len(leg.bars), "synthetic": leg.synthetic} for leg in self.legs],
            "synthetic_demo_data": self.synthetic,
            "timeframe": cfg.timeframe,
            "initial_cash_per_symbol": cfg.cash,
            "margin_per_trade": f"{cfg.size:g} of free collateral",
            "venues": {leg.symbol: {**leg.venue.as_dict(), "leverage": leg.leverage}
                       for leg in self.legs},
            "fill": ("signal at a bar's close fills at the next bar's open" if cfg.fill == "open"
                     else "signal fills at its own bar's close"),
            "intrabar": ("take-profit assumed before stop" if cfg.take_first else
                         "stop and liquidation assumed before take-profit; gaps fill at the open"),
            "seed": None,
        }
