"""`sitcli data pull|import|list|show|verify`: market data in the local Parquet store.

pandas and pyarrow are imported inside the commands (via sitcli.data.store) so that
`sitcli --help` does not pay for them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import typer

from sitcli.cli import tiers
from sitcli.cli.options import (
    AssetClass,
    DataDirOpt,
    DebugOpt,
    DemoOpt,
    EndOpt,
    Format,
    FormatOpt,
    QuietOpt,
    StartOpt,
)
from sitcli.cli.render import note, print_csv, print_json, print_pairs, print_table

HELP = ("Market data in the local store: pull from Yahoo and exchanges, import CSV files, list, "
        "show and verify.")
SYNTHETIC_NOTE = "synthetic demo data, not market prices"

data_app = typer.Typer(help=HELP, no_args_is_help=True, add_completion=False,
                       pretty_exceptions_enable=False, rich_markup_mode=None)

TimeframeOpt = Annotated[str, typer.Option("--timeframe", "-t",
                                           help="Bar size as stored, e.g. 1d or 1h.")]


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data", help=HELP)
    tiers.register(data_app)   # `sitcli data tiers show|pull` (sitcli/cli/tiers.py)


def _store(data_dir: Path | None, demo: bool):
    from sitcli.cli.options import check_demo_or_data_dir
    from sitcli.data.store import Store, default_data_dir, demo_store

    check_demo_or_data_dir(demo, data_dir)
    return demo_store() if demo else Store(default_data_dir(data_dir))


def _report_damaged(damaged: list, quiet: bool = False) -> None:
    """Damaged files were left out of the output above: name them, then exit 1."""
    from sitcli.errors import RuntimeFailure

    if damaged:
        raise RuntimeFailure(f"{len(damaged)} damaged file(s), left out above: "
                             + "; ".join(f"{d.path} ({d.reason})" for d in damaged)
                             + "; delete them and import or pull the data again")


def _label(entry: dict, demo: bool) -> str:
    if not entry["synthetic"]:
        return ""
    return "synthetic demo data" if demo or entry["source"] == "demo" else "synthetic"


@data_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="CSV with date, open, high, low, close[, volume].",
                                         show_default=False)],
    symbol: Annotated[Optional[str], typer.Option("--symbol", "-s", help="Symbol to store the "
                                                  "bars under, e.g. NVDA or RENDER/USDT@binance.",
                                                  show_default=False)] = None,
    rate: Annotated[Optional[str], typer.Option(
        "--rate", help="Store FILE (date,percent per annum) as the benchmark rate series NAME "
                       "for CFD financing (--set financing_benchmark=NAME).",
        show_default=False)] = None,
    timeframe: TimeframeOpt = "1d",
    price: Annotated[str, typer.Option(
        "--price", help="last (trade prices) or mark: the venue's mark price, stored as "
                        "SYMBOL@mark, which perpetual liquidations are checked on.")] = "last",
    source: Annotated[str, typer.Option("--source", help="Source name in the store.")] = "csv",
    adjust: Annotated[bool, typer.Option("--adjust", help="Scale open/high/low/close by Adj "
                                         "Close / Close (the file must have Adj Close).")] = False,
    merge: Annotated[bool, typer.Option("--merge", help="Merge into the stored bars (file "
                                        "rows win).")] = False,
    tz: Annotated[Optional[str], typer.Option(
        "--tz", help="Read naive date-times as this zone's local time (IANA name, e.g. "
                     "America/New_York for an Interactive Brokers export); stored in UTC.",
        show_default=False)] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace the stored bars (the "
                                          "default).")] = False,
    asset_class: Annotated[Optional[AssetClass], typer.Option(
        "--asset-class", case_sensitive=False,
        help="Declare an unlisted symbol's asset class in the store (its venue and session "
             "follow: crypto 24/7 on perp-isolated, else XNYS hours on cfd-retail).",
        show_default=False)] = None,
    data_dir: DataDirOpt = None,
    fmt: FormatOpt = Format.table,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Import bars from a CSV file into the local store.

    Accepts Yahoo exports (with or without Adj Close, also yfinance's three-row header) and
    generic date,open,high,low,close,volume files; dates in ISO 8601 (naive = UTC, or the
    --tz zone's local time) or epoch seconds/milliseconds. The file is validated first: a bad
    row is reported with its line number and the store is left unchanged (exit 2).

    Example: sitcli data import NVDA.csv --symbol NVDA
    """
    from sitcli.data.sources.csv import read_csv_ohlcv
    from sitcli.data.store import clean_symbol, fmt_time
    from sitcli.errors import BadInput

    if merge and replace:
        raise BadInput("--merge and --replace contradict each other; pass one of them")
    if (symbol is None) == (rate is None):
        raise BadInput("give --symbol SYMBOL (bars) or --rate NAME (a benchmark rate series)")
    if rate is not None and tz is not None:
        raise BadInput(f"--tz {tz}: applies to bars (--symbol); a rate series is by date")
    if asset_class is not None and rate is not None:
        raise BadInput("--asset-class declares a symbol's instrument: use it with --symbol")
    if symbol is not None:
        from sitcli.mark import stored_symbol

        symbol = stored_symbol(clean_symbol(symbol), price)
    store = _store(data_dir, demo=False)
    if rate is not None:
        from sitcli.rates import import_rate

        path, series = import_rate(rate, file, store.root)
        row = {"rate": path.stem, "rows": len(series), "first": f"{series.index[0]:%Y-%m-%d}",
               "last": f"{series.index[-1]:%Y-%m-%d}", "path": str(path)}
        if fmt == Format.json:
            print_json(row)
        elif fmt == Format.csv:
            print_csv([row])
        else:
            print_pairs(row, title=f"imported rate {path.stem}")
        return
    existed = store.path(source, symbol, timeframe).is_file()  # also checks the names
    df = read_csv_ohlcv(file, adjust=adjust, tz=tz)
    path = store.write(df, source=source, symbol=symbol, timeframe=timeframe,
                       note=df.attrs.get("note", ""), merge=merge)
    declared = None
    if asset_class is not None:
        from sitcli.config import declare_instrument

        declared = declare_instrument(store.root, symbol, asset_class.value)
    stored = store.read(symbol, timeframe, source=source)
    payload = {
        "symbol": symbol, "timeframe": timeframe, "source": source, "imported": len(df),
        "rows": len(stored), "first": stored.index[0], "last": stored.index[-1],
        "mode": ("merged" if merge else "replaced") if existed else "new",
        "path": str(path), "note": df.attrs.get("note", ""),
    }
    if declared is not None:
        payload.update({"asset_class": declared["asset_class"], "venue": declared["venue"],
                        "calendar": declared["calendar"]})
    if fmt == Format.json:
        print_json(payload)
    elif fmt == Format.csv:
        print_csv([payload])
    else:
        print_pairs({**payload, "first": fmt_time(payload["first"]),
                     "last": fmt_time(payload["last"])}, title=f"imported {symbol}")
    preferred = store.sources_for(symbol, timeframe)
    if preferred and preferred[0] != source:
        note(f"note: {symbol} {timeframe} is also stored from source {preferred[0]}, which is "
             f"read first; remove {store.path(preferred[0], symbol, timeframe)} to use this "
             "import by default", quiet)


