"""`sitcli liquidation`: one position's liquidation price and return on margin per move."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from sitcli.cli.options import (
    DataDirOpt,
    DebugOpt,
    DemoOpt,
    Format,
    FormatOpt,
    Side,
    parse_pairs,
    value,
)


def liquidation(
    leverage: Annotated[float, typer.Option("--leverage", "-l", help="Leverage, e.g. 50.")],
    side: Annotated[Side, typer.Option("--side", case_sensitive=False,
                                       help="long or short.")] = Side.long,
    entry: Annotated[Optional[float], typer.Option("--entry", help="Entry price.")] = None,
    symbol: Annotated[Optional[str], typer.Option(
        "--symbol", help="Take the entry from this symbol's last stored close.")] = None,
    qty: Annotated[Optional[float], typer.Option(
        "--qty", help="Quantity (default: from --margin, else from --cash).")] = None,
    margin: Annotated[Optional[float], typer.Option(
        "--margin", help="Wallet balance behind the position (default: the initial margin).")] = None,
    cash: Annotated[Optional[float], typer.Option(
        "--cash", help="Size the position as `backtest --cash` opens it: all of this account "
                       "as margin plus the entry fee, cut to the venue's brackets "
                       "(default 10000 when neither --qty nor --margin is given).")] = None,
    mmr: Annotated[Optional[float], typer.Option(
        "--mmr", help="Maintenance margin rate, e.g. 0.005.")] = None,
    maint_amount: Annotated[Optional[float], typer.Option(
        "--maint-amount", help="Maintenance amount of the tier (Binance 'cum').")] = None,
    venue: Annotated[Optional[str], typer.Option(
        "--venue", help="Venue preset whose tiers, fees and liquidation rule apply: "
                        "perp-isolated (Binance), perp-bybit, perp-okx, perp-hyperliquid, "
                        "cfd-retail, cfd-offshore, futures-exchange; inverse (coin-margined): "
                        "perp-binance-coinm, perp-bybit-inverse.")] = None,
    contract_size: Annotated[Optional[float], typer.Option(
        "--contract-size", help="Inverse venues: USD value of one contract (default: 100 on "
                                "perp-binance-coinm, 1 on perp-bybit-inverse); --qty is then "
                                "contracts and --margin, --cash, --maint-amount are in coin.")]
        = None,
    fee: Annotated[Optional[float], typer.Option("--fee", help="Taker fee per side, e.g. 0.0005.")] = None,
    wallet: Annotated[Optional[float], typer.Option(
        "--wallet", help="Cross margin (with --set margin_mode=cross): the wallet balance "
                         "behind all positions.")] = None,
    other_maintenance: Annotated[float, typer.Option(
        "--other-maintenance", help="Cross: the other positions' maintenance margin "
                                    "(Binance's TMM).")] = 0.0,
    other_margin: Annotated[float, typer.Option(
        "--other-margin", help="Cross: the other positions' initial margin (Bybit).")] = 0.0,
    other_pnl: Annotated[float, typer.Option(
        "--other-pnl", help="Cross: the other positions' unrealized PnL.")] = 0.0,
    moves: Annotated[str, typer.Option("--moves", help="Price moves in percent.")] = "-5,-3,-2,-1,1,2,3,5",
    settings: Annotated[Optional[list[str]], typer.Option(
        "--set", help="Override a venue field, e.g. --set liquidation_fee=0.01 (repeatable).")] = None,
    allow_above_cap: Annotated[bool, typer.Option("--allow-above-cap",
                                                  help="Allow leverage above the venue's cap.")] = False,
    demo: DemoOpt = False,
    data_dir: DataDirOpt = None,
    fmt: FormatOpt = Format.table,
    debug: DebugOpt = False,
) -> None:
    """Liquidation and bankruptcy price of one position, and return on margin per move.

    Without --venue or --mmr the maintenance rate is 0 (pure leverage arithmetic).

    Example: sitcli liquidation --leverage 50 --side long --entry 100 --mmr 0.005
    """
    from sitcli.cli.render import emit, note, print_pairs
    from sitcli.errors import BadInput
    from sitcli.liquidation import build_position, parse_moves, report

    side = value(side)
    if (entry is None) == (symbol is None):
        raise BadInput("give exactly one of --entry PRICE or --symbol SYMBOL")
    from sitcli.inverse import PRESETS

    if venue in PRESETS:
        if symbol is not None or settings or wallet is not None or fee is not None:
            raise BadInput(f"--venue {venue} (inverse) takes --entry, --qty (contracts), "
                           "--margin / --cash (coin), --mmr, --maint-amount and "
                           "--contract-size; not --symbol, --set, --wallet or --fee")
        return _inverse(venue, side, entry, leverage, qty, margin, mmr, maint_amount,
                        contract_size, cash, parse_moves(moves), fmt)
    if contract_size is not None:
        raise BadInput("--contract-size is for the inverse venues: --venue perp-binance-coinm "
                       "or perp-bybit-inverse")
    spec = None
    label = None
    when = None
    store = None
    if symbol is not None:
        from sitcli.backtest import read_bars
        from sitcli.data.store import Store, default_data_dir, demo_store

        store = demo_store() if demo else Store(default_data_dir(data_dir))
        bars = read_bars(store, symbol)
        entry = float(bars["close"].iloc[-1])
        when = bars.index[-1]
        label = f"{symbol} last close {entry:g} on {bars.index[-1]:%Y-%m-%d}"
        if bars.attrs.get("sitcli", {}).get("synthetic"):
            label += " (synthetic demo data, not a market price)"
    if venue is not None or symbol is not None or settings:
        from sitcli.instruments import venue as load_venue
        from sitcli.tiers import venue_for

        if symbol is None and venue is None:
            raise BadInput("--set needs a --venue (or --symbol) whose fields it overrides")
        overrides = parse_pairs(settings, "--set", "liquidation_fee=0.01")
        # with --symbol, its own brackets from the tier snapshot nearest its last close
        spec = (venue_for(symbol, venue, overrides, when, store.root) if symbol
                else load_venue(venue, "equity", overrides))
    pos = build_position(side, entry, leverage, spec, qty=qty, margin=margin, mmr=mmr,
                         maint_amount=maint_amount, fee=fee, allow_above_cap=allow_above_cap,
                         cash=cash,
                         cross=None if wallet is None else {
                             "wallet": wallet, "other_maintenance": other_maintenance,
                             "other_margin": other_margin, "other_pnl": other_pnl})
    result = report(pos, parse_moves(moves))
    result["assumptions"]["venue"] = spec.name if spec else None
    result["assumptions"]["tiers"] = spec.tiers.name if spec else None
    result["assumptions"]["entry_source"] = label or "--entry"
    from sitcli.config import record

    record(result["assumptions"])
    if fmt == Format.table:
        lp = result["liquidation_price"]
        print_pairs({
            "position": f"{result['side']} {pos.qty:g} @ {pos.entry:g}, {pos.leverage:g}x, "
                        f"margin {pos.margin:,.4g}",
            "liquidation price": f"{lp:,.6g}" if lp else "none (cannot be liquidated)",
            "adverse move to liquidation": (f"{result['adverse_move_pct']:+.4f}%"
                                            if lp else "-"),
            "bankruptcy price": f"{result['bankruptcy_price']:,.6g}",
            "venue": spec.name if spec else "none (maintenance from --mmr, else 0)",
            **({"tiers": spec.tiers.name} if spec and spec.margin_mode != "account" else {}),
            "maintenance": (f"rate {result['assumptions']['maintenance_rate']:g}, amount "
                            f"{result['assumptions']['maintenance_amount']:g} (the bracket at the "
                            + ("entry's" if pos.rule == "bybit" else "liquidation price's")
                            + " notional)"),
            "fee per side": f"{pos.fee:g}",
            "rule": result["assumptions"]["rule"],
            **({"cut to bracket": result["assumptions"]["cut_to_bracket"]}
               if result["assumptions"]["cut_to_bracket"] else {}),
            **({"config": ", ".join(result["assumptions"]["config"])}
               if "config" in result["assumptions"] else {}),
        }, title="Liquidation")
        rows = [{"move %": r["move_pct"], "price": r["price"],
                 "return on margin %": r["return_on_margin_pct"],
                 "liquidated": "LIQUIDATED" if r["liquidated"] else ""} for r in result["moves"]]
        from sitcli.cli.render import print_table

        print_table(rows, title="Return on margin per move",
                    styles=["bold red" if r["liquidated"] else None for r in result["moves"]])
        if result["partial_liquidation"]:
            print_table(result["partial_liquidation"], title="Partial liquidation: 20% at a "
                        "time while the position is above 100,000 USDC, at each trigger price")
        if label:
            note(f"entry: {label}")
    else:
        if fmt == Format.csv and label:
            note(f"entry: {label}")
        emit(fmt, result, result["moves"])


def _inverse(venue, side, entry, leverage, contracts, margin, mmr, maint_amount, contract_size,
             cash, moves, fmt) -> None:
    from sitcli.cli.render import emit, print_pairs, print_table
    from sitcli.inverse import build, report

    pos = build(venue, side, entry, leverage, contracts, margin, mmr, maint_amount,
                contract_size, cash)
    result = report(pos, moves)
    if fmt != Format.table:
        emit(fmt, result, result["moves"])
        return
    lp, bp = result["liquidation_price"], result["bankruptcy_price"]
    print_pairs({
        "position": f"{result['side']} {pos.contracts:,.6g} contracts x {pos.contract_size:g} "
                    f"USD @ {pos.entry:g}, {pos.leverage:g}x, margin {pos.margin:.6g} coin",
        "liquidation price": f"{lp:,.6g}" if lp else "none (cannot be liquidated)",
        "adverse move to liquidation": f"{result['adverse_move_pct']:+.4f}%" if lp else "-",
        "bankruptcy price": f"{bp:,.6g}" if bp else "none",
        "venue": venue,
        "maintenance": f"rate {pos.mmr:g}, amount {pos.maint_amount:g} coin",
        "rule": result["assumptions"]["rule"],
    }, title="Liquidation (inverse contract; margin and PnL in coin, fees not included)")
    print_table([{"move %": r["move_pct"], "price": r["price"], "PnL coin": r["pnl_coin"],
                  "return on margin %": r["return_on_margin_pct"],
                  "liquidated": "LIQUIDATED" if r["liquidated"] else ""}
                 for r in result["moves"]], title="Return on margin per move",
                styles=["bold red" if r["liquidated"] else None for r in result["moves"]])


def register(app: typer.Typer) -> None:
    app.command("liquidation")(liquidation)
