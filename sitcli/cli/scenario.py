"""`sitcli scenario`: how likely is liquidation at each leverage and horizon."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from sitcli.cli.options import DataDirOpt, DebugOpt, DemoOpt, Format, FormatOpt, parse_pairs

COLUMNS = {"leverage": "leverage", "horizon": "horizon (bars)",
           "liquidation_price_move_pct": "liq. at move %", "p_liquidation_pct": "P(liq) %",
           "median_bars_to_liquidation": "median bars to liq.",
           "expected_return_on_margin_pct": "mean return on margin %",
           "p99_loss_on_margin_pct": "1% worst return on margin %",
           "worst_gap_loss_pct": "worst gap loss % of margin"}


def scenario(
    symbols: Annotated[Optional[str], typer.Option(
        "--symbols", "-s", help="Comma-separated symbols (default with --demo: the five proxies).")] = None,
    leverage: Annotated[str, typer.Option("--leverage", "-l", help="Leverages.")] = "2,5,10,20,50,100",
    horizon: Annotated[str, typer.Option("--horizon", help="Holding periods in bars.")] = "1,5,20",
    side: Annotated[str, typer.Option("--side", help="long or short.")] = "long",
    venue: Annotated[Optional[str], typer.Option(
        "--venue", help="Venue whose liquidation rule applies (default: each symbol's).")] = None,
    settings: Annotated[Optional[list[str]], typer.Option(
        "--set", help="Override a venue field, e.g. --set closeout_level=0.2.")] = None,
    method: Annotated[str, typer.Option(
        "--method", help="historical (every start bar), bootstrap (block-bootstrapped paths) "
                         "or jump-diffusion (paths from a model fitted to the returns).")]
        = "historical",
    paths: Annotated[int, typer.Option("--paths", help="Simulated paths.")] = 10_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulated paths.")] = 7,
    timeframe: Annotated[str, typer.Option("--timeframe", help="Bar size of the stored data.")] = "1d",
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
    from sitcli.cli.render import emit, print_json, print_table
    from sitcli.data.store import Store, default_data_dir, demo_store
    from sitcli.errors import BadInput
    from sitcli.scenario import parse_positive_list, run

    if symbols is None and not demo:
        raise BadInput("pass --symbols NVDA,RENDER/USDT (stored data) or --demo")
    names = [s.strip() for s in (symbols or "NVDA,AMD,TSM,^NDX,RENDER/USDT").split(",") if s.strip()]
    levs = parse_positive_list(leverage, "--leverage")
    hors = [int(h) for h in parse_positive_list(horizon, "--horizon")]
    if any(h != float(x) for h, x in zip(hors, parse_positive_list(horizon, "--horizon"), strict=True)):
        raise BadInput(f"--horizon {horizon!r}: horizons are whole numbers of bars")
    store = demo_store() if demo else Store(default_data_dir(data_dir))
    result = run(store, names, levs, hors, side, venue, method, timeframe,
                 parse_pairs(settings, "--set", "closeout_level=0.2"), paths, seed)
    payload = {"method": method, "side": side, "timeframe": timeframe,
               "paths": paths if method != "historical" else None,
               "seed": seed if method != "historical" else None,
               "entry": "at each bar's close; liquidation checked on the next bars' opens "
                        "(gaps) and adverse extremes",
               "symbols": result}
    if fmt == Format.json:
        print_json(payload)
        return
    rows = [{"symbol": s, **r} for s, info in result.items() for r in info["rows"]]
    if fmt == Format.csv:
        emit(fmt, payload, rows, ["symbol", *COLUMNS])
        return
    for symbol, info in result.items():
        label = " (SYNTHETIC DEMO DATA)" if info["synthetic"] else ""
        title = (f"{symbol}{label}: {side}, {info['venue']} ({info['margin_mode']}), "
                 f"{info['bars']} bars {info['first']:%Y-%m-%d}..{info['last']:%Y-%m-%d}")
        if "fitted" in info:
            f = info["fitted"]
            title += (f"; fitted per bar: mu {f['mu']:.5f}, sigma {f['sigma']:.4f}, "
                      f"{f['lam']:.4f} jumps of N({f['mu_j']:.3f}, {f['sigma_j']:.3f})")
        print_table([{COLUMNS[k]: r[k] for k in COLUMNS} for r in info["rows"]], title=title,
                    digits=2)


def register(app: typer.Typer) -> None:
    app.command("scenario")(scenario)
