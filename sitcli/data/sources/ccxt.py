"""Crypto bars (and perpetual funding rates) from an exchange through the ccxt library.

Symbols are ccxt pairs with an optional exchange: ``RENDER/USDT@binance`` (spot),
``RENDER/USDT:USDT@binance`` (the USDT-settled perpetual); without ``@exchange`` the source's
default exchange is used. Bars are paged forward from ``start`` with ``fetch_ohlcv`` (the
exchange's rate limit is honoured), overlaps de-duplicated, and only complete bars with
``start <= time < end`` kept. For a perpetual the funding-rate history over the same range
comes back as ``Fetch.funding``; :func:`funding_sums_per_bar` turns it into the store's
``funding_rate`` column (the rate settled in each bar).

Every network call runs under ``with_retries``; ccxt's exceptions are mapped onto the source
errors: rate limits, timeouts and 5xx are `Transient`, unknown or delisted pairs are
`UnknownSymbol`, a geo-block (HTTP 451) or a malformed response is a final `SourceError`.

Transport: ``urls`` (or ``$SITCLI_CCXT_URL``) points the exchange's REST API somewhere else,
e.g. a local replica in tests. A string replaces the scheme and host of every entry in
``exchange.urls['api']`` and keeps the path (``https://api.binance.com/api/v3`` becomes
``http://127.0.0.1:8000/api/v3``); a dict is merged into ``exchange.urls['api']`` as given.

Note: this module is ``sitcli.data.sources.ccxt``; ``import ccxt`` inside it is an absolute
import and finds the ccxt library, not this file.
"""

from __future__ import annotations

import os
import re
import time
from difflib import get_close_matches
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from sitcli.data.sources.base import Fetch, SourceError, Transient, UnknownSymbol, with_retries

OHLCV = ("open", "high", "low", "close", "volume")
DEFAULT_PAGE_LIMIT = 1000          # Binance's maximum for klines and funding history
_SYMBOL_RE = re.compile(r"^([A-Za-z0-9._-]+)/([A-Za-z0-9._-]+)(?::([A-Za-z0-9._-]+))?$")
_JITTER = pd.Timedelta("1s")       # funding stamps are rounded to the second (Binance: +0..30 ms)


# ---------------------------------------------------------------- symbols


def split_symbol(text: str, default_exchange: str = "binance") -> tuple[str, str]:
    """``'render/usdt:usdt@Binance'`` -> ``('RENDER/USDT:USDT', 'binance')``.

    ``BASE/QUOTE[:SETTLE][@exchange]``; without ``@exchange`` the default one. Raises
    UnknownSymbol (a bad-input error) for anything else."""
    raw = (text or "").strip()
    pair, at, exchange = raw.partition("@")
    pair, exchange = pair.strip(), (exchange.strip() if at else default_exchange)
    exchange = (exchange or "").lower()
    if at and not exchange:
        raise UnknownSymbol(f"{text!r}: empty exchange after '@'; write e.g. "
                            "'RENDER/USDT@binance'")
    if not _SYMBOL_RE.match(pair):
        raise UnknownSymbol(f"{text!r} is not a crypto pair; write BASE/QUOTE[:SETTLE][@exchange], "
                            "e.g. 'RENDER/USDT@binance' or 'RENDER/USDT:USDT' for the perpetual")
    if not re.match(r"^[a-z0-9_]+$", exchange):
        raise UnknownSymbol(f"{text!r}: bad exchange name {exchange!r}; use a ccxt exchange id "
                            "such as binance, okx or bybit")
    return pair.upper(), exchange


def _is_perpetual(ccxt_symbol: str) -> bool:
    return ":" in ccxt_symbol


# ---------------------------------------------------------------- time helpers


def _timeframe_delta(timeframe: str):
    """'1h' -> Timedelta(1h); '1M' -> DateOffset(months=1); ccxt units s m h d w M y."""
    m = re.match(r"^(\d+)([smhdwMy])$", str(timeframe).strip())
    if not m:
        raise UnknownSymbol(f"bad timeframe {timeframe!r}; use e.g. 1m, 1h, 4h, 1d, 1w")
    n, unit = int(m.group(1)), m.group(2)
    if unit == "M":
        return pd.DateOffset(months=n)
    if unit == "y":
        return pd.DateOffset(years=n)
    return pd.Timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days",
                            "w": "weeks"}[unit]: n})


