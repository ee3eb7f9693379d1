"""`sitcli report daily`: the scheduled signal report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sitcli.cli.options import DataDirOpt, DebugOpt, DemoOpt, QuietOpt

report_app = typer.Typer(help="Scheduled signal reports (JSON, Markdown, HTML).",
                         no_args_is_help=True, rich_markup_mode=None)

DEMO_SYMBOLS = "NVDA,AMD,TSM,^NDX,RENDER/USDT,SIT"


@report_app.command("daily")
def daily(
    strategies: Annotated[Optional[list[str]], typer.Option(
        "--strategy", help="Strategy name or .py file (repeatable; default catalyst_momentum).")]
        = None,
    symbols: Annotated[Optional[str], typer.Option(
        "--symbols", "-s", help=f"Comma-separated symbols (default with --demo: {DEMO_SYMBOLS}).")]
        = None,
    asof: Annotated[Optional[str], typer.Option(
        "--asof", help="Report as of the end of this day, YYYY-MM-DD (UTC), from stored data "
                       "only: reproducible. Default: today, with the bars closed by now.")] = None,
    pull: Annotated[bool, typer.Option(
        "--pull", help="Pull the symbols' latest bars first. A failed pull is recorded in the "
                       "report; only data older than --max-age makes the run exit 3.")] = False,
    leverage: Annotated[Optional[float], typer.Option(
        "--leverage", "-l", help="Leverage (default: each venue's default). Above a venue's "
                                 "cap it is refused, as in backtest, unless --allow-above-cap.")]
        = None,
    allow_above_cap: Annotated[bool, typer.Option(
        "--allow-above-cap", help="Allow leverage above the venue's cap.")] = False,
    strategy_timeout: Annotated[float, typer.Option(
        "--strategy-timeout", help="Stop a strategy call that runs longer than this many "
                                   "seconds; that symbol is marked error.")] = 120.0,
    timeout: Annotated[float, typer.Option(
        "--timeout", help="With --pull: seconds one symbol's pull may take in all.")] = 30.0,
    risk_budget: Annotated[float, typer.Option(
        "--risk-budget", help="Margin per position, the most it can lose to a liquidation; "
                              "notional = budget x leverage.")] = 1000.0,
    max_age: Annotated[Optional[str], typer.Option(
        "--max-age", help="Data older than this is stale (exit 3), e.g. 36h or 3d. Default: two "
                          "bars, plus 3 days for symbols that trade in sessions.")] = None,
    venue: Annotated[Optional[str], typer.Option(
        "--venue", help="Venue for every symbol (default: each instrument's).")] = None,
    lookback_days: Annotated[int, typer.Option(
        "--lookback-days", help="Days of history the strategy's backtest covers.")] = 365,
    timeframe: Annotated[str, typer.Option("--timeframe", help="Bar size of the stored data.")] = "1d",
    formats: Annotated[Optional[list[str]], typer.Option(
        "--format", "-f", help="json, md and/or html (repeatable or comma-separated; default all "
                               "three).")] = None,
    out: Annotated[Optional[str], typer.Option(
        "--out", help="Directory for YYYY-MM-DD.<format> files (replaced when re-run), or - to "
                      "print one format to stdout.")] = None,
    events_files: Annotated[Optional[list[Path]], typer.Option(
        "--events", help="Your own catalysts CSV, added to the built-in calendar (repeatable).")]
        = None,
    notify: Annotated[Optional[list[str]], typer.Option(
        "--notify", help="Send a short message to this apprise URL (json://host/path, "
                         "mailto://..., slack://..., tgram://...; repeatable) when there are "
                         "entry signals or stale data. Needs pip install 'sitcli[notify]'. A "
                         "failed send is a warning; the report and exit code stay.")] = None,
    demo: DemoOpt = False,
    data_dir: DataDirOpt = None,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Today's signals per symbol and strategy: reason, size, liquidation, carry, catalysts.

    Exit codes: 0 report written (a failed pull whose stored bars are still fresh is listed
    as a warning); 3 report written but a symbol's data is stale (older than --max-age) or
    missing; 1 report written but a symbol could not be reported (status error: a damaged
    file, a failing or hanging strategy), or nothing could be written; 2 bad usage. Every
    symbol is in the report, marked with its status.

    Example: sitcli report daily --demo --asof 2025-11-24 --format md --out reports/
    """
    import sys

    import pandas as pd

    from sitcli.cli.options import check_demo_or_data_dir
    from sitcli.cli.render import note
    from sitcli.data.store import Store, clean_symbol, default_data_dir, demo_store
    from sitcli.domains import check_flags
    from sitcli.errors import BadInput, DataMissing, RuntimeFailure
    from sitcli.events import load_events
    from sitcli.report import FORMATS, ReportConfig, build_report, to_json, write_report
    from sitcli.strategy import time_limit

    if out is None:
        raise BadInput("--out DIR is required (files DIR/YYYY-MM-DD.json, .md, .html), or --out - "
                       "for stdout")
    wanted = [f.strip().lower() for item in (formats or list(FORMATS)) for f in item.split(",")
              if f.strip()]
    bad = [f for f in wanted if f not in FORMATS]
    if bad or not wanted:
        raise BadInput(f"--format {','.join(bad) or '(empty)'}: use json, md or html")
    wanted = list(dict.fromkeys(wanted))
    if out == "-" and len(wanted) != 1:
        raise BadInput("--out - prints one format to stdout; pass exactly one --format")
    if out != "-" and Path(out).exists() and not Path(out).is_dir():
        raise BadInput(f"--out {out}: exists and is not a directory; give a directory path")
    if symbols is None and not demo:
        raise BadInput("pass --symbols NVDA,AMD (stored data) or --demo (embedded demo data)")
    if pull and demo:
        raise BadInput("--pull writes to your data store; the demo data is read-only, drop one")
    check_flags(leverage=leverage, risk_budget=risk_budget, lookback_days=lookback_days,
                strategy_timeout=strategy_timeout, timeout=timeout)
    check_demo_or_data_dir(demo, data_dir)
    if notify:
        from sitcli.notify import check_urls

        check_urls(notify)
    names = [clean_symbol(s) for s in (symbols or DEMO_SYMBOLS).split(",") if s.strip()]
    store = demo_store() if demo else Store(default_data_dir(data_dir))
    pulled = []
    if pull:
        from sitcli.data.pull import pull_many

        pulled = pull_many(store, names, timeframe, timeout=timeout)
        for p in pulled:
            if not p.ok:
                note(f"pull failed for {p.symbol}: {p.message}", quiet)
    cfg = ReportConfig(strategies=list(strategies or ["catalyst_momentum"]), symbols=names,
                       asof=asof, timeframe=timeframe, leverage=leverage, risk_budget=risk_budget,
                       max_age=max_age, lookback_days=lookback_days, venue=venue, pull=pulled,
                       allow_above_cap=allow_above_cap)
    now = pd.Timestamp.now(tz="UTC")
    with time_limit(strategy_timeout):
        report = build_report(cfg, store, load_events(events_files), now)
    if out == "-":
        from sitcli.report import RENDERERS

        sys.stdout.write(RENDERERS[wanted[0]](report) if wanted[0] != "json" else to_json(report))
    else:
        paths = write_report(report, Path(out), wanted)
        note(f"wrote {', '.join(str(p) for p in paths)} (generated {now:%Y-%m-%d %H:%M:%S} UTC)",
             quiet)
    if notify:
        from sitcli.notify import message, send

        text = message(report.data, None if out == "-" else [str(p) for p in paths])
        if text is None:
            note("nothing to notify: no entry signal and all data fresh", quiet)
        elif not send(notify, *text):
            note(f"notified {len(notify)} URL(s)", quiet)
    if report.problems:
        where = "printed" if out == "-" else "written"
        listing = "; ".join(f"{s['symbol']} {s['status']}" for s in report.problems)
        if report.exit_code == 1:
            raise RuntimeFailure(f"report {where} with errors: {listing}; see the report's "
                                 "problems list")
        raise DataMissing(f"report {where} with problems: {listing}; see the report's problems "
                          "list, then pull or import the data")


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
