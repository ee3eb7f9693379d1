"""`sitcli data tiers show|pull`: the shipped brackets, and a pull through real ccxt against a
local Binance replica on 127.0.0.1 (only the transport is replaced; ccxt signs the request and
parses /fapi/v1/leverageBracket as it would Binance's)."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from cli_helpers import assert_one_line_error
from test_source_ccxt import SPOT_INFO, _perp_symbol  # noqa: E402  (the Binance market lists)

from sitcli import tiers

SNAPSHOT = tiers.shipped_dir() / "binance_2024-10-24.json"


def _bracket_answer() -> list:
    """/fapi/v1/leverageBracket as Binance sends it, from the raw brackets the shipped
    2024-10-24 snapshot keeps in each tier's `info` (numbers, not strings, on the wire)."""
    table = json.loads(SNAPSHOT.read_text())
    out = []
    for key, rows in table.items():
        brackets = [{"bracket": int(r["info"]["bracket"]),
                     "initialLeverage": int(r["info"]["initialLeverage"]),
                     "notionalCap": float(r["info"]["notionalCap"]),
                     "notionalFloor": float(r["info"]["notionalFloor"]),
                     "maintMarginRatio": float(r["info"]["maintMarginRatio"]),
                     "cum": float(r["info"]["cum"])} for r in rows]
        out.append({"symbol": key.split("/")[0] + "USDT", "brackets": brackets})
    return out


@pytest.fixture
def binance(monkeypatch):
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    brackets = _bracket_answer()
    fapi = {"timezone": "UTC", "serverTime": 1729738080000, "futuresType": "U_MARGINED",
            "rateLimits": SPOT_INFO["rateLimits"], "exchangeFilters": [],
            "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
            "symbols": [_perp_symbol(b["symbol"], b["symbol"][:-4], "USDT", 1569398400000)
                        for b in brackets]}
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            parts = urlsplit(self.path)
            q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            seen.append((parts.path, q, self.headers.get("X-MBX-APIKEY")))
            body = {"/api/v3/exchangeInfo": SPOT_INFO, "/fapi/v1/exchangeInfo": fapi,
                    "/fapi/v1/leverageBracket": brackets}.get(parts.path)
            status = 200 if body is not None else 404
            data = json.dumps(body if body is not None else {"code": -1, "msg": "no"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                     daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_pull_writes_todays_snapshot_that_the_loader_then_prefers(binance, cli, monkeypatch):
    url, seen = binance
    monkeypatch.setenv("SITCLI_CCXT_URL", url)
    monkeypatch.setenv("SITCLI_CCXT_API_KEY", "test-key")
    monkeypatch.setenv("SITCLI_CCXT_SECRET", "test-secret")
    proc = cli("data", "tiers", "pull", "--exchange", "binance", "--format", "json",
               check_code=0)
    out = json.loads(proc.stdout)
    today = dt.date.today()
    path = tiers.snapshot_path(cli.data_dir, "binance", today)
    assert out["file"] == str(path) and out["symbols"] == 18
    # the request was signed with the key, as Binance requires
    bracket_calls = [s for s in seen if s[0] == "/fapi/v1/leverageBracket"]
    assert len(bracket_calls) == 1
    assert bracket_calls[0][2] == "test-key" and "signature" in bracket_calls[0][1]
    # the pulled table parses to the same brackets as the shipped snapshot it came from
    pulled = json.loads(path.read_text())
    shipped = json.loads(SNAPSHOT.read_text())
    assert set(pulled) == set(shipped)
    for key in shipped:
        a, b = tiers.to_tiers(pulled[key], key), tiers.to_tiers(shipped[key], key)
        assert (a.floor, a.mmr, a.max_leverage, a.cum) == (b.floor, b.mmr, b.max_leverage, b.cum)
    # dated today, it is the nearest snapshot for a position opened today
    t = tiers.symbol_tiers("binance", "RENDER", today, cli.data_dir)
    assert t.name == f"RENDER/USDT:USDT binance {today:%Y-%m-%d} (pulled)"
    shown = json.loads(cli("data", "tiers", "show", "RENDER", "--format", "json",
                           check_code=0).stdout)
    assert shown["tiers"] == t.name and shown["rows"][0]["max_leverage"] == 75.0


def test_pull_without_credentials_says_which_variables_to_set(cli, monkeypatch):
    monkeypatch.delenv("SITCLI_CCXT_API_KEY", raising=False)
    monkeypatch.delenv("SITCLI_CCXT_SECRET", raising=False)
    monkeypatch.setenv("SITCLI_CCXT_URL", "http://127.0.0.1:9")   # never reached
    assert_one_line_error(cli("data", "tiers", "pull"), 2, "SITCLI_CCXT_API_KEY",
                          "SITCLI_CCXT_SECRET")


def test_show_prints_the_brackets_of_the_snapshot_nearest_the_date(cli):
    proc = cli("data", "tiers", "show", "RENDER/USDT", "--date", "2024-08-01", "--format", "csv",
               check_code=0)
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == ("tier,notional_from,notional_to,maintenance_rate,maintenance_amount,"
                        "max_leverage")
    # RNDR's 2024-07-20 brackets: 1.5% and 26x up to 5,000, then 2% (amount 25) and 25x
    assert lines[1] == "1,0,5000,0.015,0,26"
    assert lines[2] == "2,5000,50000,0.02,25,25"
    assert_one_line_error(cli("data", "tiers", "show", "NVDA"), 2, "cfd-retail",
                          "account close-out")
    assert_one_line_error(cli("data", "tiers", "show", "BTC", "--date", "soon"), 2, "--date")
