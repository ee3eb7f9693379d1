"""Result of a backtest: equity, trades, liquidations, and the stats tables."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sitcli import stats

STAT_KEYS = (
    "total_return_pct", "cagr_pct", "sharpe", "sortino", "max_drawdown_pct", "win_rate_pct",
    "profit_factor", "trades", "liquidations", "fees", "spread", "slippage", "financing",
    "funding", "liquidation_fees", "final_equity", "buy_hold_return_pct",
)
COSTS = {"fees": "fees", "spread": "spread", "slippage": "slippage", "financing": "financing",
         "funding": "funding", "liquidation_fees": "liq_fee", "protection": "protection"}


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
    entry_orders: np.ndarray | None = None   # entry orders per run (kernel column)
    catalysts: list | None = None   # per run: {order bar: catalyst} (sitcli.catalysts)
    fine_times: pd.DatetimeIndex | None = None   # --detail: the finer rows' times
    injected: np.ndarray | None = None       # (bars, accounts) capital --on-ruin topup put in
    refills: np.ndarray | None = None        # (accounts,) how many times it did

    @property
    def topup(self) -> bool:
        return getattr(self.cfg, "on_ruin", "stop") == "topup"

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

        return synthetic_label(src for leg in self.legs for _, src, _ in leg.generated)

    @property
    def synthetic_notice(self) -> str:
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
            return pd.DataFrame(self.equity, index=self.index, columns=labels)
        labels = [self.label(r) for r in range(len(self.runs))]
        frame = pd.DataFrame(self.equity, index=self.index, columns=labels)
        for run in self.runs:   # a symbol's account exists over its own bars
            bars = self.legs[run.leg].bars.index
            outside = (self.index < bars[0]) | (self.index > bars[-1])
            frame.iloc[outside, run.account] = np.nan
        return frame

    def account_labels(self, liquidations: pd.DataFrame) -> list[str]:
        """The equity column each liquidation belongs to (its run, or the shared account)."""
        columns = self.equity_frame().columns
        cols = pd.DataFrame(self.liquidations)["col"].to_numpy()
        return [columns[self.runs[c].account] for c in cols]

    def trades_frame(self) -> pd.DataFrame:
        from sitcli.catalysts import trade_catalysts
        from sitcli.engine.records import EXIT_REASONS

        t = pd.DataFrame(self.trades)
        # no early return for no trades: the same steps give the same columns and dtypes
        cols = t["col"].to_numpy()
        t.insert(0, "symbol", pd.array([self.runs[c].symbol for c in cols], dtype="str"))
        extra = [k for k in self.grid_keys if k not in t.columns]   # leverage is there already
        for i, key in enumerate(extra, start=1):
            t.insert(i, key, [self.combos[self.runs[c].combo][key] for c in cols])
        at = len(extra) + 1
        t.insert(at, "entry_time", self.index[t["entry_bar"].to_numpy()])
        t.insert(at + 1, "exit_time", self.index[t["exit_bar"].to_numpy()])
        t["side"] = pd.array(np.where(t["side"] > 0, "long", "short"), dtype="str")
        t["exit_reason"] = pd.array([EXIT_REASONS[r] for r in t["exit_reason"]], dtype="str")
        t["catalyst"] = pd.array(trade_catalysts(self, cols, t["entry_bar"].to_numpy()),
                                 dtype="str")
        return t.drop(columns=["col", "entry_bar", "exit_bar"])

    def liquidations_frame(self) -> pd.DataFrame:
        from sitcli.engine.records import EXIT_REASONS

        q = pd.DataFrame(self.liquidations)
        if q.empty:
            return q.drop(columns=["fine_row"])
        cols = q["col"].to_numpy()
        q.insert(0, "symbol", [self.runs[c].symbol for c in cols])
        q.insert(1, "label", [self.label(c) for c in cols])
        q.insert(2, "time", self.index[q["bar"].to_numpy()])
        if self.fine_times is not None:
            # the finer bar that decided it (NaT: the bar's own rule, e.g. at its open)
            row = q["fine_row"].to_numpy()
            q.insert(3, "fine_time",
                     pd.Series(self.fine_times[np.maximum(row, 0)]).where(row >= 0))
        q["side"] = np.where(q["side"] > 0, "long", "short")
        q["kind"] = [EXIT_REASONS[r] for r in q["kind"]]
        return q.drop(columns=["col", "bar", "fine_row"])

    # -- statistics

    def run_stats(self) -> list[dict]:
        """A row per run (symbol x combination). Return statistics need the run's own
        account, so with a shared account they are left empty and only trade counts,
        PnL and costs are per symbol. Each run's statistics cover its own symbol's bars
        from the start of its span (`sitcli.stats`)."""
        rows = []
        for r, run in enumerate(self.runs):
            leg = self.legs[run.leg]
            row = {"label": self.label(r), "symbol": run.symbol,
                   **{k: self.combos[run.combo][k] for k in self.grid_keys},
                   "leverage": self._leverage(r)}
            curve = None if self.shared else self._run_curve(r)
            row.update(self._metrics(curve, [r], leg.instrument.is_24_7,
                                     accounts=None if self.shared else [run.account]))
            row["buy_hold_return_pct"] = 100 * float(leg.bars["close"].iloc[-1]
                                                     / leg.bars["close"].iloc[0] - 1)
            rows.append(row)
        return rows

    def combo_stats(self) -> list[dict]:
        """A row per combination over all symbols: the shared account, or the sum of the
        symbols' separate accounts (each at its starting cash before its first bar and at its
        last equity after its last)."""
        any_24_7 = any(leg.instrument.is_24_7 for leg in self.legs)   # then the union has weekends
        rows = []
        by_combo: list[list[int]] = [[] for _ in self.combos]
        for r, run in enumerate(self.runs):
            by_combo[run.combo].append(r)
        for ci, members in enumerate(by_combo):
            members, curve, cash = self.combo_curve(ci, members)
            row = {"label": self.combo_label(ci) or "all symbols", "symbol": "ALL",
                   **{k: self.combos[ci][k] for k in self.grid_keys}}
            accounts = sorted({self.runs[r].account for r in members})
            injected = (self.injected[:, accounts].sum(axis=1) if self.injected is not None
                        else None)
            row.update(self._metrics((np.asarray(curve), stats.utc_times(self.index), injected),
                                     members, any_24_7, cash, accounts))
            rows.append(row)
        return rows

    def combo_curve(self, ci: int, members: list[int] | None = None):
        """(runs, equity curve as an array, starting cash) of combination `ci` over all
        symbols: the shared account, or the sum of the symbols' separate accounts (each at its
        starting cash before its first bar and at its last equity after its last)."""
        if members is None:
            members = [r for r, run in enumerate(self.runs) if run.combo == ci]
        if self.shared:
            return members, self.equity[:, ci], self.cfg.cash
        accounts = self.equity[:, [self.runs[r].account for r in members]]
        curve = pd.DataFrame(accounts).ffill().fillna(self.cfg.cash).sum(axis=1).to_numpy()
        return members, curve, self.cfg.cash * len(members)

    def combo_injected(self) -> np.ndarray:
        """(bars, combinations) capital --on-ruin topup put into each combination's accounts."""
        out = np.zeros((len(self.index), len(self.combos)))
        if self.injected is not None:
            # a shared account is one per combination; separate accounts add up
            for account, combo in {(run.account, run.combo) for run in self.runs}:
                out[:, combo] += self.injected[:, account]
        return out

    @functools.cached_property
    def _trades_of(self) -> list[np.ndarray]:
        """Per kernel column, the positions of its trades in `trades`."""
        order = np.argsort(self.trades["col"], kind="stable")
        bounds = np.searchsorted(self.trades["col"][order], np.arange(len(self.runs) + 1))
        return [order[bounds[c]:bounds[c + 1]] for c in range(len(self.runs))]

    @functools.cached_property
    def _liquidations_per_col(self) -> np.ndarray:
        return np.bincount(self.liquidations["col"], minlength=len(self.runs))

    def _leverages(self, leg: int):
        """The leverage a symbol ran at: one number, or the sorted list a grid swept."""
        used = sorted({self._leverage(r) for r, run in enumerate(self.runs) if run.leg == leg})
        return used[0] if len(used) == 1 else used

    def _leverage(self, r: int) -> float:
        lev = self.combos[self.runs[r].combo]["leverage"]
        return self.legs[self.runs[r].leg].venue.default_leverage if lev is None else lev

    def _metrics(self, curve, members: list[int], is_24_7: bool, cash: float | None = None,
                 accounts: list[int] | None = None) -> dict:
        mine = self.trades[np.concatenate([self._trades_of[c] for c in members])]
        cash = self.cfg.cash if cash is None else cash
        wins = mine["pnl"][mine["pnl"] > 0].sum()
        losses = -mine["pnl"][mine["pnl"] < 0].sum()
        out = {
            "total_return_pct": math.nan, "cagr_pct": math.nan, "sharpe": math.nan,
            "sortino": math.nan, "max_drawdown_pct": math.nan,
            "win_rate_pct": 100 * float((mine["pnl"] > 0).mean()) if len(mine) else math.nan,
            "profit_factor": float(wins / losses) if losses > 0 else math.nan,
            "trades": int(len(mine)),
            "liquidations": int(self._liquidations_per_col[members].sum()),
            **{key: float(mine[field].sum()) for key, field in COSTS.items()},
            "pnl": float(mine["pnl"].sum()),
            "final_equity": math.nan, "span_first": None, "span_last": None,
            "span_bars": 0, "ruined": False, "stats_note": None,
            "cut_trades": int(_cut(mine).sum()),
            "effective_leverage": (float(mine["effective_leverage"].mean()) if len(mine)
                                   else math.nan),
        }
        if curve is not None:
            equity, times, injected = curve
            ann = stats.bars_per_year(self.cfg.timeframe, is_24_7)
            out.update(stats.span_stats(equity, times, self._span_start(mine, times), cash, ann,
                                        injected))
        if self.topup and accounts is not None and curve is not None and self.injected is not None:
            days = ((out["span_last"] - out["span_first"]).total_seconds() / 86_400
                    if out["span_first"] is not None else math.nan)
            extra = stats.topup_stats(out["final_equity"], cash,
                                      float(self.injected[:, accounts].sum()),
                                      int(self.refills[accounts].sum()), out["liquidations"], days)
            out.update({k: v.item() for k, v in extra.items()})
        return out

    def position_cuts(self) -> list[str]:
        """One line per run whose entries the maintenance brackets cut: an exchange accepts
        no larger order at that leverage, so the position put up less margin than asked."""
        lines = []
        for r in range(len(self.runs)):
            mine = self.trades[self.trades["col"] == r]
            cut = mine[_cut(mine)]
            if len(cut):
                eff = cut["effective_leverage"]
                lines.append(f"{self.label(r)} {self._leverage(r):g}x: {len(cut)} of {len(mine)} "
                             f"entries cut to the brackets' limit (effective leverage "
                             f"{eff.min():.3g}x-{eff.max():.3g}x)")
        return lines

    def unfilled(self) -> list[str]:
        """Why runs whose strategy placed entry orders made no trade: the opening rule
        (`liquidation.build_position`, the kernel's own) refuses the position at the
        symbol's first close, or no bar was left to fill the orders on."""
        from sitcli.errors import BadInput
        from sitcli.liquidation import build_position

        if self.entry_orders is None or self.trades is None:
            return []
        traded = np.bincount(self.trades["col"], minlength=len(self.runs))
        lines = []
        for r, run in enumerate(self.runs):
            orders = int(self.entry_orders[r])
            if not orders or traded[r]:
                continue
            leg = self.legs[run.leg]
            price = float(leg.bars["close"].iloc[0])
            why = "no bar was left to fill them on"
            try:
                build_position("long", price, self._leverage(r), leg.venue,
                               cash=self.cfg.cash * self.combos[run.combo]["size"],
                               allow_above_cap=self.cfg.allow_above_cap)
            except BadInput as exc:
                why = f"the venue would refuse every one: {exc}"
            lines.append(f"{self.label(r)}: {orders} entry orders, none filled; {why}")
        return lines

    def _event_timing(self) -> str:
        """When news reaches a bar, by the hours each symbol is quoted (`--cfd-hours`, else
        its venue's `cfd_hours`)."""
        session = ("first bar opening at or after the event on the instrument's own session "
                   "calendar")
        clock = "first bar of the data at or after the event (quoted 24/7)"
        hours = {leg.symbol: self.cfg.cfd_hours or leg.venue.cfd_hours for leg in self.legs}
        if len(set(hours.values())) == 1:
            return session if "session" in hours.values() else clock
        return "; ".join(f"{s}: {session if h == 'session' else clock}" for s, h in hours.items())

    def _position_size(self) -> str:
        rule = "size x free collateral as margin, the entry fee on top"
        if self.trades is None:   # a sweep keeps no trades: its rows count the cut entries
            return f"{rule}; entries a venue's brackets cut: the rows' cut_trades"
        return "; ".join(self.position_cuts()) or f"{rule}; no entry was cut by a venue's brackets"

    def _run_curve(self, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """A run's own account equity at its symbol's bars, those bars' times, and the capital
        --on-ruin topup injected at them (None without a record of it)."""
        leg = self.legs[self.runs[r].leg]
        rows = self.index.get_indexer(leg.bars.index)
        account = self.runs[r].account
        injected = None if self.injected is None else self.injected[rows, account]
        return self.equity[rows, account], stats.utc_times(leg.bars.index), injected

    def _span_start(self, trades, times) -> int:
        if self.cfg.start is not None or not len(trades):
            return 0
        return stats.span_start(times, stats.utc_times(self.index[[trades["entry_bar"].min()]])[0])

    def to_vectorbt(self, r: int):
        """vectorbt's returns accessor over run `r`'s span (its own account; not with a shared
        one), for its analytics beyond sitcli's table: `.stats()`, `.qs`, rolling metrics."""
        import vectorbt  # noqa: F401  (registers the .vbt accessors)

        from sitcli.bars import bar_duration

        if self.shared:
            raise ValueError("runs of a shared account have no equity curve of their own")
        equity, times, _ = self._run_curve(r)
        start = self._span_start(self.trades[self._trades_of[r]], times)
        keep = ~np.isnan(equity[start:])
        curve = pd.Series(equity[start:][keep],
                          index=pd.DatetimeIndex(times[start:][keep]).tz_localize("UTC"))
        returns = pd.Series(stats.simple_returns(curve.to_numpy()), index=curve.index)
        is_24_7 = self.legs[self.runs[r].leg].instrument.is_24_7
        return returns.vbt.returns(freq=bar_duration(self.cfg.timeframe),
                                   year_freq="365 days" if is_24_7 else "252 days")

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
            "notes": [note for leg in self.legs for note in leg.notes] + self.unfilled(),
            "position_size": self._position_size(),
            "venues": {leg.symbol: {**leg.venue.as_dict(), "leverage": self._leverages(j)}
                       for j, leg in enumerate(self.legs)},
            "event_timing": self._event_timing(),
            "fill": ("signal at a bar's close fills at the next bar's open" if cfg.fill == "open"
                     else "signal fills at its own bar's close"),
            "intrabar": ("take-profit assumed before stop" if cfg.take_first else
                         "stop and liquidation assumed before take-profit; gaps fill at the open"),
            "seed": None,
        } | ({"on_ruin": f"topup: an account left flat at or below {100 * cfg.ruin_level:g}% of its "
                         "cash is refilled to it, each refill counted as capital put in"}
             if self.topup else {})


def synthetic_notice(legs: list) -> str:
    """The banner for runs on generated prices: the demo data or a simulated series (SIT),
    traded or read by the strategy."""
    from sitcli.data.store import synthetic_label

    made = {(sym, src, what) for leg in legs for sym, src, what in leg.generated}
    label = synthetic_label(src for _, src, _ in made)
    if label == "SYNTHETIC DATA":
        return f"{label}: {', '.join(f'{sym} ({src}{what})' for sym, src, what in sorted(made))} " \
               "simulated, not market history."
    return f"{label}: generated prices, not market history." if label else ""


def _cut(trades: np.ndarray) -> np.ndarray:
    return trades["requested_qty"] > trades["qty"] * (1 + 1e-9)
