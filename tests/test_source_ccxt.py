"""The ccxt source against a local Binance replica (real ccxt, only the transport replaced).

The replica is a ThreadingHTTPServer on 127.0.0.1; `CcxtSource(urls="http://127.0.0.1:PORT")`
rewrites the host of every entry in ccxt's ``exchange.urls['api']`` so spot (/api/v3) and
USDT-M futures (/fapi/v1) calls land on it. Klines, exchangeInfo and fundingRate answers have
Binance's wire format; values come from /work/shared/data when present (read in place), else
they are generated. Nothing here touches the internet.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pytest

from sitcli.data.sources.base import SourceError, Transient, UnknownSymbol
from sitcli.data.sources.ccxt import CcxtSource, funding_sums_per_bar, split_symbol

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PAYLOADS = SHARED / "payloads"
RENDER_CSV = SHARED / "crypto" / "hourly" / "RENDER-USDT.csv"
XRP_FUNDING = PAYLOADS / "freqtrade" / "XRP_USDT-8h-funding_rate.json"
BTC_1H_ROW = PAYLOADS / "binance" / "klines_BTCUSDT_1h_2024-01-01T00Z_one_row.json"
FUNDING_SHAPE = PAYLOADS / "binance" / "fundingRate_BTCUSDT_two_cited_entries.json"
XRP_MARK_1H = SHARED / "futures" / "freqtrade_xrp" / "XRP_USDT_USDT-1h-mark.json"

H = 3_600_000
RENDER_FIRST = pd.Timestamp("2024-07-26T08:00Z")


def need(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path} is absent (shared real-data payload; this test reads it in place)")


# ---------------------------------------------------------------- replica data


def _render_bars() -> np.ndarray:
    """[[ms, o, h, l, c, v]] for RENDERUSDT 1h: the shared CSV, or a generated stand-in."""
    if RENDER_CSV.exists():
        df = pd.read_csv(RENDER_CSV)
        ms = pd.to_datetime(df["date"], utc=True).dt.as_unit("ms").astype("int64")
        return np.column_stack([ms.to_numpy(), df[["open", "high", "low", "close", "volume"]]
                                .to_numpy(dtype=float)]).astype(object)
    return _generated_bars(_ms(RENDER_FIRST), 1026, 7.0)


def _generated_bars(first_ms: int, n: int, price: float) -> np.ndarray:
    rng = np.random.default_rng(7)
    close = price * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[price], close[:-1]])
    high = np.maximum(open_, close) * 1.002
    low = np.minimum(open_, close) * 0.998
    vol = rng.uniform(1e4, 1e5, n)
    ms = first_ms + H * np.arange(n)
    return np.column_stack([ms, open_, high, low, close, vol]).astype(object)


def _ms(ts) -> int:
    return int(pd.Timestamp(ts).value // 1_000_000)


def _kline(row, interval_ms: int) -> list:
    """One /api/v3/klines row in Binance's 12-field wire format (prices as strings)."""
    t = int(row[0])
    o, h, lo, c, v = (float(x) for x in row[1:6])
    return [t, f"{o:.8f}", f"{h:.8f}", f"{lo:.8f}", f"{c:.8f}", f"{v:.8f}", t + interval_ms - 1,
            f"{v * c:.8f}", 100, f"{v / 2:.8f}", f"{v * c / 2:.8f}", "0"]


def _xrp_funding() -> list[tuple[int, float]]:
    if XRP_FUNDING.exists():
        return [(int(r[0]), float(r[1])) for r in json.loads(XRP_FUNDING.read_text())]
    first = _ms("2021-11-18T00:00Z")
    return [(first + 8 * H * i + (17 if i % 3 == 0 else 0), 0.0001 + 1e-6 * i) for i in range(91)]


def _spot_symbol(symbol, base, quote, status="TRADING"):
    return {
        "symbol": symbol, "status": status, "baseAsset": base, "baseAssetPrecision": 8,
        "quoteAsset": quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "MARKET"], "icebergAllowed": True, "ocoAllowed": True,
        "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": True, "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.00100000", "maxPrice": "1000000.00000000",
             "tickSize": "0.00100000"},
            {"filterType": "LOT_SIZE", "minQty": "0.01000000", "maxQty": "9000000.00000000",
             "stepSize": "0.01000000"},
            {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
             "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
        ],
        "permissions": [], "permissionSets": [["SPOT"]], "defaultSelfTradePreventionMode":
            "EXPIRE_MAKER", "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER"],
    }


