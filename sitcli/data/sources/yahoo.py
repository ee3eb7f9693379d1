"""Yahoo Finance bars through the real yfinance library (equities, ETFs, indices).

yfinance does the request and all the parsing (v8 chart JSON -> DataFrame, split and dividend
adjustment with ``auto_adjust=True``, timezone handling, Yahoo's quirks); this adapter only
turns its output into the store's canonical form and its failures into the errors of
``sitcli.data.sources.base``.

Canonical output:

* ``bars``: float64 ``open, high, low, close, volume``, index ``time`` in UTC. Prices are split-
  and dividend-adjusted. Daily bars are labelled with the exchange's trading date at 00:00 UTC
  (the same labels a Yahoo CSV export gets), intraday bars with their true UTC start time.
* ``actions``: the corporate actions in the range (``dividends`` per share in the listing
  currency, ``splits`` as a ratio, 3.0 for 3:1), one row per date where either is non-zero.

The transport is a ``curl_cffi`` session (what yfinance itself uses) that also records the HTTP
status, headers and body of every chart request. yfinance hides the status of a failed chart
request (a 500 surfaces as a JSON error, a refused connection as "no timezone found"), so the
record is what lets ``fetch`` tell a 429 or 5xx (retried) from a 404 (unknown symbol), a 451
(geo-block) or a dead network. ``base_url`` sends every ``*.yahoo.com`` request to another
host instead (the tests' local server), keeping path and query.
"""

from __future__ import annotations

import json
import logging
import re
import warnings
from dataclasses import dataclass
from urllib.parse import urlsplit

import pandas as pd

from sitcli.data.sources.base import Fetch, SourceError, Transient, UnknownSymbol, with_retries

# sitcli timeframe -> yfinance interval
INTERVALS = {"1d": "1d", "1h": "1h", "15m": "15m", "5m": "5m", "1m": "1m"}

# How far back Yahoo serves intraday bars (days before now). Daily bars have no limit.
LOOKBACK_DAYS = {"1h": 730, "15m": 60, "5m": 60, "1m": 30}

# Yahoo serves at most this much 1m data per request; longer ranges are fetched in pieces.
MAX_SPAN = {"1m": pd.Timedelta(days=7)}

_EPOCH_START = pd.Timestamp("1970-01-02", tz="UTC")   # "as far back as Yahoo goes" for 1d
_BAR_COLUMNS = ("open", "high", "low", "close", "volume")


@dataclass
class ChartOutcome:
    """What the transport saw for one chart request: a response or an exception."""

    url: str
    status: int | None = None
    headers: dict | None = None
    content: bytes = b""
    error: BaseException | None = None


def _rewrite(url: str, base_url: str | None) -> str:
    if not base_url:
        return url
    parts = urlsplit(url)
    if not (parts.hostname or "").endswith("yahoo.com"):
        return url
    return base_url.rstrip("/") + (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


_SESSION_CLASS = None


def make_session(base_url: str | None = None):
    """A curl_cffi session (Chrome impersonation, as yfinance's default) that records chart
    requests in ``.chart_log`` and, with ``base_url``, sends ``*.yahoo.com`` requests there."""
    global _SESSION_CLASS
    if _SESSION_CLASS is None:
        from curl_cffi import requests as curl_requests

        class RecordingSession(curl_requests.Session):
            def __init__(self, base_url=None):
                super().__init__(impersonate="chrome")
                self.base_url = base_url
                self.chart_log: list[ChartOutcome] = []

            def request(self, method, url, *args, **kwargs):
                is_chart = "/v8/finance/chart/" in urlsplit(str(url)).path
                try:
                    response = super().request(method, _rewrite(str(url), self.base_url),
                                               *args, **kwargs)
                except BaseException as exc:
                    if is_chart:
                        self.chart_log.append(ChartOutcome(str(url), error=exc))
                    raise
                if is_chart:
                    self.chart_log.append(ChartOutcome(
                        str(url), status=response.status_code,
                        headers={k.lower(): v for k, v in response.headers.items()},
                        content=response.content))
                return response

        _SESSION_CLASS = RecordingSession
    return _SESSION_CLASS(base_url)


def _utc(value) -> pd.Timestamp | None:
    if value is None or value == "":
        return None
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")


def _empty_bars() -> pd.DataFrame:
    index = pd.DatetimeIndex([], tz="UTC", name="time").as_unit("ns")
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in _BAR_COLUMNS}, index=index)


