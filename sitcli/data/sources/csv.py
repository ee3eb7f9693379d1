"""OHLCV bars from a CSV file: Yahoo exports (with or without Adj Close, also yfinance's
three-row ``Price/Ticker/Date`` header) and generic ``date,open,high,low,close,volume`` files.

Timestamps: ISO 8601 dates or datetimes (naive ones are taken as UTC, or as local time in
``tz``, e.g. an Interactive Brokers export in New York time; dates alone stay dates),
YYYYMMDD, or epoch seconds / milliseconds told apart by magnitude. Errors name the file, the 1-based line (the
header is line 1) and the column as written in the file.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from sitcli.data.store import validate_ohlcv
from sitcli.domains import check_years, time_range_text
from sitcli.errors import BadInput

# Canonical column -> accepted header names (case-insensitive), the first match wins.
ALIASES = {
    "time": ("date", "time", "timestamp", "datetime"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c", "price"),
    "volume": ("volume", "vol", "v"),
    "adj_close": ("adj close", "adj_close", "adjclose", "adjusted close", "adjusted_close"),
    "funding_rate": ("funding_rate", "funding rate", "funding"),
}
REQUIRED = ("time", "open", "high", "low", "close")
_EMPTY = {"", "null", "nan", "none", "na", "n/a"}
_NUMBER = re.compile(r"^-?\d+(\.\d*)?$")
_YYYYMMDD = re.compile(r"^(19|20|21)\d{6}$")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_OFFSET = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$", re.IGNORECASE)


# Rows parsed at a time: a file of millions of rows is read in pieces, each turned into
# numbers (with its own line numbers for errors) before the next is read.
CHUNK_ROWS = 200_000


def read_csv_ohlcv(path, adjust: bool = False, tz: str | None = None) -> pd.DataFrame:
    """Read and validate a CSV of bars; ``df.attrs["note"]`` says what was (not) adjusted.

    ``adjust=True`` scales open, high, low and close by Adj Close / Close; without it an Adj
    Close column is ignored (never applied silently) and the note says so. ``tz`` (an IANA
    zone): naive date-times are that zone's wall-clock time, stored in UTC.
    """
    path = Path(path)
    origin = str(path)
    zone = check_zone(tz)
    if not path.is_file():
        raise BadInput(f"{origin}: no such file; check the path")
    header: dict | None = None
    parts, part_lines, adj_parts = [], [], []
    offset = 0
    for raw in _chunks(path, origin):
        # compact (Arrow) strings, column by column: never a Python object per cell
        columns = [raw[j].astype("str").str.strip() for j in raw.columns]
        blank = np.ones(len(raw), dtype=bool)
        for col in columns:
            blank &= (col == "").to_numpy()
        keep = np.flatnonzero(~blank)
        lines = offset + keep + 1
        offset += len(raw)
        del raw
        if header is None:
            if len(keep) == 0:
                continue
            header = _header(columns, keep, lines, origin)
            keep, lines = keep[header["skip"]:], lines[header["skip"]:]
        if len(keep) == 0:
            continue
        cols, label = header["cols"], header["label"]

        def text(j: int, keep=keep, columns=columns) -> pd.Series:
            return columns[j].iloc[keep].reset_index(drop=True)

        index = _parse_times(text(cols["time"]).to_numpy(dtype=object), lines, origin,
                             label["time"], header, zone)
        frame = pd.DataFrame(index=index)
        for canon in ("open", "high", "low", "close", "volume", "funding_rate"):
            if canon in cols:
                col = text(cols[canon])
                empty = col.str.lower().isin(_EMPTY).to_numpy()
                # still text: validate_ohlcv converts it and names a cell that is not a number
                frame[canon] = (col.where(~empty) if empty.any() else col).array
        if "volume" not in cols:
            frame["volume"] = np.nan
        parts.append(validate_ohlcv(frame, origin, lines=lines, names=label))
        part_lines.append(lines)
        if "adj_close" in cols:
            adj_text = text(cols["adj_close"])
            adj = pd.to_numeric(adj_text, errors="coerce").to_numpy(dtype="float64",
                                                                      na_value=np.nan)
            bad = np.flatnonzero(~(adj > 0))
            if adjust and len(bad):
                i = bad[0]
                raise BadInput(f"{origin} line {lines[i]}: {label['adj_close']} "
                               f"{adj_text.iat[i]!r} is not a positive number (rule: --adjust "
                               "needs it on every row); fix the row or drop --adjust")
            adj_parts.append(adj)
    if header is None:
        raise BadInput(f"{origin}: empty file (rule: a header line and at least one row of "
                       "bars); export the data again")
    if not parts:
        raise BadInput(f"{origin}: no rows below the header (rule: at least one bar); "
                       "export the data again")
    cols, label, names = header["cols"], header["label"], header["names"]
    lines = np.concatenate(part_lines)
    # the rules between rows (order, duplicates) across the pieces
    df = validate_ohlcv(pd.concat(parts), origin, lines=lines, names=label)
    notes = [f"imported from {path.name}"]
    if zone is not None:
        notes.append(f"naive times read as {tz}, stored in UTC")
    if "volume" not in cols:
        notes.append("no volume column, volume set to 0")

    if "adj_close" in cols:
        adj = np.concatenate(adj_parts)
        close = df["close"].to_numpy()
        differs = int(np.sum(np.abs(adj - close) > 1e-9 * close))
        if adjust:
            factor = adj / close
            for c in ("open", "high", "low", "close"):
                df[c] = df[c].to_numpy() * factor
            df = validate_ohlcv(df, origin, lines=lines, names=label)
            notes.append(f"open/high/low/close scaled by {label['adj_close']} / "
                         f"{label['close']} (--adjust; {differs} rows changed)" if differs
                         else f"{label['adj_close']} equals {label['close']}, nothing to adjust")
        elif differs:
            notes.append(f"{label['adj_close']} differs from {label['close']} on {differs} rows "
                         f"and was ignored (prices are the {label['close']} column); pass "
                         "--adjust to scale by it")
    elif adjust:
        raise BadInput(f"{origin}: --adjust needs an Adj Close column and the file has none "
                       f"(found {', '.join(names)}); drop --adjust")
    df.attrs["note"] = "; ".join(notes)
    return df


def _chunks(path: Path, origin: str):
    """The file's rows as string DataFrames of CHUNK_ROWS, blank lines kept (line numbers)."""
    try:
        reader = pd.read_csv(path, header=None, dtype=str, skip_blank_lines=False,
                             keep_default_na=False, na_filter=False, encoding="utf-8-sig",
                             chunksize=CHUNK_ROWS)
        with reader:
            yield from reader
    except pd.errors.EmptyDataError:
        raise BadInput(f"{origin}: empty file (rule: a header line and at least one row of "
                       "bars); export the data again") from None
    except pd.errors.ParserError as exc:
        detail = str(exc).strip().splitlines()[-1]
        raise BadInput(f"{origin}: not a well-formed CSV ({detail}); every row needs the same "
                       "number of fields as the header") from None
    except UnicodeDecodeError:
        raise BadInput(f"{origin}: not a UTF-8 text file; save it as CSV (UTF-8)") from None


