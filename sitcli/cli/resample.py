"""`sitcli data resample`: coarse bars built from stored finer ones, on the session calendar."""

from __future__ import annotations

from typing import Annotated

import typer

from sitcli.cli.data import data_app
from sitcli.cli.options import DataDirOpt, DebugOpt, Format, FormatOpt, QuietOpt
from sitcli.cli.render import print_csv, print_json, print_pairs


@data_app.command("resample")
def resample(
    symbol: Annotated[str, typer.Option("--symbol", "-s", help="Stored symbol, e.g. NVDA.",
                                        show_default=False)],
    source_tf: Annotated[str, typer.Option("--from", help="Stored bar size to build from, "
                                           "e.g. 1h or 1m.", show_default=False)],
    timeframe: Annotated[str, typer.Option("--timeframe", "-t", help="Bar size to build, "
                                           "e.g. 1d.")] = "1d",
    source: Annotated[str, typer.Option("--source", help="Source name the built bars are "
                                        "stored under.")] = "resampled",
    data_dir: DataDirOpt = None,
    fmt: FormatOpt = Format.table,
    quiet: QuietOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Build coarse bars from stored finer bars and store them.

    Daily bars of exchange-traded symbols are their regular session's finer bars (exchange
    calendar); pre- and after-hours bars are left out. Crypto and other 24/7 symbols use UTC
    days. Bars with no finer bar are left out.

    Example: sitcli data resample --symbol BTC/USDT --from 1m --timeframe 1d
    """
    from sitcli import instruments as inst_mod
    from sitcli.bars import resample_sessions
    from sitcli.data.store import Store, default_data_dir, fmt_time

    store = Store(default_data_dir(data_dir))
    fine = store.read(symbol, source_tf)
    meta = fine.attrs.get("sitcli", {})
    bars = resample_sessions(fine, inst_mod.instrument(symbol), timeframe, source_tf)
    path = store.write(bars, source=source, symbol=symbol, timeframe=timeframe,
                       synthetic=bool(meta.get("synthetic")),
                       note=f"resampled from {len(fine):,} {source_tf} bars "
                            f"({meta.get('source', '?')})")
    payload = {"symbol": symbol, "timeframe": timeframe, "from": source_tf,
               "fine_bars": len(fine), "bars": len(bars), "first": bars.index[0],
               "last": bars.index[-1], "path": str(path)}
    if fmt == Format.json:
        print_json(payload)
    elif fmt == Format.csv:
        print_csv([payload])
    elif not quiet:
        print_pairs({**payload, "first": fmt_time(payload["first"]),
                     "last": fmt_time(payload["last"])}, title=f"resampled {symbol}")