def _empty_actions() -> pd.DataFrame:
    index = pd.DatetimeIndex([], tz="UTC", name="time").as_unit("ns")
    return pd.DataFrame({"dividends": pd.Series(dtype="float64"),
                         "splits": pd.Series(dtype="float64")}, index=index)


def _network_reason(exc: BaseException) -> str:
    """A short reason for a transport failure (curl's message without the boilerplate)."""
    text = str(exc)
    m = re.search(r"curl: \((\d+)\) (.*?)(?:\.? See https?://\S+.*)?$", text.splitlines()[0]
                  if text else "")
    if m:
        code = int(m.group(1))
        label = {6: "DNS lookup failed", 7: "connection refused or host unreachable",
                 28: "timed out", 35: "TLS handshake failed", 52: "empty reply",
                 56: "connection reset"}.get(code, "network error")
        return f"{label}: {m.group(2).strip().rstrip('.')}"
    name = type(exc).__name__
    return f"{name}: {text.splitlines()[0][:160]}" if text else name


def _retry_after(headers: dict | None) -> float | None:
    value = (headers or {}).get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = pd.Timestamp(value)
            when = when.tz_localize("UTC") if when.tz is None else when
            return max(0.0, (when - pd.Timestamp.now("UTC")).total_seconds())
        except (ValueError, TypeError):
            return None


def _chart_error(content: bytes) -> tuple[bool, dict | None, dict | None]:
    """(is valid JSON, chart.error or None, chart.result[0] or None)."""
    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return False, None, None
    chart = data.get("chart") if isinstance(data, dict) else None
    if not isinstance(chart, dict):
        return True, None, None
    error = chart.get("error") if isinstance(chart.get("error"), dict) else None
    result = chart.get("result")
    first = result[0] if isinstance(result, list) and result and isinstance(result[0], dict) else None
    return True, error, first


