"""YahooSource against a local fake of Yahoo's HTTP endpoints (127.0.0.1 only, no internet).

Only the transport is replaced: YahooSource(base_url=...) sends every ``*.yahoo.com`` request
yfinance makes (cookie, crumb, chart) to the server below, so yfinance's own request logic and
v8 chart parsing run unchanged on the real captured payloads from /work/shared/data/payloads
and on charts built here in the same format.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

# yfinance (and curl_cffi, its transport) are dependencies: a missing one fails, not skips
import curl_cffi  # noqa: E402,F401
import numpy as np
import pandas as pd
import pytest
import yfinance  # noqa: E402,F401

from sitcli.data.sources.base import SourceError, Transient, UnknownSymbol  # noqa: E402
from sitcli.data.sources.yahoo import YahooSource  # noqa: E402

PAYLOADS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "payloads"
YAHOO = PAYLOADS / "yahoo"


def _payload(name: str) -> bytes:
    path = YAHOO / name
    if not path.is_file():
        pytest.skip(f"captured Yahoo payload {path} is absent (shared data not mounted)")
    return path.read_bytes()


# ---------------------------------------------------------------- fake Yahoo


class FakeYahoo:
    """Routes: symbol -> list of (status, headers, body) answered in order (the last repeats)."""

    def __init__(self):
        self.routes: dict[str, list] = {}
        self.requests: list[tuple[str, dict]] = []
        self.lock = threading.Lock()

    def reset(self):
        with self.lock:
            self.routes.clear()
            self.requests.clear()

    def chart_requests(self, symbol: str, history_only: bool = True) -> list[dict]:
        """Chart requests for `symbol`; history_only drops yfinance's timezone probe
        (range=1d, no period1)."""
        out = []
        for path, query in self.requests:
            if path == f"/v8/finance/chart/{symbol}" and (not history_only or "period1" in query):
                out.append(query)
        return out

    def answer(self, path: str, query: dict):
        with self.lock:
            self.requests.append((path, query))
            if path == "/":                                   # fc.yahoo.com: sets the cookie
                return 200, {"Set-Cookie": "A3=d=test; Path=/"}, b"ok"
            if path == "/v1/test/getcrumb":
                return 200, {"Content-Type": "text/plain"}, b"testcrumb"
            if path.startswith("/v8/finance/chart/"):
                symbol = unquote(path.rsplit("/", 1)[1])
                script = self.routes.get(symbol)
                if script:
                    return script.pop(0) if len(script) > 1 else script[0]
                return not_found()
            return 404, {"Content-Type": "text/html"}, b"<html>not here</html>"


def ok(body) -> tuple:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return 200, {"Content-Type": "application/json"}, data


def not_found() -> tuple:
    body = {"chart": {"result": None, "error": {
        "code": "Not Found", "description": "No data found, symbol may be delisted"}}}
    return 404, {"Content-Type": "application/json"}, json.dumps(body).encode()


def status(code: int, headers=None, body: bytes = b"<html>error</html>") -> tuple:
    return code, {"Content-Type": "text/html", **(headers or {})}, body


@pytest.fixture(scope="module")
def _server(tmp_path_factory):
    import yfinance as yf

    # yfinance's timezone/cookie caches: a throwaway folder, never the user's.
    yf.set_tz_cache_location(str(tmp_path_factory.mktemp("yfcache")))
    fake = FakeYahoo()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            code, headers, body = fake.answer(parts.path, query)
            self.send_response(code)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _serve

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def yahoo(_server):
    _server.reset()
    return _server


def source(fake, **kw) -> YahooSource:
    kw.setdefault("attempts", 3)
    kw.setdefault("sleep", lambda s: None)
    return YahooSource(base_url=fake.url, base_wait=0.0, **kw)


# ---------------------------------------------------------------- charts built here


def nvda_daily_chart() -> dict:
    """NVDA 1d around the 2024-06-10 10:1 split and the 2024-06-11 $0.01 dividend, in
    Yahoo's v8 format (prices already split-adjusted, adjclose also dividend-adjusted)."""
    days = ["2024-06-04", "2024-06-05", "2024-06-06", "2024-06-07", "2024-06-10",
            "2024-06-11", "2024-06-12"]
    ts = [int(pd.Timestamp(f"{d} 13:30", tz="UTC").timestamp()) for d in days]
    opens = [115.72, 118.37, 124.05, 119.77, 120.37, 121.77, 123.06]
    highs = [116.60, 122.45, 125.59, 121.69, 123.10, 122.87, 126.88]
    lows = [114.04, 117.47, 118.32, 118.02, 117.01, 118.74, 122.57]
    closes = [116.437, 122.44, 120.998, 120.888, 121.79, 120.91, 125.20]
    vols = [403324000, 528402000, 664696000, 412386000, 314162700, 222551200, 299595000]
    ratio = 1 - 0.01 / closes[4]                 # close before the ex-date 2024-06-11
    adj = [c * ratio for c in closes[:5]] + closes[5:]
    ex, split = ts[5], ts[4]
    return {"chart": {"result": [{
        "meta": {"currency": "USD", "symbol": "NVDA", "exchangeName": "NMS",
                 "fullExchangeName": "NasdaqGS", "instrumentType": "EQUITY",
                 "firstTradeDate": 917015400, "regularMarketTime": ts[-1] + 23400,
                 "hasPrePostMarketData": True, "gmtoffset": -14400, "timezone": "EDT",
                 "exchangeTimezoneName": "America/New_York", "regularMarketPrice": 125.2,
                 "chartPreviousClose": 114.999, "priceHint": 2,
                 "currentTradingPeriod": {
                     "pre": {"timezone": "EDT", "start": ts[-1] - 19800, "end": ts[-1],
                             "gmtoffset": -14400},
                     "regular": {"timezone": "EDT", "start": ts[-1], "end": ts[-1] + 23400,
                                 "gmtoffset": -14400},
                     "post": {"timezone": "EDT", "start": ts[-1] + 23400,
                              "end": ts[-1] + 37800, "gmtoffset": -14400}},
                 "dataGranularity": "1d", "range": "",
                 "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y",
                                 "ytd", "max"]},
        "timestamp": ts,
        "events": {"dividends": {str(ex): {"amount": 0.01, "date": ex}},
                   "splits": {str(split): {"date": split, "numerator": 10.0,
                                           "denominator": 1.0, "splitRatio": "10:1"}}},
        "indicators": {"quote": [{"open": opens, "high": highs, "low": lows,
                                  "close": closes, "volume": vols}],
                       "adjclose": [{"adjclose": adj}]}}], "error": None}}


