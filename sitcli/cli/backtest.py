"""`sitcli backtest`: one strategy over symbols, with stats, trades and equity."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sitcli.cli.options import (
    DataDirOpt,
    DebugOpt,
    DemoOpt,
    EndOpt,
    Format,
    FormatOpt,
    QuietOpt,
    StartOpt,
    parse_pairs,
)

DEMO_SYMBOLS = "NVDA,AMD,TSM,^NDX,RENDER/USDT,SIT"

STAT_TITLES = {
    "total_return_pct": "Total return [%]", "cagr_pct": "CAGR [%]", "sharpe": "Sharpe",
    "sortino": "Sortino", "max_drawdown_pct": "Max drawdown [%]", "win_rate_pct": "Win rate [%]",
    "profit_factor": "Profit factor", "trades": "Trades", "liquidations": "Liquidations / close-outs",
    "fees": "Fees paid [$]", "spread": "Spread paid [$]", "slippage": "Slippage [$]",
    "financing": "Financing paid [$]", "funding": "Funding paid [$]",
    "liquidation_fees": "Liquidation fees [$]", "final_equity": "Final equity [$]",
    "buy_hold_return_pct": "Buy & hold [%]",
}


def backtest(
    strategy: Annotated[str, typer.Argument(help="Strategy name.")] = "catalyst_long",
    symbols: Annotated[Optional[str], typer.Option(
        "--symbols", "-s", help=f"Comma-separated symbols (default with --demo: {DEMO_SYMBOLS}).")] = None,
    leverage: Annotated[Optional[float], typer.Option(
        "--leverage", "-l", help="Leverage for every symbol (default: each venue's default).")] = None,
    venue: Annotated[Optional[str], typer.Option(
        "--venue", help="cfd-retail, cfd-offshore, perp-isolated or futures-exchange "
                        "(default: each instrument's venue).")] = None,
    settings: Annotated[Optional[list[str]], typer.Option(
        "--set", help="Override a venue field, e.g. --set fee=0.001 (repeatable).")] = None,
    params: Annotated[Optional[list[str]], typer.Option(
        "--param", "-p", help="Strategy parameter, e.g. --param max_bars=3 (repeatable).")] = None,
    start: StartOpt = None,
    end: EndOpt = None,
    timeframe: Annotated[str, typer.Option("--timeframe", help="Bar size of the stored data.")] = "1d",
    cash: Annotated[float, typer.Option("--cash", help="Starting cash per symbol.")] = 10_000.0,
    size: Annotated[float, typer.Option(
        "--size", help="Fraction of free collateral used as margin per trade.")] = 1.0,
    fill: Annotated[str, typer.Option(
        "--fill", help="open: signals fill at the next bar's open; close: at their own close.")] = "open",
    take_first: Annotated[bool, typer.Option(
        "--take-first", help="When stop and take-profit lie in one bar, assume the take first.")] = False,
    allow_above_cap: Annotated[bool, typer.Option(
        "--allow-above-cap", help="Allow leverage above the venue's cap.")] = False,
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="Write trades.csv, equity.csv, liquidations.csv and summary.json here.")] = None,
    demo: DemoOpt = False,
    data_dir: DataDirOpt = None,
    fmt: FormatOpt = Format.table,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Backtest a strategy over stored or demo data: stats, trades, liquidations.

    Example: sitcli backtest --demo --symbols NVDA,RENDER/USDT --param max_bars=3
    """
    from sitcli.backtest import RunConfig, run_backtest
    from sitcli.cli.render import emit, note, print_json, print_pairs, print_table
    from sitcli.data.store import Store, default_data_dir, demo_store
    from sitcli.errors import BadInput
    from sitcli.events import load_events

    if symbols is None and not demo:
        raise BadInput("pass --symbols NVDA,AMD (stored data) or --demo (embedded demo data)")
    if out is not None and out.exists() and not out.is_dir():
        raise BadInput(f"--out {out}: exists and is not a directory; give a directory path")
    names = [s.strip() for s in (symbols or DEMO_SYMBOLS).split(",") if s.strip()]
    cfg = RunConfig(symbols=names, strategy=strategy, params=parse_pairs(params, "--param", "max_bars=3"),
                    leverage=leverage, venue=venue, overrides=parse_pairs(settings, "--set", "fee=0.001"),
                    cash=cash, size=size, start=start, end=end, timeframe=timeframe, fill=fill,
                    take_first=take_first, allow_above_cap=allow_above_cap)
    store = demo_store() if demo else Store(default_data_dir(data_dir))
    result = run_backtest(cfg, store, load_events())
    stats = result.stats()
    assumptions = result.assumptions()
    if out is not None:
        write_outputs(out, result, stats, assumptions)
    if fmt == Format.json:
        print_json({"assumptions": assumptions, "stats": stats,
                    "liquidations": result.liquidations_frame().to_dict("records")})
    elif fmt == Format.csv:
        if result.synthetic:
            note("synthetic demo data: generated prices, not market history", quiet)
        emit(fmt, {}, [{"symbol": s, **row} for s, row in stats.items()])
    else:
        if result.synthetic:
            typer.echo("SYNTHETIC DEMO DATA: generated prices, not market history.")
        print_pairs(_header(assumptions), title=f"Backtest: {strategy}")
        rows = [{"stat": title, **{s: stats[s][key] for s in stats}}
                for key, title in STAT_TITLES.items()]
        print_table(rows, ["stat", *stats], title="Results per symbol (each its own account)",
                    digits=2)
    if out is not None:
        note(f"wrote trades.csv, equity.csv, liquidations.csv, summary.json to {out}", quiet)


def _header(a: dict) -> dict:
    data = "; ".join(f"{d['symbol']} {d['first']:%Y-%m-%d}..{d['last']:%Y-%m-%d} "
                     f"({d['bars']} bars, {d['source']})" for d in a["data"])
    venues = "; ".join(f"{s}: {v['name']} {v['leverage']:g}x ({v['margin_mode']}, fee "
                       f"{v['fee']:g}, half-spread {v['half_spread']:g})"
                       for s, v in a["venues"].items())
    return {"data": data, "params": a["params"], "venues": venues, "cash": a["initial_cash_per_symbol"],
            "fill": a["fill"], "intrabar": a["intrabar"]}


def write_outputs(out: Path, result, stats: dict, assumptions: dict) -> None:
    """Each file is written to a temporary name and renamed, so a crash leaves no half file."""
    import json
    import os

    from sitcli.cli.render import _plain

    out.mkdir(parents=True, exist_ok=True)
    files = {
        "trades.csv": lambda p: result.trades_frame().to_csv(p, index=False),
        "equity.csv": lambda p: result.equity_frame().to_csv(p, index_label="time"),
        "liquidations.csv": lambda p: result.liquidations_frame().to_csv(p, index=False),
        "summary.json": lambda p: p.write_text(json.dumps(
            _plain({"assumptions": assumptions, "stats": stats}), indent=2, allow_nan=False)),
    }
    for name, write in files.items():
        tmp = out / f".{name}.tmp"
        write(tmp)
        os.replace(tmp, out / name)


def register(app: typer.Typer) -> None:
    app.command("backtest")(backtest)