class YahooSource:
    """Bars, splits and dividends from Yahoo Finance via yfinance."""

    name = "yahoo"

    def __init__(self, session=None, base_url: str | None = None, *, attempts: int = 5,
                 base_wait: float = 0.5, max_wait: float = 30.0, timeout: float = 20.0,
                 sleep=None, now=None):
        if session is not None and base_url is not None:
            raise ValueError("give YahooSource a session or a base_url, not both")
        self._session = session
        self.base_url = base_url
        self.attempts = attempts
        self.base_wait = base_wait
        self.max_wait = max_wait
        self.timeout = timeout
        self._sleep = sleep
        self._now = now

    # ------------------------------------------------------------ plumbing

    @property
    def session(self):
        if self._session is None:
            self._session = make_session(self.base_url)
        return self._session

    def now(self) -> pd.Timestamp:
        return _utc(self._now()) if self._now is not None else pd.Timestamp.now("UTC")

    # ------------------------------------------------------------ the Source protocol

    def fetch(self, symbol: str, timeframe: str, start, end) -> Fetch:
        """Bars with start <= time < end (UTC; None = as far as Yahoo goes / now)."""
        interval = INTERVALS.get(timeframe)
        if interval is None:
            raise SourceError(f"yahoo has no {timeframe!r} bars; use one of "
                              f"{', '.join(INTERVALS)}")
        start, end = _utc(start), _utc(end)
        now = self.now()
        limit = LOOKBACK_DAYS.get(timeframe)
        if limit is not None:
            earliest = now - pd.Timedelta(days=limit)
            if (start is not None and start < earliest) or (end is not None and end <= earliest):
                ok_from = (earliest.normalize() + pd.Timedelta(days=1)).date().isoformat()
                raise SourceError(
                    f"Yahoo keeps {timeframe} bars for the last {limit} days; use --start "
                    f"{ok_from} or later, or --timeframe 1d")
            if start is None:
                start = (earliest + pd.Timedelta(hours=1)).ceil("h")
        if start is None:
            start = _EPOCH_START
        if end is not None and end <= start:
            return Fetch(bars=_empty_bars(), actions=_empty_actions())

        # Daily bars: ask for a day more on each side, then keep the trading dates in range
        # (an exchange east of UTC stamps its daily bar the evening before in UTC).
        daily = interval == "1d"
        req_start = start - pd.Timedelta(days=1) if daily and start > _EPOCH_START else start
        req_end = end + pd.Timedelta(days=1) if daily and end is not None else end

        pieces = []
        span = MAX_SPAN.get(timeframe)
        lo = req_start
        while True:
            hi = req_end
            if span is not None:
                stop = req_end if req_end is not None else now
                hi = min(lo + span, stop)
                if hi >= stop:
                    hi = req_end
            pieces.append(with_retries(
                lambda lo=lo, hi=hi: self._history(symbol, interval, lo, hi),
                what=f"yahoo {symbol}", attempts=self.attempts, base_wait=self.base_wait,
                max_wait=self.max_wait, sleep=self._sleep))
            if hi is None or hi == req_end:
                break
            lo = hi

        raw = [p for p in pieces if p is not None and len(p)]
        if not raw:
            return Fetch(bars=_empty_bars(), actions=_empty_actions())
        df = pd.concat(raw)
        bars, actions = self._canonical(df, daily)
        keep = bars.index >= start
        if end is not None:
            keep &= bars.index < end
        bars = bars[keep]
        bars = bars[~bars.index.duplicated(keep="last")]
        akeep = actions.index >= start
        if end is not None:
            akeep &= actions.index < end
        actions = actions[akeep]
        actions = actions[~actions.index.duplicated(keep="last")]
        return Fetch(bars=bars, actions=actions)

    # ------------------------------------------------------------ one request

    def _history(self, symbol: str, interval: str, start, end):
        """One yfinance history call; failures mapped to Transient / UnknownSymbol / SourceError."""
        import yfinance as yf
        from yfinance.data import YfData

        # yfinance memoises chart responses (failed ones too) per process; a retry must
        # really ask again.
        YfData.cache_get.cache_clear()
        # Raise errors instead of logging them (the replacement of the deprecated
        # history(raise_errors=True)), and keep yfinance's own log lines off the terminal:
        # the errors raised here carry the message.
        yf.config.debug.hide_exceptions = False
        yf_logger = logging.getLogger("yfinance")
        if yf_logger.level == logging.NOTSET:
            yf_logger.setLevel(logging.CRITICAL)

        session = self.session
        log = getattr(session, "chart_log", None)
        if log is not None:
            log.clear()
        try:
            with warnings.catch_warnings():
                # yfinance 1.7 trips pandas 3's inplace deprecations on every call.
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", FutureWarning)
                ticker = yf.Ticker(symbol, session=session)
                df = ticker.history(start=start.to_pydatetime(),
                                    end=None if end is None else end.to_pydatetime(),
                                    interval=interval, auto_adjust=True, actions=True,
                                    repair=False, keepna=False, timeout=self.timeout)
        except Exception as exc:  # noqa: BLE001 - every failure is mapped below
            error = self._classify(symbol, exc, log)
            if error is None:      # Yahoo answered for the symbol, with no bars in the range
                return None
            raise error from None
        return df

    def _classify(self, symbol: str, exc: BaseException, log) -> Exception | None:
        """The sitcli error for a failed yfinance call, judged by what the transport saw
        (None: Yahoo answered with the symbol's chart but no bars in the range)."""
        from yfinance.exceptions import YFRateLimitError, YFTickerMissingError

        last = log[-1] if log else None
        if last is not None and last.error is not None:
            return Transient(f"cannot reach Yahoo ({_network_reason(last.error)}); check the "
                             "network connection")
        if last is not None and last.status is not None:
            code = last.status
            valid, error, result = _chart_error(last.content)
            if code == 429:
                return Transient(f"Yahoo rate-limited the request for {symbol} (HTTP 429)",
                                 retry_after=_retry_after(last.headers))
            if code >= 500:
                return Transient(f"Yahoo server error for {symbol} (HTTP {code})")
            if code == 451:
                return SourceError(f"Yahoo blocked the request for {symbol} from this location "
                                   "(HTTP 451 Unavailable For Legal Reasons); use a network in "
                                   "another region, or import a CSV with `sitcli data import`")
            if code == 404:
                why = (error or {}).get("description") or "not found"
                return UnknownSymbol(f"Yahoo does not list {symbol!r} ({why}); check the ticker "
                                     "(e.g. NVDA, ^NDX, 6309.T)")
            if code >= 400:
                why = (error or {}).get("description")
                return SourceError(f"Yahoo refused the request for {symbol} (HTTP {code}"
                                   + (f": {why}" if why else "") + ")")
            if not valid:
                return SourceError(f"Yahoo sent a malformed chart response for {symbol} (HTTP "
                                   f"{code}, not valid JSON); try again later")
            if error is not None:
                why = error.get("description") or error.get("code") or "no reason given"
                if (error.get("code") or "").lower() == "not found" or "delisted" in why:
                    return UnknownSymbol(f"Yahoo does not list {symbol!r} ({why}); check the "
                                         "ticker (e.g. NVDA, ^NDX, 6309.T)")
                return SourceError(f"Yahoo has no chart for {symbol}: {why}")
            if result is not None and isinstance(result.get("meta"), dict) and \
                    isinstance(exc, YFTickerMissingError) and "timestamp" not in result:
                return None
        # Nothing recorded (a caller-supplied session) or a parsing failure.
        if isinstance(exc, YFRateLimitError):
            return Transient(f"Yahoo rate-limited the request for {symbol} (HTTP 429)")
        if isinstance(exc, YFTickerMissingError):
            return UnknownSymbol(f"Yahoo has no data for {symbol!r} ({exc}); check the ticker "
                                 "(e.g. NVDA, ^NDX, 6309.T)")
        if isinstance(exc, json.JSONDecodeError) or "JSONDecodeError" in type(exc).__name__:
            return SourceError(f"Yahoo sent a malformed chart response for {symbol} (not valid "
                               "JSON); try again later")
        if type(exc).__name__ in {"Timeout", "ConnectTimeout", "ReadTimeout", "ConnectionError",
                                  "DNSError", "TimeoutError"} or \
                isinstance(exc, (TimeoutError, ConnectionError)):
            return Transient(f"cannot reach Yahoo ({_network_reason(exc)}); check the network "
                             "connection")
        detail = str(exc).splitlines()[0][:200] if str(exc) else ""
        return SourceError(f"Yahoo data for {symbol} could not be read "
                           f"({type(exc).__name__}: {detail})")

    # ------------------------------------------------------------ canonical form

    @staticmethod
    def _canonical(df: pd.DataFrame, daily: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
        index = pd.DatetimeIndex(df.index)
        if daily:
            # The exchange's trading date, labelled 00:00 UTC.
            local = index.tz_localize(None) if index.tz is not None else index
            index = local.normalize().tz_localize("UTC")
        else:
            index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
        index = index.as_unit("ns").rename("time")

        bars = pd.DataFrame(index=index)
        for col in _BAR_COLUMNS:
            values = pd.to_numeric(df[col.capitalize()], errors="coerce").to_numpy("float64")
            bars[col] = values
        bars["volume"] = bars["volume"].fillna(0.0)
        bars = bars.dropna(subset=["open", "high", "low", "close"]).sort_index()

        div = (pd.to_numeric(df["Dividends"], errors="coerce").fillna(0.0).to_numpy("float64")
               if "Dividends" in df.columns else 0.0)
        spl = (pd.to_numeric(df["Stock Splits"], errors="coerce").fillna(0.0).to_numpy("float64")
               if "Stock Splits" in df.columns else 0.0)
        actions = pd.DataFrame({"dividends": div, "splits": spl}, index=index)
        actions = actions[(actions["dividends"] != 0) | (actions["splits"] != 0)].sort_index()
        return bars, actions