def empty_chart(symbol: str = "NVDA") -> dict:
    chart = nvda_daily_chart()
    result = chart["chart"]["result"][0]
    result["meta"]["symbol"] = symbol
    del result["timestamp"], result["events"]
    result["indicators"] = {"quote": [{}], "adjclose": [{}]}
    return chart


# ---------------------------------------------------------------- parsing


def test_daily_chart_is_adjusted_with_utc_dates_and_actions(yahoo):
    chart = nvda_daily_chart()
    yahoo.routes["NVDA"] = [ok(chart)]
    got = source(yahoo).fetch("NVDA", "1d", "2024-06-04", "2024-06-13")
    bars = got.bars
    assert list(bars.columns) == ["open", "high", "low", "close", "volume"]
    assert all(bars[c].dtype == np.float64 for c in bars.columns)
    assert bars.index.name == "time" and str(bars.index.tz) == "UTC"
    assert [t.strftime("%Y-%m-%d") for t in bars.index] == [
        "2024-06-04", "2024-06-05", "2024-06-06", "2024-06-07", "2024-06-10", "2024-06-11",
        "2024-06-12"]
    assert (bars.index == bars.index.normalize()).all()          # trading date at 00:00 UTC
    q = chart["chart"]["result"][0]["indicators"]
    ratio = q["adjclose"][0]["adjclose"][0] / q["quote"][0]["close"][0]   # by hand
    assert ratio == pytest.approx(1 - 0.01 / 121.79)
    first = bars.iloc[0]
    assert first["open"] == pytest.approx(115.72 * ratio, rel=1e-9)
    assert first["high"] == pytest.approx(116.60 * ratio, rel=1e-9)
    assert first["low"] == pytest.approx(114.04 * ratio, rel=1e-9)
    assert first["close"] == pytest.approx(q["adjclose"][0]["adjclose"][0], rel=1e-9)
    assert first["volume"] == 403324000
    assert bars.iloc[-1]["close"] == pytest.approx(125.20)        # after the ex-date: as is
    acts = got.actions
    assert acts.index.name == "time" and str(acts.index.tz) == "UTC"
    assert list(acts.columns) == ["dividends", "splits"]
    assert acts.loc[pd.Timestamp("2024-06-10", tz="UTC"), "splits"] == 10.0
    assert acts.loc[pd.Timestamp("2024-06-11", tz="UTC"), "dividends"] == pytest.approx(0.01)
    assert len(acts) == 2
    assert len(yahoo.chart_requests("NVDA")) == 1