def _approx_ms(delta) -> int:
    if isinstance(delta, pd.Timedelta):
        return int(delta / pd.Timedelta("1ms"))
    base = pd.Timestamp("2000-01-01", tz="UTC")
    return int(((base + delta) - base) / pd.Timedelta("1ms"))


def _utc(value) -> pd.Timestamp | None:
    if value is None:
        return None
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")


def _ms(ts: pd.Timestamp) -> int:
    return int(ts.value // 1_000_000)


def _closes(index: pd.DatetimeIndex, timeframe: str) -> pd.DatetimeIndex:
    delta = _timeframe_delta(timeframe)
    return index + delta


# ---------------------------------------------------------------- funding per bar


def funding_sums_per_bar(bars_index, funding, timeframe: str) -> pd.Series:
    """The funding rate settled in each bar: the sum of the rates stamped in (open, close].

    A stamp exactly at a bar's open settles at the previous bar's close, so it counts there.
    Binance records settlements a few ms late (…600017 for 00:00:00), so stamps are rounded to
    the nearest second first: a nominal 00:00 settlement belongs to the bar closing at 00:00
    whatever its jitter. Bars with no stamp inside the span of the history get 0.0; bars
    wholly before the first or after the last stamp get NaN (unknown, not zero).
    Returns a float64 Series on ``bars_index``.
    """
    index = pd.DatetimeIndex(bars_index)
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    out = pd.Series(np.nan, index=index, dtype="float64", name="funding_rate")
    if len(index) == 0 or funding is None or len(funding) == 0:
        return out
    rates = pd.Series(funding, dtype="float64").dropna()
    stamps = pd.DatetimeIndex(rates.index)
    stamps = stamps.tz_localize("UTC") if stamps.tz is None else stamps.tz_convert("UTC")
    rates.index = stamps.round(_JITTER)
    rates = rates.groupby(level=0).last().sort_index()      # one rate per settlement
    if len(rates) == 0:
        return out
    opens = index.as_unit("ns").asi8
    closes = _closes(index, timeframe).as_unit("ns").asi8
    t = rates.index.as_unit("ns").asi8
    csum = np.concatenate([[0.0], np.cumsum(rates.to_numpy())])
    # stamps s with open < s <= close: positions in the sorted stamps
    lo = np.searchsorted(t, opens, side="right")
    hi = np.searchsorted(t, closes, side="right")
    values = csum[hi] - csum[lo]
    covered = (closes >= t[0]) & (opens < t[-1])
    out[:] = np.where(covered, values, np.nan)
    return out


# ---------------------------------------------------------------- errors


def _http_response(exc):
    """The requests Response behind a ccxt error (ccxt raises inside `except HTTPError`)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        response = getattr(exc, "response", None)
        if response is not None and hasattr(response, "status_code"):
            return response
        exc = exc.__cause__ or exc.__context__
    return None


def _status(exc) -> int | None:
    response = _http_response(exc)
    if response is not None:
        return int(response.status_code)
    m = re.search(r"\s([1-5]\d\d)\s", f" {exc} ")
    return int(m.group(1)) if m else None


def _retry_after(exc, exchange) -> float | None:
    headers = None
    response = _http_response(exc)
    if response is not None:
        headers = response.headers
    if not headers:
        headers = getattr(exchange, "last_response_headers", None)
    if not headers:
        return None
    value = None
    for key in ("Retry-After", "retry-after"):
        try:
            value = headers.get(key)
        except AttributeError:
            value = None
        if value is not None:
            break
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        pass
    try:
        from email.utils import parsedate_to_datetime

        return max(0.0, parsedate_to_datetime(str(value)).timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None


def _one_line(text, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _map_error(exc, exchange, exchange_id: str, symbol: str) -> SourceError:
    """A ccxt (or parsing) exception as the source error the pull understands."""
    import ccxt

    what = f"{exchange_id} {symbol}"
    status = _status(exc)
    text = str(exc)
    if status == 451 or "restricted location" in text.lower():
        return SourceError(
            f"{what}: {exchange_id} refuses requests from this location (HTTP 451, restricted "
            f"location); pull from another exchange, e.g. '{symbol}@okx' or --exchange okx")
    if isinstance(exc, ccxt.BadSymbol):
        return UnknownSymbol(f"{what}: {exchange_id} does not list {symbol} ({_one_line(text, 120)})"
                             "; check the pair or try another exchange with --exchange")
    if isinstance(exc, (ccxt.RateLimitExceeded, ccxt.DDoSProtection)) or status in (418, 429):
        return Transient(f"{what}: rate limited (HTTP {status or 429})",
                         retry_after=_retry_after(exc, exchange))
    if isinstance(exc, ccxt.ExchangeNotAvailable) and status is not None and 400 <= status < 500:
        return SourceError(f"{what}: HTTP {status} from {exchange_id} "
                           f"({_one_line(text, 160)}); check the symbol and the exchange")
    if isinstance(exc, (ccxt.RequestTimeout, ccxt.NetworkError)):
        kind = "timed out" if isinstance(exc, ccxt.RequestTimeout) else (
            f"HTTP {status}" if status else "cannot reach the exchange")
        hint = "" if status else "; check the network connection"
        return Transient(f"{what}: {kind} ({_one_line(text, 160)}){hint}")
    if isinstance(exc, ccxt.BadResponse) or not isinstance(exc, ccxt.BaseError):
        return SourceError(f"{what}: malformed response from {exchange_id} "
                           f"({type(exc).__name__}: {_one_line(text, 120)}); try again later")
    if isinstance(exc, ccxt.AuthenticationError):
        return SourceError(f"{what}: {exchange_id} refused the request ({_one_line(text)}); "
                           "public market data should need no API key, try another exchange")
    return SourceError(f"{what}: {exchange_id} error ({_one_line(text)})")


# ---------------------------------------------------------------- the source


class CcxtSource:
    """Bars (and funding for perpetuals) from any ccxt exchange; see the module docstring."""

    name = "ccxt"

    def __init__(self, exchange: str = "binance", urls=None, attempts: int = 5,
                 base_wait: float = 0.5, page_limit: int | None = None, *,
                 config: dict | None = None, sleep=None):
        self.exchange = (exchange or "binance").lower()
        self.urls = urls if urls is not None else (os.environ.get("SITCLI_CCXT_URL") or None)
        self.attempts = attempts
        self.base_wait = base_wait
        self.page_limit = page_limit
        self.config = dict(config or {})     # extra ccxt constructor settings (e.g. rateLimit)
        self.sleep = sleep                    # for with_retries (tests)
        self._clients: dict = {}

    # -- plumbing

    def _client(self, exchange_id: str, ccxt_symbol: str):
        import ccxt

        types, default_type = None, None
        if exchange_id == "binance":
            # only the market lists needed: spot, USDT-M (linear), COIN-M (inverse)
            types = ["spot", "linear"]
            m = _SYMBOL_RE.match(ccxt_symbol)
            if m and m.group(3) and m.group(3) != m.group(2):
                types.append("inverse")
            default_type = "swap" if _is_perpetual(ccxt_symbol) else "spot"
        key = (exchange_id, tuple(types or ()), default_type)
        if key in self._clients:
            return self._clients[key]
        cls = getattr(ccxt, exchange_id, None)
        if cls is None or exchange_id not in ccxt.exchanges:
            close = get_close_matches(exchange_id, ccxt.exchanges, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise UnknownSymbol(f"{exchange_id!r} is not a ccxt exchange{hint}; use e.g. "
                                "binance, okx, bybit")
        settings = {"enableRateLimit": True, "timeout": 20_000,
                    "enableLastHttpResponse": True, "enableLastJsonResponse": True}
        options = {}
        if types is not None:
            options["fetchMarkets"] = {"types": types}
            options["defaultType"] = default_type
        settings.update(self.config)
        if options:
            settings["options"] = {**options, **settings.get("options", {})}
        client = cls(settings)
        if self.urls:
            client.urls = dict(client.urls)
            client.urls["api"] = _redirect(client.urls.get("api"), self.urls)
        self._clients[key] = client
        return client

    def _call(self, fn, exchange, exchange_id: str, symbol: str):
        def once():
            # ccxt 4.5 hands a body that is not valid JSON back as text and fetch_ohlcv then
            # returns [] as if there were no bars: compare the raw body with the parsed one
            exchange.last_http_response = exchange.last_json_response = None
            try:
                result = fn()
            except SourceError:
                raise
            except Exception as exc:          # ccxt errors and parse failures alike
                raise _map_error(exc, exchange, exchange_id, symbol) from None
            body = exchange.last_http_response
            if isinstance(body, str) and body.strip() and exchange.last_json_response is None:
                raise SourceError(f"{exchange_id} {symbol}: malformed response from "
                                  f"{exchange_id} (not valid JSON: {_one_line(body, 60)!r}); "
                                  "try again later")
            return result

        return with_retries(once, what=f"{exchange_id} {symbol}", attempts=self.attempts,
                            base_wait=self.base_wait, sleep=self.sleep)

    def _market(self, exchange, exchange_id: str, symbol: str) -> dict:
        markets = self._call(lambda: exchange.load_markets(), exchange, exchange_id, symbol)
        if not isinstance(markets, dict):
            raise SourceError(f"{exchange_id} {symbol}: malformed market list from {exchange_id}")
        market = markets.get(symbol)
        if market is None:
            raise UnknownSymbol(f"{symbol} is not listed on {exchange_id}"
                                f"{_suggest(symbol, markets)}; check the pair, or pull it from "
                                "another exchange with --exchange (or SYMBOL@exchange)")
        if market.get("active") is False:
            status = (market.get("info") or {}).get("status")
            detail = f", status {status}" if status else ""
            raise UnknownSymbol(f"{symbol} is delisted on {exchange_id} (market inactive{detail})"
                                "; pick a listed pair or another exchange with --exchange")
        return market

    # -- paging

    def _pages(self, call, first_since: int, end_ms: int, limit: int, stamp, step_ms: int):
        """Call `call(since, limit)` forward from `first_since` until `end_ms` or no new rows."""
        rows, seen_last, biggest = [], None, 0
        since = first_since
        while True:
            page = call(since, limit)
            if not isinstance(page, list):
                raise SourceError(f"malformed page ({type(page).__name__}, expected a list)")
            fresh = [r for r in page if seen_last is None or stamp(r) > seen_last]
            if not fresh:
                break
            rows.extend(fresh)
            seen_last = max(stamp(r) for r in fresh)
            if seen_last + step_ms >= end_ms:
                break
            if biggest and len(page) < min(limit, biggest):
                break                         # a short page after full ones: the history ends
            biggest = max(biggest, len(page))
            since = seen_last + 1
        return rows

    # -- the Source protocol

    def fetch(self, symbol: str, timeframe: str, start, end) -> Fetch:
        """Bars with start <= time < end (UTC; None = from the first bar / up to now). A
        symbol ending in `@mark` (`sitcli.mark`) gets the venue's mark-price bars
        (`fetch_mark_ohlcv`), without funding."""
        from sitcli.mark import SUFFIX

        mark = symbol.endswith(SUFFIX)
        if mark:
            symbol = symbol[:-len(SUFFIX)]
        ccxt_symbol, exchange_id = split_symbol(symbol, self.exchange)
        delta = _timeframe_delta(timeframe)
        step_ms = _approx_ms(delta)
        exchange = self._client(exchange_id, ccxt_symbol)
        what = f"{exchange_id} {ccxt_symbol}"
        self._market(exchange, exchange_id, ccxt_symbol)
        if timeframe not in (getattr(exchange, "timeframes", None) or {timeframe: timeframe}):
            raise UnknownSymbol(f"{what}: timeframe {timeframe!r} is not offered by "
                                f"{exchange_id}; use one of {', '.join(exchange.timeframes)}")
        start_ts, end_ts = _utc(start), _utc(end)
        now = pd.Timestamp.now(tz="UTC")
        since = _ms(start_ts) if start_ts is not None else 0
        end_ms = _ms(end_ts) if end_ts is not None else _ms(now)
        limit = int(self.page_limit or DEFAULT_PAGE_LIMIT)
        notes: list[str] = []

        if mark and not exchange.has.get("fetchMarkOHLCV"):
            raise UnknownSymbol(f"{what}: {exchange_id} offers no mark-price bars through "
                                "ccxt; pull them from binance, bybit or okx, or import them "
                                "with `sitcli data import FILE --price mark`")
        fetch_ohlcv = exchange.fetch_mark_ohlcv if mark else exchange.fetch_ohlcv

        def ohlcv_page(since_ms: int, n: int):
            return self._call(lambda: fetch_ohlcv(ccxt_symbol, timeframe, since=since_ms,
                                                  limit=n),
                              exchange, exchange_id, ccxt_symbol)

        if since >= end_ms:
            rows = []
        else:
            rows = self._pages(ohlcv_page, since, end_ms, limit, lambda r: int(r[0]), step_ms)
        bars = _bars_frame(rows, what)
        if len(bars):
            keep = bars.index >= start_ts if start_ts is not None else np.ones(len(bars), bool)
            if end_ts is not None:
                keep &= bars.index < end_ts
            bars = bars[keep]
            still_open = (bars.index + delta) > now
            if still_open.any():
                notes.append(f"{ccxt_symbol}: left out the bar still open at "
                             f"{bars.index[still_open][0].isoformat()}")
                bars = bars[~still_open]

        funding = None
        if _is_perpetual(ccxt_symbol) and not mark:
            def funding_page(since_ms: int, n: int):
                return self._call(lambda: exchange.fetch_funding_rate_history(
                    ccxt_symbol, since=since_ms, limit=n), exchange, exchange_id, ccxt_symbol)

            f_rows = [] if since >= end_ms else self._pages(
                funding_page, since, end_ms, limit, lambda r: int(r["timestamp"]), 0)
            funding = _funding_series(f_rows, what)
            lo = start_ts if start_ts is not None else None
            mask = np.ones(len(funding), bool)
            if lo is not None:
                mask &= funding.index >= lo
            if end_ts is not None:
                # settlements at the end itself still belong to the last bar's (open, close]
                mask &= funding.index <= end_ts + _JITTER
            funding = funding[mask]
        return Fetch(bars=bars, funding=funding, notes=notes)


# ---------------------------------------------------------------- parsing


def _bars_frame(rows, what: str) -> pd.DataFrame:
    empty = pd.DataFrame({c: pd.Series(dtype="float64") for c in OHLCV},
                         index=pd.DatetimeIndex([], tz="UTC", name="time").as_unit("ns"))
    if not rows:
        return empty
    try:
        arr = np.array([[float(x) if x is not None else np.nan for x in r[:6]] for r in rows],
                       dtype="float64")
        if arr.ndim != 2 or arr.shape[1] != 6:
            raise ValueError(f"rows of {arr.shape[-1]} fields, expected 6")
        empty = np.flatnonzero(np.isnan(arr[:, :5]).any(axis=1))
        if len(empty):
            raise ValueError(f"row {empty[0] + 1} has an empty time or price")
    except (TypeError, ValueError, IndexError) as exc:
        raise SourceError(f"{what}: malformed OHLCV rows ({exc}); try again later") from None
    index = pd.to_datetime(arr[:, 0].astype("int64"), unit="ms", utc=True).as_unit("ns")
    frame = pd.DataFrame(arr[:, 1:], index=index, columns=list(OHLCV))
    frame.index.name = "time"
    frame = frame[~frame.index.duplicated(keep="last")].sort_index()
    return frame


def _funding_series(rows, what: str) -> pd.Series:
    if not rows:
        return pd.Series(dtype="float64", index=pd.DatetimeIndex([], tz="UTC", name="time"),
                         name="funding_rate")
    try:
        stamps = [int(r["timestamp"]) for r in rows]
        rates = [float(r["fundingRate"]) for r in rows]
    except (TypeError, ValueError, KeyError) as exc:
        raise SourceError(f"{what}: malformed funding-rate history ({exc})") from None
    series = pd.Series(rates, index=pd.to_datetime(stamps, unit="ms", utc=True).as_unit("ns"),
                       dtype="float64", name="funding_rate")
    series.index.name = "time"
    return series[~series.index.duplicated(keep="last")].sort_index()


def _suggest(symbol: str, markets: dict) -> str:
    base = symbol.split("/")[0]
    same_base = sorted(s for s, m in markets.items()
                       if s.split("/")[0] == base and m.get("active") is not False)[:5]
    picks = same_base or get_close_matches(symbol, list(markets), n=3, cutoff=0.6)
    return f" (listed: {', '.join(picks)})" if picks else ""


def _redirect(api, target):
    """exchange.urls['api'] pointed elsewhere: a base URL keeps each path, a dict merges."""
    if isinstance(target, dict):
        merged = dict(api) if isinstance(api, dict) else {}
        merged.update(target)
        return merged
    base = str(target).rstrip("/")

    def swap(value):
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            parts = urlsplit(value)
            rest = value[len(f"{parts.scheme}://{parts.netloc}"):]
            return base + rest
        return value

    return swap(api)
