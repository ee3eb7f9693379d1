"""The local market-data store: one Parquet file per (source, symbol, timeframe).

Layout: ``<root>/<source>/<timeframe>/<file-safe symbol>.parquet``. The bar index is stored as a
``time`` column (timestamp[ns, UTC]); the schema metadata key ``sitcli`` holds a JSON record
``{"source", "symbol", "timeframe", "synthetic", "note"}`` so ``entries()`` can describe a file
from its footer alone.

Every frame is validated before it is written, and writes go to a temporary file in the same
directory that is fsynced and renamed over the target, so a bad payload or a crash never leaves
a truncated file behind.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sitcli.errors import BadInput, DataMissing, RuntimeFailure, SitcliError
from sitcli.files import atomic_path, environment_error

OHLCV_COLUMNS = ("open", "high", "low", "close", "volume")
OPTIONAL_COLUMNS = ("funding_rate",)
META_KEY = b"sitcli"

# When a symbol is stored under several sources and the caller names none, the first source in
# this list wins (exchange-grade sources before user files before synthetic data); sources not
# listed come after, alphabetically.
SOURCE_PREFERENCE = ("yahoo", "ccxt", "csv", "sit", "demo")

# Relative slack for the OHLC ordering rules (see validate_ohlcv).
_REL_TOL = 1e-9

_SOURCE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_TIMEFRAME_RE = re.compile(r"^[1-9][0-9]{0,3}[mhdwM]$")
MAX_SYMBOL_LENGTH = 64
# How long a writer waits for another process's lock on the same file.
LOCK_TIMEOUT = 120.0


class DamagedFile(RuntimeFailure):
    """A stored file that cannot be read back as it was written (exit 1)."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"damaged file {path}: {reason}; delete it and import or pull the "
                         "data again")
        self.path = Path(path)
        self.reason = reason


def clean_symbol(symbol: str) -> str:
    """The symbol without surrounding spaces, or BadInput when it cannot name a file."""
    if not isinstance(symbol, str) or not symbol.strip():
        raise BadInput("empty symbol; pass a ticker such as NVDA or RENDER/USDT@binance")
    symbol = symbol.strip()
    if len(symbol) > MAX_SYMBOL_LENGTH:
        raise BadInput(f"symbol {symbol[:20]!r}... is {len(symbol)} characters long; at most "
                       f"{MAX_SYMBOL_LENGTH} are allowed")
    if symbol.startswith("."):
        raise BadInput(f"symbol {symbol!r} starts with '.'; symbols start with a letter, digit "
                       "or ^ (e.g. NVDA, ^NDX, RENDER/USDT)")
    if any(ord(ch) < 32 or ch.isspace() for ch in symbol):
        raise BadInput(f"symbol {symbol!r} contains spaces or control characters; use e.g. NVDA")
    return symbol


def check_timeframe(timeframe: str) -> str:
    if not isinstance(timeframe, str) or not _TIMEFRAME_RE.match(timeframe):
        raise BadInput(f"--timeframe {timeframe!r}: use a number and a unit m, h, d or w, e.g. "
                       "1d, 4h, 1h or 15m")
    return timeframe