def test_daily_range_is_start_inclusive_end_exclusive(yahoo):
    yahoo.routes["NVDA"] = [ok(nvda_daily_chart())]
    bars = source(yahoo).fetch("NVDA", "1d", "2024-06-05", "2024-06-11").bars
    assert bars.index[0] == pd.Timestamp("2024-06-05", tz="UTC")
    assert bars.index[-1] == pd.Timestamp("2024-06-10", tz="UTC")


def test_real_tokyo_payload_split_and_dividend(yahoo):
    raw = _payload("chart_6309.T_1d_range1mo_split3to1_div_2025-05-19.json")
    chart = json.loads(raw)
    yahoo.routes["6309.T"] = [ok(raw)]
    got = source(yahoo).fetch("6309.T", "1d", "2025-04-21", "2025-05-20")
    bars = got.bars
    assert bars.index[0] == pd.Timestamp("2025-04-21", tz="UTC")  # 09:00 JST trading date
    assert len(bars) == 18
    q = chart["chart"]["result"][0]["indicators"]
    close0 = q["quote"][0]["close"][0]
    adj0 = q["adjclose"][0]["adjclose"][0]
    ratio = adj0 / close0
    assert ratio == pytest.approx(0.947981, abs=1e-6)             # 1 - 73 / 1403.33
    assert bars.iloc[0]["open"] == pytest.approx(1435 * ratio, rel=1e-9)
    assert bars.iloc[0]["high"] == pytest.approx(1443.33337402344 * ratio, rel=1e-9)
    assert bars.iloc[0]["low"] == pytest.approx(1415 * ratio, rel=1e-9)
    assert bars.iloc[0]["close"] == pytest.approx(adj0, rel=1e-9)
    ex = pd.Timestamp("2025-04-28", tz="UTC")
    assert bars.loc[ex, "open"] == pytest.approx(1349)             # ex-date: unadjusted
    acts = got.actions
    assert list(acts.index) == [ex]
    assert acts.loc[ex, "splits"] == 3.0
    assert acts.loc[ex, "dividends"] == 73.0


def test_real_intraday_payload_without_adjclose(yahoo):
    raw = _payload("chart_NVDA_1h_range1d_2024-05-03.json")
    chart = json.loads(raw)["chart"]["result"][0]
    yahoo.routes["NVDA"] = [ok(raw)]
    src = source(yahoo, now=lambda: pd.Timestamp("2024-05-04 12:00", tz="UTC"))
    bars = src.fetch("NVDA", "1h", "2024-05-03", "2024-05-04").bars
    assert bars.index.name == "time" and str(bars.index.tz) == "UTC"
    assert bars.index[0] == pd.Timestamp("2024-05-03 13:30", tz="UTC")   # 09:30 EDT
    # 8 timestamps; yfinance drops the 16:00 closing print (it starts at the session end)
    assert len(bars) == 7
    quote = chart["indicators"]["quote"][0]
    assert bars.iloc[0]["open"] == pytest.approx(quote["open"][0])       # no adjclose: as is
    assert bars.iloc[0]["close"] == pytest.approx(quote["close"][0])
    assert bars.iloc[0]["volume"] == quote["volume"][0]
    assert len(yahoo.chart_requests("NVDA")) == 1
    assert yahoo.chart_requests("NVDA")[0]["interval"] == "1h"


def test_empty_range_gives_empty_bars(yahoo):
    yahoo.routes["NVDA"] = [ok(empty_chart())]
    got = source(yahoo).fetch("NVDA", "1d", "2024-06-15", "2024-06-17")
    assert len(got.bars) == 0
    assert list(got.bars.columns) == ["open", "high", "low", "close", "volume"]
    assert str(got.bars.index.tz) == "UTC"


# ---------------------------------------------------------------- failures


def test_429_once_then_success(yahoo):
    # yfinance itself retries a 429 once (after switching its cookie strategy).
    yahoo.routes["AMD"] = [status(429, {"Retry-After": "0"}), ok(nvda_daily_chart())]
    bars = source(yahoo).fetch("AMD", "1d", "2024-06-04", "2024-06-13").bars
    assert len(bars) == 7
    assert len(yahoo.chart_requests("AMD", history_only=False)) == 3   # 429, tz probe, history


def test_429_twice_honours_retry_after(yahoo):
    waits = []
    yahoo.routes["TSM"] = [status(429, {"Retry-After": "7"}), status(429, {"Retry-After": "7"}),
                           ok(nvda_daily_chart())]
    src = source(yahoo, sleep=waits.append)
    bars = src.fetch("TSM", "1d", "2024-06-04", "2024-06-13").bars
    assert len(bars) == 7
    assert waits == [7.0]                              # the header, not the backoff (0 s)
    assert len(yahoo.chart_requests("TSM", history_only=False)) == 4


