"""Issue 17, case 5, and issue 12's report items: one broken symbol is marked, not fatal; the
status is the same in JSON, Markdown and HTML; --leverage is checked as backtest checks it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error, run_sitcli
from robustness_helpers import run_main

from sitcli.data.sources.csv import read_csv_ohlcv
from sitcli.data.store import Store

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "equities" / "daily"


@pytest.fixture
def real_store(tmp_path):
    """NVDA, TSM and AMD daily bars from ../shared/data in a fresh store."""
    if not (SHARED / "NVDA.csv").is_file():
        pytest.skip(f"{SHARED} is absent (shared data not mounted)")
    store = Store(tmp_path / "data")
    for symbol in ("NVDA", "TSM", "AMD"):
        store.write(read_csv_ohlcv(SHARED / f"{symbol}.csv"), source="csv", symbol=symbol,
                    timeframe="1d")
    return store


def report(store, *args) -> tuple[int, dict, str]:
    got = run_main("report", "daily", "--out", "-", "-f", "json", *args, data_dir=store.root)
    return got.code, (json.loads(got.stdout) if got.stdout else {}), got.stderr


def test_asof_before_the_first_catalyst_reports_every_symbol(real_store):
    code, doc, err = report(real_store, "--symbols", "NVDA,TSM", "--asof", "2012-03-01")
    assert code == 0, err
    assert [s["status"] for s in doc["symbols"]] == ["ok", "ok"]
    assert all(s["catalysts"]["recent"] == [] for s in doc["symbols"])


def test_one_truncated_file_marks_its_symbol_and_the_others_are_reported(real_store, tmp_path):
    broken = real_store.path("csv", "TSM", "1d")
    broken.write_bytes(broken.read_bytes()[:200])
    out = tmp_path / "reports"
    got = run_main("report", "daily", "--symbols", "NVDA,TSM,AMD", "--asof", "2025-12-30",
                   "--out", out, data_dir=real_store.root)
    assert got.code == 1
    assert "report written with errors: TSM error" in got.stderr
    doc = json.loads((out / "2025-12-30.json").read_text())
    status = {s["symbol"]: s["status"] for s in doc["symbols"]}
    assert status == {"NVDA": "ok", "TSM": "error", "AMD": "ok"}
    problem = next(s["problem"] for s in doc["symbols"] if s["symbol"] == "TSM")
    assert f"damaged file {broken}" in problem
    assert (doc["status"], doc["exit_code"]) == ("errors", 1)
    # the same status in every format
    assert "**Status: ERRORS** (exit code 1)" in (out / "2025-12-30.md").read_text()
    html = (out / "2025-12-30.html").read_text()
    assert '<b>Status: ERRORS</b> (exit code 1)' in html and "damaged file" in html


def test_a_pull_into_an_unwritable_store_still_writes_the_report(real_store, tmp_path):
    # the yahoo folder is a file: every pull fails to write, the stored csv bars still report
    (real_store.root / "yahoo").write_text("in the way")
    out = tmp_path / "reports"
    got = run_main("report", "daily", "--symbols", "NVDA", "--asof", "2025-12-30", "--pull",
                   "--timeout", "2", "--max-age", "100000d", "--out", out,
                   data_dir=real_store.root)
    assert got.code == 0, got.stderr
    doc = json.loads((out / "2025-12-30.json").read_text())
    assert doc["symbols"][0]["pull"]["ok"] is False
    assert doc["status"] == "warnings" and doc["warnings"][0].startswith("NVDA: pull failed")
    assert "**Status: WARNINGS**" in (out / "2025-12-30.md").read_text()
    assert "<b>Status: WARNINGS</b>" in (out / "2025-12-30.html").read_text()


def test_report_refuses_leverage_above_the_cap_as_backtest_does(tmp_path):
    backtest = run_main("backtest", "--demo", "--symbols", "NVDA", "--leverage", "50")
    proc = run_sitcli("report", "daily", "--demo", "--symbols", "NVDA", "--leverage", "50",
                      "--out", tmp_path / "r", data_dir=tmp_path)
    line = assert_one_line_error(proc, 2, "leverage 50 is above cfd-retail's cap of 5x")
    assert backtest.code == 2 and backtest.stderr.strip() == line
    code, doc, err = report(Store(tmp_path), "--demo", "--symbols", "NVDA", "--asof",
                            "2025-11-24", "--leverage", "50", "--allow-above-cap")
    assert code == 0, err
    assert doc["symbols"][0]["signals"][0]["size"]["leverage"] == 50


def test_every_symbol_status_and_the_overall_status_agree():
    from sitcli.report import STATUS_EXIT, overall_status

    def sym(status):
        return {"status": status}

    assert overall_status([sym("ok")], []) == "ok"
    assert overall_status([sym("ok")], ["NVDA: pull failed"]) == "warnings"
    assert overall_status([sym("ok"), sym("stale")], ["x"]) == "problems"
    assert overall_status([sym("missing"), sym("error")], []) == "errors"
    assert STATUS_EXIT == {"errors": 1, "problems": 3, "warnings": 0, "ok": 0}
