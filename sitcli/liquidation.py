"""One position: liquidation and bankruptcy price, return on margin per price move."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from sitcli.engine.margin import (
    HL_PARTIAL_FRACTION,
    HL_PARTIAL_THRESHOLD,
    LIQUIDATION_RULES,
    bankruptcy_price,
    bybit_liquidation_price,
    exit_charges,
    exit_rule_of,
    hyperliquid_liquidation_price,
    okx_liquidation_price,
    open_position,
    partial_liquidation_steps,
    tier_index,
    trigger_price,
)
from sitcli.errors import BadInput
from sitcli.instruments import Venue, check_leverage


@dataclass(frozen=True)
class Position:
    side: int            # +1 long, -1 short
    entry: float
    leverage: float
    qty: float
    margin: float        # collateral behind the position (isolated wallet balance)
    floors: tuple[float, ...]      # maintenance brackets by notional (one when --mmr is given)
    mmrs: tuple[float, ...]
    cums: tuple[float, ...]
    fee: float           # taker fee per side, fraction of notional
    liq_fee: float
    mode: str            # "isolated" / "cross": maintenance rule; "account": CFD close-out
    closeout_level: float
    margin_leverage: float = 0.0   # account: the broker's requirement as a leverage (its cap)
    requested_qty: float = 0.0     # before the brackets cut it (= qty when not cut)
    rule: str = "binance"          # the venue's liquidation rule (engine.margin)
    collateral: float = math.nan   # cross margin: what stands behind it (`cross_collateral`)

    @property
    def behind(self) -> float:
        """The margin that stands behind the position: its own (isolated), or the cross
        wallet's share left to it."""
        return self.margin if math.isnan(self.collateral) else self.collateral

    @property
    def notional(self) -> float:
        return self.qty * self.entry

    @property
    def initial_margin(self) -> float:
        return self.notional / self.leverage

    def bracket_at(self, price: float) -> int:
        """The maintenance bracket that applies when the position is worth qty x price."""
        return tier_index(self.floors, self.qty * price)


DEFAULT_CASH = 10_000.0   # the account a position opens from when no size is given (= backtest --cash)