def test_repeated_500_gives_up(yahoo):
    yahoo.routes["ERR5"] = [status(500)]
    with pytest.raises(SourceError) as info:
        source(yahoo, attempts=3).fetch("ERR5", "1d", "2024-06-04", "2024-06-13")
    assert not isinstance(info.value, Transient)
    msg = str(info.value)
    assert "gave up after 3 attempts" in msg and "HTTP 500" in msg
    # each attempt: yfinance asks twice (its own retry with the other cookie strategy)
    assert len(yahoo.chart_requests("ERR5", history_only=False)) == 6


def test_malformed_json(yahoo):
    yahoo.routes["BAD"] = [ok(b'{"chart": {"result": [{"meta": ')]
    with pytest.raises(SourceError) as info:
        source(yahoo).fetch("BAD", "1d", "2024-06-04", "2024-06-13")
    msg = str(info.value)
    assert "malformed" in msg and "BAD" in msg
    assert "Traceback" not in msg and "\n" not in msg
    assert info.value.__cause__ is None


def test_unknown_symbol(yahoo):
    with pytest.raises(UnknownSymbol) as info:
        source(yahoo).fetch("NOPE", "1d", "2024-06-04", "2024-06-13")
    assert "NOPE" in str(info.value) and "delisted" in str(info.value)
    assert info.value.exit_code == 2


def test_451_mentions_location(yahoo):
    yahoo.routes["GEO"] = [status(451, body=b"<html>Unavailable For Legal Reasons</html>")]
    with pytest.raises(SourceError) as info:
        source(yahoo).fetch("GEO", "1d", "2024-06-04", "2024-06-13")
    assert not isinstance(info.value, (Transient, UnknownSymbol))
    assert "location" in str(info.value) and "451" in str(info.value)


def test_other_4xx_is_final(yahoo):
    yahoo.routes["FORB"] = [status(403)]
    with pytest.raises(SourceError) as info:
        source(yahoo).fetch("FORB", "1d", "2024-06-04", "2024-06-13")
    assert not isinstance(info.value, (Transient, UnknownSymbol))
    assert "HTTP 403" in str(info.value)


def test_intraday_lookback_limit_is_explained_without_a_request(yahoo):
    src = source(yahoo, now=lambda: pd.Timestamp("2026-11-22 06:00", tz="UTC"))
    with pytest.raises(SourceError) as info:
        src.fetch("NVDA", "1h", "2023-01-01", None)
    assert str(info.value) == ("Yahoo keeps 1h bars for the last 730 days; use --start "
                               "2024-11-23 or later, or --timeframe 1d")
    with pytest.raises(SourceError, match="last 60 days"):
        src.fetch("NVDA", "5m", "2026-09-01", None)
    with pytest.raises(SourceError, match="last 30 days"):
        src.fetch("NVDA", "1m", "2026-10-01", None)
    assert yahoo.requests == []


def test_one_minute_bars_are_fetched_seven_days_at_a_time(yahoo):
    yahoo.routes["NVDA"] = [ok(empty_chart())]
    src = source(yahoo, now=lambda: pd.Timestamp("2026-11-22 06:00", tz="UTC"))
    got = src.fetch("NVDA", "1m", "2026-11-01", "2026-11-20")
    assert len(got.bars) == 0
    spans = [(int(q["period1"]), int(q["period2"])) for q in yahoo.chart_requests("NVDA")]
    assert len(spans) == 3
    assert all(b - a <= 7 * 86400 for a, b in spans)
    assert spans[0][0] == int(pd.Timestamp("2026-11-01", tz="UTC").timestamp())
    assert spans[-1][1] == int(pd.Timestamp("2026-11-20", tz="UTC").timestamp())


def test_unsupported_timeframe(yahoo):
    with pytest.raises(SourceError, match="1d, 1h, 15m, 5m, 1m"):
        source(yahoo).fetch("NVDA", "4h", None, None)


def test_connection_refused_is_a_network_error_after_retries():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    src = YahooSource(base_url=f"http://127.0.0.1:{port}", attempts=3, base_wait=0.0,
                      sleep=lambda s: None)
    with pytest.raises(SourceError) as info:
        src.fetch("NVDA", "1d", "2024-06-04", "2024-06-13")
    msg = str(info.value)
    assert "gave up after 3 attempts" in msg and "network" in msg and "cannot reach Yahoo" in msg
    assert "\n" not in msg
