"""One position: liquidation and bankruptcy price, return on margin per price move."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sitcli.engine.margin import bankruptcy_price, closeout_price, liquidation_price, tier_index
from sitcli.errors import BadInput
from sitcli.instruments import Tiers, Venue


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

    @property
    def notional(self) -> float:
        return self.qty * self.entry

    @property
    def initial_margin(self) -> float:
        return self.notional / self.leverage

    def bracket_at(self, price: float) -> int:
        """The maintenance bracket that applies when the position is worth qty x price."""
        return tier_index(self.floors, self.qty * price)


def build_position(side: str, entry: float, leverage: float, venue: Venue | None,
                   qty: float | None = None, margin: float | None = None,
                   mmr: float | None = None, maint_amount: float | None = None,
                   fee: float | None = None, allow_above_cap: bool = False) -> Position:
    if side not in ("long", "short"):
        raise BadInput(f"side {side!r}: use --side long or --side short")
    for flag, value in (("--entry", entry), ("--leverage", leverage), ("--qty", qty),
                        ("--margin", margin), ("--mmr", mmr), ("--maint-amount", maint_amount),
                        ("--fee", fee)):
        if value is not None and not math.isfinite(value):
            raise BadInput(f"{flag} {value}: must be a finite number")
    if not entry > 0:
        raise BadInput(f"entry price {entry:g} must be > 0, e.g. --entry 100")
    if not leverage > 0:
        raise BadInput(f"leverage {leverage:g} must be > 0, e.g. --leverage 50")
    if qty is not None and not qty > 0:
        raise BadInput(f"quantity {qty:g} must be > 0")
    if margin is not None and not margin > 0:
        raise BadInput(f"margin {margin:g} must be > 0")
    if mmr is not None and not 0 <= mmr < 1:
        raise BadInput(f"maintenance rate {mmr:g} must be in [0, 1), e.g. --mmr 0.005")
    if fee is not None and not 0 <= fee < 0.1:
        raise BadInput(f"fee {fee:g} must be a fraction in [0, 0.1), e.g. --fee 0.0005")
    if qty is None:
        qty = margin * leverage / entry if margin is not None else 1.0
    if margin is None:
        margin = qty * entry / leverage
    s = 1 if side == "long" else -1
    notional = qty * entry
    if venue is not None:
        if leverage > venue.max_leverage and not allow_above_cap:
            raise BadInput(f"leverage {leverage:g} is above {venue.name}'s cap of "
                           f"{venue.max_leverage:g}x; lower it or pass --allow-above-cap")
        tiers: Tiers = venue.tiers
        j = tiers.bracket(notional)
        if leverage > tiers.max_leverage[j] and not allow_above_cap and venue.margin_mode != "account":
            raise BadInput(f"leverage {leverage:g} is above the {tiers.max_leverage[j]:g}x allowed "
                           f"for a {notional:,.0f} notional on {venue.name}; lower it or pass "
                           "--allow-above-cap")
        brackets = (tiers.floor, tiers.mmr, tiers.cum)
        mode, level = venue.margin_mode, venue.closeout_level
        margin_leverage = max(leverage, venue.max_leverage)
        venue_fee, liq_fee = venue.fee, venue.liquidation_fee
    else:
        brackets = ((0.0,), (0.0,), (0.0,))
        mode, level, venue_fee, liq_fee = "isolated", 0.0, 0.0, 0.0
        margin_leverage = leverage
    if mmr is not None or maint_amount is not None:
        brackets = ((0.0,), (float(mmr or 0.0),), (float(maint_amount or 0.0),))
    pos = Position(s, float(entry), float(leverage), float(qty), float(margin), *brackets,
                   float(venue_fee if fee is None else fee), float(liq_fee), mode, float(level),
                   float(margin_leverage))
    lp = position_liquidation_price(pos)
    if s * (entry - lp) <= 0:
        mmr_used = pos.mmrs[pos.bracket_at(lp)]
        raise BadInput(f"maintenance rate {mmr_used:g} liquidates a {leverage:g}x position on "
                       f"entry (liquidation price {lp:.6g} vs entry {entry:g}); use a lower "
                       f"--mmr (below {1 / leverage:g}) or lower leverage")
    return pos


def position_liquidation_price(p: Position) -> float:
    margin = p.margin - p.notional * p.fee   # the entry fee comes out of the margin
    if p.mode == "account":
        return max(0.0, closeout_price(p.side, p.qty, p.entry, margin, p.closeout_level,
                                       p.margin_leverage))
    return liquidation_price(p.side, p.qty, p.entry, margin, p.floors, p.mmrs, p.cums)


def report(p: Position, moves_pct: list[float]) -> dict:
    lp = position_liquidation_price(p)
    bp = max(0.0, bankruptcy_price(p.side, p.qty, p.entry, p.margin - p.notional * p.fee))
    rows = []
    for move in moves_pct:
        price = p.entry * (1 + move / 100)
        liquidated = lp > 0 and p.side * (price - lp) <= 0
        exit_price = lp if liquidated else price
        pnl = (p.side * p.qty * (exit_price - p.entry) - p.notional * p.fee
               - p.qty * exit_price * (p.liq_fee if liquidated else p.fee))
        if liquidated and p.mode != "account":
            pnl = max(pnl, -p.margin)   # an isolated position cannot lose more than its margin
        rows.append({"move_pct": move, "price": price,
                     "return_on_margin_pct": 100 * pnl / p.initial_margin,
                     "liquidated": bool(liquidated)})
    return {
        "side": "long" if p.side > 0 else "short",
        "entry": p.entry,
        "leverage": p.leverage,
        "qty": p.qty,
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
            "liquidation_fee": p.liq_fee,
            "required_margin": (p.notional / p.margin_leverage if p.mode == "account" else None),
            "rule": ("close-out when equity <= closeout_level x the venue's required margin "
                     "(notional / its leverage cap)"
                     if p.mode == "account" else
                     "liquidated when margin + PnL <= qty x price x maintenance_rate - "
                     "maintenance_amount; the entry fee is taken from the margin"),
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
