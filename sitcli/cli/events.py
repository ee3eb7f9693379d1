"""`sitcli events list|study`: the catalyst calendar and event studies around it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sitcli.cli.options import DataDirOpt, DebugOpt, DemoOpt, Format, FormatOpt, QuietOpt

DEMO_SYMBOLS = "NVDA,RENDER/USDT"

events_app = typer.Typer(help="The catalyst calendar and event studies around it.",
                         no_args_is_help=True, rich_markup_mode=None)

EventsOpt = Annotated[Optional[list[Path]], typer.Option(
    "--events", help="Extra catalyst CSV with the built-in's header "
                     "(time,title,category,direction,status,asset_classes,symbols,reach,source); "
                     "symbols names the tickers an event is about, reach is symbols (only them) "
                     "or asset_class (also every instrument of its asset classes); repeatable.")]
SinceOpt = Annotated[Optional[str], typer.Option(
    "--since", help="Only events at or after this date, YYYY-MM-DD (UTC).")]
CategoryOpt = Annotated[Optional[str], typer.Option(
    "--category", "-c", help="Only events of this category (comma-separated for several), "
                             "e.g. earnings, model-launch, export-control.")]

LIST_COLUMNS = ("time", "status", "direction", "category", "about", "title", "source")


def _load(events_files, since, category, asset_class=None):
    from sitcli.events import filter_events, load_events

    frame = load_events(events_files)
    return frame, filter_events(frame, since=since, category=category, asset_class=asset_class)


def _about_words(row) -> str:
    """NVDA;AMD, or `all equity;index` (plus any named symbols) for an asset-class reach, `all
    semiconductors` for a sector reach."""
    if row["reach"] == "symbols":
        return row["symbols"]
    everyone = row.get("sectors") if row["reach"] == "sector" else row["asset_classes"]
    return ";".join(filter(None, [row["symbols"], f"all {everyone}"]))


def _iso(ts) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


@events_app.command("list")
def list_events(
    since: SinceOpt = None,
    category: CategoryOpt = None,
    asset_class: Annotated[Optional[str], typer.Option(
        "--asset-class", help="Only events listing this asset class: equity, index, crypto or "
                              "synthetic.")] = None,
    events_files: EventsOpt = None,
    fmt: FormatOpt = Format.table,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """The catalyst calendar (built-in plus --events files), oldest first.

    CSV output has the calendar's own header, so it can be edited and passed back with --events.

    Example: sitcli events list --since 2025-01-01 --category earnings
    """
    from sitcli.cli.render import note, print_csv, print_json

    frame, rows = _load(events_files, since, category, asset_class)
    records = [{**r, "time": _iso(r["time"]), "direction": int(r["direction"])}
               for r in rows.to_dict("records")]
    if fmt == Format.json:
        print_json({"count": len(records), "calendar_rows": len(frame),
                    "filters": {"since": since, "category": category, "asset_class": asset_class},
                    "files": ["catalysts.csv (built-in)", *map(str, events_files or [])],
                    "events": records})
    elif fmt == Format.csv:
        from sitcli.events import COLUMNS, OPTIONAL_COLUMNS

        # the optional sectors column only when a row uses it: the file stays the user's own
        print_csv(records, COLUMNS + (OPTIONAL_COLUMNS if any(r.get("sectors") for r in records)
                                      else ()))
    else:
        shown = [{**r, "time": r["time"][:16].replace("T", " "),
                  "direction": {1: "up", -1: "down", 0: "-"}[r["direction"]],
                  "about": _about_words(r)} for r in records]
        _print_text_table(shown, LIST_COLUMNS,
                          title=f"Catalyst calendar: {len(records)} of {len(frame)} events (UTC)")
    if not records:
        note("no events match the filters", quiet)


def _print_text_table(rows, columns, title):
    """A rich table with text columns left-aligned (render.print_table right-aligns them)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in columns:
        wide = col in ("title", "source")
        table.add_column(col, justify="left", overflow="fold", no_wrap=not wide,
                         ratio=(3 if col == "title" else 2) if wide else None)
    for row in rows:
        table.add_row(*[str(row.get(c, "")) for c in columns])
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    console.print(table)