def _perp_symbol(symbol, base, quote, onboard_ms):
    return {
        "symbol": symbol, "pair": symbol, "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000, "onboardDate": onboard_ms, "status": "TRADING",
        "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000", "baseAsset": base,
        "quoteAsset": quote, "marginAsset": quote, "pricePrecision": 4, "quantityPrecision": 0,
        "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN",
        "underlyingSubType": ["AI"], "settlePlan": 0, "triggerProtect": "0.1000",
        "liquidationFee": "0.015000", "marketTakeBound": "0.10",
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.0010", "maxPrice": "2000",
             "tickSize": "0.0010"},
            {"filterType": "LOT_SIZE", "minQty": "1", "maxQty": "1000000", "stepSize": "1"},
            {"filterType": "MARKET_LOT_SIZE", "minQty": "1", "maxQty": "100000", "stepSize": "1"},
            {"filterType": "MIN_NOTIONAL", "notional": "5"},
        ],
        "orderTypes": ["LIMIT", "MARKET"], "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
    }


SPOT_INFO = {
    "timezone": "UTC", "serverTime": 1725580800000,
    "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                    "limit": 6000}],
    "exchangeFilters": [],
    "symbols": [_spot_symbol("RENDERUSDT", "RENDER", "USDT"),
                _spot_symbol("BTCUSDT", "BTC", "USDT"),
                _spot_symbol("RNDRUSDT", "RNDR", "USDT", status="BREAK")],
}
FAPI_INFO = {
    "timezone": "UTC", "serverTime": 1725580800000, "futuresType": "U_MARGINED",
    "rateLimits": SPOT_INFO["rateLimits"], "exchangeFilters": [],
    "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
    "symbols": [_perp_symbol("RENDERUSDT", "RENDER", "USDT", _ms("2024-07-26T08:00Z")),
                _perp_symbol("XRPUSDT", "XRP", "USDT", _ms("2020-01-06T00:00Z"))],
}