def build_position(side: str, entry: float, leverage: float, venue: Venue | None,
                   qty: float | None = None, margin: float | None = None,
                   mmr: float | None = None, maint_amount: float | None = None,
                   fee: float | None = None, allow_above_cap: bool = False,
                   cash: float | None = None, cross: dict | None = None) -> Position:
    """One position, opened by the engine's opening rule (`engine.margin.open_position`):
    from `--qty` or `--margin` when given, else from an account of `cash` (default 10,000,
    the backtest's default) all committed as margin plus the entry fee, as `backtest` opens
    it — so the calculator, the backtest and `scenario` size, bracket and liquidate the same
    position the same way."""
    if side not in ("long", "short"):
        raise BadInput(f"side {side!r}: use --side long or --side short")
    from sitcli.domains import check_flags

    check_flags(entry=entry, leverage=leverage, qty=qty, margin=margin, mmr=mmr,
                maint_amount=maint_amount, fee=fee, cash=cash)
    if cash is not None and (qty is not None or margin is not None):
        raise BadInput("--cash sizes the position from an account; give it alone, or "
                       "--qty / --margin")
    s = 1 if side == "long" else -1
    if venue is not None:
        if (venue.margin_mode == "cross") != (cross is not None):
            raise BadInput("cross margin needs both --set margin_mode=cross and --wallet (the "
                           "cross wallet balance), with the other positions' --other-maintenance, "
                           "--other-margin and --other-pnl")
        check_leverage(leverage, venue, allow_above_cap)
        brackets = (venue.tiers.floor, venue.tiers.mmr, venue.tiers.cum)
        maxlevs = venue.tiers.leverage_limits(allow_above_cap)
        mode, level = venue.margin_mode, venue.closeout_level
        margin_leverage = venue.requirement_leverage(leverage)
        venue_fee, liq_fee = venue.fee, venue.liquidation_fee
        rule = venue.liquidation_rule
    else:
        brackets = ((0.0,), (0.0,), (0.0,))
        maxlevs = (math.inf,)
        mode, level, venue_fee, liq_fee = "isolated", 0.0, 0.0, 0.0
        rule = "binance"
        margin_leverage = leverage
    if mmr is not None or maint_amount is not None:
        brackets = ((0.0,), (float(mmr or 0.0),), (float(maint_amount or 0.0),))
        maxlevs = (math.inf,)
    fee_rate = float(venue_fee if fee is None else fee)
    if mode == "account":
        maxlevs = (math.inf,) * len(brackets[0])   # close-out accounts have no brackets
    requested = None
    if qty is None and margin is None:
        budget = DEFAULT_CASH if cash is None else float(cash)
        qty, margin, _, lp, requested = open_position(s, float(entry), float(leverage), budget,
                                                      fee_rate, *brackets, maxlevs,
                                                      LIQUIDATION_RULES.index(rule))
        if qty == 0.0 and math.isfinite(lp):
            raise BadInput(_on_entry(leverage, lp, entry, mmr is not None))
        if qty == 0.0:
            raise BadInput(f"no maintenance bracket of {venue.name if venue else '--mmr'} "
                           f"allows {leverage:g}x; lower --leverage")
    else:
        if qty is None:
            qty = margin * leverage / entry
        if margin is None:
            margin = qty * entry / leverage
        if venue is not None and mode != "account" and not allow_above_cap:
            j = venue.tiers.bracket(qty * entry)
            if leverage > venue.tiers.max_leverage[j]:
                raise BadInput(f"leverage {leverage:g} is above the {venue.tiers.max_leverage[j]:g}x "
                               f"allowed for a {qty * entry:,.0f} notional on {venue.name}; lower "
                               "it or pass --allow-above-cap")
    pos = Position(s, float(entry), float(leverage), float(qty), float(margin), *brackets,
                   fee_rate, float(liq_fee), mode, float(level), float(margin_leverage),
                   float(requested if requested is not None else qty), rule)
    if cross is not None:
        pos = replace(pos, collateral=cross_collateral(pos, **cross))
    lp = position_liquidation_price(pos)
    if s * (entry - lp) <= 0:
        raise BadInput(_on_entry(leverage, lp, entry, mmr is not None,
                                 pos.mmrs[pos.bracket_at(lp)]))
    return pos


def _on_entry(leverage, lp, entry, mmr_given: bool, rate=None) -> str:
    what = f"maintenance rate {rate:g}" if rate is not None else "maintenance"
    fix = f"use a lower --mmr (below {1 / leverage:g}) or" if mmr_given else "use a"
    return (f"{what} liquidates a {leverage:g}x position on entry (liquidation price {lp:.6g} "
            f"vs entry {entry:g}); {fix} lower leverage")


def cross_collateral(p: Position, wallet: float, other_maintenance: float = 0.0,
                     other_margin: float = 0.0, other_pnl: float = 0.0) -> float:
    """Cross margin: what stands behind this position in the one-position formulas.
    Binance: the wallet balance less the other positions' maintenance margin plus their
    unrealized PnL (WB - TMM1 + UPNL1; isolated is the case TMM1 = UPNL1 = 0). Bybit: the
    position's initial margin plus the available balance, i.e. the wallet less the other
    positions' initial margin plus their unrealized PnL."""
    for flag, value in (("--wallet", wallet), ("--other-maintenance", other_maintenance),
                        ("--other-margin", other_margin)):
        if not (math.isfinite(value) and value >= 0):
            raise BadInput(f"{flag} {value:g}: must be a finite amount >= 0")
    if not math.isfinite(other_pnl):
        raise BadInput(f"--other-pnl {other_pnl:g}: must be a finite amount")
    if p.rule == "binance":
        behind = wallet - other_maintenance + other_pnl
    elif p.rule == "bybit":
        behind = wallet - other_margin + other_pnl
    else:
        raise BadInput(f"cross margin: sitcli has Binance's and Bybit's cross formulas, not "
                       f"{p.rule}'s; use --venue perp-binance or perp-bybit")
    if behind < p.margin:
        raise BadInput(f"--wallet {wallet:g}: after the other positions ({behind:,.2f} left) "
                       f"it does not cover this position's initial margin {p.margin:,.2f}")
    return behind


