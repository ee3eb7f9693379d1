"""The news-catalyst calendar: load, validate, filter, align to bars.

The calendar is a CSV with the header
``time,title,category,direction,status,asset_classes,symbols,reach,source``:

- ``time``: ISO 8601, UTC unless an offset is given (``2024-05-22T20:20:00Z``); a date alone
  (or ``T00:00:00Z``) means the time of day is not recorded;
- ``direction``: 1 (expected up for AI-compute proxies), -1 (down), 0 (unknown / mixed);
- ``status``: rumor, confirmed or denied;
- ``asset_classes``: ``;``-separated from equity, index, crypto, synthetic;
- ``symbols``: ``;``-separated tickers the event is about (``NVDA``, ``AMD;NVDA``); listed
  instruments must belong to one of the row's asset classes;
- ``reach``: ``symbols`` (only the listed symbols act on it), ``asset_class`` (the listed
  symbols and every instrument of the listed asset classes) or ``sector`` (the listed symbols
  and every instrument of the listed sectors): market-wide news such as a model launch reaches
  a whole class, chip export controls reach the semiconductors, a company's results reach that
  company. See `about`;
- ``sectors`` (optional column): ``;``-separated sectors of instruments.toml (``semiconductors``,
  ``depin-ai-compute``, ``index``), required with reach ``sector``.

The built-in calendar (``datasets/events/catalysts.csv``) is always loaded; ``--events FILE``
adds the user's own rows. Every bad row is reported with its file, line and column.
"""

from __future__ import annotations

import csv
import io
from importlib.resources import files
from pathlib import Path

from sitcli.domains import check_years, time_range_text
from sitcli.errors import BadInput
from sitcli.instruments import ASSET_CLASSES
from sitcli.instruments import sectors as instrument_sectors

COLUMNS = ("time", "title", "category", "direction", "status", "asset_classes", "symbols", "reach",
           "source")
STATUSES = ("rumor", "confirmed", "denied")
OPTIONAL_COLUMNS = ("sectors",)
REACHES = ("symbols", "asset_class", "sector")
BUILTIN_NAME = "catalysts.csv"


def builtin_path():
    return files("sitcli.datasets") / "events" / BUILTIN_NAME


def load_events(extra: list[Path] | None = None, builtin: bool = True):
    """The built-in calendar plus the user's files, as a DataFrame sorted by time (UTC).

    Columns: time (UTC Timestamp), title, category, direction (int 1/-1/0), status,
    asset_classes and symbols (``;``-separated), reach, source. Rows of equal time keep their file order
    (built-in first, then the --events files in the order given).
    """
    import pandas as pd

    rows = []
    sources = [(BUILTIN_NAME, builtin_path().read_text(encoding="utf-8"))] if builtin else []
    for path in extra or []:
        try:
            sources.append((str(path), Path(path).read_text(encoding="utf-8")))
        except OSError as exc:
            raise BadInput(f"--events {path}: cannot read ({exc.strerror}); check the path") from None
        except UnicodeDecodeError:
            raise BadInput(f"--events {path}: not UTF-8 text; save it as a UTF-8 CSV") from None
    for name, text in sources:
        rows.extend(_parse(name, text))
    frame = pd.DataFrame(rows, columns=[*COLUMNS, *OPTIONAL_COLUMNS])
    frame["time"] = pd.to_datetime(frame["time"], utc=True).dt.as_unit("ns")
    frame["direction"] = frame["direction"].astype("int64")
    return frame.sort_values("time", kind="stable").reset_index(drop=True)


