"""Result of a backtest: equity, trades, liquidations, and the stats tables."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

STAT_KEYS = (
    "total_return_pct", "cagr_pct", "sharpe", "sortino", "max_drawdown_pct", "win_rate_pct",
    "profit_factor", "trades", "liquidations", "fees", "spread", "slippage", "financing",
    "funding", "liquidation_fees", "final_equity", "buy_hold_return_pct",
)
COSTS = {"fees": "fees", "spread": "spread", "slippage": "slippage", "financing": "financing",
         "funding": "funding", "liquidation_fees": "liq_fee"}


def describe_params(params: dict) -> str:
    return ", ".join(f"{k}={'off' if isinstance(v, float) and math.isnan(v) else v}"
                     for k, v in params.items())


@dataclass
class Result:
    cfg: Any
    strategy: Any
    combos: list[dict]
    legs: list
    runs: list                  # backtest.Run per kernel column
    index: pd.DatetimeIndex
    equity: np.ndarray          # (bars, accounts)
    trades: np.ndarray          # trade_dt records
    liquidations: np.ndarray    # liquidation_dt records

    @property
    def shared(self) -> bool:
        return self.cfg.account == "shared"

    @property
    def grid_keys(self) -> list[str]:
        return list(self.cfg.grid)

    @property
    def synthetic(self) -> bool:
        return any(leg.synthetic for leg in self.legs)

    @property
    def synthetic_label(self) -> str:
        from sitcli.data.store import synthetic_label

        return synthetic_label(leg.source for leg in self.legs if leg.synthetic)

    @property
    def synthetic_notice(self) -> str:
        from sitcli.backtest import synthetic_notice

        return synthetic_notice(self.legs)

    def label(self, r: int) -> str:
        run = self.runs[r]
        combo = self.combo_label(run.combo)
        return f"{run.symbol} {combo}" if combo else run.symbol

    def combo_label(self, ci: int) -> str:
        return " ".join(f"{k}={self.combos[ci][k]}" for k in self.grid_keys)

    def equity_frame(self) -> pd.DataFrame:
        """One column per account: a run when each symbol has its own account, a combination
        of the grid when the symbols share one."""
        if self.shared:
            labels = [self.combo_label(ci) or "shared account" for ci in range(len(self.combos))]
        else:
            labels = [self.label(r) for r in range(len(self.runs))]
        return pd.DataFrame(self.equity, index=self.index, columns=labels)

    def account_labels(self, liquidations: pd.DataFrame) -> list[str]:
        """The equity column each liquidation belongs to (its run, or the shared account)."""
        columns = self.equity_frame().columns
        cols = pd.DataFrame(self.liquidations)["col"].to_numpy()
        return [columns[self.runs[c].account] for c in cols]

    def trades_frame(self) -> pd.DataFrame:
        from sitcli.engine.records import EXIT_REASONS

        t = pd.DataFrame(self.trades)
        front = ["symbol", *(k for k in self.grid_keys if k != "leverage"), "entry_time",
                 "exit_time"]
        if t.empty:
            return pd.DataFrame(columns=[*front, *t.columns])
        cols = t["col"].to_numpy()
        t.insert(0, "symbol", [self.runs[c].symbol for c in cols])
        extra = [k for k in self.grid_keys if k not in t.columns]   # leverage is there already
        for i, key in enumerate(extra, start=1):
            t.insert(i, key, [self.combos[self.runs[c].combo][key] for c in cols])
        at = len(extra) + 1
        t.insert(at, "entry_time", self.index[t["entry_bar"].to_numpy()])
        t.insert(at + 1, "exit_time", self.index[t["exit_bar"].to_numpy()])
        t["side"] = np.where(t["side"] > 0, "long", "short")
        t["exit_reason"] = [EXIT_REASONS[r] for r in t["exit_reason"]]
        return t.drop(columns=["col", "entry_bar", "exit_bar"])

    def liquidations_frame(self) -> pd.DataFrame:
        from sitcli.engine.records import EXIT_REASONS

        q = pd.DataFrame(self.liquidations)
        if q.empty:
            return q
        cols = q["col"].to_numpy()
        q.insert(0, "symbol", [self.runs[c].symbol for c in cols])
        q.insert(1, "label", [self.label(c) for c in cols])
        q.insert(2, "time", self.index[q["bar"].to_numpy()])
        q["side"] = np.where(q["side"] > 0, "long", "short")
        q["kind"] = [EXIT_REASONS[r] for r in q["kind"]]
        return q.drop(columns=["col", "bar"])

    # -- statistics

    def run_stats(self) -> list[dict]:
        """A row per run (symbol x combination). Return statistics need the run's own
        account, so with a shared account they are left empty and only trade counts,
        PnL and costs are per symbol."""
        eq = self.equity_frame()
        rows = []
        for r, run in enumerate(self.runs):
            leg = self.legs[run.leg]
            curve = None if self.shared else eq.iloc[:, run.account].reindex(leg.bars.index)
            row = {"label": self.label(r), "symbol": run.symbol,
                   **{k: self.combos[run.combo][k] for k in self.grid_keys},
                   "leverage": self._leverage(r)}
            row.update(self._metrics(curve, [r], leg.instrument.is_24_7))
            row["buy_hold_return_pct"] = 100 * float(leg.bars["close"].iloc[-1]
                                                     / leg.bars["close"].iloc[0] - 1)
            rows.append(row)
        return rows

    def combo_stats(self) -> list[dict]:
        """A row per combination over all symbols: the shared account, or the sum of the
        symbols' separate accounts."""
        eq = self.equity_frame().ffill()
        any_24_7 = any(leg.instrument.is_24_7 for leg in self.legs)   # then the union has weekends
        rows = []
        for ci in range(len(self.combos)):
            members, curve, cash = self.combo_curve(ci, eq)
            row = {"label": self.combo_label(ci) or "all symbols", "symbol": "ALL",
                   **{k: self.combos[ci][k] for k in self.grid_keys}}
            row.update(self._metrics(curve, members, any_24_7, cash))
            rows.append(row)
        return rows

    def combo_accounts(self, ci: int) -> tuple[list[int], list[int], float]:
        """(runs, equity columns, starting cash) of combination `ci` over all symbols: the
        shared account, or the symbols' separate accounts, whose sum is the combination."""
        members = [r for r, run in enumerate(self.runs) if run.combo == ci]
        if self.shared:
            return members, [ci], self.cfg.cash
        return members, [self.runs[r].account for r in members], self.cfg.cash * len(members)

    def combo_curve(self, ci: int, eq=None):
        """(runs, equity curve, starting cash) of combination `ci` (see `combo_accounts`).
        `eq`: equity_frame().ffill()."""
        eq = self.equity_frame().ffill() if eq is None else eq
        members, columns, cash = self.combo_accounts(ci)
        return members, eq.iloc[:, columns].sum(axis=1), cash

    def _leverages(self, leg: int):
        """The leverage a symbol ran at: one number, or the sorted list a grid swept."""
        used = sorted({self._leverage(r) for r, run in enumerate(self.runs) if run.leg == leg})
        return used[0] if len(used) == 1 else used

    def _leverage(self, r: int) -> float:
        lev = self.combos[self.runs[r].combo]["leverage"]
        return self.legs[self.runs[r].leg].venue.default_leverage if lev is None else lev

    def _metrics(self, curve, members: list[int], is_24_7: bool, cash: float | None = None) -> dict:
        mine = self.trades[np.isin(self.trades["col"], members)]
        cash = self.cfg.cash if cash is None else cash
        wins = mine["pnl"][mine["pnl"] > 0].sum()
        losses = -mine["pnl"][mine["pnl"] < 0].sum()
        out = {
            "total_return_pct": math.nan, "cagr_pct": math.nan, "sharpe": math.nan,
            "sortino": math.nan, "max_drawdown_pct": math.nan,
            "win_rate_pct": 100 * float((mine["pnl"] > 0).mean()) if len(mine) else math.nan,
            "profit_factor": float(wins / losses) if losses > 0 else math.nan,
            "trades": int(len(mine)),
            "liquidations": int(np.isin(self.liquidations["col"], members).sum()),
            **{key: float(mine[field].sum()) for key, field in COSTS.items()},
            "pnl": float(mine["pnl"].sum()),
            "final_equity": math.nan,
        }
        if curve is not None:
            out.update(_return_stats(curve, cash, self.cfg.timeframe, is_24_7))
        return out

    def assumptions(self) -> dict[str, Any]:
        cfg = self.cfg
        base = {k: v for k, v in self.combos[0].items()
                if k not in self.grid_keys and k not in ("leverage", "size")}
        return {
            "strategy": self.strategy.name,
            "strategy_source": getattr(self.strategy, "origin", "built-in"),
            "params": describe_params(base),
            "grid": {k: [c[k] for c in self.combos] for k in self.grid_keys} or None,
            "combinations": len(self.combos),
            "data": [{"symbol": leg.symbol, "source": leg.source,
                      "first": leg.bars.index[0], "last": leg.bars.index[-1],
                      "bars": len(leg.bars), "synthetic": leg.synthetic} for leg in self.legs],
            "synthetic_demo_data": self.synthetic,
            "timeframe": cfg.timeframe,
            "account": ("one shared account for all symbols" if self.shared else
                        "one isolated account per symbol"),
            "initial_cash_per_account": cfg.cash,
            "margin_per_trade": sorted({c["size"] for c in self.combos}),
            "venues": {leg.symbol: {**leg.venue.as_dict(), "leverage": self._leverages(j)}
                       for j, leg in enumerate(self.legs)},
            "event_timing": ("first bar opening at or after the event on the instrument's own "
                             "session calendar" if cfg.cfd_hours == "session" else
                             "first bar of the data at or after the event (CFDs quoted 24/7)"),
            "fill": ("signal at a bar's close fills at the next bar's open" if cfg.fill == "open"
                     else "signal fills at its own bar's close"),
            "intrabar": ("take-profit assumed before stop" if cfg.take_first else
                         "stop and liquidation assumed before take-profit; gaps fill at the open"),
            "seed": None,
        }


def _return_stats(curve: pd.Series, cash: float, timeframe: str, is_24_7: bool) -> dict:
    """Return statistics of one equity curve through vectorbt's returns accessor."""
    import vectorbt  # noqa: F401  (registers the .vbt accessors)

    from sitcli.backtest import bar_duration

    curve = curve.dropna()
    returns = curve.pct_change().fillna(0.0).replace([np.inf, -np.inf], np.nan).fillna(-1.0)
    acc = returns.vbt.returns(freq=bar_duration(timeframe),
                              year_freq="365 days" if is_24_7 else "252 days")
    return {
        "total_return_pct": 100 * (curve.iloc[-1] / cash - 1),
        "cagr_pct": 100 * float(acc.annualized()),
        "sharpe": float(acc.sharpe_ratio()),
        "sortino": float(acc.sortino_ratio()),
        "max_drawdown_pct": 100 * float(acc.max_drawdown()),
        "final_equity": float(curve.iloc[-1]),
    }