def position_liquidation_price(p: Position) -> float:
    """The venue's trigger for this position alone (the entry fee was paid from the wallet,
    not from the margin: `engine.margin.open_position`)."""
    if p.mode == "account" or p.rule == "binance":
        return trigger_price(p.mode == "account", p.side, p.qty, p.entry, p.behind, p.floors,
                             p.mmrs, p.cums, p.closeout_level, p.margin_leverage)
    if p.rule == "bybit":
        lp = bybit_liquidation_price(p.side, p.qty, p.entry, p.behind, p.floors, p.mmrs, p.cums)
    elif p.rule == "okx":
        lp = okx_liquidation_price(p.side, p.qty, p.entry, p.behind, p.floors, p.mmrs, p.fee)
    elif p.rule == "hyperliquid":
        lp = hyperliquid_liquidation_price(p.side, p.qty, p.entry, p.margin, p.floors, p.mmrs,
                                           p.cums)
    else:
        raise BadInput(f"liquidation_rule {p.rule!r}: use binance, bybit, okx or hyperliquid")
    return max(lp, 0.0)


def partial_steps(p: Position, max_steps: int = 60) -> list[dict]:
    """Hyperliquid's partial liquidation of this position, step by step (`engine.margin`)."""
    rows = partial_liquidation_steps(p.side, p.qty, p.entry, p.margin, p.floors, p.mmrs, p.cums,
                                     HL_PARTIAL_THRESHOLD, HL_PARTIAL_FRACTION, max_steps)
    return [{"step": k + 1, "price": price, "qty_closed": closed, "qty_left": left,
             "margin_left": margin} for k, (price, closed, left, margin) in enumerate(rows)]


def exit_pnl(p: Position, price: float, liquidated: bool) -> float:
    """Net PnL of the position closed at `price`, entry fee included, by the engine's exit
    rules: a perpetual's liquidation closes at the bankruptcy price (the whole margin is lost,
    no commission); a CFD close-out pays commission and the venue's close-out fee; an
    isolated position never loses more than its margin."""
    entry_fee = p.notional * p.fee
    price_pnl = p.side * p.qty * (price - p.entry)
    rule = exit_rule_of(p.mode == "account", LIQUIDATION_RULES.index(p.rule))
    commission, kept = exit_charges(liquidated, rule, p.qty, price, price_pnl, p.behind, p.fee,
                                    p.liq_fee)
    pnl = price_pnl - commission - kept
    if p.mode != "account":
        pnl = max(pnl, -p.behind)
    return pnl - entry_fee


RULES = {
    "bybit": "Bybit USDT contracts: maintenance fixed at entry, MM = position value at entry x "
             "the risk-limit tier's rate - its deduction; LP = entry -/+ (IM - MM) / qty; "
             "liquidation closes at the bankruptcy price, so the whole margin is lost",
    "okx": "OKX USDT-margined swaps: liquidated when margin + PnL <= qty x price x (tier rate "
           "+ taker fee), one rate for the whole position; the margin left is lost",
    "hyperliquid": "Hyperliquid: maintenance rate = half the initial margin at the tier's "
                   "maximum leverage, MM = qty x price x rate - deduction; positions above "
                   "100,000 USDC at the trigger are liquidated 20% at a time, and the margin "
                   "left after the last step stays with the trader",
    "isolated": "liquidated when margin + PnL <= qty x price x maintenance_rate - "
                "maintenance_amount (Binance USDⓈ-M); the entry fee is paid from the wallet on top "
                "of the margin; a liquidation closes at the bankruptcy price, so the whole margin "
                "is lost (the margin left at the liquidation price is the venue's fee)",
    "account": "closed out when equity <= closeout_level x the venue's required margin "
               "(notional / its leverage cap); the entry fee is paid on top of the margin",
}


