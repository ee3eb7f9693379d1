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

import json
import os
import re
import tempfile
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sitcli.errors import BadInput, DataMissing, RuntimeFailure

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
_TIMEFRAME_RE = re.compile(r"^[0-9]+[A-Za-z]+$")


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
        raw = df[c].to_numpy()
        values = pd.to_numeric(pd.Series(raw), errors="coerce").to_numpy(dtype="float64")
        bad = np.flatnonzero(np.isnan(values) & ~pd.isna(pd.Series(raw)).to_numpy())
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

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r}, read_only={self.read_only})"

    def path(self, source: str, symbol: str, timeframe: str) -> Path:
        _check_part(source, "source", _SOURCE_RE, "csv")
        _check_part(timeframe, "timeframe", _TIMEFRAME_RE, "1d")
        if not symbol or not symbol.strip():
            raise BadInput("empty symbol; pass a ticker such as NVDA or RENDER/USDT@binance")
        return self.root / source / timeframe / f"{file_symbol(symbol)}.parquet"

    # -- writing

    def write(self, df: pd.DataFrame, *, source: str, symbol: str, timeframe: str,
              synthetic: bool = False, note: str = "", merge: bool = False) -> Path:
        """Validate ``df`` and store it atomically; ``merge`` keeps old rows the new ones lack."""
        if self.read_only:
            raise RuntimeFailure(f"the store at {self.root} is read-only (embedded demo data); "
                                 "write to your data directory instead (--data-dir)")
        path = self.path(source, symbol, timeframe)
        frame = validate_ohlcv(df, f"{source}/{timeframe}/{symbol}")
        if merge and path.exists():
            old = self._read_file(path)
            both = pd.concat([old, frame])
            frame = both[~both.index.duplicated(keep="last")].sort_index()
            frame = validate_ohlcv(frame, f"{source}/{timeframe}/{symbol} (merged)")
        meta = {"source": source, "symbol": symbol, "timeframe": timeframe,
                "synthetic": bool(synthetic), "note": str(note)}
        table = pa.Table.from_pandas(frame.reset_index(), preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                               META_KEY: json.dumps(meta).encode()})
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            # mkstemp makes the file private (0600); give it the mode a plain open() would.
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
            with os.fdopen(fd, "wb") as fh:
                pq.write_table(table, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)
        return path

    # -- reading

    def _read_file(self, path: Path) -> pd.DataFrame:
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowException) as exc:
            raise RuntimeFailure(f"cannot read {path}: {exc}; delete the file and import or "
                                 "pull the data again") from None
        df = table.to_pandas().set_index("time")
        df.index = pd.DatetimeIndex(df.index).as_unit("ns").rename("time")
        return df

    def sources_for(self, symbol: str, timeframe: str) -> list[str]:
        """Sources that hold ``symbol`` at ``timeframe``, in SOURCE_PREFERENCE order."""
        if not self.root.is_dir():
            return []
        name = f"{file_symbol(symbol)}.parquet"
        found = [d.name for d in self.root.iterdir() if (d / timeframe / name).is_file()]
        return sorted(found, key=_source_rank)

    def _missing(self, symbol: str, timeframe: str, source: str | None) -> DataMissing:
        what = f"{timeframe} bars for {symbol}" + (f" from source {source}" if source else "")
        others = sorted({e["timeframe"] for e in self.entries() if e["symbol"] == symbol}
                        - {timeframe}) if self.root.is_dir() else []
        hint = f" (stored timeframes: {', '.join(others)}; pass --timeframe)" if others else ""
        if self.demo:
            symbols = sorted({e["symbol"] for e in self.entries() if e["timeframe"] == timeframe})
            listing = ", ".join(symbols) if symbols else "none"
            return DataMissing(f"no demo {what}{hint}; demo symbols at {timeframe}: {listing} "
                               '(see "sitcli data list --demo"), or drop --demo to use your data')
        return DataMissing(f"no stored {what} in {self.root}{hint}; run \"sitcli data import "
                           f"FILE --symbol {symbol}\" or \"sitcli data pull {symbol}\", "
                           "or use --demo")

    def read(self, symbol: str, timeframe: str = "1d", source: str | None = None,
             start=None, end=None) -> pd.DataFrame:
        """Bars for ``symbol`` with ``attrs["sitcli"]`` = stored metadata + ``path``.

        With ``source=None`` the first source in SOURCE_PREFERENCE that holds the symbol wins.
        ``start``/``end`` are inclusive UTC bounds (a bare end date includes that whole day).
        """
        lo, hi = _bound(start, "start", False), _bound(end, "end", True)
        if lo is not None and hi is not None and lo > hi:
            raise BadInput(f"start {start} is after end {end}; swap them")
        if source is None:
            sources = self.sources_for(symbol, timeframe)
            if not sources:
                raise self._missing(symbol, timeframe, None)
            source = sources[0]
        path = self.path(source, symbol, timeframe)
        if not path.is_file():
            raise self._missing(symbol, timeframe, source)
        df = self._read_file(path)
        meta = dict(_file_meta(pq.read_schema(path).metadata, path))
        meta["path"] = str(path)
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

    def entries(self) -> list[dict]:
        """One record per stored file, from Parquet footers (no data pages are read)."""
        out = []
        if not self.root.is_dir():
            return out
        for path in sorted(self.root.glob("*/*/*.parquet")):
            if path.name.startswith("."):
                continue
            try:
                md = pq.read_metadata(path)
            except (OSError, pa.ArrowException) as exc:
                raise RuntimeFailure(f"cannot read {path}: {exc}; delete the file and import "
                                     "or pull the data again") from None
            meta = _file_meta(md.schema.to_arrow_schema().metadata, path)
            first, last = _time_range(md, path)
            out.append({"source": meta["source"], "symbol": meta["symbol"],
                        "timeframe": meta["timeframe"], "rows": md.num_rows, "first": first,
                        "last": last, "synthetic": bool(meta.get("synthetic", False)),
                        "path": str(path)})
        out.sort(key=lambda e: (e["symbol"], e["timeframe"], _source_rank(e["source"])))
        return out


def _file_meta(schema_meta: dict | None, path: Path) -> dict:
    raw = (schema_meta or {}).get(META_KEY)
    meta = json.loads(raw) if raw else {}
    # Files written by other tools lack our metadata: fall back to what the layout says.
    meta.setdefault("source", path.parent.parent.name)
    meta.setdefault("timeframe", path.parent.name)
    meta.setdefault("symbol", unquote(path.stem))
    meta.setdefault("synthetic", False)
    meta.setdefault("note", "")
    return meta


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


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not possible on every platform, so best effort.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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
