"""`sitcli scenario`: how likely is liquidation at each leverage and horizon."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sitcli.cli.options import (
    DataDirOpt,
    DebugOpt,
    DemoOpt,
    Format,
    FormatOpt,
    SaveOpt,
    ScenarioMethod,
    Side,
    parse_pairs,
    value,
)

COLUMNS = {"leverage": "leverage", "above_venue_cap": "above cap", "horizon": "horizon (bars)",
           "liquidation_price_move_pct": "liq. at move %", "p_liquidation_pct": "P(liq) %",
           "median_bars_to_liquidation": "median bars to liq.",
           "carry_per_bar_pct_of_margin": "carry %/bar of margin",
           "expected_return_on_margin_pct": "mean return on margin %",
           "p99_loss_on_margin_pct": "1% worst return on margin %",
           "worst_gap_loss_pct": "worst gap loss % of margin"}
DETAIL_COLUMNS = {"p_liquidation_pct_plain": "P(liq) bar rule %",
                  "starts_changed": "starts changed"}


def scenario(
    symbols: Annotated[Optional[str], typer.Option(
        "--symbols", "-s", help="Comma-separated symbols (default with --demo: the five proxies).")] = None,
    leverage: Annotated[str, typer.Option("--leverage", "-l", help="Leverages.")] = "2,5,10,20,50,100",
    horizon: Annotated[str, typer.Option("--horizon", help="Holding periods in bars.")] = "1,5,20",
    side: Annotated[Side, typer.Option("--side", case_sensitive=False,
                                       help="long or short.")] = Side.long,
    venue: Annotated[Optional[str], typer.Option(
        "--venue", help="Venue whose liquidation rule applies (default: each symbol's).")] = None,
    settings: Annotated[Optional[list[str]], typer.Option(
        "--set", help="Override a venue field, e.g. --set closeout_level=0.2.")] = None,
    method: Annotated[ScenarioMethod, typer.Option(
        "--method", case_sensitive=False,
        help="historical (every start bar), bootstrap (block-bootstrapped paths) "
                         "or jump-diffusion (paths from a model fitted to the returns).")]
        = ScenarioMethod.historical,
    paths: Annotated[int, typer.Option("--paths", help="Simulated paths.")] = 10_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulated paths.")] = 7,
    timeframe: Annotated[str, typer.Option("--timeframe", help="Bar size of the stored data.")] = "1d",
    compare_venues: Annotated[bool, typer.Option(
        "--compare-venues", help="The same trade under perp-isolated, cfd-offshore and "
                                 "cfd-retail, side by side.")] = False,
    at_events: Annotated[bool, typer.Option(
        "--at-events", help="Start only at the bar before each catalyst (historical).")] = False,
    events_files: Annotated[Optional[list[Path]], typer.Option(
        "--events", help="Your own catalysts CSV, added to the calendar (repeatable).")] = None,
    cash: Annotated[float, typer.Option(
        "--cash", help="The account each position opens from, as in backtest (its size picks "
                       "the maintenance bracket).")] = 10_000.0,
    detail: Annotated[Optional[str], typer.Option(
        "--detail", help="Walk these stored finer bars (e.g. 1h, 5m) inside each bar, in order, "
                         "to find the first touch of the liquidation price (--method "
                         "historical).")] = None,
    plot: Annotated[Optional[Path], typer.Option(
        "--plot", help="Write a heatmap of P(liquidation) and the loss distribution: "
                       "FILE.png (plus the interactive FILE.html beside it) or FILE.html.")]
        = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="Write scenario.json (what --format json prints) and the run's "
                      "manifest run.json into this directory.")] = None,
    save: SaveOpt = False,
    demo: DemoOpt = False,
    data_dir: DataDirOpt = None,
    fmt: FormatOpt = Format.table,
    debug: DebugOpt = False,
) -> None:
    """Probability of liquidation within each horizon, per symbol and leverage, with the
    return on margin and the worst gap through the liquidation price.

    Every bar of the stored data is a start: a position opened at its close is followed over
    the next bars with the venue's liquidation price (gaps fill at the open).

    Example: sitcli scenario --demo --leverage 10,20,50 --horizon 1,5
    """
    import sys

    from sitcli.cli.render import emit, print_json, print_table
    from sitcli.data.store import Store, default_data_dir, demo_store, synthetic_label
    from sitcli.errors import BadInput
    from sitcli.scenario import parse_positive_list, run

    side, method = value(side), value(method)
    if symbols is None and not demo:
        raise BadInput("pass --symbols NVDA,RENDER/USDT (stored data) or --demo")
    if out is not None and out.exists() and not out.is_dir():
        raise BadInput(f"--out {out}: exists and is not a directory; give a directory path")
    if plot is not None and plot.suffix.lower() not in (".png", ".html", ".htm"):
        raise BadInput(f"--plot {plot}: use a .png or .html file name")
    names = [s.strip() for s in (symbols or "NVDA,AMD,TSM,^NDX,RENDER/USDT").split(",") if s.strip()]
    levs = parse_positive_list(leverage, "--leverage")
    hors = [int(h) for h in parse_positive_list(horizon, "--horizon")]
    if any(h != float(x) for h, x in zip(hors, parse_positive_list(horizon, "--horizon"), strict=True)):
        raise BadInput(f"--horizon {horizon!r}: horizons are whole numbers of bars")
    store = demo_store() if demo else Store(default_data_dir(data_dir))
    events = None
    if at_events:
        from sitcli.events import load_events

        events = load_events(events_files)
    overrides = parse_pairs(settings, "--set", "closeout_level=0.2")
    if method != "historical" and sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        with Progress(TextColumn("simulating paths"), BarColumn(), MofNCompleteColumn(),
                      console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("paths", total=paths)
            result = run(store, names, levs, hors, side, venue, method, timeframe, overrides,
                         paths, seed, compare_venues, events,
                         progress=lambda done, total: bar.update(task, completed=done),
                         cash=cash, detail=detail)
    else:
        result = run(store, names, levs, hors, side, venue, method, timeframe, overrides, paths,
                     seed, compare_venues, events, cash=cash, detail=detail)
    if plot is not None:
        from sitcli.plots import scenario_plot

        scenario_plot(plot, result, f"sitcli scenario: {side}, {method}", with_html=True)
    for info in result.values():
        for row in info["rows"]:
            row.pop("returns")
    payload = {"method": method, "side": side, "timeframe": timeframe,
               "paths": paths if method != "historical" else None,
               "seed": seed if method != "historical" else None,
               "entry": "at each bar's close; liquidation checked on the next bars' opens "
                        "(gaps) and adverse extremes",
               "position": f"opened from an account of {cash:,.0f} as backtest opens it (entry "
                           "fee on top of the margin, notional cut to the brackets)",
               "liquidation": "perpetuals close at the bankruptcy price (the whole margin is "
                              "lost); CFD close-outs keep the equity left",
               "symbols": result}
    if detail is not None:
        payload["detail"] = (f"{detail} bars walked in order inside each bar that has them; "
                             "the bar rule elsewhere")
    from sitcli.config import record

    record(payload)
    if out is not None or save:
        _save(out, save, payload, store, data_dir)
    if fmt == Format.json:
        print_json(payload)
        return
    columns = {**COLUMNS, **(DETAIL_COLUMNS if detail is not None else {})}
    rows = [{"symbol": info["symbol"], "venue": info["venue"], **r} for info in result.values()
            for r in info["rows"]]
    if fmt == Format.csv:
        emit(fmt, payload, rows, ["symbol", "venue", *columns])
        return
    for info in result.values():
        label = f" ({synthetic_label([info['source']])})" if info["synthetic"] else ""
        title = (f"{info['symbol']}{label}: {side}, {info['venue']} ({info['margin_mode']}, "
                 f"cap {info['venue_leverage_cap']:g}x"
                 + (f", tiers {info['tiers']}" if info["tiers"] else "")
                 + f"), {info['bars']} bars "
                 f"{info['first']:%Y-%m-%d}..{info['last']:%Y-%m-%d}, starts: {info['starts']}, "
                 f"account {info['cash']:,.0f}")
        if "fitted" in info:
            f = info["fitted"]
            title += (f"; fitted per bar: mu {f['mu']:.5f}, sigma {f['sigma']:.4f}, "
                      f"{f['lam']:.4f} jumps of N({f['mu_j']:.3f}, {f['sigma_j']:.3f})")
        print_table([{columns[k]: ("yes" if r[k] else "no") if k == "above_venue_cap" else r[k]
                      for k in columns} for r in info["rows"]], title=title, digits=2)
        if "detail" in info:
            print(detail_line(info))
        if info.get("liquidation_price_basis"):
            print(f"liquidation on {info['liquidation_price_basis']}")
        if info["sample_warning"]:
            print(f"warning: {info['sample_warning']}")
        for text in info["above_cap"]:
            print(f"above cap: {text}; computed as if {info['venue']} allowed it")


def detail_line(info: dict) -> str:
    d = info["detail"]
    return (f"detail {d['timeframe']}: {d['bars_with_detail']:,} of {info['bars']:,} bars have "
            f"finer bars (the others keep the bar rule)"
            + (f"; {d['fine_bars_outside_sessions']:,} {d['timeframe']} bars lie outside the "
               "sessions (not walked)" if d["fine_bars_outside_sessions"] else ""))


def _save(out, save: bool, payload: dict, store, data_dir) -> None:
    """scenario.json and the run's manifest (`sitcli.runs`) in --out DIR or a --save folder."""
    import json

    from sitcli import runs
    from sitcli.cli.render import _plain, note
    from sitcli.data.store import default_data_dir
    from sitcli.files import atomic_write, environment_error

    run_id = None
    if out is None:
        run_id, out = runs.save_dir(default_data_dir(data_dir), "scenario")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise environment_error(exc, "create the output directory", out) from None
    text = json.dumps(_plain(payload), indent=2, allow_nan=False) + "\n"
    atomic_write(out / "scenario.json", lambda p: p.write_text(text))
    rows = [{"symbol": info["symbol"], "venue": info["venue"],
             **{k: r[k] for k in ("leverage", "horizon", *COLUMNS) if k in r}}
            for info in payload["symbols"].values() for r in info["rows"]]
    runs.write_manifest(out, command="scenario", store_root=store.root,
                        outputs=[out / "scenario.json"], results={"rows": rows},
                        argv=list(runs.ARGV), run_id=run_id, data_dir=default_data_dir(data_dir))
    note(f"wrote scenario.json and run.json to {out}")


def register(app: typer.Typer) -> None:
    app.command("scenario")(scenario)