def _header(columns: list, keep: np.ndarray, lines: np.ndarray, origin: str) -> dict:
    """Column names and where each field is, from the first non-blank rows."""
    def row(k: int) -> list[str]:
        return [str(col.iat[keep[k]]) for col in columns]

    names, header_line, skip = row(0), int(lines[0]), 1
    # yfinance >= 0.2.51 writes "Price,...", "Ticker,...", "Date,,,": the real date header is
    # the first cell of the row whose other cells are empty.
    if names[0].lower() == "price" and len(keep) > 1 and row(1)[0].lower() == "ticker":
        skip = 2
        if len(keep) > 2 and all(c == "" for c in row(2)[1:]):
            names[0] = row(2)[0] or "Date"
            skip = 3
    lowered = [n.lower() for n in names]
    cols: dict[str, int] = {}
    for canon, aliases in ALIASES.items():
        found = [j for j, n in enumerate(lowered) if n in aliases]
        if len(found) > 1:
            raise BadInput(f"{origin} line {header_line}: columns "
                           f"{' and '.join(names[j] for j in found)} both give {canon} (rule: "
                           "one column per field); delete or rename all but one")
        if found:
            cols[canon] = found[0]
    for canon in REQUIRED:
        if canon not in cols:
            raise BadInput(f"{origin} line {header_line}: missing column {canon} (looked for "
                           f"{'|'.join(ALIASES[canon])}; found {', '.join(names)}); rename the "
                           "column in the header")
    return {"names": names, "cols": cols, "skip": skip,
            "label": {canon: names[j] for canon, j in cols.items()}}


def check_zone(tz: str | None):
    """The zone `--tz` names, or None; a one-line error for a name that is not one."""
    if tz is None:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadInput(f"--tz {tz!r}: not a time zone; use an IANA name such as "
                       "America/New_York, Europe/London or UTC") from None


