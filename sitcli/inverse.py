"""Inverse (coin-margined) perpetuals in the calculator: Binance COIN-M and Bybit inverse.

The quantity is a number of contracts, each worth a fixed amount of USD (the contract size:
100 USD for Binance's BTCUSD, 10 USD for its other COIN-M contracts, 1 USD on Bybit);
margin, maintenance and PnL are in the coin. The formulas live in `engine.margin`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sitcli.engine.margin import (
    bybit_inverse_liquidation_price,
    inverse_bankruptcy_price,
    inverse_liquidation_price,
    inverse_pnl,
)
from sitcli.errors import BadInput

# name -> (rule, contract size in USD, default maintenance rate, what the rule says)
PRESETS = {
    "perp-binance-coinm": (
        "binance-coinm", 100.0, 0.005,
        "Binance COIN-M, isolated: liquidated when margin + PnL <= coin value at the price x "
        "maintenance rate - maintenance amount (both in coin, the bracket of the coin value at "
        "the liquidation price): LP = face x (mmr + side) / (margin + amount + side x face / "
        "entry); closes at the bankruptcy price, the whole margin is lost"),
    "perp-bybit-inverse": (
        "bybit-inverse", 1.0, 0.005,
        "Bybit inverse contracts, isolated: maintenance fixed at entry on the position value "
        "PV = contracts / entry; LP = contracts / (PV + side x (IM - MM)); closes at the "
        "bankruptcy price, the whole margin is lost"),
}
DEFAULT_COIN = 1.0   # the coin margin a position opens with when no size is given


@dataclass(frozen=True)
class InversePosition:
    venue: str
    side: int
    entry: float
    leverage: float
    contracts: float
    contract_size: float
    margin: float        # coin
    mmr: float
    maint_amount: float  # coin

    @property
    def face(self) -> float:
        """USD face value: contracts x contract size."""
        return self.contracts * self.contract_size

    @property
    def value(self) -> float:
        """Coin value at entry."""
        return self.face / self.entry


def build(venue: str, side: str, entry: float, leverage: float, contracts: float | None = None,
          margin: float | None = None, mmr: float | None = None,
          maint_amount: float | None = None, contract_size: float | None = None,
          cash: float | None = None) -> InversePosition:
    """One isolated inverse position: from `contracts` or a coin `margin` (default: `cash`
    coin, else 1 coin, all of it margin)."""
    from sitcli.domains import check_flags

    if side not in ("long", "short"):
        raise BadInput(f"side {side!r}: use --side long or --side short")
    check_flags(entry=entry, leverage=leverage, qty=contracts, margin=margin, mmr=mmr,
                maint_amount=maint_amount, cash=cash)
    if not (leverage > 0 and math.isfinite(leverage)):
        raise BadInput(f"leverage {leverage:g} must be a finite number > 0, e.g. --leverage 20")
    _, size, default_mmr, _ = PRESETS[venue]
    size = float(size if contract_size is None else contract_size)
    if not (size > 0 and math.isfinite(size)):
        raise BadInput(f"--contract-size {size:g}: must be the USD value of one contract, > 0")
    if contracts is None:
        margin = float(margin if margin is not None else (cash or DEFAULT_COIN))
        contracts = margin * leverage * entry / size
    elif margin is None:
        margin = contracts * size / entry / leverage
    pos = InversePosition(venue, 1 if side == "long" else -1, float(entry), float(leverage),
                          float(contracts), size, float(margin),
                          float(default_mmr if mmr is None else mmr), float(maint_amount or 0.0))
    lp = liquidation_price(pos)
    if pos.side * (pos.entry - lp) <= 0:
        raise BadInput(f"maintenance rate {pos.mmr:g} liquidates a {leverage:g}x position on "
                       f"entry (liquidation price {lp:.6g} vs entry {entry:g}); use a lower "
                       "--mmr or a lower leverage")
    return pos


def liquidation_price(p: InversePosition) -> float:
    rule = PRESETS[p.venue][0]
    fn = inverse_liquidation_price if rule == "binance-coinm" else bybit_inverse_liquidation_price
    return fn(p.side, p.face, p.entry, p.margin, (0.0,), (p.mmr,), (p.maint_amount,))


def report(p: InversePosition, moves_pct: list[float]) -> dict:
    lp = liquidation_price(p)
    bp = inverse_bankruptcy_price(p.side, p.face, p.entry, p.margin)
    finite = 0.0 < lp < math.inf
    rows = []
    for move in moves_pct:
        price = p.entry * (1 + move / 100)
        liquidated = finite and p.side * (price - lp) <= 0
        # a liquidation closes at the bankruptcy price: the whole coin margin is lost
        pnl = -p.margin if liquidated else inverse_pnl(p.side, p.face, p.entry, price)
        rows.append({"move_pct": move, "price": price, "pnl_coin": pnl,
                     "return_on_margin_pct": 100 * pnl / p.margin, "liquidated": liquidated})
    return {
        "venue": p.venue, "side": "long" if p.side > 0 else "short", "entry": p.entry,
        "leverage": p.leverage, "contracts": p.contracts, "contract_size_usd": p.contract_size,
        "face_usd": p.face, "value_coin": p.value, "margin_coin": p.margin,
        "liquidation_price": lp if finite else None,
        "bankruptcy_price": bp if 0.0 < bp < math.inf else None,
        "adverse_move_pct": 100 * (lp / p.entry - 1) if finite else None,
        "moves": rows,
        "assumptions": {"maintenance_rate": p.mmr, "maintenance_amount_coin": p.maint_amount,
                        "fees": "not included", "rule": PRESETS[p.venue][3],
                        "liquidation_rule": PRESETS[p.venue][0]},
    }