def default_data_dir(explicit: Path | None = None) -> Path:
    """The data directory: the explicit one, else $SITCLI_DATA_DIR, else the platform default."""
    if explicit is not None:
        return Path(explicit).expanduser()
    env = os.environ.get("SITCLI_DATA_DIR", "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("sitcli"))


def file_symbol(symbol: str) -> str:
    """File-name form of a symbol: RENDER/USDT:USDT -> RENDER%2FUSDT%3AUSDT (^NDX stays ^NDX)."""
    return quote(symbol, safe="^")


# ---------------------------------------------------------------- validation


def _fmt_value(value: float) -> str:
    return f"{value:.10g}"


def fmt_time(ts: pd.Timestamp) -> str:
    """2024-01-31 for a bar at midnight UTC, else 2024-01-31T13:00:00+00:00."""
    if ts.hour == ts.minute == ts.second == ts.microsecond == ts.nanosecond == 0:
        return ts.date().isoformat()
    return ts.isoformat()


def validate_ohlcv(df: pd.DataFrame, origin: str, *, lines=None, names=None) -> pd.DataFrame:
    """Return the canonical form of ``df``, or raise BadInput naming ``origin``, row and rule.

    Canonical: UTC DatetimeIndex (ns) named ``time``, float64 open, high, low, close, volume and,
    when present, funding_rate. NaN volume becomes 0. ``lines`` (one label per row, e.g. CSV line
    numbers) and ``names`` (canonical -> source column name) only make messages point at the
    user's file.
    """
    names = names or {}

    def col(c: str) -> str:
        return names.get(c, c)

    if df is None or len(df) == 0:
        raise BadInput(f"{origin}: no rows (rule: at least one bar); check that the data "
                       "is not empty")
    if not isinstance(df.index, pd.DatetimeIndex) and "time" in df.columns:
        df = df.set_index("time")
    missing = [c for c in OHLCV_COLUMNS if c not in df.columns]
    if missing:
        raise BadInput(f"{origin}: missing column(s) {', '.join(missing)} (need "
                       f"{', '.join(OHLCV_COLUMNS)}); rename or add the columns")

    index = df.index
    if not isinstance(index, pd.DatetimeIndex):
        if not (pd.api.types.is_object_dtype(index) or pd.api.types.is_string_dtype(index)):
            raise BadInput(f"{origin}: no timestamps (need a DatetimeIndex or a time column); "
                           "index the frame by time")
        try:
            index = pd.DatetimeIndex(pd.to_datetime(index, utc=True, format="ISO8601"))
        except (ValueError, TypeError) as exc:
            raise BadInput(f"{origin}: the index is not a timestamp ({exc}); use ISO dates "
                           "such as 2024-01-31 or 2024-01-31T00:00:00Z") from None
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    index = index.as_unit("ns").rename("time")

    def where(i: int) -> str:
        label = f"line {lines[i]}" if lines is not None else f"row {i + 1}"
        ts = index[i]
        return f"{origin} {label}" + ("" if pd.isna(ts) else f" ({fmt_time(ts)})")

    nat = np.flatnonzero(index.isna())
    if len(nat):
        raise BadInput(f"{where(nat[0])}: missing timestamp (rule: every bar has a time); "
                       "fill it in or drop the row")

    out = pd.DataFrame(index=index)
    for c in OHLCV_COLUMNS + tuple(c for c in OPTIONAL_COLUMNS if c in df.columns):
        raw = pd.Series(df[c].array)     # text stays Arrow strings, not Python objects
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        bad = np.flatnonzero(np.isnan(values) & ~raw.isna().to_numpy())
        if len(bad):
            i = bad[0]
            raise BadInput(f"{where(i)}: {col(c)} {raw[i]!r} is not a number; fix the value "
                           "or drop the row")
        inf = np.flatnonzero(np.isinf(values))
        if len(inf):
            raise BadInput(f"{where(inf[0])}: {col(c)} is infinite (rule: finite numbers); fix "
                           "the value or drop the row")
        out[c] = values

    prices = out[["open", "high", "low", "close"]].to_numpy()
    for j, c in enumerate(("open", "high", "low", "close")):
        nan = np.flatnonzero(np.isnan(prices[:, j]))
        if len(nan):
            raise BadInput(f"{where(nan[0])}: {col(c)} is empty (rule: every bar has open, high, "
                           "low and close); fill it in or drop the row")
        nonpos = np.flatnonzero(prices[:, j] <= 0)
        if len(nonpos):
            i = nonpos[0]
            raise BadInput(f"{where(i)}: {col(c)} {_fmt_value(prices[i, j])} is not positive "
                           "(rule prices > 0); fix the row or drop it")

    o, h, lo, cl = prices.T
    # Adjusted vendor data (yfinance auto_adjust) breaks low <= min(open, close) by a few ulps;
    # that is float noise, not a bad bar: tolerate it and clamp below, reject anything larger.
    slack = _REL_TOL * np.maximum(np.abs(h), np.abs(lo))
    checks = (
        (h < lo - slack, lambda i: f"{col('high')} {_fmt_value(h[i])} < {col('low')} "
         f"{_fmt_value(lo[i])} (rule high >= low)"),
        (lo > np.minimum(o, cl) + slack, lambda i: f"{col('low')} {_fmt_value(lo[i])} > "
         f"min(open, close) {_fmt_value(min(o[i], cl[i]))} (rule low <= min(open, close))"),
        (h < np.maximum(o, cl) - slack, lambda i: f"{col('high')} {_fmt_value(h[i])} < "
         f"max(open, close) {_fmt_value(max(o[i], cl[i]))} (rule high >= max(open, close))"),
    )
    for mask, message in checks:
        bad = np.flatnonzero(mask)
        if len(bad):
            raise BadInput(f"{where(bad[0])}: {message(bad[0])}; fix the row or drop it")
    lo = np.minimum(lo, np.minimum(o, cl))
    out["low"] = lo
    out["high"] = np.maximum(h, np.maximum(np.maximum(o, cl), lo))

    step = np.diff(index.asi8)
    back = np.flatnonzero(step <= 0)
    if len(back):
        i = back[0] + 1
        prev = fmt_time(index[i - 1])
        if step[back[0]] == 0:
            raise BadInput(f"{where(i)}: duplicate timestamp, same as the row before (rule: one "
                           "bar per time); drop one of the two rows")
        raise BadInput(f"{where(i)}: timestamp is earlier than the row before ({prev}) (rule: "
                       "times strictly increasing); sort the data by time, oldest first")

    vol = out["volume"].to_numpy()
    neg = np.flatnonzero(vol < 0)
    if len(neg):
        i = neg[0]
        raise BadInput(f"{where(i)}: {col('volume')} {_fmt_value(vol[i])} is negative "
                       "(rule volume >= 0); fix the row or drop it")
    out["volume"] = np.nan_to_num(vol, nan=0.0)
    return out


# ---------------------------------------------------------------- store


def _check_part(value: str, what: str, pattern: re.Pattern[str], example: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise BadInput(f"bad {what} {value!r}; use something like {example!r}")
    return value


def _bound(value, name: str, end: bool) -> pd.Timestamp | None:
    if value is None or value == "":
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise BadInput(f"bad {name} {value!r}; use a date such as 2024-01-31") from None
    if pd.isna(ts):
        raise BadInput(f"bad {name} {value!r}; use a date such as 2024-01-31")
    ts = ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")
    # An end given as a bare date means the whole day, so intraday bars on that day are kept.
    if end and isinstance(value, str) and len(value.strip()) == 10:
        ts = ts + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")
    return ts


def _source_rank(source: str) -> tuple[int, str]:
    if source in SOURCE_PREFERENCE:
        return (SOURCE_PREFERENCE.index(source), source)
    return (len(SOURCE_PREFERENCE), source)


class Store:
    """Parquet files under ``root``; ``read_only`` stores (the shipped demo data) refuse writes."""

    def __init__(self, root: Path, read_only: bool = False, *, demo: bool = False):
        self.root = Path(root)
        self.read_only = read_only
        self.demo = demo
        if not demo:   # the instruments `data import --asset-class` declared here
            from sitcli.config import load_store_instruments

            load_store_instruments(self.root)

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r}, read_only={self.read_only})"

    def path(self, source: str, symbol: str, timeframe: str) -> Path:
        _check_part(source, "source", _SOURCE_RE, "csv")
        check_timeframe(timeframe)
        return self.root / source / timeframe / f"{file_symbol(clean_symbol(symbol))}.parquet"

    @contextmanager
    def locked(self, source: str, symbol: str, timeframe: str, timeout: float = LOCK_TIMEOUT):
        """Hold the exclusive lock of one stored file (re-entrant within this process).

        Every writer takes it around its read-merge-write, so two imports or pulls of the
        same symbol take turns instead of losing each other's rows."""
        path = self.path(source, symbol, timeframe)
        with file_lock(path, timeout):
            yield path

    # -- writing

    def write(self, df: pd.DataFrame, *, source: str, symbol: str, timeframe: str,
              synthetic: bool = False, note: str = "", merge: bool = False) -> Path:
        """Validate ``df`` and store it atomically; ``merge`` keeps old rows the new ones lack.
        Holds the file's lock, so a concurrent writer cannot lose these rows or its own."""
        if self.read_only:
            raise RuntimeFailure(f"the store at {self.root} is read-only (embedded demo data); "
                                 "write to your data directory instead (--data-dir)")
        symbol = clean_symbol(symbol)
        frame = validate_ohlcv(df, f"{source}/{timeframe}/{symbol}")
        with self.locked(source, symbol, timeframe) as path:
            if merge and path.exists():
                old = self._read_file(path)
                both = pd.concat([old, frame])
                frame = both[~both.index.duplicated(keep="last")].sort_index()
                frame = validate_ohlcv(frame, f"{source}/{timeframe}/{symbol} (merged)")
            meta = {"source": source, "symbol": symbol, "timeframe": timeframe,
                    "synthetic": bool(synthetic), "note": str(note), "rows": len(frame),
                    "first": frame.index[0].isoformat(), "last": frame.index[-1].isoformat()}
            meta["checksum"] = _checksum(frame, meta)
            meta["meta_checksum"] = _meta_checksum(meta)
            table = pa.Table.from_pandas(frame.reset_index(), preserve_index=False)
            # only our metadata: pandas' own would be one more unchecked thing to trust
            table = table.replace_schema_metadata({META_KEY: json.dumps(meta).encode()})
            with atomic_path(path) as tmp:
                with open(tmp, "wb") as fh:
                    pq.write_table(table, fh, write_page_checksum=True)
        return path

    # -- reading

    def _read_file(self, path: Path) -> pd.DataFrame:
        """The bars of one file, checked against its page checksums and its own checksum;
        DamagedFile (naming the file) if anything does not read back as written."""
        try:
            table = read_table(path)
        except FileNotFoundError:
            raise
        except PermissionError as exc:
            raise environment_error(exc, "read", path) from None
        except (OSError, pa.ArrowException, ValueError, TypeError, KeyError,
                IndexError) as exc:
            raise DamagedFile(path, f"{type(exc).__name__}: {exc}") from None
        meta = _file_meta(table.schema.metadata, path)
        try:
            names = table.column_names
            if "time" not in names or any(c not in names for c in OHLCV_COLUMNS):
                raise ValueError(f"columns {', '.join(names)} (need time, "
                                 f"{', '.join(OHLCV_COLUMNS)})")
            index = pd.DatetimeIndex(table.column("time").to_pandas())
            index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
            df = pd.DataFrame({c: table.column(c).to_numpy().astype("float64")
                               for c in names if c != "time"},
                              index=index.as_unit("ns").rename("time"))
        except (ValueError, TypeError, pa.ArrowException, OverflowError) as exc:
            raise DamagedFile(path, f"{type(exc).__name__}: {exc}") from None
        if "checksum" in meta and meta["checksum"] != _checksum(df, meta):
            raise DamagedFile(path, "its contents do not match the checksum written with them")
        if not df.index.is_monotonic_increasing or df.index.has_duplicates:
            raise DamagedFile(path, "its timestamps are out of order or repeated")
        df.attrs["sitcli"] = {**meta, "path": str(path)}
        from sitcli.runs import note_read  # the run manifest fingerprints what was read

        note_read(path)
        return df

    def sources_for(self, symbol: str, timeframe: str) -> list[str]:
        """Sources that hold ``symbol`` at ``timeframe``, in SOURCE_PREFERENCE order."""
        check_timeframe(timeframe)
        if not self.root.is_dir():
            return []
        name = f"{file_symbol(clean_symbol(symbol))}.parquet"
        found = [d.name for d in self.root.iterdir() if (d / timeframe / name).is_file()]
        return sorted(found, key=_source_rank)

    def resolve(self, symbol: str, timeframe: str = "1d") -> str:
        """The stored symbol a name means: itself when stored, else the one stored pair whose
        base it is (RENDER -> RENDER/USDT); BadInput listing them when several are."""
        symbol = clean_symbol(symbol)
        if "/" in symbol or self.sources_for(symbol, timeframe) or not self.root.is_dir():
            return symbol
        from sitcli.instruments import base_symbol

        stored = {e["symbol"] for e in self.entries() if e["timeframe"] == timeframe}
        pairs = sorted(s for s in stored if "/" in s and base_symbol(s) == symbol.upper())
        if len(pairs) > 1:
            raise BadInput(f"symbol {symbol} matches several stored pairs at {timeframe}: "
                           f"{', '.join(pairs)}; name one of them")
        return pairs[0] if pairs else symbol

    def _missing(self, symbol: str, timeframe: str, source: str | None) -> SitcliError:
        from sitcli.instruments import is_listed

        what = f"{timeframe} bars for {symbol}" + (f" from source {source}" if source else "")
        entries = self.entries() if self.root.is_dir() else []
        stored = {e["symbol"] for e in entries}
        if symbol not in stored and not is_listed(symbol) and not symbol.startswith("SIT"):
            # a name sitcli knows nothing about is a typo until shown otherwise: exit 2
            near = ", ".join(sorted(stored)[:12]) or "none"
            return BadInput(f"unknown symbol {symbol!r}: not in {self.root} and not a listed "
                            f"instrument; stored symbols: {near}"
                            + ("" if self.demo else f' (to add it: "sitcli data pull {symbol}" '
                               f'or "sitcli data import FILE --symbol {symbol}")'))
        others = sorted({e["timeframe"] for e in entries if e["symbol"] == symbol} - {timeframe})
        hint = f" (stored timeframes: {', '.join(others)}; pass --timeframe)" if others else ""
        if self.demo:
            symbols = sorted({e["symbol"] for e in self.entries() if e["timeframe"] == timeframe})
            listing = ", ".join(symbols) if symbols else "none"
            return DataMissing(f"no demo {what}{hint}; demo symbols at {timeframe}: {listing} "
                               '(see "sitcli data list --demo"), or drop --demo to use your data')
        if symbol == "SIT" or symbol.startswith("SIT-F"):
            how = '"sitcli sit build" (the simulated SIT index and futures)'
        else:
            how = (f'"sitcli data import FILE --symbol {symbol}" or "sitcli data pull '
                   f'{symbol}"')
        return DataMissing(f"no stored {what} in {self.root}{hint}; run {how}, or use --demo")

    def read(self, symbol: str, timeframe: str = "1d", source: str | None = None,
             start=None, end=None) -> pd.DataFrame:
        """Bars for ``symbol`` with ``attrs["sitcli"]`` = stored metadata + ``path``.

        With ``source=None`` the first source in SOURCE_PREFERENCE that holds the symbol wins.
        ``start``/``end`` are inclusive UTC bounds (a bare end date includes that whole day).
        """
        lo, hi = _bound(start, "start", False), _bound(end, "end", True)
        if lo is not None and hi is not None and lo > hi:
            raise BadInput(f"start {start} is after end {end}; swap them")
        check_timeframe(timeframe)
        if source is None:
            symbol = self.resolve(symbol, timeframe)
            sources = self.sources_for(symbol, timeframe)
            if not sources:
                raise self._missing(symbol, timeframe, None)
            source = sources[0]
        path = self.path(source, symbol, timeframe)
        if not path.is_file():
            raise self._missing(symbol, timeframe, source)
        df = self._read_file(path)
        meta = df.attrs["sitcli"]
        if lo is not None or hi is not None:
            keep = np.ones(len(df), dtype=bool)
            if lo is not None:
                keep &= df.index >= lo
            if hi is not None:
                keep &= df.index <= hi
            full = df
            df = df[keep]
            if df.empty:
                raise DataMissing(
                    f"no {timeframe} bars for {symbol} between {start or 'the start'} and "
                    f"{end or 'the end'}; stored range is {full.index[0].date()} to "
                    f"{full.index[-1].date()} in {path}")
        df.attrs["sitcli"] = meta
        return df

    def last_close(self, symbol: str, timeframe: str = "1d") -> float:
        return float(self.read(symbol, timeframe)["close"].iloc[-1])

    def entries(self, damaged: list | None = None) -> list[dict]:
        """One record per stored file, from Parquet footers (no data pages are read).

        A file whose footer cannot be read or fails its checksum is left out and, when
        ``damaged`` is a list, appended to it as a DamagedFile, so one bad file does not
        hide the rest of the store."""
        out = []
        if not self.root.is_dir():
            return out
        for path in sorted(self.root.glob("*/*/*.parquet")):
            if path.name.startswith("."):
                continue
            try:
                out.append(self._entry(path))
            except DamagedFile as exc:
                if damaged is not None:
                    damaged.append(exc)
        out.sort(key=lambda e: (e["symbol"], e["timeframe"], _source_rank(e["source"])))
        return out

    def _entry(self, path: Path) -> dict:
        try:
            md = pq.read_metadata(path)
            meta = _file_meta(md.schema.to_arrow_schema().metadata, path)
            if "meta_checksum" in meta:
                rows = int(meta["rows"])
                first, last = pd.Timestamp(meta["first"]), pd.Timestamp(meta["last"])
                if rows != md.num_rows:
                    raise DamagedFile(path, f"{md.num_rows} rows where {rows} were written")
            else:       # another writer, or written before checksums: trust the statistics
                rows = md.num_rows
                first, last = _time_range(md, path)
        except PermissionError as exc:
            raise environment_error(exc, "read", path) from None
        except (OSError, pa.ArrowException, ValueError, TypeError, KeyError,
                IndexError) as exc:
            raise DamagedFile(path, f"{type(exc).__name__}: {exc}") from None
        return {"source": meta["source"], "symbol": meta["symbol"],
                "timeframe": meta["timeframe"], "rows": rows, "first": first, "last": last,
                "synthetic": bool(meta.get("synthetic", False)), "path": str(path)}


