"""`sitcli data pull` end to end through the installed entry point, against the local Yahoo
replica of test_source_yahoo.py (real yfinance parsing, only the transport replaced)."""

from __future__ import annotations

import json
import socket
import time

from cli_helpers import run_sitcli
from test_source_yahoo import _server, nvda_daily_chart, ok, yahoo  # noqa: F401  (fixtures)


def pull(*args, data_dir, url):
    import os

    os.environ["SITCLI_YAHOO_URL"] = url
    try:
        return run_sitcli("data", "pull", *args, data_dir=data_dir, timeout=120)
    finally:
        del os.environ["SITCLI_YAHOO_URL"]


def test_pull_then_incremental_pull(yahoo, tmp_path):  # noqa: F811
    chart = nvda_daily_chart()
    yahoo.routes["NVDA"] = [ok(chart)]
    first = pull("NVDA", "--start", "2024-06-04", "--end", "2024-06-08", "--format", "json",
                 data_dir=tmp_path, url=yahoo.url)
    assert first.returncode == 0, first.stderr
    (row,) = json.loads(first.stdout)["symbols"]
    assert row["status"] == "ok" and row["source"] == "yahoo" and row["rows"] == 4
    assert row["first"] == "2024-06-04" and row["last"] == "2024-06-07"
    # the second pull asks only for what is missing: from the day after the last stored bar
    yahoo.requests.clear()
    second = pull("NVDA", "--end", "2024-06-13", "--format", "json", data_dir=tmp_path,
                  url=yahoo.url)
    assert second.returncode == 0, second.stderr
    (row,) = json.loads(second.stdout)["symbols"]
    assert row["new_bars"] > 0 and row["rows"] == 4 + row["new_bars"]
    starts = {int(q["period1"]) for q in yahoo.chart_requests("NVDA")}
    assert min(starts) >= int(time.mktime(time.strptime("2024-06-07", "%Y-%m-%d")))
    shown = run_sitcli("data", "show", "NVDA", "--format", "json", "--tail", "100",
                       data_dir=tmp_path)
    times = [r["time"] for r in json.loads(shown.stdout)["rows"]]
    assert times == sorted(set(times))                   # merged without duplicates
    assert (tmp_path / "yahoo" / "1d" / "NVDA.actions.csv").exists()   # split and dividend


def test_one_unknown_symbol_fails_alone_with_a_summary(yahoo, tmp_path):  # noqa: F811
    yahoo.routes["NVDA"] = [ok(nvda_daily_chart())]      # ZZZZ is not routed: 404
    proc = pull("NVDA", "ZZZZ", "--start", "2024-06-04", "--end", "2024-06-08", "--format",
                "json", data_dir=tmp_path, url=yahoo.url)
    assert proc.returncode == 1
    rows = {r["symbol"]: r for r in json.loads(proc.stdout)["symbols"]}
    assert rows["NVDA"]["status"] == "ok" and rows["ZZZZ"]["status"] == "failed"
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: 1 of 2 symbols failed")
    assert "ZZZZ" in lines[0] and "Traceback" not in proc.stderr


def test_no_network_is_one_line_and_exit_1_within_seconds(tmp_path):
    with socket.socket() as s:                            # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    started = time.monotonic()
    proc = pull("NVDA", data_dir=tmp_path, url=closed)
    took = time.monotonic() - started
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "network" in lines[0], proc.stderr
    print(f"no-network pull failed in {took:.1f} s")      # reported, not asserted (no timing tests)
    assert not any(tmp_path.rglob("*.parquet"))