def _local_times(values: np.ndarray, lines: np.ndarray, origin: str, column: str,
                 zone) -> pd.Series:
    """ISO 8601 times with naive date-times read in `zone`: those with an offset keep it,
    dates alone stay midnight UTC (a daily bar's date). A wall-clock time the zone skips
    (clocks going forward) or repeats (going back, when the file's order cannot tell
    which) is refused with its line."""
    text = pd.Series(values, dtype="str")
    naive = ~(text.str.contains(_OFFSET.pattern, regex=True) |
              text.str.fullmatch(_DATE_ONLY.pattern)).to_numpy()
    times = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    if not naive.any():
        return times
    wall = pd.to_datetime(text[naive], format="ISO8601", errors="coerce")
    if wall.isna().any():
        return times.where(~naive)   # _parse_times names the first bad one
    try:
        local = pd.DatetimeIndex(wall).tz_localize(zone, ambiguous="infer",
                                                   nonexistent="raise")
    except Exception as exc:   # pytz/pandas raise several kinds for skipped or repeated times
        bad = _first_unplaceable(pd.DatetimeIndex(wall), zone)
        i = np.flatnonzero(naive)[bad]
        raise BadInput(f"{origin} line {lines[i]}: {column} {values[i]!r} is not a single "
                       f"time in {zone.key} ({type(exc).__name__}: the clocks skip or repeat "
                       "it there); fix the row or give the times with their UTC offset") from None
    times[naive] = local.tz_convert("UTC")
    return times


def _first_unplaceable(wall: pd.DatetimeIndex, zone) -> int:
    for k, stamp in enumerate(wall):
        try:
            pd.DatetimeIndex([stamp]).tz_localize(zone, ambiguous="raise", nonexistent="raise")
        except Exception:
            return k
    return 0


def _parse_times(values: np.ndarray, lines: np.ndarray, origin: str, column: str,
                 state: dict | None = None, zone=None) -> pd.DatetimeIndex:
    """Times of one piece of the file; `state` carries the first piece's format and epoch
    unit so that every piece is read the same way. `zone`: naive date-times are local time
    there (`_local_times`)."""
    state = {} if state is None else state
    text = pd.Series(values, dtype="str")
    empty = np.flatnonzero((text == "").to_numpy())
    if len(empty):
        i = empty[0]
        raise BadInput(f"{origin} line {lines[i]}: {column} is empty (rule: every bar has a "
                       "time); fill it in or drop the row")
    if text.str.fullmatch(_NUMBER.pattern).all():
        if text.str.fullmatch(_YYYYMMDD.pattern).all():
            times = pd.to_datetime(pd.Series(values), format="%Y%m%d", errors="coerce", utc=True)
        else:
            nums = values.astype("float64")
            # Epoch seconds reach 1e11 only in the year 5138, milliseconds go below it only
            # before 1973, so the magnitude decides the unit: per value, and one unit per file
            # (a file mixing seconds and milliseconds is ambiguous, not something to guess).
            magnitude = np.abs(nums)
            units = np.select([magnitude < 1e11, magnitude < 1e14, magnitude < 1e17],
                              [0, 1, 2], 3)
            names = ("seconds", "milliseconds", "microseconds", "nanoseconds")
            first = state.setdefault("epoch", (int(units[0]), int(lines[0])))
            mixed = np.flatnonzero(units != first[0])
            if len(mixed):
                i = mixed[0]
                raise BadInput(f"{origin} line {lines[i]}: {column} {values[i]!r} is epoch "
                               f"{names[units[i]]} but line {first[1]} is epoch "
                               f"{names[first[0]]} (rule: one unit per file); convert the "
                               "column to one unit")
            unit = ("s", "ms", "us", "ns")[units[0]]
            times = pd.Series(pd.to_datetime(nums, unit=unit, utc=True, errors="coerce"))
    elif zone is not None:
        times = _local_times(values, lines, origin, column, zone)
    else:
        times = pd.to_datetime(pd.Series(values), utc=True, format="ISO8601", errors="coerce")
    bad = np.flatnonzero(times.isna().to_numpy())
    if len(bad):
        i = bad[0]
        raise BadInput(f"{origin} line {lines[i]}: {column} {values[i]!r} is not a time; use ISO "
                       "8601 (2024-01-31 or 2024-01-31T13:00:00Z) or epoch seconds/milliseconds")
    i = check_years(pd.DatetimeIndex(times).year)
    if i is not None:
        raise BadInput(f"{origin} line {lines[i]}: {column} {values[i]!r} is out of range "
                       f"(rule: times {time_range_text()}); fix the date")
    return pd.DatetimeIndex(times).as_unit("ns").rename("time")