def read_table(path: Path) -> pa.Table:
    """One stored file as `pq.read_table(path, page_checksum_verification=True)` reads it,
    without read_table's dataset layer (its import and set-up were ~0.02 s of a warm
    backtest): ParquetFile, with the schema metadata read_table gives (the Arrow schema's)."""
    with pq.ParquetFile(path, page_checksum_verification=True) as parquet:
        return parquet.read().replace_schema_metadata(parquet.schema_arrow.metadata)


def _file_meta(schema_meta: dict | None, path: Path) -> dict:
    raw = (schema_meta or {}).get(META_KEY)
    try:
        meta = json.loads(raw) if raw else {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise DamagedFile(path, f"its metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise DamagedFile(path, "its metadata is not a JSON object")
    if "meta_checksum" in meta and meta["meta_checksum"] != _meta_checksum(meta):
        raise DamagedFile(path, "its metadata does not match the checksum written with it")
    # Files written by other tools lack our metadata: fall back to what the layout says.
    meta.setdefault("source", path.parent.parent.name)
    meta.setdefault("timeframe", path.parent.name)
    meta.setdefault("symbol", unquote(path.stem))
    meta.setdefault("synthetic", False)
    meta.setdefault("note", "")
    return meta


_IDENTITY = ("source", "symbol", "timeframe", "synthetic", "note")


def _checksum(df: pd.DataFrame, meta: dict) -> str:
    """Hash of what a file means: its identity, timestamps and every column's values."""
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps({k: meta.get(k) for k in _IDENTITY}, sort_keys=True).encode())
    h.update(np.ascontiguousarray(df.index.as_unit("ns").asi8).tobytes())
    for c in sorted(df.columns):
        h.update(c.encode() + b"\0")
        h.update(np.ascontiguousarray(df[c].to_numpy(dtype="float64")).tobytes())
    return h.hexdigest()


def _meta_checksum(meta: dict) -> str:
    body = {k: v for k, v in meta.items() if k != "meta_checksum"}
    return hashlib.blake2b(json.dumps(body, sort_keys=True).encode(), digest_size=16).hexdigest()


def _time_range(md, path: Path) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    if md.num_rows == 0:
        return None, None
    names = [md.schema.column(i).name for i in range(md.num_columns)]
    j = names.index("time")
    lows, highs = [], []
    for g in range(md.num_row_groups):
        stats = md.row_group(g).column(j).statistics
        if stats is None or not stats.has_min_max:
            # No statistics (another writer): read just the time column.
            col = pq.read_table(path, columns=["time"]).column("time").to_pandas()
            return pd.Timestamp(col.min()), pd.Timestamp(col.max())
        lows.append(pd.Timestamp(stats.min))
        highs.append(pd.Timestamp(stats.max))
    first, last = min(lows), max(highs)
    first = first.tz_localize("UTC") if first.tz is None else first.tz_convert("UTC")
    last = last.tz_localize("UTC") if last.tz is None else last.tz_convert("UTC")
    return first, last


_HELD = threading.local()


@contextmanager
def file_lock(path: Path, timeout: float = LOCK_TIMEOUT):
    """An exclusive advisory lock on ``path``'s sibling ``.lock`` file, across processes;
    re-entrant in one thread (a pull that holds it may write through Store.write)."""
    key = str(Path(path).resolve())
    held = _HELD.__dict__.setdefault("counts", {})
    if held.get(key):
        held[key] += 1
        try:
            yield
        finally:
            held[key] -= 1
        return
    lock_path = path.with_name(f".{path.name}.lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o644)
    except OSError as exc:
        raise environment_error(exc, "write", lock_path) from None
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RuntimeFailure(f"{path.name} is locked by another sitcli process for "
                                         f"{timeout:.0f} s; wait for it to finish") from None
                time.sleep(0.02)
        held[key] = 1
        try:
            yield
        finally:
            held.pop(key, None)
    finally:
        os.close(fd)   # closing the descriptor releases the lock


def demo_root() -> Path:
    from importlib.resources import files

    return Path(str(files("sitcli.datasets") / "demo"))


def synthetic_label(sources) -> str:
    """How output marks generated prices, given the sources of the synthetic series it uses:
    "SYNTHETIC DEMO DATA" for the embedded demo, "SYNTHETIC DATA" for others (the simulated
    SIT from `sitcli sit build`), "" for none."""
    sources = set(sources)
    if not sources:
        return ""
    return "SYNTHETIC DEMO DATA" if "demo" in sources else "SYNTHETIC DATA"


def demo_store() -> Store:
    """The embedded synthetic demo data (read-only), shipped as sitcli.datasets/demo."""
    return Store(demo_root(), read_only=True, demo=True)
