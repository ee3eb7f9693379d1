"""Each symbol's own maintenance tiers, from dated snapshots of a venue's tier table.

A snapshot is one JSON file in ccxt's `fetch_leverage_tiers` shape ({symbol: [tier, ...]}, each
tier with minNotional, maintenanceMarginRate, maxLeverage), named `<exchange>_<YYYY-MM-DD>.json`
by the date it was taken. sitcli ships real Binance USDⓈ-M snapshots in `datasets/tiers/`
(source in its README); `sitcli data tiers pull` writes newer ones into `<data dir>/tiers/`.

A position uses the snapshot nearest its date that lists the symbol (or the name it had then:
RENDER was RNDR until 2024-07); on equal distance the newer, and a pulled snapshot before a
shipped one of the same date. A symbol no snapshot lists gets the venue's default ladder
(`tiers = ...` in venues.toml) and the run says so.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from sitcli.errors import BadInput
from sitcli.instruments import Tiers, Venue, base_symbol, instrument, venue

# renamed listings: the new base asset and the one it traded under before
RENAMED = {"RENDER": "RNDR"}
_NAME = re.compile(r"^([a-z0-9]+)_(\d{4}-\d{2}-\d{2})\.json$")


@dataclass(frozen=True)
class Snapshot:
    exchange: str
    date: dt.date
    path: Path
    pulled: bool          # written by `sitcli data tiers pull` (else shipped with sitcli)

    @property
    def label(self) -> str:
        return f"{self.exchange} {self.date:%Y-%m-%d} ({'pulled' if self.pulled else 'shipped'})"


def shipped_dir() -> Path:
    return Path(str(files("sitcli.datasets") / "tiers"))


def user_dir(data_root: Path) -> Path:
    return Path(data_root) / "tiers"


def snapshot_path(data_root: Path, exchange: str, date: dt.date) -> Path:
    return user_dir(data_root) / f"{exchange}_{date:%Y-%m-%d}.json"


def snapshots(exchange: str, data_root: Path | None = None) -> list[Snapshot]:
    """The exchange's snapshots, shipped and pulled, oldest first."""
    found = []
    dirs = [(shipped_dir(), False)] + ([(user_dir(data_root), True)] if data_root else [])
    for folder, pulled in dirs:
        if not folder.is_dir():
            continue
        for path in folder.glob(f"{exchange}_*.json"):
            m = _NAME.match(path.name)
            if m:
                found.append(Snapshot(m.group(1), dt.date.fromisoformat(m.group(2)), path, pulled))
    return sorted(found, key=lambda s: (s.date, s.pulled))


@lru_cache(maxsize=16)
def _read(path: Path, mtime: float) -> dict:
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadInput(f"tier snapshot {path}: not readable JSON ({exc}); delete it or pull "
                       "again with `sitcli data tiers pull`") from None
    if not isinstance(table, dict):
        raise BadInput(f"tier snapshot {path}: expected {{symbol: [tiers]}} (ccxt's "
                       "fetch_leverage_tiers shape)")
    return table


def read_snapshot(snap: Snapshot) -> dict:
    return _read(snap.path, snap.path.stat().st_mtime)


def _names(symbol: str) -> list[str]:
    base = base_symbol(symbol)
    return [base] + ([RENAMED[base]] if base in RENAMED else [])


def find_rows(table: dict, symbol: str) -> tuple[str, list] | None:
    """The USDT-settled perpetual's tiers for `symbol` (or its earlier name) in one snapshot;
    older snapshots key the perpetual as BASE/USDT."""
    for base in _names(symbol):
        for key in (f"{base}/USDT:USDT", f"{base}/USDT"):
            if key in table:
                return key, table[key]
    return None


def to_tiers(rows: list, name: str) -> Tiers:
    """ccxt tier rows -> Tiers (the maintenance amounts follow from the rates: `Tiers.cum`)."""
    try:
        rows = sorted(rows, key=lambda r: float(r["minNotional"]))
        floor = tuple(float(r["minNotional"]) for r in rows)
        mmr = tuple(float(r["maintenanceMarginRate"]) for r in rows)
        maxlev = tuple(float(r["maxLeverage"]) for r in rows)
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInput(f"tier table {name}: a tier lacks minNotional, maintenanceMarginRate or "
                       f"maxLeverage ({exc})") from None
    if not rows or floor[0] != 0.0:
        raise BadInput(f"tier table {name}: the first tier must start at notional 0")
    return Tiers(name, floor, mmr, maxlev)