class Replica:
    """State of the fake Binance: bar tables, funding tables, a request log and scripted faults."""

    def __init__(self):
        self.klines = {"RENDERUSDT": _render_bars()}
        if BTC_1H_ROW.exists():
            row = json.loads(BTC_1H_ROW.read_text())[0]
            self.klines["BTCUSDT"] = np.array([[row[0], *map(float, row[1:6])]], dtype=object)
        xrp_first = _ms("2021-11-18T00:00Z")
        self.fklines = {"RENDERUSDT": self.klines["RENDERUSDT"],
                        "XRPUSDT": _generated_bars(xrp_first, 31 * 24, 1.1)}
        first = _ms(RENDER_FIRST) + 8 * H   # RENDER perp funding: generated, with Binance jitter
        self.funding = {
            "XRPUSDT": _xrp_funding(),
            "RENDERUSDT": [(first + 8 * H * i + (i % 4) * 7, 0.0001 * (1 + i % 3))
                           for i in range(120)],
        }
        self.mark = {}
        if XRP_MARK_1H.exists():   # the real 1h mark candles of the XRP perpetual
            self.mark["XRPUSDT"] = np.array([[r[0], *r[1:5], 0.0] for r in
                                             json.loads(XRP_MARK_1H.read_text())], dtype=object)
        self.log: list[tuple[str, dict]] = []
        self.faults: dict[str, list[tuple[int, bytes, dict]]] = {}
        self.overlap = 0          # serve pages starting this many bars before startTime
        self.lock = threading.Lock()

    def fail(self, path: str, status: int, body, headers=None, times: int = 1):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.faults.setdefault(path, []).extend([(status, data, headers or {})] * times)

    def count(self, path: str) -> int:
        return sum(1 for p, _ in self.log if p == path)

    def answer(self, path: str, q: dict):
        with self.lock:
            self.log.append((path, q))
            queued = self.faults.get(path)
            if queued:
                return queued.pop(0)
        if path == "/api/v3/exchangeInfo":
            return 200, SPOT_INFO, {}
        if path == "/fapi/v1/exchangeInfo":
            return 200, FAPI_INFO, {}
        if path in ("/api/v3/klines", "/fapi/v1/klines"):
            table = (self.klines if path.startswith("/api") else self.fklines).get(q.get("symbol"))
            if table is None:
                return 400, {"code": -1121, "msg": "Invalid symbol."}, {}
            if q.get("interval") != "1h":
                return 200, [], {}
            limit = min(int(q.get("limit", 500)), 1000)
            ms = table[:, 0].astype("int64")
            lo = np.searchsorted(ms, int(q.get("startTime", 0)), side="left")
            lo = max(0, lo - self.overlap)
            if "endTime" in q:
                ms_end = np.searchsorted(ms, int(q["endTime"]), side="right")
            else:
                ms_end = len(ms)
            rows = [_kline(r, H) for r in table[lo:min(ms_end, lo + limit)]]
            return 200, rows, {}
        if path == "/fapi/v1/markPriceKlines":
            table = self.mark.get(q.get("symbol"))
            if table is None:
                return 400, {"code": -1121, "msg": "Invalid symbol."}, {}
            ms = table[:, 0].astype("int64")
            lo = np.searchsorted(ms, int(q.get("startTime", 0)), side="left")
            hi = np.searchsorted(ms, int(q.get("endTime", 2**62)), side="right")
            limit = min(int(q.get("limit", 500)), 1500)
            # Binance's mark klines: the kline shape, volumes "0"
            return 200, [[*_kline(r, H)[:5], "0", *_kline(r, H)[6:]]
                         for r in table[lo:min(hi, lo + limit)]], {}
        if path == "/fapi/v1/fundingRate":
            hist = self.funding.get(q.get("symbol"), [])
            limit = min(int(q.get("limit", 100)), 1000)
            start = int(q.get("startTime", 0))
            stop = int(q.get("endTime", 2**62))
            rows = [{"symbol": q["symbol"], "fundingTime": t, "fundingRate": f"{r:.8f}",
                     "markPrice": "1.00000000"} for t, r in hist if start <= t <= stop][:limit]
            return 200, rows, {}
        return 404, {"code": -1, "msg": f"replica does not serve {path}"}, {}


@pytest.fixture
def replica(monkeypatch):
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    state = Replica()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            parts = urlsplit(self.path)
            q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            status, body, headers = state.answer(parts.path, q)
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def source(replica, **kw) -> CcxtSource:
    kw.setdefault("attempts", 3)
    kw.setdefault("base_wait", 0.0)
    kw.setdefault("sleep", lambda s: None)
    return CcxtSource(urls=replica.url, config={"rateLimit": 1}, **kw)


# ---------------------------------------------------------------- symbols and plumbing


@pytest.mark.parametrize("text, default, expected", [
    ("RENDER/USDT", "binance", ("RENDER/USDT", "binance")),
    ("RENDER/USDT@okx", "binance", ("RENDER/USDT", "okx")),
    ("render/usdt:usdt@Binance", "okx", ("RENDER/USDT:USDT", "binance")),
    ("FIL/USDT:USDT@bybit", "binance", ("FIL/USDT:USDT", "bybit")),
    (" BTC/USD:BTC ", "binance", ("BTC/USD:BTC", "binance")),
])
def test_split_symbol(text, default, expected):
    assert split_symbol(text, default) == expected


@pytest.mark.parametrize("text", ["RENDER", "RENDER-USDT", "RENDER/USDT@", "/USDT", "A/B:C:D",
                                  "RENDER/USDT@bin ance"])
def test_split_symbol_rejects(text):
    with pytest.raises(UnknownSymbol, match="BASE/QUOTE|exchange"):
        split_symbol(text, "binance")


def test_module_name_does_not_shadow_the_library(replica):
    import ccxt

    assert hasattr(ccxt, "binance") and "site-packages" in ccxt.__file__
    src = source(replica)
    client = src._client("binance", "RENDER/USDT")
    assert isinstance(client, ccxt.binance)
    assert client.urls["api"]["public"] == f"{replica.url}/api/v3"
    assert client.urls["api"]["fapiPublic"] == f"{replica.url}/fapi/v1"
    assert client.enableRateLimit is True