def partial_pnl(p: Position, steps: list[dict], price: float) -> float:
    """Net PnL when the price moves to `price` through some of the partial liquidation's
    steps: the equity after the last step reached, the rest of the position marked at
    `price`, less the entry fee and the commission on each closed part."""
    reached = [s for s in steps if p.side * (price - s["price"]) <= 0]
    last = reached[-1]
    equity = last["margin_left"] + p.side * last["qty_left"] * (price - last["price"])
    fees = p.fee * (p.notional + sum(s["qty_closed"] * s["price"] for s in reached))
    return equity - p.margin - fees


def report(p: Position, moves_pct: list[float]) -> dict:
    lp = position_liquidation_price(p)
    bp = max(0.0, bankruptcy_price(p.side, p.qty, p.entry, p.behind))
    rows = []
    steps = partial_steps(p) if p.rule == "hyperliquid" and lp > 0 else None
    for move in moves_pct:
        price = p.entry * (1 + move / 100)
        liquidated = lp > 0 and p.side * (price - lp) <= 0
        pnl = exit_pnl(p, lp if liquidated else price, liquidated)
        if steps and liquidated:
            pnl = partial_pnl(p, steps, price)
        rows.append({"move_pct": move, "price": price,
                     "return_on_margin_pct": 100 * pnl / p.initial_margin,
                     "liquidated": bool(liquidated)})
    cut = p.requested_qty > p.qty * (1 + 1e-12)
    return {
        "side": "long" if p.side > 0 else "short",
        "entry": p.entry,
        "leverage": p.leverage,
        "qty": p.qty,
        "requested_qty": p.requested_qty,
        "effective_leverage": p.leverage * p.qty / p.requested_qty,
        "notional": p.notional,
        "margin": p.margin,
        "liquidation_price": lp if lp > 0 else None,
        "bankruptcy_price": bp,
        "adverse_move_pct": 100 * (lp / p.entry - 1) if lp > 0 else None,
        "moves": rows,
        "assumptions": {
            "margin_mode": p.mode,
            "collateral_behind_position": p.behind,
            # the tier at the liquidation price's notional (Bybit: at the entry's)
            "maintenance_rate": p.mmrs[p.bracket_at(p.entry if p.rule == "bybit" else lp)],
            "maintenance_amount": p.cums[p.bracket_at(p.entry if p.rule == "bybit" else lp)],
            "closeout_level": p.closeout_level if p.mode == "account" else None,
            "fee_per_side": p.fee,
            "liquidation_fee": p.liq_fee if p.mode == "account" else "the margin left",
            "required_margin": (p.notional / p.margin_leverage if p.mode == "account" else None),
            "cut_to_bracket": (f"quantity cut from {p.requested_qty:.6g} to {p.qty:.6g}, the "
                               "largest notional the maintenance brackets allow at this "
                               "leverage" if cut else None),
            "rule": RULES["account" if p.mode == "account" else
                          "isolated" if p.rule == "binance" else p.rule],
            "liquidation_rule": p.rule if p.mode != "account" else "close-out",
        },
        "partial_liquidation": steps,
    }


def parse_moves(text: str) -> list[float]:
    try:
        moves = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise BadInput(f"--moves {text!r}: expected comma-separated percents, e.g. "
                       "--moves -5,-3,-2,-1,1,2,3,5") from None
    if not moves or any(not math.isfinite(m) or m <= -100 for m in moves):
        raise BadInput(f"--moves {text!r}: each move must be a number above -100")
    return moves