def _parse(name: str, text: str) -> list[dict]:
    import pandas as pd

    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise BadInput(f"{name} line 1, column {missing[0]}: missing (header lacks "
                       f"{', '.join(missing)}); the header must be {','.join(COLUMNS)}")
    unknown = [c for c in header if c not in COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise BadInput(f"{name} line 1, column {unknown[0]!r}: not a calendar column; the header "
                       f"must be {','.join(COLUMNS)} (optionally ,{','.join(OPTIONAL_COLUMNS)})")
    out = []
    for row in reader:
        line = reader.line_num

        def bad(column: str, what: str, fix: str, line: int = line) -> BadInput:
            return BadInput(f"{name} line {line}, column {column}: {what}; {fix}")

        if row.get(None):
            extra = len(row[None])
            raise bad(header[-1], f"{extra} field(s) more than the header's {len(header)} "
                      "(an unquoted comma?)", 'put fields that contain commas in "double quotes"')
        cells = {c: (row.get(c) or "").strip() for c in COLUMNS + OPTIONAL_COLUMNS}
        try:
            stamp = pd.Timestamp(cells["time"]) if cells["time"] else pd.NaT
        except (ValueError, TypeError, OverflowError):
            stamp = pd.NaT
        if pd.isna(stamp):
            raise bad("time", f"{cells['time']!r} is not a date",
                      "use ISO 8601 such as 2025-01-27T14:30:00Z (UTC)")
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        if check_years([stamp.year]) is not None:
            raise bad("time", f"{cells['time']!r} is out of range",
                      f"use a time {time_range_text()}")
        if not cells["title"]:
            raise bad("title", "empty", "give the headline")
        try:
            direction = int(cells["direction"])
        except ValueError:
            direction = 99
        if direction not in (-1, 0, 1):
            raise bad("direction", repr(cells["direction"]), "use 1 (up), -1 (down) or 0 (unknown)")
        if cells["status"] not in STATUSES:
            raise bad("status", f"{cells['status']!r} is not a status", f"use one of {', '.join(STATUSES)}")
        classes = [c.strip() for c in cells["asset_classes"].split(";")]
        unknown = [c for c in classes if c not in ASSET_CLASSES]
        if unknown:
            raise bad("asset_classes", f"{unknown[0]!r} is not an asset class",
                      f"use ;-separated names from {', '.join(ASSET_CLASSES)}")
        symbols = [t.strip() for t in cells["symbols"].split(";") if t.strip()]
        spaced = [t for t in symbols if any(ch.isspace() for ch in t)]
        if spaced:
            raise bad("symbols", f"{spaced[0]!r} is not a ticker", "separate tickers with ;")
        if cells["reach"] not in REACHES:
            raise bad("reach", f"{cells['reach']!r} is not a reach",
                      "use symbols (only the listed symbols), asset_class (the listed "
                      "symbols and every instrument of the listed asset classes) or sector "
                      "(the listed symbols and every instrument of the listed sectors)")
        sectors = [t.strip() for t in cells["sectors"].split(";") if t.strip()]
        known_sectors = instrument_sectors()
        wrong = [t for t in sectors if t not in known_sectors]
        if wrong:
            raise bad("sectors", f"{wrong[0]!r} is not a sector of instruments.toml",
                      f"use ;-separated names from {', '.join(known_sectors)}")
        if cells["reach"] == "sector" and not sectors:
            raise bad("sectors", "empty with reach sector",
                      f"name the sectors it reaches, from {', '.join(known_sectors)}")
        if cells["reach"] == "symbols" and not symbols:
            raise bad("symbols", "empty with reach symbols",
                      "name the tickers the event is about, or use reach asset_class")
        for symbol in symbols:
            listed = _listed_class(symbol)
            if listed is not None and listed not in classes:
                raise bad("symbols", f"{symbol} is {listed}, not in asset_classes "
                          f"{';'.join(classes)}", f"add {listed} to asset_classes")
        out.append({**cells, "time": stamp, "direction": direction,
                    "asset_classes": ";".join(dict.fromkeys(classes)),
                    "symbols": ";".join(dict.fromkeys(symbols)),
                    "sectors": ";".join(dict.fromkeys(sectors))})
    return out


def _listed_class(symbol: str) -> str | None:
    """The asset class of a symbol listed in instruments.toml, else None (a user's own ticker)."""
    from sitcli.instruments import base_symbol, instruments_table

    table = instruments_table()
    key = symbol if symbol in table else base_symbol(symbol)
    return table[key]["asset_class"] if key in table else None


def about(frame, symbol: str, asset_class: str):
    """Boolean mask of the events a symbol acts on: those naming it in `symbols`, those of
    reach asset_class listing its asset class, and those of reach sector listing its sector
    (instruments.toml). The one rule for which news concerns which leg."""
    import numpy as np

    from sitcli.instruments import base_symbol, instrument

    # RENDER/USDT:USDT@binance is RENDER: an event names the asset, not one venue's market
    wanted = base_symbol(symbol)
    named = frame["symbols"].map(
        lambda s: any(base_symbol(t) == wanted for t in str(s).split(";") if t)).to_numpy(bool)
    classed = (frame["reach"].to_numpy() == "asset_class") & frame["asset_classes"].map(
        lambda s: asset_class in str(s).split(";")).to_numpy(bool)
    sector = instrument(symbol).sector
    in_sector = np.zeros(len(frame), bool)
    if sector and "sectors" in frame:
        in_sector = (frame["reach"].to_numpy() == "sector") & frame["sectors"].map(
            lambda s: sector in str(s).split(";")).to_numpy(bool)
    return np.asarray(named | classed | in_sector, bool)


def parse_since(text, flag: str = "--since"):
    """A UTC timestamp from YYYY-MM-DD (or full ISO 8601), or None."""
    import pandas as pd

    if text is None or isinstance(text, pd.Timestamp):
        return text if text is None or text.tzinfo else text.tz_localize("UTC")
    try:
        stamp = pd.Timestamp(str(text).strip())
    except (ValueError, TypeError, OverflowError):
        stamp = pd.NaT
    if pd.isna(stamp):
        raise BadInput(f"{flag} {text!r} is not a date; use YYYY-MM-DD, e.g. {flag} 2024-01-01")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def filter_events(frame, since=None, category=None, asset_class=None, symbol=None):
    """Rows at or after `since` (a date or timestamp, UTC), of `category` (one name or a
    comma-separated list, case-insensitive), listing `asset_class`, and about `symbol` (see
    `about`: named, or reaching its asset class).

    An unknown category or asset class is a BadInput naming the known ones, so a typo does not
    quietly select nothing.
    """
    mask = frame["time"].notna()
    start = parse_since(since)
    if start is not None:
        mask &= frame["time"] >= start
    if category:
        wanted = {c.strip().lower() for c in str(category).split(",") if c.strip()}
        known = sorted(set(frame["category"].str.lower()))
        unknown = sorted(wanted - set(known))
        if unknown:
            raise BadInput(f"--category {unknown[0]!r}: no such category in the calendar; use one "
                           f"of {', '.join(known)}")
        mask &= frame["category"].str.lower().isin(wanted)
    if asset_class:
        if asset_class not in ASSET_CLASSES:
            raise BadInput(f"asset class {asset_class!r}: use one of {', '.join(ASSET_CLASSES)}")
        mask &= frame["asset_classes"].map(lambda s: asset_class in str(s).split(";")).astype(bool)
    if symbol:
        from sitcli.instruments import instrument

        mask &= about(frame, symbol, instrument(symbol).asset_class)
    return frame[mask].reset_index(drop=True)


def known_times(frame):
    """Events stamped exactly at midnight UTC carry a date but no time of day: count them as
    known at the end of that day, so no bar trades on news before it may have broken. Adds a
    `date_only` column; the rows stay sorted by the time they count from."""
    import pandas as pd

    times = pd.DatetimeIndex(frame["time"])
    date_only = times == times.normalize()
    out = frame.copy()
    out["time"] = times.where(~date_only, times + pd.Timedelta("1D"))
    out["date_only"] = date_only
    return out.sort_values("time", kind="stable").reset_index(drop=True)


def fill_bars(open_times, event_times):
    """For each event, the index of the first bar that opens AT OR AFTER it
    (len(open_times) if none): the bar at whose open the news is first acted on.

    An event stamped exactly at a bar's open is acted on at that open; news during a bar, or
    while the market is shut (evening, weekend, holiday), waits for the next open. A strategy
    places its order on the bar before (j - 1), so no bar trades on news published after its
    own open. `open_times` must be increasing (the instrument's real session opens, see
    `sitcli.backtest.bar_times`).
    """
    import numpy as np
    import pandas as pd

    opens = _utc(pd.DatetimeIndex(open_times)).as_unit("ns").asi8
    events = _utc(pd.DatetimeIndex(event_times)).as_unit("ns").asi8
    return np.searchsorted(opens, events, side="left")


def _utc(index):
    return index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