def test_unknown_exchange():
    with pytest.raises(UnknownSymbol, match="not a ccxt exchange.*binance"):
        CcxtSource(urls="http://127.0.0.1:9").fetch("RENDER/USDT@binanse", "1h", None, None)


# ---------------------------------------------------------------- bars


def test_pages_forward_without_duplicates(replica):
    start = RENDER_FIRST
    end = start + pd.Timedelta(hours=250)
    got = source(replica, page_limit=100).fetch("RENDER/USDT@binance", "1h", start, end)
    bars = got.bars
    assert replica.count("/api/v3/klines") >= 3
    assert len(bars) == 250 and bars.index.is_unique and bars.index.is_monotonic_increasing
    assert bars.index[0] == start and bars.index[-1] == end - pd.Timedelta(hours=1)
    assert bars.index.name == "time" and str(bars.index.tz) == "UTC"
    assert list(bars.columns) == ["open", "high", "low", "close", "volume"]
    assert all(dt == np.float64 for dt in bars.dtypes)
    assert got.funding is None
    starts = [int(q["startTime"]) for p, q in replica.log if p == "/api/v3/klines"]
    assert starts[0] == _ms(start) and starts == sorted(starts)


def test_values_are_the_shared_render_bars(replica):
    need(RENDER_CSV)
    csv = pd.read_csv(RENDER_CSV, index_col="date", parse_dates=True).iloc[:30]
    got = source(replica, page_limit=10).fetch("RENDER/USDT", "1h", csv.index[0],
                                               csv.index[-1] + pd.Timedelta(hours=1)).bars
    assert got.index.equals(csv.index.rename("time").as_unit("ns"))
    np.testing.assert_allclose(got.to_numpy(), csv[["open", "high", "low", "close", "volume"]]
                               .to_numpy(), rtol=1e-12)


def test_overlapping_pages_are_deduplicated(replica):
    replica.overlap = 5
    start = RENDER_FIRST + pd.Timedelta(hours=10)
    end = start + pd.Timedelta(hours=180)
    bars = source(replica, page_limit=50).fetch("RENDER/USDT", "1h", start, end).bars
    assert len(bars) == 180 and bars.index.is_unique
    assert bars.index[0] == start and bars.index[-1] == end - pd.Timedelta(hours=1)
    assert replica.count("/api/v3/klines") >= 4


def test_start_none_begins_at_the_first_bar(replica):
    end = RENDER_FIRST + pd.Timedelta(hours=5)
    bars = source(replica, page_limit=100).fetch("RENDER/USDT", "1h", None, end).bars
    assert list(bars.index) == list(pd.date_range(RENDER_FIRST, periods=5, freq="h"))
    first_q = next(q for p, q in replica.log if p == "/api/v3/klines")
    assert first_q["startTime"] == "0"


def test_end_none_runs_to_the_last_bar(replica):
    last = pd.Timestamp(int(replica.klines["RENDERUSDT"][-1, 0]), unit="ms", tz="UTC")
    start = last - pd.Timedelta(hours=149)
    bars = source(replica, page_limit=40).fetch("RENDER/USDT", "1h", start, None).bars
    assert len(bars) == 150 and bars.index[-1] == last
    assert replica.count("/api/v3/klines") == 4          # 40+40+40+30: a short page ends it


def test_one_real_binance_kline_row(replica):
    need(BTC_1H_ROW)
    t = pd.Timestamp("2024-01-01T00:00Z")
    bars = source(replica).fetch("BTC/USDT", "1h", t, t + pd.Timedelta(hours=1)).bars
    assert len(bars) == 1 and bars.index[0] == t
    assert bars.iloc[0].tolist() == [42283.58, 42554.57, 42261.02, 42475.23, 1271.68108]


