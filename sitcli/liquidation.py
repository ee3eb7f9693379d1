"""One position: liquidation and bankruptcy price, return on margin per price move."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sitcli.engine.margin import bankruptcy_price, open_position, tier_index, trigger_price
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
                   cash: float | None = None) -> Position:
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
        if venue.margin_mode == "cross":
            raise BadInput("--set margin_mode=cross: the calculator prices one position; a "
                           "cross-margin liquidation price depends on the account's other "
                           "positions, which it does not take. Use isolated, or a backtest "
                           "with --account shared")
        check_leverage(leverage, venue, allow_above_cap)
        brackets = (venue.tiers.floor, venue.tiers.mmr, venue.tiers.cum)
        maxlevs = venue.tiers.leverage_limits(allow_above_cap)
        mode, level = venue.margin_mode, venue.closeout_level
        margin_leverage = venue.requirement_leverage(leverage)
        venue_fee, liq_fee = venue.fee, venue.liquidation_fee
    else:
        brackets = ((0.0,), (0.0,), (0.0,))
        maxlevs = (math.inf,)
        mode, level, venue_fee, liq_fee = "isolated", 0.0, 0.0, 0.0
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
                                                      fee_rate, *brackets, maxlevs)
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
                   float(requested if requested is not None else qty))
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


def position_liquidation_price(p: Position) -> float:
    """The engine's trigger for this position alone (the entry fee was paid from the wallet,
    not from the margin: `engine.margin.open_position`)."""
    return trigger_price(p.mode == "account", p.side, p.qty, p.entry, p.margin, p.floors,
                         p.mmrs, p.cums, p.closeout_level, p.margin_leverage)


def exit_pnl(p: Position, price: float, liquidated: bool) -> float:
    """Net PnL of the position closed at `price`, entry fee included, by the engine's exit
    rules: a perpetual's liquidation closes at the bankruptcy price (the whole margin is lost,
    no commission); a CFD close-out pays commission and the venue's close-out fee; an
    isolated position never loses more than its margin."""
    entry_fee = p.notional * p.fee
    price_pnl = p.side * p.qty * (price - p.entry)
    if liquidated and p.mode != "account":
        return -p.margin - entry_fee
    exit_costs = p.qty * price * (p.fee + (p.liq_fee if liquidated else 0.0))
    pnl = price_pnl - exit_costs
    if p.mode != "account":
        pnl = max(pnl, -p.margin)
    return pnl - entry_fee


RULES = {
    "isolated": "liquidated when margin + PnL <= qty x price x maintenance_rate - "
                "maintenance_amount (Binance USDⓈ-M); the entry fee is paid from the wallet on top "
                "of the margin; a liquidation closes at the bankruptcy price, so the whole margin "
                "is lost (the margin left at the liquidation price is the venue's fee)",
    "account": "closed out when equity <= closeout_level x the venue's required margin "
               "(notional / its leverage cap); the entry fee is paid on top of the margin",
}


def report(p: Position, moves_pct: list[float]) -> dict:
    lp = position_liquidation_price(p)
    bp = max(0.0, bankruptcy_price(p.side, p.qty, p.entry, p.margin))
    rows = []
    for move in moves_pct:
        price = p.entry * (1 + move / 100)
        liquidated = lp > 0 and p.side * (price - lp) <= 0
        pnl = exit_pnl(p, lp if liquidated else price, liquidated)
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
            "maintenance_rate": p.mmrs[p.bracket_at(lp)],
            "maintenance_amount": p.cums[p.bracket_at(lp)],
            "closeout_level": p.closeout_level if p.mode == "account" else None,
            "fee_per_side": p.fee,
            "liquidation_fee": p.liq_fee if p.mode == "account" else "the margin left",
            "required_margin": (p.notional / p.margin_leverage if p.mode == "account" else None),
            "cut_to_bracket": (f"quantity cut from {p.requested_qty:.6g} to {p.qty:.6g}, the "
                               "largest notional the maintenance brackets allow at this "
                               "leverage" if cut else None),
            "rule": RULES["account" if p.mode == "account" else "isolated"],
        },
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