@data_app.command("list")
def list_(
    data_dir: DataDirOpt = None,
    demo: DemoOpt = False,
    fmt: FormatOpt = Format.table,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """List the stored symbols with their timeframe, source, rows and date range.

    With --demo, lists the embedded synthetic demo data instead of your data directory.

    Example: sitcli data list --format json
    """
    from sitcli.data.store import fmt_time

    store = _store(data_dir, demo)
    damaged: list = []
    entries = [{**e, "label": _label(e, demo)} for e in store.entries(damaged)]
    columns = ["symbol", "timeframe", "source", "rows", "first", "last", "label", "path"]
    if fmt == Format.json:
        print_json({"data_dir": str(store.root), "demo": demo, "entries": entries})
    elif fmt == Format.csv:
        print_csv(entries, columns)
    elif entries:
        rows = [{**e, "first": fmt_time(e["first"]), "last": fmt_time(e["last"])}
                for e in entries]
        print_table(rows, columns[:-1], title=f"{'demo data' if demo else 'data'} in "
                    f"{store.root}")
    if not entries and not damaged:
        if demo:
            note(f"no demo data found in {store.root}; reinstall sitcli", quiet)
        else:
            note(f'no data in {store.root}; run "sitcli data import FILE --symbol S" or '
                 '"sitcli data pull S", or try --demo', quiet)
    _report_damaged(damaged)


def _rate(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.6%}"


def _price_format(close_median: float):
    digits = 2 if close_median >= 100 else 4 if close_median >= 1 else 6
    return lambda v: f"{v:,.{digits}f}"


@data_app.command("show")
def show(
    symbol: Annotated[str, typer.Argument(help="Symbol as stored, e.g. NVDA.",
                                          show_default=False)],
    timeframe: TimeframeOpt = "1d",
    tail: Annotated[int, typer.Option("--tail", "-n", min=0,
                                      help="Show the last N bars (0 = all).")] = 10,
    start: StartOpt = None,
    end: EndOpt = None,
    source: Annotated[str | None, typer.Option(
        "--source", help="Read this source (default: yahoo, ccxt, csv, sit, demo, in that "
        "order).")] = None,
    demo: DemoOpt = False,
    data_dir: DataDirOpt = None,
    fmt: FormatOpt = Format.table,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Show the last bars stored for a symbol.

    Synthetic data is labelled: a note on stderr for table/csv, "synthetic": true in JSON.

    Example: sitcli data show NVDA --tail 5 --format json
    """
    from sitcli.data.store import fmt_time

    df = _store(data_dir, demo).read(symbol, timeframe, source=source, start=start, end=end)
    meta = df.attrs["sitcli"]
    total = len(df)
    if tail:
        df = df.tail(tail)
    synthetic = bool(meta.get("synthetic"))
    columns = ["time", *df.columns]
    rows = [{"time": t, **{c: float(v) for c, v in zip(df.columns, vals, strict=True)}}
            for t, vals in zip(df.index, df.to_numpy(), strict=True)]
    if fmt == Format.json:
        print_json({"symbol": symbol, "timeframe": timeframe, "source": meta["source"],
                    "synthetic": synthetic, "note": meta.get("note", ""),
                    "path": meta["path"], "rows": rows})
        return
    if synthetic:
        note(SYNTHETIC_NOTE, quiet)
    if fmt == Format.csv:
        print_csv(rows, columns)
        return
    price = _price_format(float(df["close"].median()))
    # All-midnight bars read best as dates; intraday bars keep their full time on every row.
    daily = bool((df.index == df.index.normalize()).all())
    shown = [{"time": fmt_time(r["time"]) if daily else r["time"].isoformat(),
              **{c: price(r[c]) for c in ("open", "high", "low", "close")},
              "volume": f"{r['volume']:,.0f}" if r["volume"] >= 100 else f"{r['volume']:.4g}",
              **({"funding_rate": _rate(r["funding_rate"])} if "funding_rate" in r else {})}
             for r in rows]
    shown_what = f"last {len(df)} of {total}" if len(df) < total else f"all {total}"
    title = (f"{symbol} {timeframe} from {meta['source']}: {shown_what} bars"
             + (f" ({SYNTHETIC_NOTE})" if synthetic else ""))
    print_table(shown, columns, title=title)


@data_app.command("pull")
def pull(
    symbols: Annotated[Optional[list[str]], typer.Argument(
        help="Yahoo tickers (NVDA, ^NDX) and ccxt pairs (RENDER/USDT, FIL/USDT:USDT, "
             "RENDER/USDT@okx).")] = None,
    universe: Annotated[Optional[str], typer.Option(
        "--universe", help="A named basket instead of symbols: depin.")] = None,
    timeframe: Annotated[str, typer.Option("--timeframe", help="1d, 1h, 15m, ...")] = "1d",
    start: StartOpt = None,
    end: EndOpt = None,
    exchange: Annotated[str, typer.Option(
        "--exchange", help="ccxt exchange for pairs without @exchange.")] = "binance",
    price: Annotated[str, typer.Option(
        "--price", help="last (trade prices) or mark: the perpetual's mark-price bars "
                        "(ccxt fetch_mark_ohlcv), stored as SYMBOL@mark.")] = "last",
    refresh: Annotated[bool, typer.Option(
        "--refresh", help="Download everything again instead of only the missing range.")] = False,
    timeout: Annotated[float, typer.Option(
        "--timeout", help="Seconds one symbol may take in all (requests, retries); a source "
                          "that does not answer in time is not asked for its other symbols.")]
        = 30.0,
    data_dir: DataDirOpt = None,
    fmt: FormatOpt = Format.table,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Download bars into the store: Yahoo Finance for equities, ccxt for crypto pairs.

    Only the range the store lacks is fetched. Perpetuals (BASE/QUOTE:SETTLE) also store
    their funding-rate history. Exits 1 if any symbol failed, after trying them all.

    Example: sitcli data pull NVDA AMD TSM ^NDX --start 2020-01-01
    """
    import sys

    from sitcli.backtest import parse_date
    from sitcli.cli.render import emit
    from sitcli.data.pull import pull_many
    from sitcli.data.pull import universe as basket
    from sitcli.data.store import Store, clean_symbol, default_data_dir, fmt_time
    from sitcli.domains import check_flags
    from sitcli.errors import BadInput, RuntimeFailure

    check_flags(timeout=timeout)
    names = [clean_symbol(n) for n in list(symbols or []) + (basket(universe) if universe else [])]
    if not names:
        raise BadInput("name the symbols to pull, e.g. sitcli data pull NVDA RENDER/USDT, "
                       "or pass --universe depin")
    from sitcli.mark import stored_symbol

    if price == "mark" and any("/" not in n for n in names):
        bad = next(n for n in names if "/" not in n)
        raise BadInput(f"--price mark: {bad} is not a perpetual; mark-price bars come from "
                       "crypto venues through ccxt, e.g. XRP/USDT:USDT")
    names = [stored_symbol(n, price) for n in names]
    lo, hi = parse_date(start, "--start"), parse_date(end, "--end")
    if lo is not None and hi is not None and lo > hi:
        raise BadInput(f"--start {start} is after --end {end}; swap them")
    store = Store(default_data_dir(data_dir))
    if not quiet and sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn

        # one line per symbol: a spinner while it is fetched, a full bar once it is stored
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                      console=Console(stderr=True)) as bar:
            tasks: list = []

            def step(symbol: str) -> None:
                if tasks:
                    bar.update(tasks[-1], completed=1)
                tasks.append(bar.add_task(f"pulling {symbol}", total=1))

            reports = pull_many(store, names, timeframe, lo, hi, refresh, exchange, step,
                                timeout=timeout)
            for task, report in zip(tasks, reports, strict=True):
                bar.update(task, completed=1, description=f"{report.symbol}: "
                           f"{'ok' if report.ok else 'failed'}")
    else:
        reports = pull_many(store, names, timeframe, lo, hi, refresh, exchange,
                            timeout=timeout)
    rows = [{"symbol": r.symbol, "source": r.source, "status": "ok" if r.ok else "failed",
             "new_bars": r.new_bars, "rows": r.rows,
             "first": fmt_time(r.first) if r.first is not None else None,
             "last": fmt_time(r.last) if r.last is not None else None,
             "funding_stamps": r.funding_stamps, "actions": r.actions, "message": r.message}
            for r in reports]
    failed = [r for r in reports if not r.ok]
    if len(failed) < len(reports) or fmt != Format.table:   # all failed: the error line says it
        emit(fmt, {"timeframe": timeframe, "store": str(store.root), "symbols": rows}, rows,
             title=f"pull into {store.root}")
    if failed:
        if len(failed) == 1 and len(reports) == 1:
            raise RuntimeFailure(failed[0].message)
        raise RuntimeFailure(f"{len(failed)} of {len(reports)} symbols failed: "
                             + "; ".join(f"{r.symbol}: {r.message}" for r in failed))


@data_app.command("verify")
def verify(
    symbols: Annotated[Optional[list[str]], typer.Argument(help="Symbols (default: all stored).")] = None,
    timeframe: Annotated[str, typer.Option("--timeframe", help="1d, 1h, ...")] = "1d",
    demo: DemoOpt = False,
    data_dir: DataDirOpt = None,
    fmt: FormatOpt = Format.table,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Check stored bars: damaged files, gaps against the calendar, duplicate or unordered
    stamps, zero or negative prices, high below low, moves that look like an unadjusted split.

    Exit codes: 0 no problems; 1 problems found (each listed, with the file for a damaged
    one); 2 bad usage; 3 a named symbol is not stored.

    Example: sitcli data verify NVDA
    """
    from sitcli.cli.render import emit
    from sitcli.data.store import DamagedFile, check_timeframe, fmt_time
    from sitcli.data.verify import verify_bars
    from sitcli.errors import RuntimeFailure
    from sitcli.instruments import instrument

    check_timeframe(timeframe)
    store = _store(data_dir, demo)
    damaged: list = []
    entries = store.entries(damaged)
    names = symbols or sorted({e["symbol"] for e in entries if e["timeframe"] == timeframe})
    rows = []
    for exc in damaged:
        rows.append({"symbol": exc.path.stem, "source": exc.path.parent.parent.name,
                     "bars": None, "damaged": exc.reason, "path": str(exc.path), "problems": 1})
    for symbol in names:
        try:
            bars = store.read(symbol, timeframe)
        except DamagedFile as exc:
            if not any(r.get("path") == str(exc.path) for r in rows):
                rows.append({"symbol": symbol, "source": exc.path.parent.parent.name,
                             "bars": None, "damaged": exc.reason, "path": str(exc.path),
                             "problems": 1})
            continue
        found = verify_bars(bars, instrument(symbol).calendar, timeframe)
        found["split_like_moves"] = [{"time": t, "ratio": r} for t, r in found["split_like_moves"]]
        rows.append({"symbol": symbol, "source": bars.attrs["sitcli"]["source"], **found,
                     "damaged": None, "path": bars.attrs["sitcli"]["path"]})
    problems = sum(r["problems"] for r in rows)
    if fmt == Format.table:
        _print_verify(rows, timeframe, fmt_time)
    else:
        columns = ["symbol", "source", "bars", "gaps", "gap_examples", "duplicates",
                   "non_positive", "high_below_low", "split_like_moves", "damaged", "problems"]
        table = [{k: ("; ".join(_move_text(x) if isinstance(x, dict) else str(x)
                                for x in v[:3]) if isinstance(v, list) else v)
                  for k, v in r.items()} for r in rows]
        emit(fmt, {"timeframe": timeframe, "problems": problems, "symbols": rows},
             table, columns, title="verify")
    if problems:
        raise RuntimeFailure(f"verify found {problems} problem(s) in "
                             f"{sum(1 for r in rows if r['problems'])} of {len(rows)} file(s)")


def _move_text(move: dict) -> str:
    return f"{move['time'][:10]} x{move['ratio']:.3g}"


def _print_verify(rows: list[dict], timeframe: str, fmt_time) -> None:
    """One readable line per file, then one indented line per kind of problem."""
    for r in rows:
        if r["damaged"]:
            typer.echo(f"{r['symbol']} ({r['source']}): DAMAGED, {r['damaged']} ({r['path']})")
            continue
        status = "ok" if not r["problems"] else f"{r['problems']} problem(s)"
        typer.echo(f"{r['symbol']} {timeframe} ({r['source']}, {r['bars']} bars): {status}")
        details = [
            ("missing bars", r["gaps"], r["gap_examples"]),
            ("duplicate timestamps", len(r["duplicates"]), r["duplicates"]),
            ("timestamps out of order", len(r["non_monotonic"]), r["non_monotonic"]),
            ("bars with a price <= 0", len(r["non_positive"]), r["non_positive"]),
            ("bars with high below low", len(r["high_below_low"]), r["high_below_low"]),
            ("split-like moves", len(r["split_like_moves"]),
             [_move_text(m) for m in r["split_like_moves"]]),
        ]
        for what, count, examples in details:
            if count:
                shown = ", ".join(str(x)[:10] if "x" not in str(x) else str(x)
                                  for x in examples[:3])
                typer.echo(f"  {count} {what}, e.g. {shown}")
        if r.get("wrong_zone"):
            typer.echo(f"  {r['outside_sessions']} of {r['bars']} bars start outside the "
                       "regular sessions: local times stored as UTC? re-import with --tz ZONE "
                       "(e.g. America/New_York)")
        elif r.get("outside_sessions"):
            typer.echo(f"  {r['outside_sessions']} pre- or after-hours bars (kept; daily bars "
                       "and --detail use the regular session)")


import sitcli.cli.resample  # noqa: E402,F401  registers `data resample` on data_app