def test_empty_ranges_give_an_empty_frame(replica):
    src = source(replica, page_limit=100)
    before = src.fetch("RENDER/USDT", "1h", "2024-01-01", "2024-02-01").bars   # before listing
    after = src.fetch("RENDER/USDT", "1h", "2025-01-01", "2025-02-01").bars    # after the data
    for bars in (before, after):
        assert len(bars) == 0 and list(bars.columns) == ["open", "high", "low", "close", "volume"]
        assert isinstance(bars.index, pd.DatetimeIndex) and str(bars.index.tz) == "UTC"


# ---------------------------------------------------------------- errors


def test_429_is_retried_after_retry_after(replica):
    replica.fail("/api/v3/klines", 429, {"code": -1003, "msg": "Too many requests."},
                 headers={"Retry-After": "0"})
    waits = []
    start = RENDER_FIRST
    got = source(replica, base_wait=5.0, sleep=waits.append).fetch(
        "RENDER/USDT", "1h", start, start + pd.Timedelta(hours=3))
    assert len(got.bars) == 3
    assert waits == [0.0]                 # Retry-After honoured instead of the 5 s backoff
    assert replica.count("/api/v3/klines") == 2


def test_429_maps_to_transient_with_retry_after(replica):
    import ccxt

    from sitcli.data.sources.ccxt import _map_error

    replica.fail("/api/v3/klines", 429, {"code": -1003, "msg": "Too many requests."},
                 headers={"Retry-After": "7"})
    client = source(replica)._client("binance", "RENDER/USDT")
    client.load_markets()
    with pytest.raises(ccxt.BaseError) as info:
        client.fetch_ohlcv("RENDER/USDT", "1h", since=0, limit=5)
    err = _map_error(info.value, client, "binance", "RENDER/USDT")
    assert isinstance(err, Transient) and err.retry_after == 7.0


def test_repeated_500_gives_up(replica):
    replica.fail("/api/v3/klines", 500, b"<html>Internal Server Error</html>", times=10)
    with pytest.raises(SourceError, match="gave up after 3 attempts") as info:
        source(replica, attempts=3).fetch("RENDER/USDT", "1h", RENDER_FIRST,
                                          RENDER_FIRST + pd.Timedelta(hours=3))
    assert not isinstance(info.value, Transient)
    assert "binance RENDER/USDT" in str(info.value)
    assert replica.count("/api/v3/klines") == 3


def test_malformed_json_is_a_clear_source_error(replica):
    replica.fail("/api/v3/klines", 200, b'[[1721980800000,"7.03","7.03"', times=10)
    with pytest.raises(SourceError, match="malformed") as info:
        source(replica).fetch("RENDER/USDT", "1h", RENDER_FIRST,
                              RENDER_FIRST + pd.Timedelta(hours=3))
    message = str(info.value)
    assert "\n" not in message and "binance RENDER/USDT" in message and len(message) < 300
    assert replica.count("/api/v3/klines") == 1          # final: not retried


def test_unknown_symbol(replica):
    with pytest.raises(UnknownSymbol, match="FOO/USDT is not listed on binance.*--exchange"):
        source(replica).fetch("FOO/USDT", "1h", None, None)
    with pytest.raises(UnknownSymbol, match=r"listed: RENDER/USDT"):
        source(replica).fetch("RENDER/BTC", "1h", None, None)
    assert replica.count("/api/v3/klines") == 0


def test_bad_symbol_from_the_exchange(replica):
    replica.fail("/api/v3/klines", 400, {"code": -1121, "msg": "Invalid symbol."})
    with pytest.raises(UnknownSymbol, match="does not list RENDER/USDT"):
        source(replica).fetch("RENDER/USDT", "1h", RENDER_FIRST, None)


def test_delisted_pair(replica):
    with pytest.raises(UnknownSymbol, match="RNDR/USDT is delisted on binance.*BREAK"):
        source(replica).fetch("RNDR/USDT", "1h", None, None)


def test_geo_block_451(replica):
    body = {"code": 0, "msg": "Service unavailable from a restricted location according to "
            "'b. Eligibility' in https://www.binance.com/en/terms. Please contact customer "
            "service if you believe you received this message in error."}
    replica.fail("/api/v3/exchangeInfo", 451, body, times=10)
    with pytest.raises(SourceError, match="restricted location.*@okx") as info:
        source(replica).fetch("RENDER/USDT", "1h", None, None)
    assert not isinstance(info.value, (Transient, UnknownSymbol))
    assert replica.count("/api/v3/exchangeInfo") == 1     # final: not retried