@events_app.command("study")
def study(
    symbols: Annotated[Optional[str], typer.Option(
        "--symbols", "-s", help=f"Comma-separated symbols (default with --demo: {DEMO_SYMBOLS}).")] = None,
    window: Annotated[str, typer.Option(
        "--window", "-w", help="Bars around the event bar, 'a,b' with a <= 0 <= b; write "
                               "--window=-5,10 (offset 0 = first bar opening at or after the event).")]
    = "-5,10",
    category: CategoryOpt = None,
    since: SinceOpt = None,
    leverages: Annotated[str, typer.Option(
        "--leverages", help="Leverages for the liquidation-before-gain share.")] = "10,20,50",
    gain_pct: Annotated[float, typer.Option(
        "--gain-pct", help="The gain [%] a long must reach before its liquidation price.")] = 3.0,
    timeframe: Annotated[str, typer.Option("--timeframe", help="Bar size of the stored data.")] = "1d",
    benchmark: Annotated[Optional[str], typer.Option(
        "--benchmark", help="Also abnormal returns against this symbol's stored closes (market "
                            "model per event), e.g. --benchmark ^NDX.")] = None,
    estimation: Annotated[int, typer.Option(
        "--estimation", help="Bars before the window that fit each event's market model.")] = 120,
    detail: Annotated[Optional[str], typer.Option(
        "--detail", help="Walk these stored finer bars (e.g. 1h, 5m) inside each bar to order "
                         "the liquidation and the gain.")] = None,
    demo: DemoOpt = False,
    data_dir: DataDirOpt = None,
    events_files: EventsOpt = None,
    fmt: FormatOpt = Format.table,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Event study: returns around each catalyst, MAE/MFE of a long at the event bar's open, and
    how often 10x/20x/50x longs were liquidated before gaining 3%.

    Example: sitcli events study --demo --symbols NVDA,RENDER/USDT --window=-5,10 --category earnings
    """
    from sitcli.cli.render import note, print_csv, print_json, print_pairs, print_table
    from sitcli.data.store import Store, default_data_dir, demo_store
    from sitcli.errors import BadInput
    from sitcli.eventstudy import parse_leverages, parse_window, run_study

    if symbols is None and not demo:
        raise BadInput("pass --symbols NVDA,RENDER/USDT (stored data) or --demo (embedded demo data)")
    if estimation < 10:
        raise BadInput(f"--estimation {estimation}: at least 10 bars to fit a market model, e.g. 120")
    win = parse_window(window)
    levs = parse_leverages(leverages)
    names = [s.strip() for s in (symbols or DEMO_SYMBOLS).split(",") if s.strip()]
    _, events = _load(events_files, since, category)
    store = demo_store() if demo else Store(default_data_dir(data_dir))
    filters = {"category": category, "since": since,
               "files": [str(p) for p in events_files or []] or None}
    result = run_study(store, names, events, win, timeframe, levs, gain_pct / 100.0, filters,
                       benchmark, estimation, detail)
    synthetic = any(r["synthetic"] for r in result["symbols"].values())
    if fmt == Format.json:
        print_json(result)
        return
    if fmt == Format.csv:
        if synthetic:
            note("synthetic demo data: generated prices, not market history", quiet)
        print_csv([{"symbol": s, **row} for s, r in result["symbols"].items() for row in r["offsets"]],
                  ["symbol", "offset", "events", "mean_simple_pct", "median_simple_pct",
                   "mean_log_pct", "median_log_pct"])
        return
    if synthetic:
        typer.echo("SYNTHETIC DEMO DATA: generated prices, not market history.")
    a = result["assumptions"]
    print_pairs({
        "data": "; ".join(f"{s} {r['first']:%Y-%m-%d}..{r['last']:%Y-%m-%d} ({r['bars']} bars, "
                          f"{r['source']}, {r['asset_class']})" for s, r in result["symbols"].items()),
        "events": f"{a['events']['matching']} matching (category {category or 'any'}, since "
                  f"{since or 'any'})",
        "window": f"offsets {win.pre}..{win.post} around the event bar",
        "event bar": a["event_bar"], "returns": a["returns"], "entry": a["entry"],
        "liquidation": a["liquidation"], "same bar": a["same_bar"],
    }, title="Event study")
    for s, r in result["symbols"].items():
        print_table([{"offset": row["offset"], "mean %": row["mean_simple_pct"],
                      "median %": row["median_simple_pct"], "mean log %": row["mean_log_pct"],
                      "median log %": row["median_log_pct"]} for row in r["offsets"]],
                    title=f"{s}: cumulative return from the close before the event bar "
                          f"({r['events_used']} events)", digits=2)
    print_table(_summary_rows(result, gain_pct), ["stat", *result["symbols"]],
                title="Summary per symbol", digits=2)
    for s, r in result["symbols"].items():
        if "abnormal" in r:
            _print_abnormal(s, r["abnormal"], benchmark)
        if "detail" in r:
            d = r["detail"]
            typer.echo(f"detail {d['timeframe']}: {s}: covered {d['bars_walked_with_detail']:,} "
                       f"of {d['bars_walked']:,} bars walked; outcomes changed against the bar "
                       "rule: " + ", ".join(f"{x['leverage']:g}x {x['outcomes_changed']}"
                                            for x in r["liquidation"]))
        if r["sample_warning"]:
            typer.echo(f"warning: {s}: only {r['events_used']} events behind these figures "
                       "(fewer than 10): read them as anecdotes, not statistics")


def _print_abnormal(symbol: str, ab: dict, benchmark: str) -> None:
    """Abnormal-return tables; figures from fewer than 10 events are marked with *."""
    from sitcli.cli.render import print_table

    def row(first: dict, g: dict) -> dict:
        mark = " *" if g["sample_warning"] else ""
        share = None if g["share_positive"] is None else 100 * g["share_positive"]
        return {**first, "events": f"{g['events']}{mark}", "mean CAR %": g["mean_car_pct"],
                "t": g["t_stat"], "CAR > 0 [%]": share}

    print_table([row({"offset": x["offset"]}, x) for x in ab["offsets"]],
                title=f"{symbol}: cumulative abnormal return vs {benchmark} (market model on "
                      f"{ab['estimation_bars']} bars; {ab['events_used']} events)", digits=2)
    print_table([row({"events by expected direction": k}, g) for k, g in ab["at_last_offset"].items()],
                title=f"{symbol}: CAR at the last offset, by the event's expected direction", digits=2)
    if any(g["sample_warning"] for g in ab["at_last_offset"].values()):
        typer.echo("* fewer than 10 events behind the figure: too few to tell news from noise")


def _summary_rows(result: dict, gain_pct: float) -> list[dict]:
    syms = result["symbols"]
    rows = [
        {"stat": "events about the symbol", **{s: r["events_relevant"] for s, r in syms.items()}},
        {"stat": "events used", **{s: r["events_used"] for s, r in syms.items()}},
        {"stat": "skipped: outside the data", **{s: r["skipped"]["outside_data"] for s, r in syms.items()}},
        {"stat": "skipped: window outside the data",
         **{s: r["skipped"]["window_outside_data"] for s, r in syms.items()}},
        {"stat": "skipped: same bar as an earlier event",
         **{s: r["skipped"]["same_bar"] for s, r in syms.items()}},
    ]
    for key, label in (("mae_pct", "MAE"), ("mfe_pct", "MFE")):
        for stat in ("mean", "median", "p10", "p90"):
            rows.append({"stat": f"{label} {stat} [%]", **{s: r[key][stat] for s, r in syms.items()}})
    levs = [x["leverage"] for x in next(iter(syms.values()))["liquidation"]]
    for i, lev in enumerate(levs):
        rows.append({"stat": f"liquidated before +{gain_pct:g}% at {lev:g}x [% of events]",
                     **{s: _share_pct(r["liquidation"][i]["liquidated_before_gain_share"])
                        for s, r in syms.items()}})
        if all("detail" in r for r in syms.values()):
            rows.append({"stat": f"  bar rule, at {lev:g}x [% of events]",
                         **{s: _share_pct(r["liquidation"][i]["liquidated_before_gain_bar_rule"]
                                          / r["events_used"]) if r["events_used"] else None
                            for s, r in syms.items()}})
    return rows


def _share_pct(x):
    return None if x is None else 100.0 * x


def register(app: typer.Typer) -> None:
    app.add_typer(events_app, name="events")
