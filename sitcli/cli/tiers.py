"""`sitcli data tiers show|pull`: each symbol's maintenance tiers, shipped and pulled."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from sitcli.cli.options import DataDirOpt, DebugOpt, Format, FormatOpt

HELP = "Maintenance tiers per venue and symbol: show the brackets a position uses, pull newer ones."

tiers_app = typer.Typer(help=HELP, no_args_is_help=True, add_completion=False,
                        pretty_exceptions_enable=False, rich_markup_mode=None)


@tiers_app.command("show")
def show(
    symbol: Annotated[str, typer.Argument(help="e.g. RENDER, RENDER/USDT:USDT, BTC.",
                                          show_default=False)],
    venue: Annotated[Optional[str], typer.Option(
        "--venue", help="Venue preset (default: the symbol's own, e.g. perp-isolated).")] = None,
    date: Annotated[Optional[str], typer.Option(
        "--date", help="Use the snapshot nearest this date, YYYY-MM-DD (default: today).")] = None,
    data_dir: DataDirOpt = None,
    fmt: FormatOpt = Format.table,
    debug: DebugOpt = False,
) -> None:
    """The maintenance brackets a position in SYMBOL uses: the snapshot nearest --date.

    Example: sitcli data tiers show RENDER --date 2024-08-01
    """
    from sitcli.backtest import parse_date
    from sitcli.cli.render import emit
    from sitcli.data.store import default_data_dir
    from sitcli.errors import BadInput
    from sitcli.tiers import venue_for

    when = parse_date(date, "--date")
    v = venue_for(symbol, venue, None, when, default_data_dir(data_dir))
    if v.margin_mode == "account":
        raise BadInput(f"{v.name} margins {symbol} by its account close-out rule, not by "
                       "maintenance tiers; pass a perpetual --venue, e.g. perp-isolated")
    t = v.tiers
    rows = [{"tier": j + 1, "notional_from": t.floor[j],
             "notional_to": t.floor[j + 1] if j + 1 < len(t.floor) else None,
             "maintenance_rate": t.mmr[j], "maintenance_amount": t.cum[j],
             "max_leverage": t.max_leverage[j]} for j in range(len(t.floor))]
    emit(fmt, {"symbol": symbol, "venue": v.name, "tiers": t.name, "rows": rows}, rows,
         title=f"{symbol} on {v.name}: {t.name}")


@tiers_app.command("pull")
def pull(
    exchange: Annotated[str, typer.Option("--exchange", help="ccxt exchange id.")] = "binance",
    data_dir: DataDirOpt = None,
    fmt: FormatOpt = Format.table,
    debug: DebugOpt = False,
) -> None:
    """Download the exchange's current tier table (ccxt fetch_leverage_tiers) as today's
    snapshot in the data directory; backtests near today then use it.

    Binance answers only signed requests: set SITCLI_CCXT_API_KEY and SITCLI_CCXT_SECRET.

    Example: sitcli data tiers pull --exchange binance
    """
    from sitcli.cli.render import emit
    from sitcli.data.store import default_data_dir
    from sitcli.tiers import pull as pull_tiers

    path, n = pull_tiers(exchange, default_data_dir(data_dir))
    row = {"exchange": exchange, "symbols": n, "file": str(path)}
    emit(fmt, row, [row], title="tiers pulled")


def register(app: typer.Typer) -> None:
    app.add_typer(tiers_app, name="tiers", help=HELP)