def test_exchange_suffix_overrides_the_default(replica):
    src = source(replica, exchange="okx")       # okx is never contacted: @binance wins
    bars = src.fetch("RENDER/USDT@binance", "1h", RENDER_FIRST,
                     RENDER_FIRST + pd.Timedelta(hours=2)).bars
    assert len(bars) == 2


# ---------------------------------------------------------------- perpetuals and funding


def test_perpetual_bars_and_funding(replica):
    need(XRP_FUNDING)
    start, end = pd.Timestamp("2021-11-18T00:00Z"), pd.Timestamp("2021-11-25T00:00Z")
    got = source(replica, page_limit=10).fetch("XRP/USDT:USDT@binance", "1h", start, end)
    assert replica.count("/fapi/v1/klines") >= 3 and replica.count("/api/v3/klines") == 0
    assert replica.count("/fapi/v1/fundingRate") >= 3
    assert len(got.bars) == 7 * 24 and got.bars.index[0] == start
    f = got.funding
    assert f.dtype == np.float64 and str(f.index.tz) == "UTC" and f.index.is_unique
    # 2021-11-18 00:00 .. 2021-11-25 00:00 inclusive of the settlement at the end: 22 stamps
    assert len(f) == 22
    assert f.index[0] == pd.Timestamp("2021-11-18T00:00:00.017Z")
    assert f.iloc[6] == pytest.approx(0.00013046)          # 2021-11-20T00:00:00.012
    assert f.index[6] == pd.Timestamp("2021-11-20T00:00:00.012Z")

    per_bar = funding_sums_per_bar(got.bars.index, f, "1h")
    assert per_bar.index.equals(got.bars.index) and per_bar.dtype == np.float64
    # 08:00:00.007 settles at the close of the 07:00 bar, not in the 08:00 bar
    assert per_bar[pd.Timestamp("2021-11-18T07:00Z")] == pytest.approx(0.0001)
    assert per_bar[pd.Timestamp("2021-11-18T08:00Z")] == 0.0
    # 2021-11-20T00:00:00.012 (0.00013046) belongs to the bar 2021-11-19T23:00 .. 2021-11-20
    assert per_bar[pd.Timestamp("2021-11-19T23:00Z")] == pytest.approx(0.00013046)
    assert per_bar[pd.Timestamp("2021-11-20T00:00Z")] == 0.0
    # the first stamp (the 00:00 settlement at the start) belongs to a bar before the range
    assert per_bar.iloc[0] == 0.0
    # every stamp after the start lands in exactly one bar
    assert per_bar.sum() == pytest.approx(f.iloc[1:].sum())
    assert (per_bar != 0).sum() == 21


def test_render_perpetual_generated_funding(replica):
    start = RENDER_FIRST
    end = start + pd.Timedelta(days=5)
    got = source(replica, page_limit=7).fetch("RENDER/USDT:USDT", "1h", start, end)
    assert len(got.bars) == 120
    per_bar = funding_sums_per_bar(got.bars.index, got.funding, "1h")
    # settlements at 16:00, 00:00, 08:00 (+0..21 ms): each charged in the bar closing then
    closes = per_bar[per_bar > 0].index + pd.Timedelta(hours=1)
    assert set(closes.hour) == {0, 8, 16}
    assert per_bar.sum() == pytest.approx(got.funding.sum())


def test_funding_shape_payload_parses(replica):
    need(FUNDING_SHAPE)
    rows = json.loads(FUNDING_SHAPE.read_text())
    replica.funding["RENDERUSDT"] = [(int(r["fundingTime"]), float(r["fundingRate"]))
                                     for r in rows]
    got = source(replica).fetch("RENDER/USDT:USDT", "1h", "2019-12-31T23:00Z",
                                "2020-01-01T01:00Z")
    assert len(got.bars) == 0
    assert got.funding.tolist() == [-0.00012359]
    assert got.funding.index[0] == pd.Timestamp("2020-01-01T00:00Z")


