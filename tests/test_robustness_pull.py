"""Issue 17, cases 6 and 7: an empty or malformed answer from a source is not success, and a
server that never answers cannot hold a pull past its deadline. The real yfinance and ccxt
parsing runs; only the transport is a local server."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest
from cli_helpers import run_sitcli
from test_source_ccxt import replica  # noqa: F401  (fixture)
from test_source_ccxt import source as ccxt_source
from test_source_yahoo import _server, empty_chart, ok, yahoo  # noqa: F401  (fixtures)
from test_source_yahoo import source as yahoo_source

from sitcli.data.pull import PullTimeout, pull_many, pull_symbol
from sitcli.data.sources.base import SourceError
from sitcli.data.store import Store


@pytest.fixture
def black_hole():
    """A server that accepts connections and never says a word."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    accepted = []
    sock.settimeout(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", sock, accepted
    sock.close()


# ---------------------------------------------------------------- case 6: empty and malformed


def test_an_empty_yahoo_chart_for_a_new_symbol_is_a_failure(yahoo, tmp_path):  # noqa: F811
    yahoo.routes["NVDA"] = [ok(empty_chart())]
    store = Store(tmp_path)
    with pytest.raises(SourceError, match="yahoo returned no 1d bars for NVDA between "
                                          "2024-06-04 and 2024-06-08 and none are stored"):
        pull_symbol(store, yahoo_source(yahoo), "NVDA", "1d",
                    start=_ts("2024-06-04"), end=_ts("2024-06-08"))
    assert not any(tmp_path.rglob("*.parquet"))


def test_an_all_null_yahoo_chart_is_a_failure_through_the_cli(yahoo, tmp_path):  # noqa: F811
    chart = empty_chart()
    result = chart["chart"]["result"][0]
    result["timestamp"] = [1717507800, 1717594200]
    result["indicators"] = {"quote": [{k: [None, None] for k in
                                       ("open", "high", "low", "close", "volume")}],
                            "adjclose": [{"adjclose": [None, None]}]}
    yahoo.routes["NVDA"] = [ok(chart)]
    os.environ["SITCLI_YAHOO_URL"] = yahoo.url
    try:
        proc = run_sitcli("data", "pull", "NVDA", "--start", "2024-06-04", "--end",
                          "2024-06-08", "-f", "json", data_dir=tmp_path)
    finally:
        del os.environ["SITCLI_YAHOO_URL"]
    assert proc.returncode == 1, proc.stderr
    (row,) = json.loads(proc.stdout)["symbols"]
    assert row["status"] == "failed" and "yahoo returned no 1d bars for NVDA" in row["message"]


def test_ccxt_klines_of_the_wrong_shape_are_an_error_naming_the_source(replica, tmp_path):  # noqa: F811
    replica.fail("/api/v3/klines", 200, {"rows": [[1, 2, 3]]}, times=10)
    store = Store(tmp_path)
    with pytest.raises(SourceError) as caught:
        pull_symbol(store, ccxt_source(replica), "RENDER/USDT", "1h",
                    start=_ts("2024-08-01"), end=_ts("2024-08-02"))
    assert "binance" in str(caught.value) or "ccxt" in str(caught.value)
    assert not any(tmp_path.rglob("*.parquet"))
    replica.faults.clear()
    replica.fail("/api/v3/klines", 200, [[1722470400000, "1.0"]], times=10)   # rows too short
    with pytest.raises(SourceError, match="binance RENDER/USDT: malformed OHLCV rows"):
        pull_symbol(store, ccxt_source(replica), "RENDER/USDT", "1h",
                    start=_ts("2024-08-01"), end=_ts("2024-08-02"))


# ---------------------------------------------------------------- case 7: deadlines


def test_a_black_holed_yahoo_fails_within_the_deadline(black_hole, tmp_path):
    url, _, _ = black_hole
    os.environ["SITCLI_YAHOO_URL"] = url
    started = time.monotonic()
    try:
        reports = pull_many(Store(tmp_path), ["NVDA", "AMD", "TSM"], "1d", timeout=1.5)
    finally:
        del os.environ["SITCLI_YAHOO_URL"]
    took = time.monotonic() - started
    assert [r.ok for r in reports] == [False, False, False]
    assert "no complete answer within 1.5 s (--timeout)" in reports[0].message
    assert all(r.message.startswith("skipped: yahoo did not answer") for r in reports[1:])
    assert took < 1.5 + 3.0, took     # one deadline, not one per symbol
    print(f"black-holed yahoo: 3 symbols failed in {took:.2f} s")


def test_a_black_holed_exchange_fails_within_the_deadline_via_the_cli(black_hole, tmp_path):
    url, _, _ = black_hole
    env_before = os.environ.get("SITCLI_CCXT_URL")
    os.environ["SITCLI_CCXT_URL"] = url
    started = time.monotonic()
    try:
        proc = run_sitcli("data", "pull", "RENDER/USDT", "FIL/USDT", "--timeout", "2",
                          "-f", "json", data_dir=tmp_path, timeout=60)
    finally:
        if env_before is None:
            del os.environ["SITCLI_CCXT_URL"]
        else:
            os.environ["SITCLI_CCXT_URL"] = env_before
    took = time.monotonic() - started
    assert proc.returncode == 1
    rows = {r["symbol"]: r for r in json.loads(proc.stdout)["symbols"]}
    assert "no complete answer within 2 s" in rows["RENDER/USDT"]["message"]
    assert rows["FIL/USDT"]["message"].startswith("skipped: ccxt did not answer")
    assert took < 2 + 10, took        # the process start-up included
    print(f"black-holed exchange: pull failed in {took:.2f} s")


def test_the_deadline_itself():
    from sitcli.data.pull import _within

    assert _within(1.0, "x", lambda: 42) == 42
    started = time.monotonic()
    with pytest.raises(PullTimeout, match="x: no complete answer within 0.2 s"):
        _within(0.2, "x", lambda: time.sleep(5))
    assert time.monotonic() - started < 2
    with pytest.raises(ZeroDivisionError):          # the call's own error comes through
        _within(1.0, "x", lambda: 1 / 0)


def _ts(day: str):
    import pandas as pd

    return pd.Timestamp(day, tz="UTC")
