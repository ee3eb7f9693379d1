"""Instrument and venue specs from datasets/instruments.toml and datasets/venues.toml."""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, fields, replace
from functools import cache
from importlib.resources import files

from sitcli.errors import BadInput

ASSET_CLASSES = ("equity", "index", "crypto", "synthetic")
BENCHMARK_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,31}$")


@dataclass(frozen=True)
class Tiers:
    name: str
    floor: tuple[float, ...]
    mmr: tuple[float, ...]
    max_leverage: tuple[float, ...]

    @property
    def cum(self) -> tuple[float, ...]:
        """Maintenance amounts by Binance's recurrence cum_n = floor_n·(mmr_n − mmr_{n−1}) + cum_{n−1}."""
        out = [0.0]
        for n in range(1, len(self.floor)):
            # rounded to 1e-8: exchanges publish whole amounts, binary floats leave 1-ulp noise
            out.append(round(self.floor[n] * (self.mmr[n] - self.mmr[n - 1]) + out[-1], 8))
        return tuple(out)

    def leverage_limits(self, allow_above_cap: bool) -> tuple[float, ...]:
        """The leverage each bracket allows. Above the cap (--allow-above-cap) the smallest
        bracket takes any leverage, so a position above every bracket's limit is cut to the
        smallest bracket's notional instead of being refused."""
        return (math.inf, *self.max_leverage[1:]) if allow_above_cap else self.max_leverage

    def bracket(self, notional: float) -> int:
        j = 0
        for i, f in enumerate(self.floor):
            if f <= notional:
                j = i
        return j


@dataclass(frozen=True)
class Venue:
    name: str
    description: str
    margin_mode: str
    closeout_level: float
    negative_balance_protection: bool
    default_leverage: float
    max_leverage: float
    fee: float
    half_spread: float
    slippage: float
    financing_benchmark: float | str   # an annual fraction, or a rate series' name (sitcli.rates)
    financing_markup: float
    financing_days: float
    funding_rate_8h: float
    liquidation_fee: float
    tiers: Tiers
    tier_source: str = ""   # the exchange whose per-symbol tier snapshots apply (sitcli.tiers)
    liquidation_rule: str = "binance"   # binance, bybit, okx or hyperliquid (engine.margin)
    # the hours the broker quotes an exchange-listed symbol (stocks, indices): "session" (the
    # regular session: news waits for its open, pre-/after-hours bars are not walked) or "24/7"
    # (around the clock, extended hours included); --cfd-hours overrides it per run
    cfd_hours: str = "session"

    def leverage(self, requested: float | None) -> float:
        """The leverage a position opens at: the requested one, or the venue's default."""
        return self.default_leverage if requested is None else float(requested)

    def requirement_leverage(self, leverage: float) -> float:
        """The margin the venue requires, as a leverage (CFD close-out, `engine.margin`)."""
        from sitcli.engine.margin import requirement_leverage

        return requirement_leverage(leverage, self.max_leverage)

    @property
    def financing_long(self) -> float:
        """The annual rate a long pays at a constant benchmark (a named series is charged
        night by night: `bars.financing_per_bar`)."""
        return self.financing_benchmark + self.financing_markup

    @property
    def financing_short(self) -> float:
        return self.financing_markup - self.financing_benchmark

    @property
    def benchmark_series(self) -> str | None:
        """The rate series financing follows, or None for a constant benchmark."""
        return self.financing_benchmark if isinstance(self.financing_benchmark, str) else None

    def as_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "tiers"}
        out["tiers"] = self.tiers.name
        return out


@dataclass(frozen=True)
class Instrument:
    symbol: str
    name: str
    asset_class: str
    venue: str
    calendar: str
    sector: str = ""     # theme for events of reach `sector` ("" = none)

    @property
    def is_24_7(self) -> bool:
        return self.calendar == "24/7"


def _load(name: str) -> dict:
    return tomllib.loads((files("sitcli.datasets") / name).read_text(encoding="utf-8"))


# user venue presets and instruments (config files, `data import --asset-class`): they join the
# shipped tables; `sitcli.config` checks them before they are added
USER_VENUES: dict[str, dict] = {}
USER_INSTRUMENTS: dict[str, dict] = {}