def test_funding_sums_per_bar_by_hand():
    days = pd.date_range("2024-01-01", periods=4, freq="D", tz="UTC")
    stamps = pd.to_datetime(["2024-01-01T08:00:00.017Z",    # day 1
                             "2024-01-01T16:00:00.000Z",    # day 1
                             "2024-01-02T00:00:00.000Z",    # exactly at day 2's open: day 1
                             "2024-01-02T08:00:00.005Z",    # day 2
                             "2024-01-03T00:00:00.031Z",    # jitter after day 3's open: day 2
                             "2024-01-03T12:00:00.000Z"])   # day 3
    rates = pd.Series([1.0, 2.0, 4.0, 8.0, 16.0, 32.0], index=stamps)
    got = funding_sums_per_bar(days, rates, "1d")
    assert got.iloc[:3].tolist() == [7.0, 24.0, 32.0]
    assert np.isnan(got.iloc[3])        # after the last settlement: unknown, not zero
    # 8h bars: each stamp in the bar that closes at its (rounded) time
    bars8 = pd.date_range("2024-01-01", periods=6, freq="8h", tz="UTC")
    got8 = funding_sums_per_bar(bars8, rates, "8h")
    assert got8.tolist() == [1.0, 2.0, 4.0, 8.0, 0.0, 16.0]
    # duplicates (e.g. from two pulls) count once; naive stamps are UTC
    dup = pd.concat([rates, rates])
    dup.index = dup.index.tz_convert(None)
    assert funding_sums_per_bar(days, dup, "1d").iloc[:3].tolist() == [7.0, 24.0, 32.0]
    assert funding_sums_per_bar(days, pd.Series(dtype=float), "1d").isna().all()


# ---------------------------------------------------------------- mark-price bars


def test_mark_bars_come_from_the_mark_price_endpoint(replica):
    """`XRP/USDT:USDT@mark` asks fetch_mark_ohlcv (Binance /fapi/v1/markPriceKlines), pages
    it, and returns the real mark candles without funding."""
    need(XRP_MARK_1H)
    rows = json.loads(XRP_MARK_1H.read_text())
    start, end = pd.Timestamp(rows[0][0], unit="ms", tz="UTC"), pd.Timestamp(
        rows[-1][0], unit="ms", tz="UTC") + pd.Timedelta(hours=1)
    got = source(replica, page_limit=30).fetch("XRP/USDT:USDT@mark", "1h", start, end)
    assert replica.count("/fapi/v1/markPriceKlines") >= 4
    assert replica.count("/fapi/v1/klines") == 0 and replica.count("/fapi/v1/fundingRate") == 0
    assert got.funding is None and len(got.bars) == len(rows) == 100
    first = got.bars.iloc[0]
    assert (first["open"], first["high"], first["low"], first["close"]) == tuple(rows[0][1:5])
    assert got.bars["low"].to_numpy() == pytest.approx([r[3] for r in rows])


def test_pull_stores_mark_bars_beside_the_last_price_bars(replica, tmp_path):
    """`data pull --price mark` pulls SYMBOL@mark: stored under that name, the last-price
    bars of the same pair untouched, and a second pull asks only for what is missing."""
    from sitcli.data.pull import pull_symbol
    from sitcli.data.store import Store
    from sitcli.mark import mark_symbol, read_mark

    need(XRP_MARK_1H)
    rows = json.loads(XRP_MARK_1H.read_text())
    start = pd.Timestamp(rows[0][0], unit="ms", tz="UTC")
    end = start + pd.Timedelta(hours=100)
    store = Store(tmp_path / "data")
    name = mark_symbol("XRP/USDT:USDT")
    assert name == "XRP/USDT:USDT@mark"
    report = pull_symbol(store, source(replica, page_limit=40), name, "1h", start, end)
    assert report.ok and report.new_bars == 100 and report.funding_stamps == 0
    stored = read_mark(store, "XRP/USDT:USDT", "1h")
    assert stored["low"].to_numpy() == pytest.approx([r[3] for r in rows])
    assert not store.sources_for("XRP/USDT:USDT", "1h")   # the last prices are another file
    again = pull_symbol(store, source(replica, page_limit=40), name, "1h", start, end)
    assert again.new_bars == 0
