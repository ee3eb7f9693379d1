"""The names of sitcli's statistics and record columns, in one registry beside `sitcli.stats`.

Keys are the fields `Result.run_stats`, `sitcli.sweep` and the files use; titles are what a
person reads: the backtest and sweep tables, the backtest HTML report and the daily report's
backtest table all take their headers from here.
"""

from __future__ import annotations

# every statistic of a run, in table order, with its title
STAT_TITLES = {
    "total_return_pct": "Total return [%]", "cagr_pct": "CAGR [%]", "sharpe": "Sharpe",
    "sortino": "Sortino", "max_drawdown_pct": "Max drawdown [%]", "win_rate_pct": "Win rate [%]",
    "profit_factor": "Profit factor", "trades": "Trades",
    "liquidations": "Liquidations / close-outs",
    "fees": "Fees paid [$]", "spread": "Spread paid [$]", "slippage": "Slippage [$]",
    "financing": "Financing paid [$]", "funding": "Funding paid [$]",
    "liquidation_fees": "Liquidation fees [$]", "protection": "Forgiven by protection [$]",
    "final_equity": "Final equity [$]", "buy_hold_return_pct": "Buy & hold [%]",
    "effective_leverage": "Effective leverage (mean)", "cut_trades": "Entries cut to a bracket",
}

# short titles, for narrow tables (the daily report, walk-forward)
SHORT_TITLES = {"total_return_pct": "return %", "sharpe": "Sharpe", "max_drawdown_pct": "max DD %",
                "win_rate_pct": "win %", "trades": "trades", "liquidations": "liquidations",
                "buy_hold_return_pct": "buy & hold %"}

# the rows --on-ruin topup adds
TOPUP_TITLES = {"capital_injected": "Capital injected [$]", "refills": "Refills",
                "return_on_capital_pct": "Return on capital put in [%]",
                "liquidations_per_year": "Liquidations per year"}

LOWER_IS_BETTER = {"liquidations", "fees", "spread", "slippage", "financing", "funding",
                   "liquidation_fees", "capital_injected", "refills", "liquidations_per_year"}
RANK_COLUMNS = ("total_return_pct", "cagr_pct", "sharpe", "max_drawdown_pct", "win_rate_pct",
                "trades", "liquidations", "final_equity")

def default_rank_by(on_ruin: str) -> str:
    """What a grid is ranked by unless --rank-by says: with `--on-ruin topup` the total return
    counts refills as gains, so the return on all the capital put in."""
    return "return_on_capital_pct" if on_ruin == "topup" else "total_return_pct"


# the bars the return statistics cover (sitcli.stats: from the bar before the first fill)
SPAN_TITLES = {"span_first": "Stats from", "span_last": "Stats to", "span_bars": "Stats bars"}
OTHER_TITLES = {"ruined": "Ruined", "stats_note": "Note", "symbol": "Symbol", "label": "Run",
                "leverage": "Leverage", "run": "Run"}

# columns of trades.csv and liquidations.csv
RECORD_TITLES = {
    "symbol": "Symbol", "entry_time": "Entry (UTC)", "exit_time": "Exit (UTC)", "side": "Side",
    "qty": "Quantity", "requested_qty": "Quantity asked", "leverage": "Leverage",
    "effective_leverage": "Effective leverage", "margin": "Margin [$]",
    "entry_price": "Entry price", "exit_price": "Exit price", "pnl_gross": "Gross PnL [$]",
    "fees": "Fees [$]", "exit_fee": "Exit fee [$]", "spread": "Spread [$]",
    "slippage": "Slippage [$]", "financing": "Financing [$]", "funding": "Funding [$]",
    "liq_fee": "Liquidation fee [$]", "protection": "Forgiven by protection [$]",
    "pnl": "PnL [$]", "return_on_margin": "Return on margin", "exit_reason": "Exit",
    "catalyst": "Catalyst", "label": "Run", "time": "Time (UTC)", "kind": "Kind",
    "trigger_price": "Trigger price", "fill_price": "Fill price", "extreme": "Bar extreme",
    "gap": "Gap", "gap_loss": "Gap loss [$]",
}


def title(key: str) -> str:
    """The human title of a statistic or record column; an unknown key (a grid parameter, a
    vectorbt statistic) is shown as it is."""
    for table in (STAT_TITLES, TOPUP_TITLES, SPAN_TITLES, OTHER_TITLES, RECORD_TITLES):
        if key in table:
            return table[key]
    return str(key)


def record_title(key: str) -> str:
    """The human title of a column of trades.csv or liquidations.csv (a grid parameter as it
    is)."""
    return RECORD_TITLES.get(key, str(key))