@cache
def venues_table() -> dict:
    return {**_load("venues.toml"), **USER_VENUES}


@cache
def instruments_table() -> dict:
    return {**_load("instruments.toml"), **USER_INSTRUMENTS}


def add_user_entries(venues: dict | None = None, instruments: dict | None = None) -> None:
    """Make user venue presets and instruments known to every command (rows as in the
    shipped TOML files; a user entry replaces a shipped one of the same name)."""
    USER_VENUES.update(venues or {})
    USER_INSTRUMENTS.update(instruments or {})
    venues_table.cache_clear()
    instruments_table.cache_clear()


_WARNED: set[str] = set()


def venue_names() -> list[str]:
    table = venues_table()
    return [k for k in table if k not in ("tiers", "aliases")] + list(table.get("aliases", {}))


def tiers(name: str) -> Tiers:
    table = venues_table()["tiers"]
    if name not in table:
        raise BadInput(f"unknown tier table {name!r}; choose one of {', '.join(table)}")
    t = table[name]
    maxlev = tuple(map(float, t["max_leverage"]))
    if "mmr" in t:
        mmr = tuple(map(float, t["mmr"]))
    else:   # Hyperliquid's rule: half the initial margin at the tier's maximum leverage
        from sitcli.engine.margin import hyperliquid_mmr

        mmr = tuple(hyperliquid_mmr(lev) for lev in maxlev)
    return Tiers(name, tuple(map(float, t["floor"])), mmr, maxlev)


def base_symbol(symbol: str) -> str:
    """RENDER/USDT:USDT@binance -> RENDER; NVDA -> NVDA."""
    return symbol.split("@")[0].split("/")[0].split(":")[0].upper()


def sectors() -> list[str]:
    """Every sector an instrument of instruments.toml belongs to, sorted."""
    return sorted({row["sector"] for row in instruments_table().values() if row.get("sector")})


def is_listed(symbol: str) -> bool:
    table = instruments_table()
    return symbol in table or base_symbol(symbol) in table


def guess_asset_class(symbol: str) -> str:
    if symbol.startswith("^"):
        return "index"
    if "/" in symbol:
        return "crypto"
    return "equity"


def instrument(symbol: str, known_only: bool = False) -> Instrument:
    """The instrument for a symbol; unlisted symbols get defaults from their shape
    (`^X` an index, `X/Y` crypto, else an equity) unless `known_only`."""
    table = instruments_table()
    key = symbol if symbol in table else base_symbol(symbol)
    if key in table:
        row = table[key]
        return Instrument(symbol, row.get("name", key), row["asset_class"], row["venue"],
                          row["calendar"], row.get("sector", ""))
    if known_only:
        raise BadInput(f"unknown symbol {symbol!r}: not in instruments.toml "
                       f"({', '.join(table)}); import its data first or pick a listed symbol")
    cls = guess_asset_class(symbol)
    venue = "perp-isolated" if cls == "crypto" else "cfd-retail"
    calendar = "24/7" if cls == "crypto" else "XNYS"
    if symbol not in _WARNED:
        from sitcli.errors import warn

        _WARNED.add(symbol)
        warn(f"{symbol} is not a listed instrument: treated as {cls} on {venue} "
             f"({calendar} hours) from its name; declare it with `sitcli data import FILE "
             f"--symbol {symbol} --asset-class CLASS` or [instruments.\"{symbol}\"] in a "
             "config file")
    return Instrument(symbol, symbol, cls, venue, calendar)


