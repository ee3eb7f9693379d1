"""The options that define a strategy run, declared once and shared by `backtest`, `sweep`
and `montecarlo`: each command lists the ones it takes (typed aliases below) and hands them
on as one `RunOptions`, which `sitcli.cli.backtest.run_config` turns into a RunConfig.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer

from sitcli.cli.options import Account, CfdHours, Fill, Format, OnRuin

DEMO_SYMBOLS = "NVDA,AMD,TSM,^NDX,RENDER/USDT,SIT"

StrategyArg = Annotated[Optional[str], typer.Argument(
    help="Built-in strategy name or the path to your .py file (default: "
         "catalyst_momentum).", show_default=False)]
StrategyFileOpt = Annotated[Optional[str], typer.Option(
    "--strategy", help="Same as the STRATEGY argument, e.g. --strategy my/strat.py.")]
StrategyTimeoutOpt = Annotated[Optional[float], typer.Option(
    "--strategy-timeout", help="Stop a strategy call that runs longer than this many "
                               "seconds (exit 1).")]
SymbolsOpt = Annotated[Optional[str], typer.Option(
    "--symbols", "-s", help=f"Comma-separated symbols (default with --demo: {DEMO_SYMBOLS}).")]
LeverageOpt = Annotated[Optional[float], typer.Option(
    "--leverage", "-l", help="Leverage for every symbol (default: each venue's default).")]
VenueOpt = Annotated[Optional[str], typer.Option(
    "--venue", help="cfd-retail, cfd-offshore, perp-binance (alias perp-isolated) or "
                    "futures-exchange (default: each instrument's venue).")]
SetOpt = Annotated[Optional[list[str]], typer.Option(
    "--set", help="Override a venue field, e.g. --set fee=0.001 (repeatable).")]
ParamOpt = Annotated[Optional[list[str]], typer.Option(
    "--param", "-p", help="Strategy parameter, e.g. --param hold=3 (repeatable).")]
GridOpt = Annotated[Optional[list[str]], typer.Option(
    "--grid", "-g", help="Values to sweep, e.g. --grid leverage=5,20,50 --grid hold=1,3 "
                         "(repeatable; every combination runs in one kernel call).")]
RankByOpt = Annotated[Optional[str], typer.Option(
    "--rank-by", show_default=False,
    help="Metric that orders the grid's runs (default: total_return_pct; "
         "return_on_capital_pct with --on-ruin topup).")]
TopOpt = Annotated[int, typer.Option("--top", help="Rows of the ranking to print.")]
AccountOpt = Annotated[Account, typer.Option(
    "--account", case_sensitive=False,
    help="isolated: one account per symbol; shared: one account for all.")]
CfdHoursOpt = Annotated[Optional[CfdHours], typer.Option(
    "--cfd-hours", case_sensitive=False, show_default=False,
    help="session: exchange symbols are quoted in their regular session (news waits for its "
         "open; pre-/after-hours bars are not walked); 24/7: around the clock (default: the "
         "venue's cfd_hours).")]
EventsOpt = Annotated[Optional[list[Path]], typer.Option(
    "--events", help="Your own catalysts CSV, added to the built-in calendar (repeatable).")]
TimeframeOpt = Annotated[str, typer.Option("--timeframe", help="Bar size of the stored data.")]
CashOpt = Annotated[float, typer.Option("--cash", help="Starting cash per account.")]
SizeOpt = Annotated[Optional[float], typer.Option(
    "--size", help="Fraction of free collateral used as margin per trade "
                   "(default 1, or 1/number of symbols with --account shared).")]
FillOpt = Annotated[Fill, typer.Option(
    "--fill", case_sensitive=False,
    help="open: signals fill at the next bar's open; close: at their own close.")]
TakeFirstOpt = Annotated[bool, typer.Option(
    "--take-first", help="When stop and take-profit lie in one bar, assume the take first.")]
AllowAboveCapOpt = Annotated[bool, typer.Option(
    "--allow-above-cap", help="Allow leverage above the venue's cap.")]
OnRuinOpt = Annotated[OnRuin, typer.Option(
    "--on-ruin", case_sensitive=False,
    help="stop: a wiped-out account stays wiped out; topup: refill it to --cash and trade on "
         "from the next signal, counting each refill as capital put in.")]
RuinLevelOpt = Annotated[float, typer.Option(
    "--ruin-level", help="Wiped out: nothing open and equity at or below this fraction of "
                         "--cash.")]
DetailOpt = Annotated[Optional[str], typer.Option(
    "--detail", help="Walk these stored finer bars (e.g. 1h, 1m) inside each bar a position is "
                     "open to order gaps, stops, take-profits and liquidations.")]


@dataclass
class RunOptions:
    """What the run options of one command line say (defaults as the commands'); the
    walk-forward fields are read by `sitcli.cli.walkforward`."""

    strategy: str | None = None
    strategy_file: str | None = None
    strategy_timeout: float | None = None
    symbols: str | None = None
    leverage: float | None = None
    venue: str | None = None
    settings: list[str] | None = None
    params: list[str] | None = None
    grid: list[str] | None = None
    rank_by: str = "total_return_pct"
    top: int = 20
    oos: float | None = None
    oos_start: str | None = None
    walk_forward: int | None = None
    wf_train: int | None = None
    wf_test: int | None = None
    wf_anchored: bool = False
    account: Account | str = Account.isolated
    cfd_hours: CfdHours | str | None = None
    events_files: list[Path] | None = None
    start: str | None = None
    end: str | None = None
    timeframe: str = "1d"
    cash: float = 10_000.0
    size: float | None = None
    fill: Fill | str = Fill.open
    take_first: bool = False
    allow_above_cap: bool = False
    on_ruin: OnRuin | str = OnRuin.stop
    ruin_level: float = 0.01
    detail: str | None = None
    demo: bool = False
    data_dir: Path | None = None
    fmt: Format = Format.table
    quiet: bool = False