def symbol_tiers(exchange: str, symbol: str, when: dt.date | None,
                 data_root: Path | None = None) -> Tiers | None:
    """The symbol's tiers from the snapshot nearest `when` (today when None); None when no
    snapshot of the exchange lists it."""
    when = when or dt.date.today()
    best = None
    for snap in snapshots(exchange, data_root):
        hit = find_rows(read_snapshot(snap), symbol)
        if hit is None:
            continue
        # nearest first; on a tie the newer, then the pulled one (sorted after the shipped)
        rank = (abs((snap.date - when).days), -snap.date.toordinal(), not snap.pulled)
        if best is None or rank < best[0]:
            best = (rank, snap, hit)
    if best is None:
        return None
    _, snap, (key, rows) = best
    return to_tiers(rows, f"{key} {snap.label}")


def venue_for(symbol: str, venue_name: str | None = None, overrides: dict | None = None,
              when=None, data_root: Path | None = None) -> Venue:
    """The venue a position in `symbol` trades under: the preset (the instrument's unless
    named), with the symbol's own tiers from the snapshot nearest `when` on venues with
    brackets. A symbol without a table keeps the venue's default ladder, named as such."""
    inst = instrument(symbol)
    v = venue(venue_name or inst.venue, inst.asset_class, overrides)
    if v.margin_mode == "account" or not v.tier_source or "tiers" in (overrides or {}):
        return v
    day = None if when is None else _as_date(when)
    own = symbol_tiers(v.tier_source, symbol, day, data_root)
    if own is None:
        return replace(v, tiers=replace(v.tiers, name=f"{v.tiers.name} (default: no "
                                                      f"{v.tier_source} table lists "
                                                      f"{base_symbol(symbol)})"))
    return replace(v, tiers=own)


def _as_date(when) -> dt.date:
    if isinstance(when, dt.datetime):
        return when.date()
    if isinstance(when, dt.date):
        return when
    return dt.date.fromisoformat(str(when)[:10])


CREDENTIALS = ("SITCLI_CCXT_API_KEY", "SITCLI_CCXT_SECRET")
# exchanges whose tier endpoint needs a signed request (Binance: /fapi/v1/leverageBracket)
SIGNED = {"binance"}


def pull(exchange: str, data_root: Path, source=None, today: dt.date | None = None) -> tuple:
    """Fetch the exchange's tier table through ccxt (`fetch_leverage_tiers`) and write it as
    today's snapshot in `<data_root>/tiers/`. Returns (path, number of symbols).

    `source` is a `CcxtSource` (tests point its transport at a local replica)."""
    import os

    from sitcli.data.sources.ccxt import CcxtSource
    from sitcli.errors import RuntimeFailure

    exchange = exchange.lower()
    if source is None:
        config = {}
        if exchange in SIGNED:
            key, secret = (os.environ.get(name) for name in CREDENTIALS)
            if not (key and secret):
                raise BadInput(f"{exchange} serves its leverage tiers only to signed requests: "
                               f"set {CREDENTIALS[0]} and {CREDENTIALS[1]} (a read-only API key)")
            # with a key, ccxt would also load the wallet's coins and margin pairs: not needed
            config = {"apiKey": key, "secret": secret,
                      "options": {"fetchCurrencies": False, "fetchMargins": False}}
        source = CcxtSource(exchange, config=config)
    probe = "BTC/USDT:USDT"   # any linear perpetual: the client loads the swap markets
    client = source._client(exchange, probe)
    table = source._call(lambda: client.fetch_leverage_tiers(), client, exchange, "tiers")
    if not isinstance(table, dict) or not table:
        raise RuntimeFailure(f"{exchange}: fetch_leverage_tiers returned no tiers; try again later")
    for key, rows in table.items():
        to_tiers(rows, f"{exchange} {key}")   # refuse a malformed table before writing it
    path = snapshot_path(data_root, exchange, today or dt.date.today())
    from sitcli.files import atomic_write

    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(table, indent=1), encoding="utf-8"))
    return path, len(table)