def parse_benchmark(value) -> float | str:
    """`financing_benchmark`: a constant annual fraction (0.043) or a series name (SOFR)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        if not BENCHMARK_NAME.match(text.upper()):
            raise BadInput(f"financing_benchmark={value}: use a rate series name such as DFF or "
                           "SOFR, or an annual rate as a fraction, e.g. 0.043") from None
        return text.upper()
    if not math.isfinite(number):
        raise BadInput(f"financing_benchmark={value}: must be a finite annual rate, e.g. 0.043")
    return number


def _coerce(field_name: str, value: str | float | bool, current):
    if field_name == "financing_benchmark":
        return parse_benchmark(value)
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise BadInput(f"--set {field_name}={value}: expected true or false")
    if isinstance(current, float):
        from sitcli.domains import VENUE, parse

        return parse(f"--set {field_name}", value, VENUE[field_name])
    return str(value)


CFD_HOURS = ("session", "24/7")


def venue(name: str, asset_class: str = "equity", overrides: dict | None = None) -> Venue:
    """A venue preset for one asset class, with per-run overrides applied. Its tiers are the
    venue's default ladder; `sitcli.tiers.venue_for` gives a symbol its own."""
    table = venues_table()
    if name not in venue_names():
        raise BadInput(f"unknown venue {name!r}; choose one of {', '.join(venue_names())}")
    row = dict(table[table.get("aliases", {}).get(name, name)])
    caps = row.pop("max_leverage")
    row["max_leverage"] = float(caps[asset_class] if isinstance(caps, dict) else caps)
    row["financing_benchmark"] = parse_benchmark(row["financing_benchmark"])
    v = Venue(name=name, tiers=tiers(row.pop("tiers", "flat")), **{k: (float(x) if isinstance(x, int)
                                                    and not isinstance(x, bool) else x)
                                                 for k, x in row.items()})
    for key, value in (overrides or {}).items():
        if key == "tiers":
            v = replace(v, tiers=tiers(str(value)))
            continue
        if key not in {f.name for f in fields(Venue)} or key == "name":
            allowed = ", ".join(f.name for f in fields(Venue) if f.name not in ("name", "description"))
            raise BadInput(f"--set {key}: not a venue field; use one of {allowed}")
        v = replace(v, **{key: _coerce(key, value, getattr(v, key))})
    if v.default_leverage > v.max_leverage:
        v = replace(v, default_leverage=v.max_leverage)   # e.g. crypto CFDs: 5x default, 2x cap
    if v.margin_mode not in ("isolated", "cross", "account"):
        raise BadInput(f"margin_mode {v.margin_mode!r}: use isolated, cross or account")
    if v.cfd_hours not in CFD_HOURS:
        raise BadInput(f"cfd_hours {v.cfd_hours!r}: use {' or '.join(CFD_HOURS)}")
    from sitcli.engine.margin import LIQUIDATION_RULES

    if v.liquidation_rule not in LIQUIDATION_RULES:
        raise BadInput(f"liquidation_rule {v.liquidation_rule!r}: use "
                       f"{', '.join(LIQUIDATION_RULES)}")
    return v


def check_leverage(leverage: float, v: Venue, allow_above_cap: bool = False) -> None:
    if not (leverage > 0 and math.isfinite(leverage)):
        raise BadInput(f"leverage {leverage:g} must be a finite number > 0, e.g. --leverage 20")
    if leverage > v.max_leverage and not allow_above_cap:
        raise BadInput(f"leverage {leverage:g} is above {v.name}'s cap of {v.max_leverage:g}x "
                       "for this asset class; lower it, pick another --venue, or pass "
                       "--allow-above-cap")
    if v.margin_mode != "account" and leverage > v.tiers.max_leverage[0] and not allow_above_cap:
        raise BadInput(f"leverage {leverage:g} is above the {v.tiers.max_leverage[0]:g}x that "
                       f"{v.name}'s smallest maintenance bracket ({v.tiers.name}) allows; lower it "
                       "or pass --allow-above-cap")


def check_engine_rule(v: Venue, cross: bool = False) -> None:
    """The kernel applies each venue's isolated liquidation rule (`engine.margin`), but
    cross margin (`margin_mode=cross`, `--account shared`) by Binance's rule only."""
    cross = cross or v.margin_mode == "cross"
    if v.margin_mode != "account" and v.liquidation_rule != "binance" and cross:
        raise BadInput(f"--venue {v.name}: cross margin in backtests and scenarios follows "
                       f"Binance's rule, not {v.liquidation_rule}'s; use isolated margin (one "
                       f"account per symbol), or price it with `sitcli liquidation --venue "
                       f"{v.name}`")
